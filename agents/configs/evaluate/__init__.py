"""Presets of `python -m agents.evaluate` (only these are offered to it)."""
