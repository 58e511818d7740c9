"""Between the map view, the check window and the worker: a map's gradients and its check
are asked of the worker for the photo shown, and the answers go where they belong only if
they are still about what is shown."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal, Slot


class CheckController(QObject):
    request_gradient_map = Signal(int, object, object)  # key, source, MapSpec
    request_check = Signal(int, object, object, object, str, str)  # key, source, MapSpec, map, protocol, label
    request_compare = Signal(int, object, int, str)  # key, source, class index (-1: the top), protocol

    def __init__(self, parent, map_view, worker, shown: Callable[[], tuple[int, object, str] | None],
                 label_of: Callable[[int], str]):
        """`shown()` gives (key, source, name) of the photo shown, or None; `label_of(index)`
        names a class of the loaded model."""
        super().__init__(parent)
        self.parent_window, self.map_view, self.worker = parent, map_view, worker
        self.shown, self.label_of = shown, label_of
        self.window = None  # the check window, made on first use
        self.checked: tuple[int, object, object] | None = None  # (key, MapSpec, map) being checked
        map_view.gradient_map_requested.connect(self.on_gradient_map_requested)
        map_view.check_requested.connect(self.on_check_requested)
        self.request_gradient_map.connect(worker.compute_gradient_map)
        self.request_check.connect(worker.run_check)
        self.request_compare.connect(worker.run_compare)
        worker.gradient_map_ready.connect(self.on_gradient_map_ready)
        worker.check_ready.connect(self.on_check_ready)
        worker.compare_ready.connect(self.on_compare_ready)

    # ---- gradient maps ----------------------------------------------------------------------
    @Slot(object)
    def on_gradient_map_requested(self, spec) -> None:
        shown = self.shown()
        if shown is not None:
            self.request_gradient_map.emit(shown[0], shown[1], spec)

    @Slot(int, object, object, str)
    def on_gradient_map_ready(self, key: int, spec, grid_map, error: str) -> None:
        shown = self.shown()
        if shown is None or shown[0] != key:
            return
        if grid_map is None:
            self.map_view.gradient_map_failed(spec, error)
        else:
            self.map_view.set_class_map(spec, grid_map)

    # ---- the check window -------------------------------------------------------------------
    def _window(self):
        if self.window is None:
            from vit_gui.gui.check_window import CheckWindow

            self.window = CheckWindow(self.parent_window)
            self.worker.check_progress.connect(self.window.on_progress)
            self.window.check_requested.connect(self.on_window_check)
            self.window.compare_requested.connect(self.on_window_compare)
            self.window.cancel_requested.connect(self.on_cancel)
            self.window.show_map_requested.connect(self.on_show_map)
        return self.window

    @Slot()
    def on_cancel(self) -> None:
        """Called here, on the GUI thread: a signal to the worker would wait behind the check."""
        self.worker.cancel_check()

    @Slot(object, object)
    def on_check_requested(self, spec, grid_map) -> None:
        shown = self.shown()
        if shown is None:
            return
        self.checked = (shown[0], spec, grid_map)
        window = self._window()
        label = self.label_of(spec.class_index) if spec.method.needs_gradients else ""
        window.set_subject(f"{shown[2]}: {spec.describe(self.map_view.state.depth, label)}")
        window.show()
        window.raise_()
        window.start_check()

    @Slot(str)
    def on_window_check(self, protocol: str) -> None:
        shown = self.shown()
        if shown is None or self.checked is None or self.checked[0] != shown[0]:
            self.window.show_error("the photo shown is not the one this window was opened for: click "
                                   "“Can I trust this map?” under it")
            return
        key, spec, grid_map = self.checked
        label = self.label_of(spec.class_index) if spec.method.needs_gradients else (self._top_label() or "")
        self.worker.arm_check()
        self.request_check.emit(key, shown[1], spec, grid_map, protocol, label)

    @Slot(str)
    def on_window_compare(self, protocol: str) -> None:
        shown = self.shown()
        if shown is None:
            self.window.show_error("no photo is shown")
            return
        spec = self.checked[1] if self.checked is not None else None
        class_index = spec.class_index if spec is not None and spec.method.needs_gradients else -1
        self.worker.arm_check()
        self.request_compare.emit(shown[0], shown[1], class_index, protocol)

    def _top_label(self) -> str:
        prediction = self.map_view.prediction
        return prediction.top[0].label if prediction is not None and prediction.top else ""

    @Slot(int, object, str)
    def on_check_ready(self, key: int, result, error: str) -> None:
        if self.window is None:
            return
        if result is None:
            self.window.show_error(error)
            return
        self.window.show_result(result)
        shown = self.shown()
        if shown is not None and shown[0] == key:
            self.map_view.show_verdict(result.spec, verdict_line(result.faithfulness, result.randomisation,
                                                                  result.stability))

    @Slot(int, object, str)
    def on_compare_ready(self, key: int, scores, error: str) -> None:
        if self.window is None:
            return
        if scores is None:
            self.window.show_error(error)
        else:
            self.window.show_compare(scores)

    @Slot(object)
    def on_show_map(self, spec) -> None:
        """The map chosen in the table is shown, and from then on everything speaks of it:
        the verdict beside it is its own (the previous map's was left there), and the check
        window's title and words are its own."""
        label = self.label_of(spec.class_index) if spec.method.needs_gradients else ""
        self.map_view.state.apply_spec(spec, label)
        self.map_view.state.clear_verdict()
        score = self.window.score_of(spec) if self.window is not None else None
        shown = self.shown()
        if score is None or shown is None:
            return
        self.map_view.show_verdict(spec, verdict_line(score.faithfulness, score.randomisation, score.stability))
        self.window.show_score(score, f"{shown[2]}: {spec.describe(self.map_view.state.depth, label)}", label)

    def close(self) -> None:
        if self.window is not None:
            self.window.close()


def verdict_line(faithfulness, randomisation, stability) -> str:
    """The line beside the map it judged, in the main window."""
    from vit_gui.explain.check_words import PROTOCOL_WORDS

    words = f"Checked: {faithfulness.verdict} (hiding parts by {PROTOCOL_WORDS[faithfulness.protocol]})"
    if stability is not None and not stability.stable:
        words += ", unstable when the photo moves"
    if randomisation is not None and not randomisation.depends_on_weights:
        words += ", barely depends on the model's weights"
    return words
