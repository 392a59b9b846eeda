"""SB3 baselines: the VecEnv adapter's autoreset and infos, training, resuming and the
CLI's errors."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.baselines.load import load_sb3
from agents.baselines.sb3 import main, parse_levels
from agents.baselines.vec_env import CausalBOVecEnv
from agents.evaluate import build_sets, evaluate
from causal_meta.config import ConfigError
from causal_meta.train.checkpoint import CheckpointError
from hostile_payloads import KINDS, add_zeros_member, assert_refused_safely, payload, ran_code

TINY = ["progress=false", "num_envs=4", "hyperparameters.n_steps=32", "hyperparameters.batch_size=64",
        "hyperparameters.n_epochs=1"]


def test_vec_env_resets_in_the_same_step_with_the_terminal_observation() -> None:
    env = CausalBOVecEnv(6, [1, 3], horizon=3)
    env.seed(7)
    obs = env.reset()
    assert obs["samples"].shape == (6, 13, 5)  # the widest of levels 1 and 3
    rewards = np.zeros(6)
    for t in range(3):
        env.step_async(np.random.default_rng(t).uniform(-1, 1, (6, 6)).astype(np.float32))
        obs, reward, done, infos = env.step_wait()
        rewards += reward
    assert done.all()
    for i, info in enumerate(infos):
        terminal = info["terminal_observation"]
        assert terminal["row_mask"].sum() == 13 and info["TimeLimit.truncated"]
        assert info["episode"]["l"] == 3 and info["episode"]["r"] == pytest.approx(rewards[i], rel=1e-6)
        assert info["causalbo"]["level"] in (1, 3) and 0 <= info["causalbo"]["parent_rate"] <= 1
        assert info["causalbo"]["simple_regret_std"] >= 0
    assert (obs["row_mask"].sum(axis=1) == 10).all()  # new episodes: only the observational rows
    np.testing.assert_array_equal(_first_samples(7), _first_samples(7))  # seeded: levels and episodes
    assert not np.array_equal(_first_samples(7), _first_samples(8))


def _first_samples(seed: int) -> np.ndarray:
    env = CausalBOVecEnv(6, [1, 3], horizon=3)
    env.seed(seed)
    return env.reset()["samples"]


def test_levels_and_bad_flags() -> None:
    assert parse_levels("1-3") == [1, 2, 3] and parse_levels("2,5") == [2, 5]
    with pytest.raises(ConfigError, match=r"--levels '1-x' is not allowed"):
        parse_levels("1-x")
    with pytest.raises(ValueError, match=r"levels entry = 16 is not allowed"):
        CausalBOVecEnv(2, [1, 16])


def test_train_resume_and_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    torch.set_num_threads(1)
    out = tmp_path / "ppo"
    main(["ppo", "--levels", "1-2", "--timesteps", "128", "--output", str(out), "checkpoint_every=64", *TINY])
    first = capsys.readouterr().out
    assert "trained PPO for 128 steps on levels 1,2" in first
    assert (out / "checkpoints" / "last.zip").exists() and any((out / "tensorboard").rglob("events.*"))
    main(["ppo", "--levels", "1-2", "--timesteps", "256", "--output", str(out), "checkpoint_every=64", *TINY])
    second = capsys.readouterr().out
    assert "resuming from" in second and "at step 128" in second and "trained PPO for 256 steps" in second
    policy = load_sb3(out / "model.zip")
    assert policy.model.num_timesteps == 256 and policy.width == 4
    records, _, _ = evaluate([str(out / "model.zip")], build_sets([1, 2], [], [], 3, seed=0), resamples=200)
    assert "ppo:model" in records["level2"]


def test_sac_trains(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    torch.set_num_threads(1)
    main(["sac", "--levels", "1", "--timesteps", "64", "--output", str(tmp_path / "sac"), "progress=false",
          "num_envs=2", "hyperparameters.learning_starts=16", "hyperparameters.batch_size=16"])
    assert "trained SAC for 64 steps" in capsys.readouterr().out
    assert load_sb3(tmp_path / "sac" / "model.zip").algorithm == "SAC"


@pytest.mark.parametrize(("args", "message"), [
    (["+hyperparameters.n_stepz=5"], r"hyperparameters.n_stepz is not allowed: PPO accepts \['learning_rate'"),
    (["+hyperparameters.seed=5"], r"hyperparameters.seed is not allowed: .* \(set it with its own key\)"),
    (["hyperparameters.learning_rate=1e30"], r"hyperparameters.learning_rate = 1e\+30 is not allowed: must be a "
                                             r"number in \(0, 1\]"),
    (["hyperparameters.n_steps=-4"], r"hyperparameters.n_steps = -4 is not allowed: must be an integer >= 2"),
    (["hyperparameters.gamma=nan"], r"hyperparameters.gamma = nan is not allowed: must be a number in \[0, 1\]"),
    (["algorithm=dqn"], r"algorithm = 'dqn' is not allowed: expected one of \['ppo', 'sac'\]"),
    (["seed=4294967296"], r"seed = 4294967296 is not allowed: must be < 2\*\*32"),
    (["--timesteps"], r"--timesteps needs a value"),
    (["env.n_obs=-1"], r"env.n_obs = -1 is not allowed: must be an integer in \[0, 65536\]"),
    (["horizon=5"], r"unknown key 'horizon'; allowed at the top level: .*env"),
])
def test_cli_errors(args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["ppo", "--output", str(tmp_path), "--timesteps", "8", *TINY, *args])
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_an_algorithm_with_another_preset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    torch.set_num_threads(1)
    main(["ppo", "--config", "ppo_tuned", "--levels", "1", "--timesteps", "64", "--output", str(tmp_path), *TINY])
    assert "trained PPO for" in capsys.readouterr().out
    saved = (tmp_path / "config.yaml").read_text()
    assert "gamma: 0.9" in saved and "ent_coef: 0.01" in saved  # the tuned preset, not SB3's defaults


def _replace_member(source: Path, target: Path, name: str, content: bytes) -> None:
    """A copy of the zip ``source`` with member ``name`` replaced by ``content``."""
    with zipfile.ZipFile(source) as archive:
        entries = {member: archive.read(member) for member in archive.namelist()}
    entries[name] = content
    with zipfile.ZipFile(target, "w") as archive:
        for member, data in entries.items():
            archive.writestr(member, data)


def _torch_bytes(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", KINDS)
def test_an_sb3_zip_whose_weights_hold_code_is_refused_in_our_words(tiny_ppo_zip: Path, tmp_path: Path,
                                                                    kind: str) -> None:
    hostile, refused = payload(tmp_path, kind)
    bad = tmp_path / "bad.zip"
    _replace_member(tiny_ppo_zip, bad, "policy.pth", _torch_bytes({"weights": hostile}))
    with pytest.raises(CheckpointError) as info:
        load_sb3(bad)
    assert str(info.value).startswith(f"{bad} member policy.pth holds code or objects") and info.value.path == bad
    assert_refused_safely(str(info.value), refused)
    assert not ran_code(tmp_path)


@pytest.mark.parametrize("member", ["policy.pth", "policy.optimizer.pth"])
def test_an_sb3_zip_with_a_nan_tensor_is_refused_naming_member_and_tensor(tiny_ppo_zip: Path, tmp_path: Path,
                                                                          member: str) -> None:
    with zipfile.ZipFile(tiny_ppo_zip) as archive:
        state = torch.load(io.BytesIO(archive.read(member)), weights_only=True)
    tensors = state if member == "policy.pth" else state["state"][0]
    key = next(name for name, value in tensors.items() if isinstance(value, torch.Tensor) and value.numel() > 1)
    tensors[key].view(-1)[1] = float("nan")
    bad = tmp_path / "bad.zip"
    _replace_member(tiny_ppo_zip, bad, member, _torch_bytes(state))
    where = key if member == "policy.pth" else f"state.0.{key}"
    with pytest.raises(CheckpointError, match=rf"^{bad} member {re.escape(member)}: tensor {re.escape(where)} holds 1 "
                                              r"NaN or infinite value"):
        load_sb3(bad)


@pytest.mark.parametrize("inside", ["zip", "policy.pth"])
def test_an_sb3_zip_bomb_is_refused_before_anything_inflates(tiny_ppo_zip: Path, tmp_path: Path, inside: str) -> None:
    """A 64 MiB member of zeros, added to the zip itself or to the torch file inside it."""
    bad = tmp_path / "bomb.zip"
    if inside == "zip":
        bad.write_bytes(add_zeros_member(tiny_ppo_zip.read_bytes(), "bomb", 64 * 2**20))
        where, name = str(bad), "bomb"
    else:
        with zipfile.ZipFile(tiny_ppo_zip) as archive:
            policy = archive.read("policy.pth")
        _replace_member(tiny_ppo_zip, bad, "policy.pth", add_zeros_member(policy, "policy/bomb", 64 * 2**20))
        where, name = f"{bad} member policy.pth", "policy/bomb"
    with pytest.raises(CheckpointError, match=rf"^{re.escape(where)}: member '{name}' declares {64 * 2**20} bytes "
                                              r"uncompressed, more than 4 times the \d+ bytes of the whole file"):
        load_sb3(bad)


def test_an_sb3_run_directory_is_reported_as_one_pointing_at_its_zip(tiny_ppo_zip: Path, tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.zip").write_bytes(tiny_ppo_zip.read_bytes())
    with pytest.raises(CheckpointError, match=rf"^stable-baselines3 zip {tmp_path} is a directory, not a file; it "
                                              rf"holds {tmp_path / 'checkpoints' / 'last.zip'}: pass that file$"):
        load_sb3(tmp_path)
