"""Presets of `python -m agents.pretrain` (only these are offered to it)."""
