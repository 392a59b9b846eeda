"""Presets of `python -m agents.baselines.sb3` (only these are offered to it)."""
