"""``--help`` of every entry point: its usage line matches the command line the entry
point documents (its own flags included), and it prints without importing torch (a
second or more, several on a cold disk, before a word appears)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# entry point, then the words its usage line must hold
ENTRY_POINTS = [
    ("agents.grpo", ["--config PRESET", "--output DIR"]),
    ("agents.pretrain", ["[MODEL]", "--config PRESET"]),
    ("agents.evaluate", ["--policy P", "--output DIR", "--config PRESET"]),
    ("agents.baselines.sb3", ["ALGORITHM", "--levels", "--timesteps", "--output DIR"]),
]

# Runs the entry point's --help as `python -m` would, then reports whether torch was loaded.
_PROBE = """\
import runpy, sys
sys.argv = [{module!r}, "--help"]
try:
    runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
except SystemExit as exit:
    assert not exit.code, exit.code
print("TORCH LOADED" if "torch" in sys.modules else "TORCH NOT LOADED")
"""


def _help(module: str) -> str:
    done = subprocess.run([sys.executable, "-c", _PROBE.format(module=module)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(("module", "words"), ENTRY_POINTS)
def test_help_usage_names_the_entry_points_own_arguments(module: str, words: list[str]) -> None:
    printed = _help(module)
    usage = [line for line in printed.splitlines() if line.startswith("usage: ")]
    assert len(usage) == 1, printed
    assert usage[0].startswith(f"usage: python -m {module} "), usage[0]
    for word in words:
        assert word in usage[0], (word, usage[0])


@pytest.mark.parametrize("module", [module for module, _ in ENTRY_POINTS])
def test_help_prints_without_importing_torch(module: str) -> None:
    printed = _help(module)
    assert "KEY" in printed and "DEFAULT" in printed  # the table of every key was printed
    assert printed.rstrip().endswith("TORCH NOT LOADED")


def test_the_torch_free_settings_are_the_networks_own() -> None:
    from causal_meta.models.registry import MODELS
    from causal_meta.models.settings import SETTINGS

    assert {name: model.Config for name, model in MODELS.items()} == SETTINGS
