"""The main window: composes the panels, owns the worker thread, keeps settings.

It arranges and delegates: images are loaded and classified by the worker on its own
thread, what is known about them lives in a Qt-free `Session`, maps are computed by the
engine, files are written atomically by fileio.
"""

from __future__ import annotations

import gc
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QApplication,
    QFormLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from vit_gui.gui.audit_launcher import ShortcutChecks
from vit_gui.gui.check_controller import CheckController
from vit_gui.gui.compare_launcher import Comparing
from vit_gui.gui.drop_zone import DropHint
from vit_gui.gui.map_controls import COLORMAPS, MapControls
from vit_gui.gui.map_view import MapView
from vit_gui.gui.model_panel import ModelPanel
from vit_gui.gui.plain import plain_label
from vit_gui.gui.results import ResultsList
from vit_gui.gui.screen_fit import fit_to_screen, scrolling_panel
from vit_gui.gui.settings import Settings
from vit_gui.gui.threads import start_worker_thread, stop_worker_thread
from vit_gui.gui.window_batches import Batches
from vit_gui.gui.window_export import WindowSaving
from vit_gui.gui.window_input import PhotoIntake
from vit_gui.gui.window_menus import MenuActions, WindowMenus
from vit_gui.gui.window_models import TOP_K_TIP, WindowModels
from vit_gui.gui.worker import InferenceWorker
from vit_gui.session import Session

LOOK_SETTINGS = {"colormap", "opacity", "fusion", "discard_ratio"}  # remembered for the next start


class MainWindow(QMainWindow):
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
        self.auto_selected: int | None = None  # the item selected for the user, not by them
        self._restoring = False
        self._build_widgets()
        self._start_worker()
        self.menus = WindowMenus(self, MenuActions(
            lambda: self.intake.open_files_dialog(), lambda: self.intake.open_folder_dialog(),
            lambda: self.intake.paste(), self.saving.png_dialog,
            self.saving.csv_dialog, self.shortcut_checks.choose_folder, self.clear_results, self.close,
            self.models.get_models_dialog, self.models.add_model_dialog, self.models.teach_dialog,
            lambda: self.comparing.choose_model(), self.batches.cancel, self.results.move, self._save_view_settings))
        self.intake = PhotoIntake(self, self.session, self.results, self.settings, self.menus.recent_menu,
                                  self.batches, self.status, self._show_first)
        self._restore_settings()
        QTimer.singleShot(0, self._start)

    # ---- construction -----------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.results = ResultsList()
        self.map_view = MapView()
        self.map_controls = MapControls(self.map_view.state)
        self.drop_hint = DropHint()
        self.centre = QStackedWidget()
        self.centre.addWidget(self.drop_hint)
        self.centre.addWidget(self.map_view)
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
        side_layout.addWidget(self.map_controls)
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
        splitter.addWidget(scrolling_panel(side))
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

        self.drop_hint.open_files.connect(lambda: self.intake.open_files_dialog())
        self.drop_hint.open_folder.connect(lambda: self.intake.open_folder_dialog())
        self.results.item_selected.connect(self.on_item_selected)
        self.results.class_clicked.connect(self.on_class_clicked)
        self.saving = WindowSaving(self, self.results, self.session, self.map_view, self.settings, self.status,
                                   lambda: self.menus.legend_action.isChecked())
        self.map_view.sheet_view.export_requested.connect(self.saving.png_dialog)
        self.top_k.valueChanged.connect(self.on_top_k_changed)
        self.map_view.state.subscribe(lambda changed: self._save_view_settings() if changed & LOOK_SETTINGS else None)

    def _start_worker(self) -> None:
        self.worker = InferenceWorker()
        self.thread = start_worker_thread(self, self.worker)
        self.request_load.connect(self.worker.load_model)
        self.request_batch.connect(self.worker.run_batch)
        self.request_attentions.connect(self.worker.compute_attentions)
        self.request_probe.connect(self.worker.probe_devices)
        self.batches = Batches(self, self.session, self.results, self.worker, self.request_batch.emit, self.top_k,
                               self.progress, self.cancel_button, self.status)
        self.cancel_button.clicked.connect(self.batches.cancel)
        self.models = WindowModels(self, self.settings, self.model_panel, self.batches, self.request_load.emit,
                                   self.status, lambda paths: self.shortcut_checks.show_in_list(paths))
        self.drop_hint.get_models.connect(self.models.get_models_dialog)
        self.drop_hint.teach.connect(self.models.teach_dialog)
        self.worker.model_loaded.connect(self.on_model_loaded)
        self.worker.model_failed.connect(self.models.on_failed)
        self.worker.result_ready.connect(self.on_result)
        self.worker.attentions_ready.connect(self.on_attentions_ready)
        self.worker.cuda_status.connect(self.on_cuda_status)
        self.checks = CheckController(self, self.map_view, self.worker, self._shown_photo, self.models.label)
        self.shortcut_checks = ShortcutChecks(self, lambda: (self.models.loaded, self.model_panel.current_device()),
                                              lambda paths, classify=True: self.intake.add_paths(paths, classify),
                                              self.results.select_key, self.status)
        self.comparing = Comparing(self, self.models, self.model_panel.current_device, self._photo_paths, self.status,
                                   lambda: {name: getattr(self.map_view.state.settings, name) for name in LOOK_SETTINGS})

    # ---- photos in, photos shown -------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        mime = event.mimeData()
        if mime.hasUrls() or mime.hasImage() or mime.hasText():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        self.intake.drop(event)

    def _show_first(self, key: int) -> None:
        """Photos joined an empty list: the first is shown, picked for the user."""
        self.centre.setCurrentWidget(self.map_view)
        self.auto_selected = key
        self.results.select_key(key)

    def _photo_paths(self) -> list[str]:
        """The files in the list, in its order (pasted images and failures left out)."""
        return [r.source for r in self.session.records.values() if isinstance(r.source, str) and not r.error]

    def _shown_photo(self):
        """(key, source, name) of the photo shown, or None."""
        key = self.results.current_key()
        if key is None or key not in self.session.records:
            return None
        record = self.session.records[key]
        return key, record.source, record.name

    def _restore_settings(self) -> None:
        s = self.settings
        self._restoring = True  # setting one control must not save the others' defaults
        self.top_k.setValue(s.top_k)
        self.model_panel.set_precision(s.text("precision", ""))
        colormap = s.text("colormap", "inferno")
        self.map_view.state.change(opacity=s.opacity, discard_ratio=s.discard_ratio, fusion=s.fusion,
                                   colormap=colormap if colormap in COLORMAPS else "inferno")
        self.menus.legend_action.setChecked(s.text("export_legend", "yes") != "no")
        self._restoring = False
        geometry = s.geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            fit_to_screen(self, 1280, 800)

    @Slot()
    def _start(self) -> None:
        """After the window is up: find models, probe the GPU and load a model, all off-thread."""
        import vit_gui.images  # noqa: F401 - numpy and PIL now, before the worker's torch import holds them
        if self.settings.problem:
            self.notice.setText(self.settings.problem)
            self.notice.setVisible(True)
        self.request_probe.emit()
        self.models.refresh()
        if self.models.loading or self.models.loaded:
            return  # the user already picked a model in the meantime
        chosen = self.settings.text("model") or None
        if chosen is None or not Path(chosen).exists() or chosen in self.models.unusable:
            chosen = self.model_panel.first_usable_model()
        if chosen:
            self.model_panel.select_model(chosen)
            self.models.load(chosen, self.settings.text("device", "cpu"))

    # ---- answers from the worker ------------------------------------------------------------
    @Slot(object, object)
    def on_model_loaded(self, info, precision=None) -> None:
        self.models.took(info)
        # Python's full garbage collection walked every object torch, Qt and the model hold,
        # 180 ms on the GUI thread now and then during a batch: those live as long as the
        # model, so they are collected once now and left out of later collections
        gc.collect()
        gc.freeze()
        self.session.info = info
        self.model_panel.show_info(info, self.model_panel.current_device(), precision)
        self.map_view.set_model_shape(info.architecture.depth, info.architecture.num_heads, info.rollout_start_block,
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
        if self.models.rerun_after_load and self.session.records:
            self._forget_results()
            self.batches.classify(list(self.session.records))
        self.models.rerun_after_load = False

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
        self.batches.cancel()
        self.session.clear()
        self.results.clear_results()
        self.map_view.clear()
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
            self.map_view.show_item(*view)
        elif item.error:
            self.map_view.clear(f"{item.name}\n\n{item.error}")
        elif item.top is None:
            self.map_view.clear(f"{item.name}\n\nwaiting to be classified…")
        else:  # classified earlier, its maps were evicted to save memory: recompute them
            self.map_view.clear(f"{item.name}\n\ncomputing attention maps…")
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
        if self.map_view.prediction is not view[1]:
            self.on_item_selected(key)
        self.map_view.request_class(class_index, self.models.label(class_index))

    # ---- misc -------------------------------------------------------------------------------
    def status(self, text: str) -> None:
        self.status_label.setText(text)

    @Slot()
    def _save_view_settings(self, *_):
        if self._restoring:
            return
        look = self.map_view.state.settings
        self.settings.set("colormap", look.colormap)
        self.settings.set("opacity", look.opacity)
        self.settings.set("fusion", look.fusion)
        self.settings.set("discard_ratio", look.discard_ratio)
        self.settings.set("export_legend", "yes" if self.menus.legend_action.isChecked() else "no")

    def closeEvent(self, event) -> None:
        """Stop the worker cleanly: cancel, then quit and wait for its thread. The window goes at
        once: the photo being classified may take seconds to finish, which no one must watch."""
        self.settings.set("window_geometry", self.saveGeometry())
        self.hide()
        QApplication.processEvents()
        self.batches.stop()
        self.models.close()
        self.comparing.close()
        self.map_view.jobs.cancel()
        self.worker.cancel_check()
        self.checks.close()
        stop_worker_thread(self.thread)
        self.map_view.jobs.wait()
        self.saving.wait()  # an export in progress finishes: the user asked for that file
        self.settings.q.sync()
        super().closeEvent(event)
