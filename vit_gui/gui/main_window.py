"""The main window: composes the panels, owns the worker thread, keeps settings.

It arranges and delegates: images are loaded and classified by the worker on its own
thread, what is known about them lives in a Qt-free `Session`, maps are computed by the
engine, files are written atomically by fileio.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QApplication,
    QFormLayout,
    QFrame,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from vit_gui.gui.attention import AttentionView
from vit_gui.gui.audit_launcher import ShortcutChecks
from vit_gui.gui.check_controller import CheckController
from vit_gui.gui.drop_zone import DropHint
from vit_gui.gui.model_panel import ModelPanel
from vit_gui.gui.plain import esc, plain_label
from vit_gui.gui.results import ResultsList
from vit_gui.gui.screen_fit import fit_to_screen
from vit_gui.gui.settings import Settings
from vit_gui.gui.threads import start_worker_thread, stop_worker_thread
from vit_gui.gui.window_export import WindowSaving
from vit_gui.gui.window_input import InputMixin
from vit_gui.gui.window_menus import MenuActions, WindowMenus
from vit_gui.gui.window_models import TOP_K_TIP, ModelsMixin
from vit_gui.gui.worker import InferenceWorker
from vit_gui.session import Session

PROGRESS_INTERVAL_S = 0.1  # the progress bar and status redrawn at most this often


class MainWindow(ModelsMixin, InputMixin, QMainWindow):
    request_load = Signal(str, str, str)
    request_batch = Signal(int, object, int)
    request_attentions = Signal(int, object, int)
    request_probe = Signal()

    def __init__(self, settings: Settings | None = None):
        super().__init__()
        self.settings = settings or Settings()
        self.setWindowTitle("vit-gui — where does the Vision Transformer look?")
        self.setAcceptDrops(True)
        self.session = Session()
        self.batch_id = 0
        self.running: dict[int, tuple[int, int]] = {}  # batch id -> (done, total)
        self.walks: list = []  # dropped folders still being walked (window_input.FolderWalk)
        self._progress_shown_at = 0.0
        self.loaded_model: str | None = None  # path of the model the worker has
        self.loading_model: str | None = None
        self.model_info = None
        self.unusable_models: set[str] = set()  # listed with the reason they cannot be read, never loaded unasked
        self.rerun_after_load = False
        self.auto_selected: int | None = None  # the item selected for the user, not by them
        self._restoring = False
        self._build_widgets()
        self.menus = WindowMenus(self, MenuActions(
            self.open_files_dialog, self.open_folder_dialog, self.paste, self.saving.png_dialog, self.saving.csv_dialog,
            lambda: self.shortcut_checks.choose_folder(), self.clear_results, self.close, self.get_models_dialog,
            self.add_model_dialog, self.teach_dialog, self.cancel_batches, self.results.move, self._save_view_settings))
        self._start_worker()
        self._restore_settings()
        QTimer.singleShot(0, self._start)

    # ---- construction -----------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.results = ResultsList()
        self.attention = AttentionView()
        self.drop_hint = DropHint()
        self.centre = QStackedWidget()
        self.centre.addWidget(self.drop_hint)
        self.centre.addWidget(self.attention)
        self.model_panel = ModelPanel()
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 20)
        self.top_k.setToolTip(TOP_K_TIP)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(self.model_panel)
        form = QFormLayout()
        form.addRow("Classes per image:", self.top_k)
        side_layout.addLayout(form)
        side_layout.addWidget(self.attention.controls)
        self.notice = QLabel()  # problems that concern no single image (e.g. unusable settings)
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("color: #c0392b")
        self.notice.setVisible(False)
        side_layout.addWidget(self.notice)
        side_layout.addStretch()
        splitter = QSplitter()
        splitter.addWidget(self.results)
        splitter.addWidget(self.centre)
        side_scroll = QScrollArea()  # on a small screen the panel scrolls rather than squeezing its controls
        side_scroll.setWidgetResizable(True)
        side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_scroll.setMinimumWidth(side.sizeHint().width() + 12)
        side_scroll.setWidget(side)
        splitter.addWidget(side_scroll)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 660, 340])
        self.setCentralWidget(splitter)

        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("stop after the image being classified (Esc)")
        self.cancel_button.setVisible(False)
        self.status_label = plain_label()
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.cancel_button)

        self.drop_hint.open_files.connect(self.open_files_dialog)
        self.drop_hint.open_folder.connect(self.open_folder_dialog)
        self.drop_hint.get_models.connect(self.get_models_dialog)
        self.drop_hint.teach.connect(self.teach_dialog)
        self.results.item_selected.connect(self.on_item_selected)
        self.results.class_clicked.connect(self.on_class_clicked)
        self.saving = WindowSaving(self, self.results, self.session, self.attention, self.settings, self.status,
                                   lambda: self.menus.legend_action.isChecked())
        self.attention.sheet_view.export_requested.connect(self.saving.png_dialog)
        self.model_panel.model_chosen.connect(self.on_model_chosen)
        self.model_panel.device_chosen.connect(self.on_device_chosen)
        self.model_panel.precision_chosen.connect(self.on_precision_chosen)
        self.model_panel.add_model_requested.connect(self.add_model_dialog)
        self.model_panel.get_models_requested.connect(self.get_models_dialog)
        self.top_k.valueChanged.connect(self.on_top_k_changed)
        self.cancel_button.clicked.connect(self.cancel_batches)
        for widget in (self.attention.colormap, self.attention.fusion):
            widget.currentIndexChanged.connect(self._save_view_settings)
        for widget in (self.attention.opacity, self.attention.discard):
            widget.valueChanged.connect(self._save_view_settings)

    def _start_worker(self) -> None:
        self.worker = InferenceWorker()
        self.thread = start_worker_thread(self, self.worker)
        self.request_load.connect(self.worker.load_model)
        self.request_batch.connect(self.worker.run_batch)
        self.request_attentions.connect(self.worker.compute_attentions)
        self.request_probe.connect(self.worker.probe_devices)
        self.worker.model_loaded.connect(self.on_model_loaded)
        self.worker.model_failed.connect(self.on_model_failed)
        self.worker.result_ready.connect(self.on_result)
        self.worker.batch_progress.connect(self.on_batch_progress)
        self.worker.batch_finished.connect(self.on_batch_finished)
        self.worker.attentions_ready.connect(self.on_attentions_ready)
        self.worker.cuda_status.connect(self.on_cuda_status)
        self.checks = CheckController(self, self.attention, self.worker, self._shown_photo, self._label_of)
        self.shortcut_checks = ShortcutChecks(self, lambda: (self.loaded_model, self.model_panel.current_device()),
                                              self.add_paths, self.results.select_key, self.status)

    def _shown_photo(self):
        """(key, source, name) of the photo shown, or None."""
        key = self.results.current_key()
        if key is None or key not in self.session.records:
            return None
        record = self.session.records[key]
        return key, record.source, record.name

    def _label_of(self, class_index: int) -> str:
        return self.model_info.label(class_index) if self.model_info else str(class_index)

    def _restore_settings(self) -> None:
        s = self.settings
        self._restoring = True  # setting one control must not save the others' defaults
        self.top_k.setValue(s.top_k)
        self.model_panel.set_precision(s.text("precision", ""))
        self.attention.opacity.setValue(round(100 * s.opacity))
        self.attention.discard.setValue(round(100 * s.discard_ratio))
        self.attention.controls.set_fusion(s.fusion)
        self.menus.legend_action.setChecked(s.text("export_legend", "yes") != "no")
        colormap = s.text("colormap", "inferno")
        if self.attention.colormap.findText(colormap) >= 0:
            self.attention.colormap.setCurrentText(colormap)
        self._restoring = False
        geometry = s.geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            fit_to_screen(self, 1280, 800)
        self._refresh_recent_menu()

    @Slot()
    def _start(self) -> None:
        """After the window is up: find models, probe the GPU and load a model, all off-thread."""
        import vit_gui.images  # noqa: F401 - numpy and PIL now, before the worker's torch import holds them
        if self.settings.problem:
            self.notice.setText(self.settings.problem)
            self.notice.setVisible(True)
        self.request_probe.emit()
        self.refresh_models()
        if self.loading_model or self.loaded_model:
            return  # the user already picked a model in the meantime
        chosen = self.settings.text("model") or None
        if chosen is None or not Path(chosen).exists() or chosen in self.unusable_models:
            chosen = self.model_panel.first_usable_model()
        if chosen:
            self.model_panel.select_model(chosen)
            self.load_model(chosen, self.settings.text("device", "cpu"))

    # ---- answers from other threads: slots of this class itself (PySide would otherwise add
    # dynamic slots for methods of the mixins at connect time, which crashed under load) --------
    @Slot(object, object)
    def on_model_loaded(self, info, precision=None) -> None:
        self.loaded_model, self.loading_model, self.model_info = str(info.path), None, info
        # Python's full garbage collection walked every object torch, Qt and the model hold,
        # 180 ms on the GUI thread now and then during a batch: those live as long as the
        # model, so they are collected once now and left out of later collections
        gc.collect()
        gc.freeze()
        self.session.info = info
        device = self.model_panel.current_device()
        self.settings.set("model", self.loaded_model)
        self.model_panel.show_info(info, device, precision)
        self.attention.set_model_shape(info.architecture.depth, info.architecture.num_heads, info.rollout_start_block,
                                       not info.architecture.is_backbone, info.default_map)
        self.top_k.setEnabled(not info.architecture.is_backbone)
        most = max(1, min(20, info.architecture.num_classes or 20))  # a 4-class model lists at most 4
        self.top_k.blockSignals(True)  # the user's own choice stays in the settings for the next model
        self.top_k.setMaximum(most)
        self.top_k.setValue(min(self.settings.top_k, most))
        self.top_k.blockSignals(False)
        self.drop_hint.set_backbone(info.architecture.is_backbone)
        self.top_k.setToolTip("this model has no classes yet" if info.architecture.is_backbone else TOP_K_TIP)
        self.status(f"model ready: {info.name}")
        if self.rerun_after_load and self.session.records:
            self.rerun_after_load = False
            self._forget_results()
            self.classify(list(self.session.records))
        self.rerun_after_load = False

    @Slot(str, str)
    def on_model_failed(self, path: str, message: str) -> None:
        self.loading_model = None
        keep = f" The previous model ({Path(self.loaded_model).name}) stays loaded." if self.loaded_model else ""
        self.model_panel.show_message(f"Could not load <b>{esc(Path(path).name)}</b>: {esc(message)}.{esc(keep)}",
                                      error=True)
        if self.loaded_model:
            self.model_panel.select_model(self.loaded_model)
        self.rerun_after_load = False
        self.status(f"could not load {Path(path).name}")

    @Slot(str)
    def on_cuda_status(self, reason: str) -> None:
        self.model_panel.set_cuda_status(reason or None)
        wanted = self.settings.text("device", "cpu")
        if not reason and wanted == "cuda":
            self.model_panel.set_device("cuda")

    # ---- results ----------------------------------------------------------------------------
    @Slot(int, object)
    def on_result(self, batch_id: int, result) -> None:
        record = self.session.accept(result)
        if record is None:
            return  # cleared meanwhile
        self.results.set_result(record.key, record)
        current = self.results.current_key()
        if result.prediction is not None and current == self.auto_selected and self.session.records[current].error:
            # the first item, picked for the user, failed: show the first one that worked instead
            self.auto_selected = result.key
            self.results.select_key(result.key)
        elif current == result.key:
            self.on_item_selected(result.key)

    @Slot(int, int, int)
    def on_batch_progress(self, batch_id: int, done: int, total: int) -> None:
        """Counted for every image, shown at most ten times a second: a status bar and a
        progress bar redrawn per image cost the GUI thread 3 ms each (30 s for 10,000 photos)."""
        if batch_id in self.running:
            self.running[batch_id] = (done, total)
            now = time.monotonic()
            if done == total or now - self._progress_shown_at >= PROGRESS_INTERVAL_S:
                self._progress_shown_at = now
                self._show_progress()

    @Slot(int, bool)
    def on_batch_finished(self, batch_id: int, cancelled: bool) -> None:
        done, total = self.running.pop(batch_id, (0, 0))
        self._show_progress()
        if cancelled:
            self.status(f"cancelled after {done} of {total} images")
            for record in self.session.cancel_waiting():
                self.results.set_result(record.key, record)
        elif not self.running:
            classified, failed = self.session.counts()
            self.status(f"done: {classified} classified" + (f", {failed} failed" if failed else ""))

    @Slot(int)
    def on_top_k_changed(self, k: int) -> None:
        """More or fewer classes per image: recomputed from kept probabilities, no model run."""
        self.settings.set("top_k", k)
        for record in self.session.rerank(k):
            self.results.set_result(record.key, record)

    def _forget_results(self) -> None:
        for record in self.session.forget_results():
            self.results.mark_waiting(record.key)

    @Slot()
    def clear_results(self) -> None:
        self.cancel_batches()
        self.session.clear()
        self.results.clear_results()
        self.attention.clear()
        self.centre.setCurrentWidget(self.drop_hint)

    # ---- showing one item -------------------------------------------------------------------
    @Slot(int)
    def on_item_selected(self, key: int) -> None:
        item = self.session.records.get(key)
        if item is None:
            return
        self.session.shown = key
        view = self.session.view(key)
        if view is not None:
            self.attention.show_item(*view)
        elif item.error:
            self.attention.clear(f"{item.name}\n\n{item.error}")
        elif item.top is None:
            self.attention.clear(f"{item.name}\n\nwaiting to be classified…")
        else:  # classified earlier, its maps were evicted to save memory: recompute them
            self.attention.clear(f"{item.name}\n\ncomputing attention maps…")
            self.request_attentions.emit(key, item.source, self.top_k.value())

    @Slot(object)
    def on_attentions_ready(self, result) -> None:
        if result.prediction is not None and result.key in self.session.records:
            self.session.accept(result)
        if self.results.current_key() == result.key:
            self.on_item_selected(result.key)

    @Slot(int, int)
    def on_class_clicked(self, key: int, class_index: int) -> None:
        item = self.session.records.get(key)
        view = self.session.view(key)
        if item is None or not item.top or view is None:
            return
        if self.attention.prediction is not view[1]:
            self.on_item_selected(key)
        self.attention.request_class(class_index, self.model_info.label(class_index) if self.model_info else str(class_index))

    # ---- misc -------------------------------------------------------------------------------
    def status(self, text: str) -> None:
        self.status_label.setText(text)

    @Slot()
    def _save_view_settings(self, *_):
        if self._restoring:
            return
        self.settings.set("colormap", self.attention.colormap.currentText())
        self.settings.set("opacity", self.attention.opacity.value() / 100)
        self.settings.set("fusion", self.attention.controls.fusion_name())
        self.settings.set("discard_ratio", self.attention.discard.value() / 100)
        self.settings.set("export_legend", "yes" if self.menus.legend_action.isChecked() else "no")

    def closeEvent(self, event) -> None:
        """Stop the worker cleanly: cancel, then quit and wait for its thread. The window goes at
        once: the photo being classified may take seconds to finish, which no one must watch."""
        self.settings.set("window_geometry", self.saveGeometry())
        self.hide()
        QApplication.processEvents()
        self.walks.clear()
        self.worker.cancel_upto(self.batch_id)
        if getattr(self, "teach_window", None) is not None:
            self.teach_window.done(0)  # stops its thread too
        self.attention.jobs.cancel()
        self.worker.cancel_check()
        self.checks.close()
        stop_worker_thread(self.thread)
        self.attention.jobs.wait()
        self.saving.wait()  # an export in progress finishes: the user asked for that file
        self.settings.q.sync()
        super().closeEvent(event)
