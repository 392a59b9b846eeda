"""Golden values: the seeds, a few task batches and the episode starts of every level and
named SCM pinned to their bytes.

Every data set, validation set and model-card number depends on these; an engine change
that alters them changes every result silently. When such a change is deliberate,
update the values here in the same commit and say so. The engine gives the same bytes
with and without its SIMD paths (it never fuses multiply-adds), so the hashes hold on
any x86-64 CPU; a failure on another architecture would point at a libm or rounding
difference to document.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from causal_meta.data import derive_seed
from causal_meta.families import load_family
from causal_meta.scm import sample_tasks, task_seed


def digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def test_task_seeds() -> None:
    assert task_seed(0, 0) == 10870759137850584762
    assert task_seed(12345, 7) == 8879388369632243897
    assert task_seed(2**63, 2**40) == 6011094631130558668


def test_derived_validation_and_test_seeds() -> None:
    assert derive_seed(0, "val") == 5918811264663545256
    assert derive_seed(0, "test") == 5048190540218691743
    assert derive_seed(7, "val") == 18079192833264849492


@pytest.mark.parametrize(("family", "expected"), [
    ("train_competence/er_linear", "34f31edfa05dec82"),
    ("audit_functional/periodic", "47cb31536dae8998"),
    ("cpu_small/er2_linear_d10", "7ae6fcd87402ac8c"),
    ("bcnp_all_data", "971a88e5f075551a"),
])
def test_task_batches(family: str, expected: str) -> None:
    batch = sample_tasks(load_family(family), base_seed=3, start=5, count=4, n_obs=16, n_int=4)
    assert digest(batch.data, batch.mask, batch.adjacency, batch.n_nodes) == expected


INFO_KEYS = ("optimal_node", "optimal_value", "optimal_expected_target", "optimal_stderr", "target", "target_std")
"""What an episode start reports besides the observation: the optimum and the target."""


@pytest.mark.parametrize(("level", "expected"), [
    (1, "93ce22dfe5b191e2"), (2, "a42450fe57a79ed2"), (3, "e3d6847e54828f9d"), (4, "39b37f68888302df"),
    (5, "13ee76e0e25ac2c1"), (6, "f5ad7aa315b7a093"), (7, "68e31c8340bba114"), (8, "49b565a15e1960f5"),
    (9, "4cc3fe312b609b2e"), (10, "db439ce00651ed2e"), (11, "0f1835134da3c4ba"), (12, "d537ab3d34496a36"),
    (13, "0eb2df3bf4e6bfdb"), (14, "ca66b92ad6e05688"), (15, "a0ea88c9c0fcfac8"),
])
def test_episode_starts_of_every_level(level: int, expected: str) -> None:
    """Every evaluation set and every regret table starts its episodes here: the first
    observation, the hidden graph, the optimum (Monte Carlo at the nonlinear levels) and
    the target's moments of four vector-env episodes per level."""
    from envs.vector import CausalBOVectorEnv

    env = CausalBOVectorEnv(4, level)
    try:
        obs, info = env.reset(seed=11)
        got = digest(*(obs[key] for key in sorted(obs)), env.graphs(),
                     *(np.asarray(info[key], np.float64) for key in INFO_KEYS))
    finally:
        env.close()
    assert got == expected


@pytest.mark.parametrize(("env_id", "expected"), [
    ("CausalBO-ToyGraph-v0", "da1d218c2b7c3a94"), ("CausalBO-PSA-v0", "db6bf35c0af16049"),
    ("CausalBO-CompleteGraph-v0", "a4621e079c8262b6"),
])
def test_episode_starts_of_the_named_scms(env_id: str, expected: str) -> None:
    import gymnasium

    import envs  # noqa: F401  (registers the ids)

    env = gymnasium.make(env_id)
    try:
        obs, info = env.reset(seed=5)
        got = digest(*(obs[key] for key in sorted(obs)),
                     *(np.asarray(info[key], np.float64) for key in INFO_KEYS if key not in ("optimal_stderr", "target")))
    finally:
        env.close()
    assert got == expected
