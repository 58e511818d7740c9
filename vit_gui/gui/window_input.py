"""How photos reach the main window: drag and drop, paste, File > Open, recent files, a
folder's images found recursively (each unreadable file listed with its reason). A part of
MainWindow (mixed in), kept apart by concern."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QApplication, QFileDialog

from vit_gui.gui.drop_zone import DropContent, parse_mime

REMOTE_MESSAGE = "remote images are not fetched: save the image to your computer first, then drop the file"


class InputMixin:
    def dragEnterEvent(self, event) -> None:
        mime = event.mimeData()
        if mime.hasUrls() or mime.hasImage() or mime.hasText():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        event.acceptProposedAction()

    def dropEvent(self, event) -> None:
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
        new = []
        for url in content.remote_urls:
            key = self._add_item(url, url, error=REMOTE_MESSAGE)
            self.results.set_result(key, self.session.records[key])
        if content.remote_urls:
            self.status(REMOTE_MESSAGE)
        if content.image is not None:
            new.append(self._add_item(content.image_name or f"pasted image {len(self.session.records) + 1}",
                                      content.image))
        if content.paths:
            new += self.add_paths(content.paths, classify=False)
        self.classify(new)

    def add_paths(self, paths, classify: bool = True) -> list[int]:
        """Add files and folders (recursed); returns the new items' keys."""
        from vit_gui.images import find_images

        for path in paths:
            self._remember_recent(str(path))
        skipped: list = []
        found = find_images(paths, skipped=skipped)
        if not found and not skipped:
            self.status("no image files found there")
        keys = self._add_items([(p.name, str(p)) for p in found])
        for path, reason in skipped:  # shown in the list with the reason, never dropped silently
            key = self._add_item(path.name, str(path), error=reason)
            self.results.set_result(key, self.session.records[key])
        if classify:
            self.classify(keys)
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
        self.centre.setCurrentWidget(self.attention)
        if self.results.current_key() is None:
            self.auto_selected = keys[0]
            self.results.select_key(keys[0])
        return keys

    def classify(self, keys: list[int]) -> None:
        work = self.session.runnable(keys)
        if not work:
            return
        self.batch_id += 1
        self.running[self.batch_id] = (0, len(work))
        self._show_progress()
        self.request_batch.emit(self.batch_id, work, self.top_k.value())

    @Slot()
    def open_files_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Open images", self.settings.text("last_open_dir"),
            "Images (*.jpg *.jpeg *.png *.bmp *.gif *.tif *.tiff *.webp *.avif *.heic *.heif);;All files (*)")
        if paths:
            self.settings.set("last_open_dir", str(Path(paths[0]).parent))
            self.add_paths(paths)

    @Slot()
    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", self.settings.text("last_open_dir"))
        if folder:
            self.settings.set("last_open_dir", folder)
            self.add_paths([folder])

    def _remember_recent(self, path: str) -> None:
        self.settings.add_recent("recent_files", path)
        self._refresh_recent_menu()

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.paths("recent_files")
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.add_paths([p]))
        self.recent_menu.setEnabled(bool(recent))

    def _show_progress(self) -> None:
        done = sum(d for d, _ in self.running.values())
        total = sum(t for _, t in self.running.values())
        busy = bool(self.running)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.status(f"classifying {done} of {total}…")

    def is_busy(self) -> bool:
        return bool(self.running)
