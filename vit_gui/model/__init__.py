"""The ViT itself, its checkpoints and its metadata: pure torch, no Qt."""
