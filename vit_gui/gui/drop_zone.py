"""What a drop or a paste carries, and the empty-state panel that invites one."""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QBuffer, QIODevice, QMimeData, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

REMOTE_SCHEMES = ("http", "https", "ftp")


@dataclass
class DropContent:
    paths: list[str] = field(default_factory=list)  # local files and folders
    remote_urls: list[str] = field(default_factory=list)  # web links: not fetched
    image: object = None  # a PIL image carried as data (from a browser or the clipboard)
    image_name: str = ""  # what to call it, when its origin gives a name

    def __bool__(self):
        return bool(self.paths or self.remote_urls or self.image is not None)


def qimage_to_pil(image: QImage):
    """QImage -> RGB PIL image, through an in-memory PNG (keeps every pixel format right)."""
    import io

    from PIL import Image

    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return Image.open(io.BytesIO(bytes(buffer.data()))).convert("RGB")


def parse_mime(mime: QMimeData) -> DropContent:
    """Sort dropped or pasted data into local paths, remote URLs and image data."""
    content = DropContent()
    if mime.hasUrls():
        for url in mime.urls():
            if url.isLocalFile():
                content.paths.append(url.toLocalFile())
            elif url.scheme().lower() in REMOTE_SCHEMES:
                content.remote_urls.append(url.toString())
    elif mime.hasText():  # a browser may drag a link as plain text
        text = mime.text().strip()
        if text.split(":", 1)[0].lower() in REMOTE_SCHEMES:
            content.remote_urls.append(text)
    if mime.hasImage() and not content.paths:
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            content.image = qimage_to_pil(image)
            if content.remote_urls:  # a browser sends the picture along with its link: use it
                content.image_name = content.remote_urls[0].rstrip("/").rsplit("/", 1)[-1] or "dropped image"
                content.remote_urls = []
    return content


class DropHint(QWidget):
    """Shown while there is nothing to look at: says what to do, with buttons for it."""

    open_files = Signal()
    open_folder = Signal()
    get_models = Signal()
    teach = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        title = QLabel("Drop photos or a folder here")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        title.setFont(font)
        detail = QLabel("…or paste an image (Ctrl+V). Each photo gets its top classes and a map of where the model looked.")
        detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        detail.setWordWrap(True)
        files = QPushButton("Open images…")
        folder = QPushButton("Open folder…")
        files.clicked.connect(self.open_files)
        folder.clicked.connect(self.open_folder)
        buttons = QHBoxLayout()
        buttons.addStretch()
        buttons.addWidget(files)
        buttons.addWidget(folder)
        buttons.addStretch()
        # a backbone (the built-in model) has no classes: say, in one sentence, how to get some
        self.no_classes = QLabel("This model has no classes yet, so it shows where it looks but not what it "
                                 "sees: download a classifier, or teach it your own classes from folders of photos.")
        self.no_classes.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_classes.setWordWrap(True)
        get = QPushButton("Get a classifier…")
        get.setToolTip("download a Vision Transformer that knows ImageNet's 1,000 classes (Model > Get models…)")
        teach = QPushButton("Teach new classes…")
        teach.setToolTip("give this model classes from your own folders of photos, in seconds (Model > Teach new classes…)")
        get.clicked.connect(self.get_models)
        teach.clicked.connect(self.teach)
        self.class_buttons = QWidget()
        class_row = QHBoxLayout(self.class_buttons)
        class_row.addStretch()
        class_row.addWidget(get)
        class_row.addWidget(teach)
        class_row.addStretch()
        layout = QVBoxLayout(self)
        layout.addStretch()
        layout.addWidget(title)
        layout.addWidget(detail)
        layout.addLayout(buttons)
        layout.addSpacing(24)
        layout.addWidget(self.no_classes)
        layout.addWidget(self.class_buttons)
        layout.addStretch()
        self.set_backbone(False)
        self.setObjectName("dropHint")
        self.setStyleSheet("#dropHint { border: 2px dashed palette(mid); border-radius: 12px; }")

    def set_backbone(self, backbone: bool) -> None:
        """Show the way to classes while the loaded model has none."""
        self.no_classes.setVisible(backbone)
        self.class_buttons.setVisible(backbone)
