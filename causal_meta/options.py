"""Schema fields with their ``--help`` text, importable without Hydra: model configs
(which a checkpoint loader rebuilds) declare their fields with :func:`option` too, and
loading a model must not import the configuration stack."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

__all__ = ["option"]


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
