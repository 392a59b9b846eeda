"""stable-baselines3 trains on CausalBO-v0 without glue: a short PPO run on the Dict
observation and one on the flattened observation."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

import envs  # noqa: F401 - registers the ids
from envs.wrappers import FlattenObservation


@pytest.mark.slow
def test_ppo_smoke_run_2000_steps() -> None:
    torch.set_num_threads(1)
    env = gym.make("CausalBO-v0", level=3)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unconventional shape.*")
        model = PPO("MultiInputPolicy", env, n_steps=500, batch_size=100, n_epochs=2, seed=0, device="cpu")
    model.learn(total_timesteps=2000)
    assert model.num_timesteps == 2000
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(action)
    flat = FlattenObservation(gym.make("CausalBO-v0", level=3))
    PPO("MlpPolicy", flat, n_steps=200, batch_size=100, n_epochs=1, seed=0, device="cpu").learn(200)
    assert np.isfinite(flat.observation_space.sample()).all()
