"""The README's two commands are the project's contract with a new user; CI must run the
second one exactly as written, so a missing install step fails CI too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The bash code blocks of the README, in order."""
    text = (ROOT / "README.md").read_text()
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_opens_with_exactly_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    first_blocks = text.split("\n## ")[0]
    blocks = re.findall(r"```bash\n(.*?)```", first_blocks, flags=re.S)
    assert len(blocks) == 2, "the README must open with exactly two commands"
    assert all(len(b.strip().splitlines()) == 1 for b in blocks)
    assert "pip install" in blocks[0] and "pip install" in blocks[1]
    assert "pytest" in blocks[1] and "cargo test" in blocks[1]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci_lines


def schema_keys(cls: type, prefix: str = "") -> list[str]:
    """Every dotted key of a config schema; the ``model`` config group of pre-training
    expands to the settings of every registered model."""
    import dataclasses

    from causal_meta.models.registry import MODELS

    out = []
    for f in dataclasses.fields(cls):
        factory = f.default_factory
        if isinstance(factory, type) and dataclasses.is_dataclass(factory):
            out += schema_keys(factory, f"{prefix}{f.name}.")
        elif cls.__name__ == "PretrainConfig" and f.name == "model":
            out += sorted({key for model in MODELS.values() for key in schema_keys(model.Config, "model.")})
        else:
            out.append(prefix + f.name)
    return out


ENV_SECTION = "## Causal Bayesian optimisation environments"
"""Where the ``env.*`` keys, the same in every entry point (envs.settings.EnvSettings), are
listed once."""


def documented_keys(section: str) -> set[str]:
    """The keys of the README's key tables under ``section``."""
    text = (ROOT / "README.md").read_text().split(section)[1].split("\n## ")[0]
    return set(re.findall(r"^\| `([a-z_.0-9]+)` \|", text, flags=re.M))


@pytest.mark.parametrize(("section", "schema"), [
    ("## Pre-training a structure learner", "causal_meta.train.config:PretrainConfig"),
    ("## Evaluating policies", "agents.evaluate.config:EvaluateConfig"),
    ("## Training the GRPO agent", "agents.grpo.config:GrpoConfig"),
    ("## SB3 baselines", "agents.baselines.config:Sb3Config"),
])
def test_readme_documents_every_key(section: str, schema: str) -> None:
    """Every key has a row in its entry point's section, except the ``env.*`` settings,
    which every entry point shares and the environments' section lists."""
    import importlib

    from envs.settings import EnvSettings

    module, name = schema.split(":")
    cls = getattr(importlib.import_module(module), name)
    keys = set(schema_keys(cls))
    shared = set(schema_keys(EnvSettings, "env."))
    assert documented_keys(section) == keys - shared
    assert keys & shared in (set(), shared)


def test_readme_lists_the_env_settings_once() -> None:
    from envs.settings import EnvSettings

    assert documented_keys(ENV_SECTION) == set(schema_keys(EnvSettings, "env."))


def test_readme_says_what_the_first_install_downloads_and_how_long_it_takes() -> None:
    intro = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "`pip install torch --index-url https://download.pytorch.org/whl/cpu`" in intro
    assert re.search(r"\d+-\d+ minutes", intro) and "LTO" in intro and "still running" in intro
    assert re.search(r"about \d+ GB of wheels", intro)


def test_readme_estimates_its_evaluation_of_a_grpo_checkpoint() -> None:
    lines = [line for block in readme_commands() for line in block.splitlines()]
    (command,) = [line for line in lines if line.startswith("python -m agents.evaluate --policy runs/quick_test/")]
    assert re.search(r"# about \d+ minutes on 2 CPU cores$", command), command


def test_the_development_commands_tools_come_with_the_test_extra() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    development = (ROOT / "README.md").read_text().split("\n## Development")[1]
    assert "maturin develop" in development
    (maturin,) = [r for r in project["build-system"]["requires"] if r.startswith("maturin")]
    assert maturin in project["project"]["optional-dependencies"]["test"]
