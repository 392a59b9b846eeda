"""Fixtures shared by several test modules."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium as gym
import pytest

from causal_meta.specs import Fixed, GaussianNoise, Linear
from envs import curriculum
from envs.config import compiled_family


@pytest.fixture
def fixed_chain(monkeypatch: pytest.MonkeyPatch):
    """Level 1 (a 3-node chain) with every weight 2, no bias and unit Gaussian noise."""
    monkeypatch.setitem(curriculum.MECHANISMS, "linear", Linear(weights=Fixed(2.0)))
    monkeypatch.setitem(curriculum.NOISES, "gaussian", GaussianNoise(scale=Fixed(1.0)))
    compiled_family.cache_clear()
    yield
    compiled_family.cache_clear()


@pytest.fixture(scope="session")
def tiny_ppo_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PPO zip trained for a few steps on level 1 with horizon 5 (3 variables, 15 rows)."""
    from stable_baselines3 import PPO

    import envs  # noqa: F401 - registers the ids

    env = gym.make("CausalBO-v0", level=1, horizon=5, max_episode_steps=5)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unconventional shape.*")
        model = PPO("MultiInputPolicy", env, n_steps=20, batch_size=10, n_epochs=1, seed=0, device="cpu")
    model.learn(20)
    path = tmp_path_factory.mktemp("sb3") / "ppo.zip"
    model.save(path)
    return path
