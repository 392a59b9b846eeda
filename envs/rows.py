"""The row layout of CausalBO observations, in one place.

An observation holds T rows: ``samples`` (T, D) standardised values, ``intervened``
(T, D) with 1 where do() set the value and ``row_mask`` (T,) with 1 for the rows filled
so far. Rows fill in order: the ``n_obs`` observational rows at reset, then
``samples_per_step`` rows per step, each with the intervened variable flagged.

Everything that writes rows goes through these functions: the single environment's
reset and step, the vector environment's reset (its step writes the same layout inside
the engine, ``causal_meta._core.step_envs``), and the hypothetical observations of both
what-ifs. Everything outside ``envs`` that needs to know which rows are which (the GRPO
trainer's prefixes of an episode, the targets it played) asks here too, so no agent
reads the layout itself.

The writers take the three row arrays and write into them in place, for one observation
(no leading axis) or a batch (one leading axis); the readers take observation dicts
with any leading axes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["append_rows", "candidates", "filled_rows", "played_targets", "prefix", "start_rows"]


def _batched(samples: np.ndarray, intervened: np.ndarray, row_mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """The row arrays with one leading (batch) axis, as views: one observation's arrays
    get an axis of length 1, so that writes reach them."""
    if row_mask.ndim == 1:
        return samples[None], intervened[None], row_mask[None]
    return samples, intervened, row_mask


def start_rows(samples: np.ndarray, intervened: np.ndarray, row_mask: np.ndarray, rows: np.ndarray,
               at: slice | np.ndarray = slice(None)) -> None:
    """Begin the observations ``at`` (an index of the batch axis; all by default) anew, in
    place: every row cleared, then the observational ``rows`` (K, n, D') written first
    (columns past D' stay 0) with no flag."""
    samples, intervened, row_mask = _batched(samples, intervened, row_mask)
    n, width = np.shape(rows)[-2:]
    samples[at] = 0.0
    samples[at, :n, :width] = rows
    intervened[at] = 0
    row_mask[at] = 0
    row_mask[at, :n] = 1


def append_rows(samples: np.ndarray, intervened: np.ndarray, row_mask: np.ndarray, rows: np.ndarray,
                nodes: np.ndarray | int) -> None:
    """Append in place one step's standardised ``rows`` (B, m, D') to each observation of
    a batch (or (m, D') to one observation), after its filled rows, with the intervened
    variable ``nodes`` (B,) (or an int) flagged in each new row. ValueError if the rows
    do not fit."""
    samples, intervened, row_mask = _batched(samples, intervened, row_mask)
    b, t = row_mask.shape
    rows = np.asarray(rows).reshape(b, -1, np.shape(rows)[-1])
    m, width = rows.shape[1:]
    start = (row_mask != 0).sum(axis=1)
    if (start + m > t).any():
        i = int(np.argmax(start + m > t))
        where = f" in observation {i}" if b > 1 else ""
        raise ValueError(f"rows = {m} more rows are not allowed{where}: {int(start[i])} of its {t} rows are filled")
    batch = np.arange(b)[:, None]
    at = start[:, None] + np.arange(m)  # (B, m)
    samples[batch, at, :width] = rows
    intervened[batch, at, np.asarray(nodes).reshape(b)[:, None]] = 1
    row_mask[batch, at] = 1


def candidates(observation: Mapping[str, np.ndarray], rows: np.ndarray, nodes: np.ndarray) -> dict[str, np.ndarray]:
    """The hypothetical observations of G candidate steps: observations with leading axes
    L (none for one environment's), the candidates' standardised rows (*L, G, m, D') and
    intervened variables (*L, G); returns observations (*L, G, ...), candidate k's rows
    appended to a copy of its observation (the other keys copied as they are)."""
    lead = np.shape(observation["row_mask"])[:-1]
    g = np.shape(nodes)[-1]
    out = {key: np.repeat(np.reshape(value, (-1, *np.shape(value)[len(lead):])), g, axis=0)
           for key, value in observation.items()}
    append_rows(out["samples"], out["intervened"], out["row_mask"], np.reshape(rows, (-1, *np.shape(rows)[-2:])),
                np.reshape(nodes, -1))
    return {key: value.reshape(*lead, g, *value.shape[1:]) for key, value in out.items()}


def filled_rows(observation: Mapping[str, np.ndarray]) -> np.ndarray:
    """(*L,) int64: how many rows each observation has filled."""
    return (np.asarray(observation["row_mask"]) != 0).sum(axis=-1)


def prefix(observation: Mapping[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
    """The observations as they stood once their first ``count`` rows were filled (the
    row arrays cut to ``count`` rows; the other keys as they are)."""
    return {key: (value[..., :count] if key == "row_mask" else value[..., :count, :]
                  if key in ("samples", "intervened") else value) for key, value in observation.items()}


def played_targets(observation: Mapping[str, np.ndarray]) -> np.ndarray:
    """(B, k) float32: the standardised target value of each interventional row (filled,
    with a variable flagged) of each observation of a batch, in order; every observation
    must have played the same number k of rows (as a vector environment's do)."""
    samples = np.asarray(observation["samples"])
    played = (np.asarray(observation["row_mask"]) != 0) & (np.asarray(observation["intervened"]) != 0).any(axis=-1)
    counts = played.sum(axis=1)
    if (counts != counts[0]).any():
        raise ValueError(f"observations that played {sorted(set(counts.tolist()))} rows are not allowed together: "
                         "every observation of the batch must have played as many")
    targets = samples[np.arange(len(samples)), :, np.asarray(observation["target"]).argmax(axis=1)]  # (B, T)
    return targets[played].reshape(len(samples), int(counts[0]))
