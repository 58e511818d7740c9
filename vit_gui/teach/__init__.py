"""Teach new classes: a folder per class becomes a classifier on a frozen ViT.

data (class folders, split) -> features (extracted once, cached per file) -> probe
(softmax regression, weight decay chosen on the validation split) -> report (accuracy,
per-class precision and recall, confusion) -> save (an ordinary model file). No Qt here:
the CLI's `teach` command and the Teach window both drive it.
"""
