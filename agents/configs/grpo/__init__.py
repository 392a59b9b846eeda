"""Presets of `python -m agents.grpo` (only these are offered to it)."""
