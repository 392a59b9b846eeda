"""Presets used only by tests/test_config.py (schema: ``toy_schema`` defined there)."""
