"""Auditing a folder (issue #30): how a model decides each class, read from many photos'
maps and patch features at once, and findings in plain words. No Qt: the CLI, the tests
and the benchmark call it; a window can too."""
