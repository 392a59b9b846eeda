"""YAML presets of the entry points, one package each, so that an entry point offers only
its own presets (and they ship inside the wheel)."""
