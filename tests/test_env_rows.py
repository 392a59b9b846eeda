"""The row layout helpers (envs.rows): appending and starting rows in place, the
what-if's hypothetical observations, prefixes and the played targets, checked by hand
and against the engine's own step (which writes the same layout)."""

from __future__ import annotations

import numpy as np
import pytest

from envs.episode import standardise
from envs.rows import append_rows, candidates, filled_rows, played_targets, prefix, start_rows
from envs.vector import CausalBOVectorEnv


def empty(b: int, t: int = 5, d: int = 3) -> dict[str, np.ndarray]:
    return {"samples": np.zeros((b, t, d), np.float32), "intervened": np.zeros((b, t, d), np.int8),
            "row_mask": np.zeros((b, t), np.int8), "node_mask": np.ones((b, d), np.int8),
            "target": np.eye(d, dtype=np.int8)[np.zeros(b, int)]}


def rows_of(obs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return obs["samples"], obs["intervened"], obs["row_mask"]


def test_rows_are_appended_after_each_observations_filled_rows() -> None:
    obs = empty(2)
    start_rows(*rows_of(obs), np.full((2, 1, 2), 7.0, np.float32))
    append_rows(*rows_of(obs), np.ones((1, 2, 2), np.float32).repeat(2, axis=0) * [[[1]], [[2]]], np.array([1, 2]))
    one = {key: value[0].copy() for key, value in obs.items()}  # a single observation: no leading axis
    append_rows(*rows_of(one), np.full((1, 3), 3.0, np.float32), 0)
    assert obs["row_mask"].tolist() == [[1, 1, 1, 0, 0]] * 2
    np.testing.assert_array_equal(obs["samples"][:, :3], [[[7, 7, 0], [1, 1, 0], [1, 1, 0]],
                                                          [[7, 7, 0], [2, 2, 0], [2, 2, 0]]])
    assert obs["intervened"][0, :3].tolist() == [[0, 0, 0], [0, 1, 0], [0, 1, 0]]
    assert obs["intervened"][1, :3].tolist() == [[0, 0, 0], [0, 0, 1], [0, 0, 1]]
    assert one["row_mask"].tolist() == [1, 1, 1, 1, 0] and one["samples"][3].tolist() == [3, 3, 3]
    assert one["intervened"][3].tolist() == [1, 0, 0]
    append_rows(*rows_of({key: value[1:] for key, value in obs.items()}), np.zeros((1, 1, 3), np.float32), [0])
    with pytest.raises(ValueError, match=r"rows = 2 more rows are not allowed in observation 1: 4 of its 5 rows are "
                                         r"filled"):
        append_rows(*rows_of(obs), np.zeros((2, 2, 3), np.float32), np.array([0, 0]))
    with pytest.raises(ValueError, match=r"rows = 2 more rows are not allowed: 4 of its 5 rows are filled"):
        append_rows(*rows_of(one), np.zeros((2, 3), np.float32), 0)


def test_start_rows_begins_only_the_observations_asked_for() -> None:
    obs = empty(3)
    start_rows(*rows_of(obs), np.ones((3, 2, 3), np.float32))
    append_rows(*rows_of(obs), np.full((3, 1, 3), 5.0, np.float32), np.array([0, 1, 2]))
    start_rows(*rows_of(obs), np.full((1, 1, 3), 9.0, np.float32), np.array([1]))
    assert filled_rows(obs).tolist() == [3, 1, 3]
    assert obs["samples"][1].tolist() == [[9, 9, 9]] + [[0, 0, 0]] * 4 and not obs["intervened"][1].any()
    assert obs["samples"][2, 2].tolist() == [5, 5, 5] and obs["intervened"][2, 2].tolist() == [0, 0, 1]


def test_candidates_append_each_candidates_rows_to_a_copy() -> None:
    obs = empty(2)
    start_rows(*rows_of(obs), np.ones((2, 2, 3), np.float32))
    before = {key: value.copy() for key, value in obs.items()}
    rows = np.arange(2 * 4 * 1 * 3, dtype=np.float32).reshape(2, 4, 1, 3)
    nodes = np.array([[0, 1, 2, 1], [2, 2, 0, 1]])
    out = candidates(obs, rows, nodes)
    for key, value in obs.items():
        np.testing.assert_array_equal(value, before[key], err_msg=f"{key} was changed")
        assert out[key].shape == (2, 4, *value.shape[1:]), key
    for i in range(2):
        for k in range(4):
            expected = {key: value[i].copy() for key, value in obs.items()}
            append_rows(*rows_of(expected), rows[i, k], nodes[i, k])
            for key in expected:
                np.testing.assert_array_equal(out[key][i, k], expected[key], err_msg=f"{key} [{i}, {k}]")
    single = candidates({key: value[0] for key, value in obs.items()}, rows[0], nodes[0])
    for key in out:
        np.testing.assert_array_equal(single[key], out[key][0], err_msg=key)


def test_prefix_and_played_targets_follow_the_engines_step() -> None:
    """The vector environment's step writes rows in the engine: its prefix at n_obs rows
    is the reset observation, and its played targets are the steps' target values
    standardised as the observation stores them."""
    vec = CausalBOVectorEnv(4, level=3, n_obs=6)
    first, _ = vec.reset(seed=2)
    obs, targets = first, []
    rng = np.random.default_rng(0)
    for _ in range(3):
        obs, _, _, _, info = vec.step(rng.uniform(-1, 1, (4, vec.config.max_nodes + 1)).astype(np.float32))
        targets.append(info["target_value"])
    assert filled_rows(obs).tolist() == [9] * 4 and filled_rows(first).tolist() == [6] * 4
    for key, value in prefix(obs, 6).items():
        np.testing.assert_array_equal(value, prefix(first, 6)[key], err_msg=key)
    target = vec._episodes.target
    mean, std = vec._episodes.mean[np.arange(4), target], vec._episodes.std[np.arange(4), target]
    np.testing.assert_array_equal(played_targets(obs), standardise(np.stack(targets, axis=1), mean[:, None],
                                                                   std[:, None]))
    assert played_targets(first).shape == (4, 0)
    mixed = {key: np.concatenate([first[key][:1], obs[key][1:]]) for key in obs}
    with pytest.raises(ValueError, match=r"observations that played \[0, 3\] rows are not allowed together"):
        played_targets(mixed)
