"""One record of an episode: the engine's named columns become the fields of
:class:`envs.episode.Episodes`, a single episode is a view of its row, and the vector
environment's step buffers hold only what a step changes."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from causal_meta._core import start_episodes as start_engine_episodes
from causal_meta.scm import task_seed
from envs.config import EnvConfig
from envs.episode import Episodes, start_episodes
from envs.optimum import Optimum
from envs.vector import CausalBOVectorEnv, StepArrays

FIELDS = {field.name for field in fields(Episodes)}


def test_the_engine_names_its_columns_as_the_record_does() -> None:
    cfg = EnvConfig.build(3)
    columns = start_engine_episodes(cfg.family(3), [1, 2], cfg.n_obs, cfg.max_nodes, -2.0, 2.0)
    assert set(columns) == FIELDS - {"levels", "has_optimum", "estimates"}
    assert all(len(column) == 2 for column in columns.values())


def test_the_step_buffers_hold_only_what_a_step_changes() -> None:
    assert {field.name for field in fields(StepArrays)} == {"steps", "best", "values", "intervened", "row_mask"}
    assert not FIELDS & {field.name for field in fields(StepArrays)}


def test_an_episode_is_a_view_of_its_row() -> None:
    cfg = EnvConfig.build(13, optimum_samples=16)  # nonlinear: a Monte Carlo response and optimum
    episodes = start_episodes(cfg, [13, 13], [task_seed(4, 0), task_seed(4, 1)])
    one = episodes[1]
    for name in ("valid", "parents", "mean", "std", "low", "high", "observations"):
        assert np.shares_memory(getattr(one, name), getattr(episodes, name)[1]), name
        np.testing.assert_array_equal(getattr(one, name), getattr(episodes, name)[1], err_msg=name)
    assert type(one.target) is int and one.target == episodes.target[1] and one.level == 13
    assert one.scm is episodes.scms[1] and one.d == episodes.n_nodes[1]
    assert one.response is episodes.estimates[1] is not None
    assert isinstance(one.optimum, Optimum) and one.optimum.node == episodes.optimum[1, 0] >= 0


def test_put_writes_rows_in_place_and_refuses_a_count_that_does_not_fit() -> None:
    cfg = EnvConfig.build(5)
    record = Episodes.empty(4, cfg.max_nodes, cfg.n_obs)
    arrays = {name: getattr(record, name) for name in FIELDS}
    started = start_episodes(cfg, [5, 5], [7, 8])
    record.put(np.array([3, 1]), started)
    for name in FIELDS:
        assert getattr(record, name) is arrays[name], name  # the same memory, which the engine's step reads
    assert record.scms[3] is started.scms[0] and record.scms[1] is started.scms[1] and record.scms[0] is None
    np.testing.assert_array_equal(record.mean[[3, 1]], started.mean)
    np.testing.assert_array_equal(record.optimum[0], [-1.0, np.nan, np.nan, np.nan])
    with pytest.raises(ValueError, match=r"^2 episodes are not allowed in 3 rows: must be as many$"):
        record.put(slice(1, None), started)


def test_a_partial_reset_rewrites_only_its_rows_of_the_vector_record() -> None:
    vec = CausalBOVectorEnv(3, level=4)
    vec.reset(seed=2)
    record, before = vec._episodes, {name: np.copy(getattr(vec._episodes, name)) for name in ("target", "observations")}
    scms = list(record.scms)
    vec.reset(options={"reset_mask": np.array([False, True, False])})
    assert vec._episodes is record and record.scms[0] is scms[0] and record.scms[1] is not scms[1]
    for name, old in before.items():
        np.testing.assert_array_equal(getattr(record, name)[[0, 2]], old[[0, 2]], err_msg=name)
    assert not np.array_equal(record.observations[1], before["observations"][1])
