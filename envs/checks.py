"""One check for the arrays that callers hand to an environment: actions, and the
outputs of the callbacks it calls (a surrogate's parent probabilities, a what-if gain).

A bad entry is reported at the caller's index, with each axis named
(``action[env 1, candidate 2, entry 3] = nan``), not at an index into whatever flattened
copy the environment computes with; a wrong shape names each axis and its size; a
non-numeric array is refused before numpy's own conversion error could hide which
array was meant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["check_array"]


def _tuple_text(items: list[str]) -> str:
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def check_array(value: Any, name: str, axes: Mapping[str, int | None], allowed: str = "finite",
                ok: Callable[[np.ndarray], np.ndarray] = np.isfinite) -> np.ndarray:
    """``value`` as a float64 array, or ValueError naming ``name``.

    ``axes`` names the axes in order with their sizes (None: any size). ``ok`` maps the
    array to a boolean array of the entries allowed, which ``allowed`` describes; the
    first entry not allowed is reported by axis. (Not a test of the sum first: it is no
    faster on an action, and a sum of huge finite entries warns of an overflow.)"""
    raw = np.asarray(value)
    if raw.dtype.kind not in "biuf":
        raise ValueError(f"{name} dtype = {raw.dtype} is not allowed: must be real numbers (bool, int or float)")
    a = raw.astype(np.float64, copy=False)
    sizes = list(axes.values())
    if a.ndim != len(sizes) or any(size is not None and n != size for n, size in zip(a.shape, sizes)):
        raise ValueError(f"{name} shape = {a.shape} is not allowed: must be {_tuple_text(list(axes))} = "
                         f"{_tuple_text(['any' if size is None else str(size) for size in sizes])}")
    good = ok(a)
    if not good.all():
        bad = np.argwhere(~good)[0].tolist()
        where = ", ".join(f"{axis} {i}" for axis, i in zip(axes, bad))
        raise ValueError(f"{name}[{where}] = {a[tuple(bad)]} is not allowed: must be {allowed}")
    return a
