"""YAML presets of the entry points (a package so that they ship inside the wheel)."""
