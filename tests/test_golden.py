"""Golden values: the seeds and a few task batches pinned to their bytes.

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
