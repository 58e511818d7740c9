"""The shortcut check's worker: the audit and its pictures on a thread of their own, so the
window stays responsive through 500 photos and Cancel is heard between batches."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal, Slot

#: classes drawn as pictures in the window (those with a finding first, then the largest): the
#: rest are listed in words, so 1,000 classes neither fill memory with pictures nor take
#: minutes to draw
DRAWN = 30


@dataclass
class AuditOutcome:
    result: object  # audit.run.Audit
    report: dict  # its JSON (audit.run.to_json)
    pictures: list  # audit.pictures.ClassPictures of the first DRAWN classes, findings first


class AuditWorker(QObject):
    progress = Signal(int, int, object)  # photos done, photos in all, seconds left (None: not known yet)
    finished = Signal(object, str)  # AuditOutcome or None; the error ("" when cancelled or done)

    def __init__(self):
        super().__init__()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Called from the GUI thread: the audit stops before its next batch."""
        self._cancel.set()

    def rearm(self) -> None:
        """Called from the GUI thread before a run is asked for, so a Cancel pressed before the
        run begins is not forgotten when it does."""
        self._cancel.clear()

    @Slot(object, object, str, object)
    def run(self, source, model, device: str, root) -> None:
        """`source`: a folder (Path) or photos already read (audit.collect.Folder, `root`
        naming where they came from); `model`: a model file's path or a Predictor in memory
        (the Teach window's model before it is saved)."""
        try:
            from vit_gui.audit.collect import AuditCancelled
            from vit_gui.audit.pictures import draw, shortcut_first
            from vit_gui.audit.run import audit, to_json
            from vit_gui.predict import Predictor
            from vit_gui.record import json_safe
        except ImportError as exc:  # the packaged app leaves scikit-learn and scipy out (build.spec)
            self.finished.emit(None, f"this copy of vit-gui cannot check for shortcuts: it needs scikit-learn and "
                                     f"scipy ({exc}); install vit-gui with pip (README)")
            return
        try:
            predictor = Predictor.from_file(model, device) if isinstance(model, str) else model
            result = audit(source, predictor, self.progress.emit, self._cancel.is_set, root=root)
            report = json_safe(to_json(result))
            self.progress.emit(-1, -1, None)  # drawing the pictures
            pictures = draw(result, report, cancelled=self._cancel.is_set, only=shortcut_first(report)[:DRAWN])
            if self._cancel.is_set():
                raise AuditCancelled("cancelled")
            self.finished.emit(AuditOutcome(result, report, pictures), "")
        except AuditCancelled:
            self.finished.emit(None, "")
        except Exception as exc:  # noqa: BLE001 - the window says what went wrong, the app lives on
            self.finished.emit(None, str(exc) or type(exc).__name__)
