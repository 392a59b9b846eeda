"""The README's two commands are the project's contract with a new user; CI must run the
second one exactly as written, so a missing install step fails CI too."""

from __future__ import annotations

import re
from pathlib import Path

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


def test_readme_documents_every_pretrain_key() -> None:
    import dataclasses

    from causal_meta.train.config import PretrainConfig

    def keys(cls: type, prefix: str = "") -> list[str]:
        out = []
        for f in dataclasses.fields(cls):
            factory = f.default_factory
            if isinstance(factory, type) and dataclasses.is_dataclass(factory):
                out += keys(factory, f"{prefix}{f.name}.")
            else:
                out.append(prefix + f.name)
        return out

    text = (ROOT / "README.md").read_text().split("## Pre-training a structure learner")[1].split("\n## ")[0]
    documented = set(re.findall(r"^\| `([a-z_.0-9]+)` \|", text, flags=re.M))
    assert documented == set(keys(PretrainConfig))
