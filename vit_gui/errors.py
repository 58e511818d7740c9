"""The project's own error types: every failure a user can cause ends up as one of these,
with a message meant to be shown to that user beside the item it concerns."""


class VitGuiError(Exception):
    """Base class: anything the app can explain to a user instead of crashing."""


class ImageLoadError(VitGuiError):
    """A file could not be read as an image (missing, unreadable, corrupt, too large)."""


class CheckpointError(VitGuiError):
    """A model file is not a checkpoint we can load (wrong format, layout, or unsafe)."""


class ModelConfigError(VitGuiError):
    """A model's sidecar metadata has missing or invalid values."""


class DeviceError(VitGuiError):
    """The requested compute device is not available on this machine."""


class NoModelError(VitGuiError):
    """No model file was given and none is installed."""


class OutOfMemory(VitGuiError):
    """Even a single image did not fit in memory on the chosen device."""
