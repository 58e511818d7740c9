"""vit-gui: classify images with a Vision Transformer and show where it looked."""

__version__ = "0.1.0"
