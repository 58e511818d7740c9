"""Help > What am I looking at?: the maps explained in plain words, with pictures made
from the real built-in backbone (scripts/help_pictures.py)."""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout

from vit_gui.resources import resource_path

PAGE = """
<h2>What am I looking at?</h2>
<p>The model is a <b>Vision Transformer</b>. It cuts the photo into small squares (<i>patches</i>)
and passes them through a stack of layers (<i>blocks</i>). In every layer each patch can look at
every other one, and one extra <i>summary token</i> gathers what the model needs to decide what
the photo shows. The maps show <b>how much that summary looked at each patch</b>.</p>
<table><tr><td><img src="photo.jpg"></td><td><img src="rollout.jpg"></td></tr>
<tr><td align="center">the photo</td><td align="center">where the model looked (rollout)</td></tr></table>

<h3>Reading the colours</h3>
<p>The bar under the picture says which end means more. Bright patches got much attention,
dark ones little. Each map is scaled to its own strongest patch, so compare the <i>shape</i> of
two maps, not how bright they are. Use <b>Compare</b> under the picture to slide between the photo
and the map, and <b>Opacity</b> to see more or less of the photo.</p>

<h3>The maps</h3>
<p><b>Rollout (through the blocks)</b> follows the attention from the patches to the summary
through all the layers, and is the best single answer to "where did it look?". Some models
(DINOv2, the built-in one) send the summary to one background patch in the first layer; starting
the rollout at block 2 hides that.</p>
<p><b>One block</b> shows a single layer: early layers look at colours and edges, later ones at
objects. <b>One head</b> shows one of the several ways a layer looks at once; heads often
specialise.</p>
<table><tr><td><img src="block.jpg"></td><td><img src="head.jpg"></td></tr>
<tr><td align="center">block 10, its heads combined</td><td align="center">block 12, head 5</td></tr></table>
<p><b>Class evidence</b> (for a model that knows classes) shows which parts of the photo pushed
the model towards one class: click a class in the results list to see its evidence, and another
to compare. A model without classes (a <i>backbone</i>, like the built-in one) shows where it looks
but not what it sees; <i>Model &gt; Teach new classes</i> gives it classes from your own photos.</p>

<h3>Many maps at once</h3>
<p><b>View: Every block</b> puts one small map per layer side by side, from the first layer to the
last. <b>Every head of one block</b> does the same for the heads of a layer. The <b>atlas</b> shows
every head of every layer: rows are layers, columns are heads. Zoom with Ctrl+wheel, click any
small map to see it large, and save the whole picture with <i>Save as PNG</i>.</p>
<p><img src="blocks.jpg"></p>
<p><img src="atlas.jpg"></p>

<h3>Can I trust a map?</h3>
<p>Where a model looked is not always why it decided. <b>Check this map</b> hides the patches the
map calls most important, a tenth at a time, and follows the model's confidence: if the map is
faithful the confidence falls much faster than when random patches are hidden. The verdict under
the button says so in one sentence.</p>
"""


class HelpDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("What am I looking at?")
        self.resize(720, 760)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setSearchPaths([str(resource_path("help"))])
        self.browser.document().setBaseUrl(QUrl.fromLocalFile(str(resource_path("help")) + "/"))
        self.browser.setHtml(PAGE)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
