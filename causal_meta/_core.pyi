"""Type stubs of the Rust extension (kept in sync with rust/src/python/ by hand)."""

from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt

MAX_NODES: int
MAX_SAMPLES: int
EPISODE_NOISE_INDEX: int
"""task_seed index of a CausalBO episode's noise stream."""
MIN_STD: float
"""A standard deviation at or below this counts as zero (a constant node gets std 1)."""

class CompiledFamily:
    """A family parsed and validated once (``causal_meta.scm.compile_family``); pickles as
    its JSON."""

    def __init__(self, family_json: str) -> None: ...
    @property
    def max_nodes(self) -> int: ...
    def to_json(self) -> str: ...

def sample_tasks(
    family: CompiledFamily | str,
    base_seed: int,
    start: int,
    count: int,
    n_obs: int,
    n_int: int,
    threads: int | None = None,
) -> tuple[
    npt.NDArray[np.float32], npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.int64]
]: ...
def sample_graphs(
    family: CompiledFamily | str, base_seed: int, start: int, count: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]: ...
def sample_interventions(
    scms: list[Scm],
    nodes: npt.NDArray[np.int64],
    values: npt.NDArray[np.float32],
    n: int,
    d_max: int,
) -> npt.NDArray[np.float32]:
    """(N, n, d_max): block k equals scms[k].sample(n, do={nodes[k]: values[k]}) drawn from
    that SCM's own noise stream (no do where nodes[k] < 0), zero-padded; in parallel. Each
    Scm once, and not while another thread uses it."""
def columns_under_interventions(
    scms: list[Scm],
    nodes: npt.NDArray[np.int64],
    values: npt.NDArray[np.float32],
    n: int,
    seeds: Sequence[int] | npt.NDArray[np.uint64],
    columns: npt.NDArray[np.int64],
) -> npt.NDArray[np.float32]:
    """(K, G, n): block k equals scms[k].column_under_interventions(nodes[k], values[k], n,
    seeds[k], columns[k]); all SCMs in parallel with the GIL released."""
def sample_scms(
    family: CompiledFamily | str,
    seeds: Sequence[int] | npt.NDArray[np.uint64],
    noise_seeds: Sequence[int] | npt.NDArray[np.uint64] | None = None,
) -> list[Scm]:
    """[Scm.from_family(family, s) for s in seeds], drawn in parallel from one parse;
    SCM k's own noise stream seeded as seed_noise(noise_seeds[k]) would, if given."""
def stack_graphs(scms: list[Scm], d_max: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """(adjacency (K, d_max, d_max), n_nodes (K,)) of the SCMs, zero-padded."""
def linear_moments(
    scms: list[Scm], targets: npt.NDArray[np.int64], d_max: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(effect, mean, std), each (K, d_max) padded with 0, 0, 1: effect[k, i] is the total
    effect of node i on targets[k]; ValueError unless every SCM is linear with
    finite-variance noise."""
def task_seed(base_seed: int, index: int) -> int: ...
def task_seeds(
    base_seeds: Sequence[int] | npt.NDArray[np.uint64], index: int | Sequence[int] | npt.NDArray[np.uint64]
) -> npt.NDArray[np.uint64]:
    """task_seed(base_seeds[k], index) (or index[k]) for every k."""
class EpisodeStarts(TypedDict):
    """What start_episodes returns: the columns of K CausalBO episodes by name, row k
    episode k's, of width D (rust/src/episode.rs, Starts). Nonlinear SCMs get effect 0,
    mean 0, std 1, bounds 0 and optimum (-1, NaN, NaN, NaN)."""

    scms: list[Scm]
    """Each with its own noise stream after the first observations."""
    target: npt.NDArray[np.int64]
    n_nodes: npt.NDArray[np.int64]
    is_linear: npt.NDArray[np.bool_]
    valid: npt.NDArray[np.bool_]
    """(K, D): the SCM's nodes but the target."""
    parents: npt.NDArray[np.bool_]
    """(K, D): the target's parents."""
    effect: npt.NDArray[np.float64]
    mean: npt.NDArray[np.float64]
    std: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    optimum: npt.NDArray[np.float64]
    """(K, 4): node, value, expected target, 0."""
    observations: npt.NDArray[np.float32]
    """(K, n_obs, D)."""

def start_episodes(
    family: CompiledFamily | str, seeds: Sequence[int] | npt.NDArray[np.uint64], n_obs: int, width: int, low: float, high: float
) -> EpisodeStarts:
    """The CausalBO episodes of seeds by column; see rust/src/python/env.rs."""
def step_envs(
    episodes: Any,
    arrays: Any,
    actions: npt.NDArray[np.float64],
    stepping: npt.NDArray[np.bool_],
    m: int,
    n_obs: int,
    rules: tuple[float, float, float, float, float],
) -> tuple[npt.NDArray[Any], ...]:
    """(node, value, y, reward, is_parent, expected), (K,) each: one CausalBO step of every
    stepping environment, reading the episodes' SCMs and constants from ``episodes`` (an
    envs.episode.Episodes) and updating ``arrays`` (an envs.vector.StepArrays) in place.
    Each Scm once, and not while another thread uses it."""
def simd_level() -> str:
    """Which build of the hot loops runs on this CPU: "avx512", "avx2" or "plain"."""
def set_simd(enabled: bool) -> None: ...
def _panic_for_test() -> None: ...
def _scm_from_state(state: bytes) -> Scm: ...

class CommonRandomNumbers:
    """An SCM's noise and unintervened values for n rows of one stream
    (``Scm.common_random_numbers``)."""

    def columns(self, nodes: npt.NDArray[np.int64], values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(M, n): the column under each do(X_nodes[m] = values[m]), the bits of
        Scm.column_under_interventions for the same n, seed and column."""

class Scm:
    """A structural causal model drawn by the engine; picklable (unpickling checks the
    state and refuses an inconsistent one with ValueError). Threads may share one Scm:
    unseeded samples take turns on its own noise stream (together they draw what the same
    calls would draw one after another), and large ones release the GIL. The batched
    calls that advance the own streams (sample_interventions, step_envs) need each Scm to
    themselves: one listed twice raises ValueError, one that another thread is using
    RuntimeError, each naming its index; a pickled copy serves another thread."""

    @staticmethod
    def from_family(family: CompiledFamily | str, seed: int) -> Scm: ...
    @property
    def d(self) -> int: ...
    @property
    def adjacency(self) -> npt.NDArray[np.uint8]:
        """(d, d) with A[i, j] = 1 for i -> j."""
    @property
    def topological_order(self) -> list[int]: ...
    def parents(self, i: int) -> list[int]: ...
    @property
    def is_linear(self) -> bool: ...
    @property
    def mechanism_names(self) -> list[str]: ...
    @property
    def noise_names(self) -> list[str]: ...
    @property
    def noise_scales(self) -> list[float]: ...
    def linear_parameters(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(W, b) with x = W^T x + b + noise; ValueError unless every mechanism is linear."""
    def column_under_interventions(
        self, nodes: npt.NDArray[np.int64], values: npt.NDArray[np.float32], n: int, seed: int, column: int
    ) -> npt.NDArray[np.float32]:
        """(M, n): row m equals sample(n, do={nodes[m]: values[m]}, seed=seed)[0][:, column]
        (no do where nodes[m] < 0); common random numbers, so the noise is drawn once and
        each pair re-evaluates only the nodes it can move; in parallel."""
    def common_random_numbers(self, n: int, seed: int, column: int) -> CommonRandomNumbers:
        """The noise and unintervened values of n rows of the stream seed, kept to score
        many interventions on column for the nodes each moves."""
    def seed_noise(self, seed: int) -> None:
        """Reset the SCM's own noise stream, used by `sample` when no seed is given."""
    def sample(
        self,
        n: int,
        do: dict[int, float] | tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
        seed: int | None = None,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
        """Draw n rows -> (data (n, d) float32, mask (n, d) uint8).

        do: None; a dict {node: value} applied to every row; or (mask, values), two (n, d)
        arrays that set X_i = values[r, i] where mask[r, i]. seed: a fresh noise stream for
        this call; None draws from the SCM's own stream (advancing it). ValueError if a value
        comes out infinite or NaN (parameters or do values that overflow float32).
        """
    def __reduce__(self) -> tuple[Any, tuple[bytes]]: ...
