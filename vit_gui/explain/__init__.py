"""Attention maps (rollout, per-block, per-head, class-specific) and their overlays: no Qt."""
