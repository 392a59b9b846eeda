"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one,
never half of one, even if the writer is killed or the machine loses power.

The recipe: write a temp file in the target's directory, flush and fsync it, rename it
over the target, then fsync the directory so the rename itself is durable.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

# mkstemp creates files readable by their owner only; results are meant to be shared.
FILE_MODE = 0o644


def write_temp(directory: Path, write: Callable[[BinaryIO], None], prefix: str = ".tmp-",
               suffix: str = ".tmp") -> Path:
    """A fully written and fsynced temp file in ``directory`` (removed again on failure)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, FILE_MODE)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def publish(temp: Path, target: Path) -> None:
    """Rename ``temp`` over ``target`` and make the rename durable."""
    try:
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_directory(target.parent)


def fsync_directory(directory: Path) -> None:
    """Make renames in ``directory`` durable; without it a power cut can undo them."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(target: Path, data: bytes) -> None:
    """Replace ``target`` by ``data`` atomically."""
    publish(write_temp(target.parent, lambda f: f.write(data), prefix=f".{target.name}."), target)


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON has neither),
    tuples as lists and keys as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(target: Path, data: Any, indent: int | None = 1) -> None:
    """Replace ``target`` atomically by ``data`` as JSON (see :func:`json_safe`);
    ``indent=None`` writes it compactly."""
    separators = None if indent is not None else (",", ":")
    write_atomic(target, json.dumps(json_safe(data), indent=indent, separators=separators).encode())
