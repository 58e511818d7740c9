"""Help > What am I looking at?: the maps explained in plain words, with pictures made
from the real built-in backbone (scripts/help_pictures.py)."""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout

from vit_gui.gui.screen_fit import fit_to_screen
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
through all the layers: where the model gathered its information from. Whether that is what
decided its answer is another question, which <b>Can I trust this map?</b> tests on your photo
(on photos where a planted logo decided a taught model's answer, the class evidence map below
found the logo more often than the rollout did). Some models
(DINOv2, the built-in one) send the summary to one background patch in the first layer; starting
the rollout at block 2 hides that.</p>
<p><b>One block</b> shows a single layer: early layers look at colours and edges, later ones at
objects. <b>One head</b> shows one of the several ways a layer looks at once; heads often
specialise.</p>
<table><tr><td><img src="block.jpg"></td><td><img src="head.jpg"></td></tr>
<tr><td align="center">block 10, its heads combined</td><td align="center">block 12, head 5</td></tr></table>
<p><b>Class evidence</b> (for a model that knows classes) shows which parts of the photo pushed
the model towards one class: click a class in the results list to see its evidence, and another
to compare. Two more maps answer the same question in other ways, and the check below says which
to believe for your photo:</p>
<ul>
<li><b>Grad-CAM</b> weighs the features of the last layer by how much each raises the class.
It is coarse, and blind to what earlier layers did. (Selvaraju et al. 2017, applied to ViTs as the
libraries pytorch-grad-cam and torchcam do.)</li>
<li><b>LeGrad</b> asks, layer by layer, how much the class would change if the layer paid more
attention to each patch, and averages the layers. (Bousselham et al. 2024.)</li>
<li><b>Class evidence</b> follows the attention through the layers, weighted by how much it
helps the class. (Chefer, Gur &amp; Wolf 2021.)</li>
</ul>
<p>A model without classes (a <i>backbone</i>, like the built-in one) shows where it looks but not
what it sees; <i>Model &gt; Teach new classes</i> gives it classes from your own photos.</p>

<h3>Bright spots in the empty background</h3>
<p>Large Vision Transformers, DINOv2 among them, quietly reuse a few patches of plain background
(sky, a wall) as scratch space for their own bookkeeping. Those patches then draw much attention
without showing anything: a bright dot in an empty area is usually such an <i>artefact patch</i>, not
something the model found interesting. Starting the rollout at block 2 hides the worst of it on
the built-in model; models trained with extra <i>register</i> tokens give the bookkeeping a place of
its own and have far fewer (Darcet et al., "Vision Transformers Need Registers", 2024). With a
wide or tall photo the built-in model also sees grey bands around it (<i>letterbox</i>); those are
never part of a map's colours or of its check.</p>

<h3>Many maps at once</h3>
<p><b>View: Every block</b> puts one small map per layer side by side, from the first layer to the
last. <b>Every head of one block</b> does the same for the heads of a layer. The <b>atlas</b> shows
every head of every layer: rows are layers, columns are heads. Zoom with Ctrl+wheel, click any
small map to see it large, and save the whole picture with <i>Save as PNG</i>.</p>
<p><img src="blocks.jpg"></p>
<p><img src="atlas.jpg"></p>

<h3>Can I trust a map?</h3>
<p>Where a model looked is not always why it decided. <b>Can I trust this map?</b> (under the
picture) opens a check of the map shown:</p>
<ul>
<li>It hides the parts the map calls most important, a tenth of the photo at a time, and follows
the model's confidence (for a model without classes: how much the photo still looks like itself
to the model); hiding the least important parts first should change little. For a model with
classes it follows the class's log-odds, which does not flatten out as a probability near 100%
does. It then does the same with up to 19 copies of the map itself, moved around the photo: the
map is called faithful only when it beats all of them. Measured on maps made of noise, 1 in 100
speckled ones, 2 in 100 with broad blotches and 4 in 100 with blotches a patch wide still pass:
a verdict is evidence, not proof.</li>
<li>How parts are hidden can change the verdict, so you choose it and it is always named:
left out of what the model reads (<i>token drop</i>), painted grey (<i>mean fill</i>), or painted
black (<i>black-out</i>, the test of Chefer et al.).</li>
<li><b>SaCo</b> (Wu et al. 2024) checks the ranking itself: parts the map ranks higher should
matter more when hidden on their own. +1 is a perfect ranking, 0 is chance.</li>
<li>It scrambles the model's learned layers from the top down (Adebayo et al. 2018): a map that
stays the same shows the photo, not the model.</li>
<li>It moves the photo by 1 to 8 pixels: a map whose bright spots jump says little about exactly
where the model looked.</li>
</ul>
<p><b>Which map should I believe?</b> runs the same check for every kind of map on this photo,
each against its own moved copies, and lists them best first; a map that does not change when the
model's weights are scrambled is never called best. Choose one and click <i>Show</i>.</p>
"""


class HelpDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("What am I looking at?")
        fit_to_screen(self, 720, 760)
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
