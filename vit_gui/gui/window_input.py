"""How photos reach the main window: drag and drop, paste, File > Open, recent files, a
folder's images found recursively (each unreadable file listed with its reason). A part of
the main window by composition: photos found go into the session and the list, and to
`Batches` to be classified."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QApplication, QFileDialog

from vit_gui.gui.drop_zone import DropContent, parse_mime

REMOTE_MESSAGE = "remote images are not fetched: save the image to your computer first, then drop the file"
#: the GUI thread walks dropped folders at most this long at a time, then lets the window
#: breathe and goes on (a 10,000-photo folder walked in one go held it 0.2 s, a slow
#: network drive far longer)
WALK_SLICE_S = 0.02
WALK_BATCH = 64


@dataclass
class FolderWalk:
    """A drop's photos still being found: what is left, what could not be read, what was found."""

    photos: Iterator[Path]
    skipped: list
    classify: bool
    found: int = 0
    unclassified: list = field(default_factory=list)  # found, waiting to fill a batch


class PhotoIntake(QObject):
    def __init__(self, window, session, results, settings, recent_menu, batches, status: Callable[[str], None],
                 first_shown: Callable[[int], None]):
        """`first_shown(key)` is told when photos join an empty list: show the first one."""
        super().__init__(window)
        self.window, self.session, self.results, self.settings = window, session, results, settings
        self.recent_menu, self.batches, self.status, self.first_shown = recent_menu, batches, status, first_shown
        self.refresh_recent_menu()

    def drop(self, event) -> None:
        """A drop on the window (its dragEnterEvent accepted it)."""
        content = parse_mime(event.mimeData())
        if content:
            event.acceptProposedAction()
            self.add_content(content)

    @Slot()
    def paste(self) -> None:
        content = parse_mime(QApplication.clipboard().mimeData())
        if content:
            self.add_content(content)
        else:
            self.status("the clipboard holds no image or image file")

    def add_content(self, content: DropContent) -> None:
        for url in content.remote_urls:
            key = self._add_item(url, url, error=REMOTE_MESSAGE)
            self.results.set_result(key, self.session.records[key])
        if content.remote_urls:
            self.status(REMOTE_MESSAGE)
        if content.image is not None:
            self.batches.classify([self._add_item(content.image_name or f"pasted image {len(self.session.records) + 1}",
                                          content.image)])
        if content.paths:
            self.add_paths(content.paths)

    def add_paths(self, paths, classify: bool = True) -> list[int]:
        """Add files and folders (recursed), in order; returns the keys added at once. A big
        folder is walked in slices: the rest of its photos join the list (and are
        classified) as the walk goes on, while the window stays responsive."""
        from vit_gui.images import iter_images

        for path in paths:
            self._remember_recent(str(path))
        skipped: list = []
        walk = FolderWalk(iter_images(paths, skipped=skipped), skipped, classify)
        self.batches.walks.append(walk)
        return self._walk_on(walk)

    def _walk_on(self, walk: FolderWalk) -> list[int]:
        """One slice of a walk: the photos found within WALK_SLICE_S join the list in one
        insertion and are classified as one batch; the next slice is queued behind events."""
        deadline, entries, finished = time.monotonic() + WALK_SLICE_S, [], True
        for path in walk.photos:
            entries.append((path.name, str(path)))
            if time.monotonic() > deadline:
                finished = False
                break
        keys = self._add_items(entries)
        walk.found += len(keys)
        if walk.classify:  # in batches of WALK_BATCH at least: batches of one would run slower
            walk.unclassified += keys
            if finished or len(walk.unclassified) >= WALK_BATCH:
                self.batches.classify(walk.unclassified)
                walk.unclassified = []
        if not finished:
            QTimer.singleShot(0, self, lambda: self._walk_on(walk) if walk in self.batches.walks else None)
            return keys
        self.batches.walks.remove(walk)
        if not walk.found and not walk.skipped:
            self.status("no image files found there")
        for path, reason in walk.skipped:  # shown in the list with the reason, never dropped silently
            key = self._add_item(path.name, str(path), error=reason)
            self.results.set_result(key, self.session.records[key])
        return keys

    def _add_item(self, name: str, source, error: str | None = None) -> int:
        return self._add_items([(name, source)], error)[0]

    def _add_items(self, entries: list, error: str | None = None) -> list[int]:
        """(name, source) entries into the session and the list, in one insertion."""
        if not entries:
            return []
        keys = [self.session.add(name, source, error).key for name, source in entries]
        self.results.add_pending_many([(key, name, source if isinstance(source, str) else name)
                                       for key, (name, source) in zip(keys, entries)])
        if self.results.current_key() is None:
            self.first_shown(keys[0])
        return keys

    @Slot()
    def open_files_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self.window, "Open images", self.settings.text("last_open_dir"),
            "Images (*.jpg *.jpeg *.png *.bmp *.gif *.tif *.tiff *.webp *.avif *.heic *.heif);;All files (*)")
        if paths:
            self.settings.set("last_open_dir", str(Path(paths[0]).parent))
            self.add_paths(paths)

    @Slot()
    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Open a folder of images",
                                                  self.settings.text("last_open_dir"))
        if folder:
            self.settings.set("last_open_dir", folder)
            self.add_paths([folder])

    def _remember_recent(self, path: str) -> None:
        self.settings.add_recent("recent_files", path)
        self.refresh_recent_menu()

    def refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.paths("recent_files")
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.add_paths([p]))
        self.recent_menu.setEnabled(bool(recent))
