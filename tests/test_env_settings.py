"""One settings object for the environment: EnvSettings is checked once, is the ``env``
section of every entry point's config, travels whole to the environments and to
evaluate(), and the single environment truncates at its own horizon."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401 - registers the ids
from envs.actions import InterventionRange
from envs.causal_bo import CausalBOEnv
from envs.settings import EnvSettings
from envs.vector import CausalBOVectorEnv

FIELDS = [f.name for f in dataclasses.fields(EnvSettings)]


@pytest.mark.parametrize("horizon", [1, 20, 30])
def test_gymnasium_make_plays_the_horizon_it_is_given(horizon: int) -> None:
    env = gym.make("CausalBO-v0", level=2, horizon=horizon)
    env.reset(seed=0)
    truncated = [env.step(env.action_space.sample())[3] for _ in range(horizon)]
    assert truncated == [False] * (horizon - 1) + [True]
    assert env.reset(seed=1)[0]["row_mask"].sum() == 10  # a new episode after the truncation


def test_a_shorter_time_limit_still_cuts_the_episode() -> None:
    env = gym.make("CausalBO-v0", level=2, horizon=30, max_episode_steps=5)
    env.reset(seed=0)
    assert [env.step(env.action_space.sample())[3] for _ in range(5)] == [False] * 4 + [True]


def test_the_settings_object_builds_the_same_env_as_keywords() -> None:
    settings = EnvSettings(horizon=4, n_obs=3, samples_per_step=2, intervention_range=(-1.0, 3.0), w_info=0.5)
    by_object = gym.make("CausalBO-v0", level=3, settings=settings)
    by_keywords = gym.make("CausalBO-v0", level=3, horizon=4, n_obs=3, samples_per_step=2,
                           intervention_range=(-1.0, 3.0), w_info=0.5)
    assert by_object.unwrapped.config == by_keywords.unwrapped.config
    assert by_object.unwrapped.config.intervention_range == InterventionRange(-1.0, 3.0)
    check_env(by_object.unwrapped)
    a, b = by_object.reset(seed=5)[0], by_keywords.reset(seed=5)[0]
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    # a keyword replaces that field of the object, the others stay
    changed = CausalBOEnv(3, settings=settings, horizon=6).config
    assert (changed.horizon, changed.n_obs, changed.w_info) == (6, 3, 0.5)
    vec = CausalBOVectorEnv(2, 3, settings=settings)
    assert vec.config == by_object.unwrapped.config and vec.single_observation_space == by_object.observation_space
    with pytest.raises(ValueError, match=r"settings = \{'horizon': 4\} is not allowed: must be an "
                                         r"envs.settings.EnvSettings"):
        CausalBOEnv(3, settings={"horizon": 4})
    with pytest.raises(ValueError, match="horizon = 4 is not allowed with max_episode_steps = 20"):
        CausalBOVectorEnv(2, 3, settings=settings, max_episode_steps=20)


def test_settings_are_frozen_canonical_and_picklable() -> None:
    settings = EnvSettings(horizon=np.int64(5), w_target=1, intervention_range=3)
    assert type(settings.horizon) is int and type(settings.w_target) is float
    assert settings.intervention_range == InterventionRange(-3, 3) and settings.rows == 15
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.horizon = 6  # type: ignore[misc]
    assert dataclasses.replace(settings, horizon=6).rows == 16
    import pickle

    assert pickle.loads(pickle.dumps(settings)) == settings


@pytest.mark.parametrize(("changes", "message"), [
    ({"n_obs": -1}, r"^env.n_obs = -1 is not allowed: must be an integer in \[0, 65536\]$"),
    ({"horizon": 0}, r"^env.horizon = 0 is not allowed: must be an integer in \[1, 65536\]$"),
    ({"horizon": 2.5}, r"^env.horizon = 2.5 is not allowed: must be an integer in \[1, 65536\]$"),
    ({"samples_per_step": True}, r"^env.samples_per_step = True is not allowed: must be an integer"),
    ({"optimum_grid": 1}, r"^env.optimum_grid = 1 is not allowed: must be an integer in \[2, 1025\]$"),
    ({"optimum_samples": 1},
     r"^env.optimum_samples = 1 is not allowed: must be an integer in \[2, 1048576\], or 0 for no optimum$"),
    ({"w_parent": float("nan")}, r"^env.w_parent = nan is not allowed: must be a finite number$"),
    ({"w_info": "0.1"}, r"^env.w_info = '0.1' is not allowed: must be a finite number$"),
    ({"intervention_range": (1.0, 1.0)}, r"^env.intervention_range = \(1.0, 1.0\) is not allowed: needs low < high$"),
    ({"horizon": 70000}, r"^env.horizon = 70000 is not allowed"),
    ({"horizon": 6000, "samples_per_step": 11},
     r"^n_obs \+ horizon \* samples_per_step = 10 \+ 6000 \* 11 = 66010 is not allowed: must be at most 65536 rows "
     r"per observation \(env.n_obs, env.horizon, env.samples_per_step\)$"),
])
def test_bad_settings_name_the_field_the_value_and_what_is_allowed(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EnvSettings(**changes)


def test_every_entry_point_has_the_same_env_section() -> None:
    """The GRPO, evaluation and SB3 schemas take EnvSettings itself as ``env``, and none
    of them declares a settings field of its own."""
    from agents.baselines.config import Sb3Config
    from agents.evaluate.config import EvaluateConfig
    from agents.grpo.config import GrpoConfig

    for schema in (GrpoConfig, EvaluateConfig, Sb3Config):
        fields = {f.name: f for f in dataclasses.fields(schema)}
        assert fields["env"].type in ("EnvSettings", EnvSettings) and fields["env"].default_factory is EnvSettings
        assert not set(FIELDS) & set(fields), schema


def test_env_options_travel_whole_not_field_by_field() -> None:
    """Adding a setting touches EnvSettings and the code that reads it: no function on the
    way (the environments' constructors, the SB3 adapter, evaluate() and its rollout)
    lists a setting as a parameter of its own, so none of them needs a new one."""
    from agents.baselines.vec_env import CausalBOVecEnv
    from agents.evaluate import evaluate
    from agents.evaluate.rollout import make_env
    from envs.config import EnvConfig

    for function in (CausalBOEnv.__init__, CausalBOVectorEnv.__init__, CausalBOVecEnv.__init__, EnvConfig.build,
                     evaluate, make_env):
        parameters = inspect.signature(function).parameters
        assert "settings" in parameters and not set(FIELDS) & set(parameters), function.__qualname__


def test_importing_the_settings_needs_neither_torch_nor_hydra() -> None:
    code = ("import sys, envs.settings; bad = [m for m in ('torch', 'hydra', 'omegaconf') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
