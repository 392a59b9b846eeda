"""Schema fields with their ``--help`` text, and schema instances as plain data,
importable without Hydra: model configs (which a checkpoint loader rebuilds) declare
their fields with :func:`option` too, checkpoints store configs with :func:`to_plain`,
and loading a model must not import the configuration stack."""

from __future__ import annotations

import copy
import dataclasses
import math
import numbers
import os
from collections.abc import Sequence
from enum import Enum
from typing import Any

__all__ = ["check_numbers", "option", "require", "to_plain"]


def option(default: Any, help: str) -> Any:  # noqa: A002 - mirrors argparse's name
    """Declare a schema field with its ``--help`` text, without the mutable-default trap.

    Lists, dicts and dataclass instances are copied for every new config, and a
    dataclass class is used as its own factory, so ``model: Model = option(Model, "...")``
    works like ``field(default_factory=Model)``.
    """
    metadata = {"help": help}
    if isinstance(default, type):
        return dataclasses.field(default_factory=default, metadata=metadata)
    if isinstance(default, (list, dict)) or dataclasses.is_dataclass(default):
        return dataclasses.field(
            default_factory=lambda: copy.deepcopy(default), metadata=metadata
        )
    return dataclasses.field(default=default, metadata=metadata)


def require(ok: bool, key: str, value: object, allowed: str) -> None:
    """ValueError ``KEY = VALUE is not allowed: must be ALLOWED`` unless ``ok``: the one
    shape of a settings error, whatever the section."""
    if not ok:
        raise ValueError(f"{key} = {value!r} is not allowed: must be {allowed}")


def check_numbers(config: Any, section: str, skip: Sequence[str] = ()) -> None:
    """Every ``int`` field of the dataclass instance ``config`` an integer >= 1 and every
    ``float`` field a finite number (bools refused for both), except the fields named in
    ``skip``; errors name ``SECTION.FIELD``. The common part of a sizes section's checks."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name in skip:
            continue
        if f.type in ("int", int):
            require(isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1,
                    f"{section}.{f.name}", value, "an integer >= 1")
        elif f.type in ("float", float):
            require(isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value),
                    f"{section}.{f.name}", value, "a finite number")


def to_plain(value: Any) -> Any:
    """Schema instance -> plain YAML-safe data (Enum by name, Path as text)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value
