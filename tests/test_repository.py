"""Facts about the repository as a reader meets it: no file points at a document that the
repository does not hold."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("causal_meta", "envs", "agents", "benchmarks", "tests", "rust")
SUFFIXES = {".py", ".pyi", ".rs", ".md", ".yaml", ".toml"}
MISSING_DOCUMENT = "DESIGN" + ".md"  # spelled in two parts so that this file does not cite it either


def test_no_project_file_cites_a_design_document_that_is_not_in_the_repository() -> None:
    assert not (ROOT / MISSING_DOCUMENT).exists()
    files = [ROOT / "README.md", ROOT / "pyproject.toml", ROOT / "Cargo.toml"]
    files += [p for top in SOURCES for p in (ROOT / top).rglob("*") if p.suffix in SUFFIXES and p.is_file()]
    citing = sorted(str(p.relative_to(ROOT)) for p in files if MISSING_DOCUMENT in p.read_text(errors="replace"))
    assert len(files) > 100
    assert citing == [], f"files citing {MISSING_DOCUMENT}, which is not in the repository: {citing}"
