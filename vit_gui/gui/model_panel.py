"""Model and device pickers, and the facts of the loaded model."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
)

from vit_gui.gui.plain import esc, tooltip

ADD_MODEL = "__add__"
#: the number format a model runs in, in words
FORMAT_WORDS = {"float32": "exactly", "bfloat16": "in half the memory", "float16": "in half the memory",
                "int8": "fastest, a little less exact"}
#: how the photo is fitted to the model's input, in words (the technical name in the tooltip)
RESIZE_WORDS = {"crop": "the centre of the photo", "resize": "the photo squeezed to fit",
                "letterbox": "the whole photo, grey bands around it"}


class ModelPanel(QGroupBox):
    model_chosen = Signal(str)  # path of a model file
    device_chosen = Signal(str)  # "cpu" or "cuda"
    precision_chosen = Signal(str)  # "" (the model's own) or a name in model/precision.py
    add_model_requested = Signal()
    get_models_requested = Signal()

    def __init__(self, parent=None):
        super().__init__("Model", parent)
        self.models = QComboBox()
        self.models.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.models.setMinimumContentsLength(18)
        self.device = QComboBox()
        self.device.addItem("CPU", "cpu")
        self.device.addItem("CUDA (GPU)", "cuda")
        self.set_cuda_status("checking whether a CUDA GPU is available…")
        self.precision = QComboBox()
        for label, name, tip in (
                ("as the model asks", "", "the number format the model's sidecar asks for, else float32 (exact)"),
                ("exact", "float32", "float32: the numbers the model was trained with"),
                ("fastest that stays exact enough", "auto", "auto: float16 on a GPU; on a CPU bfloat16 where it "
                                                            "runs it natively, else int8; kept only if it agrees "
                                                            "with float32 (maps too) and is faster"),
                ("half the memory", "bfloat16", "bfloat16: half the memory; fast on CPUs with AMX"),
                ("half the memory (GPU)", "float16", "float16, for CUDA GPUs"),
                ("fastest, a little less exact", "int8", "int8: most linear layers in 8-bit integers, about 1.8 times "
                                                         "as fast on a CPU; the attention maps stay within a few "
                                                         "percent (maps that need gradients use float32)")):
            self.precision.addItem(label, name)
            self.precision.setItemData(self.precision.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.precision.activated.connect(lambda _: self.precision_chosen.emit(self.current_precision()))
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = QToolButton()  # a disclosure: the summary first, the details on request
        self.details_button.setText("Details")
        self.details_button.setCheckable(True)
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.details_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.setAutoRaise(True)
        self.details_button.setVisible(False)
        self.details_button.toggled.connect(self._toggle_details)
        self.details = QLabel()
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setVisible(False)
        self.get_models = QPushButton("Get models…")
        self.get_models.setToolTip("download a pretrained Vision Transformer from the list of known ones")
        self.add_model = QPushButton("Add model file…")
        self.add_model.setToolTip("use a model file you have (.safetensors, .pth, .pt, or a Hugging Face model "
                                  "folder); it stays in this list")
        self.device.setToolTip("where the model runs: the computer's processor (CPU), or an NVIDIA graphics "
                               "card with CUDA, much faster where there is one")
        self.precision.setToolTip("how exactly the model computes: float32 is exact; the others trade a little "
                                  "accuracy for speed or memory (hover over each for what it does)")
        self.get_models.clicked.connect(self.get_models_requested)
        self.add_model.clicked.connect(self.add_model_requested)

        form = QFormLayout()
        form.addRow("Model:", self.models)
        form.addRow("Device:", self.device)
        form.addRow("Speed:", self.precision)
        buttons = QHBoxLayout()
        buttons.addWidget(self.get_models)
        buttons.addWidget(self.add_model)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.details_button)
        layout.addWidget(self.details)
        layout.addLayout(buttons)
        self.models.activated.connect(self._on_model_activated)
        self.models.currentIndexChanged.connect(self._show_full_name)
        self.device.activated.connect(lambda _: self.device_chosen.emit(self.current_device()))

    # ---- model list ---------------------------------------------------------------------
    def set_models(self, entries, current: str | None) -> None:
        """entries: ModelEntry list (best first). Keeps `current` selected if present."""
        self.models.blockSignals(True)
        self.models.clear()
        if not entries:
            self.models.addItem("(no model installed)", None)
        names = [entry.name for entry in entries]
        for entry in entries:
            # where it is, only where two models share a name (the box is narrow; the tooltip says it always)
            label = entry.name + (f"  [{entry.origin}]" if names.count(entry.name) > 1 else "")
            tip = f"{entry.path}\n({entry.origin})"
            if entry.problem:  # listed with its reason, never chosen: the other models stay usable
                label += "  (cannot be used)"
                tip += f"\n{entry.problem}"
            self.models.addItem(label, str(entry.path))
            self.models.setItemData(self.models.count() - 1, tooltip(tip), Qt.ItemDataRole.ToolTipRole)
            if entry.problem:
                self.models.model().item(self.models.count() - 1).setEnabled(False)
        self.models.addItem("Add model file…", ADD_MODEL)
        index = self.models.findData(current) if current else -1
        self.models.setCurrentIndex(index if index >= 0 else 0)
        self.models.blockSignals(False)
        # the box is narrow: its list opens as wide as the longest name, and hovering shows the name
        self.models.view().setMinimumWidth(self.models.view().sizeHintForColumn(0) + 24)
        self._show_full_name()
        if not entries:
            self.show_message(
                "<b>No model is installed.</b> Click <i>Get models…</i> to download a pretrained "
                "Vision Transformer, or <i>Add model file…</i> to use a checkpoint you have "
                "(.pth, .pt or .safetensors).", error=True)

    def _show_full_name(self, *_) -> None:
        self.models.setToolTip(tooltip(self.models.currentText().strip()))

    def current_model(self) -> str | None:
        data = self.models.currentData()
        return None if data in (None, ADD_MODEL) else data

    def first_usable_model(self) -> str | None:
        """The best model that can be read (the list is best first, unusable ones greyed)."""
        for index in range(self.models.count()):
            data = self.models.itemData(index)
            if data not in (None, ADD_MODEL) and self.models.model().item(index).isEnabled():
                return data
        return None

    def select_model(self, path: str) -> None:
        index = self.models.findData(path)
        if index >= 0:
            self.models.setCurrentIndex(index)

    @Slot(int)
    def _on_model_activated(self, index: int) -> None:
        data = self.models.itemData(index)
        if data == ADD_MODEL:
            self.add_model_requested.emit()
        elif data:
            self.model_chosen.emit(data)

    # ---- device -------------------------------------------------------------------------
    def current_device(self) -> str:
        return self.device.currentData() or "cpu"

    def current_precision(self) -> str:
        return self.precision.currentData() or ""

    def set_precision(self, name: str) -> None:
        index = self.precision.findData(name)
        self.precision.setCurrentIndex(max(index, 0))

    def set_device(self, name: str) -> None:
        index = self.device.findData(name)
        item = self.device.model().item(index) if index >= 0 else None
        if item is not None and item.isEnabled():
            self.device.setCurrentIndex(index)

    def set_cuda_status(self, reason: str | None) -> None:
        """Grey out CUDA, with the reason as its tooltip, when it cannot be used."""
        item = self.device.model().item(1)
        item.setEnabled(reason is None)
        item.setToolTip(reason or "run the model on the GPU")
        self.device.setItemText(1, "CUDA (GPU)" if reason is None else "CUDA (GPU) — not available")
        if reason is not None and self.device.currentIndex() == 1:
            self.device.setCurrentIndex(0)

    # ---- status -------------------------------------------------------------------------
    def show_message(self, html: str, error: bool = False) -> None:
        """`html` is our markup: any text in it from a file or a model must be esc()aped.
        A message replaces the model's details until the next model is shown."""
        self.details_button.setVisible(False)
        self.details.setVisible(False)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.status.setText(f"<span style='color:#c0392b'>{html}</span>" if error else html)

    def show_loading(self, path: str, device: str) -> None:
        self.show_message(f"Loading model <b>{esc(Path(path).name)}</b> on {device.upper()}…")

    def show_info(self, info, device: str, precision=None) -> None:
        """A plain summary (what it is, whether it has classes, where and how it runs), the
        details (shape, input, origin, licence, why this number format) behind "Details"."""
        arch, prep = info.architecture, info.preprocessing
        height, width = prep.input_size
        warnings = "".join(f"<br><span style='color:#b9770e'>⚠ {esc(w)}</span>" for w in info.warnings)
        source = esc(info.source or str(info.path))
        licence = f" · {esc(info.license)}" if info.license else ""
        classes = f"knows {arch.num_classes} classes" if arch.num_classes else \
            "no classes yet: it shows where it looks, not what it sees"
        fit = RESIZE_WORDS.get(prep.resize_mode, prep.resize_mode)
        runs = FORMAT_WORDS.get(precision.name, f"in {precision.name}") if precision else "exactly"
        self.status.setToolTip(tooltip(f"resize mode: {prep.resize_mode}; interpolation: {prep.interpolation}; "
                                       f"crop share: {prep.crop_pct:g}; mean {list(prep.mean)}, std {list(prep.std)}"))
        self.show_message(f"<b>{esc(info.name)}</b><br>{classes}<br>runs on {device.upper()}, {runs}{warnings}")
        self.details.setText(
            f"<small>{arch.name} · {arch.depth} layers × {arch.num_heads} heads<br>"
            f"sees {width}×{height} pixels ({fit})<br>from {source}{licence}"
            + (f"<br>runs {FORMAT_WORDS.get(precision.name, 'in')} ({precision.name}): {esc(precision.reason)}"
               if precision else "") + "</small>")
        self.details_button.setVisible(True)
        self.details.setVisible(self.details_button.isChecked())

    def _toggle_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.details_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
