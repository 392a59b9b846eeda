"""Amortized structure learners: networks that map a task's data to a posterior over its
graph, trained on task streams (:mod:`causal_meta.data`): AVICI (:mod:`.avici`) and
BCNP (:mod:`.bcnp`), listed by name in :mod:`.registry`, their settings in
:mod:`.settings`.

The public names of :mod:`.avici` and :mod:`.bcnp` are attributes of this package too,
imported on first use: importing the package, or its torch-free :mod:`.settings`, does
not load torch (``--help`` of the pre-training entry point reads only the settings)."""

from __future__ import annotations

import importlib
from typing import Any

_NETWORKS = ("causal_meta.models.avici", "causal_meta.models.bcnp")


def __getattr__(name: str) -> Any:
    if not name.startswith("_"):
        for source in _NETWORKS:
            module = importlib.import_module(source)
            if name in module.__all__:
                return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
