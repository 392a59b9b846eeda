"""The GRPO trainer end to end: a tiny run with its evaluation, exact resume after
SIGKILL (real subprocesses), SIGTERM, DDP over two gloo processes, the agent's loading
and the CLI's errors."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.grpo.__main__ import main
from agents.grpo.agent import load_agent
from causal_meta.pretrained import DEFAULT_CHECKPOINT
from causal_meta.train.checkpoint import CheckpointError

ROOT = Path(__file__).resolve().parents[1]
TINY = ["num_envs=3", "env.horizon=4", "grpo.group_size=4", "grpo.minibatch=4", "policy.d_model=16", "policy.heads=2",
        "policy.head_dim=8", "policy.layers=1", "policy.ffn=32", "threads=1", "progress=false", "log_steps=false",
        "device=cpu"]


def grpo(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "agents.grpo", "--config", "debug", "--output", str(out), *TINY, *extra]


def test_tiny_run_trains_checkpoints_and_evaluates(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    torch.set_num_threads(1)
    main(["--config", "debug", "--output", str(tmp_path), *TINY, "iterations=3", "evaluation.episodes=4"])
    printed = capsys.readouterr().out
    assert "trained 3 iterations" in printed and "grpo:last" in printed and "greedy" in printed
    for name in ("checkpoints/last.pt", "checkpoints/best.pt", "metrics.json", "curriculum.png",
                 "evaluation/report.md", "config.yaml"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert any((tmp_path / "tensorboard").glob("events.*"))
    agent = load_agent(tmp_path / "checkpoints" / "last.pt")
    from envs.vector import CausalBOVectorEnv

    env = CausalBOVectorEnv(5, level=2)
    obs, _ = env.reset(seed=1)
    actions, _ = agent.predict(obs, deterministic=True)
    assert actions.shape == (5, 5) and np.array_equal(actions, agent.predict(obs, deterministic=True)[0])
    chosen = env.step(actions)[4]["node"]
    assert (chosen != env._episodes.target).all()
    single, _ = agent.predict({k: v[0] for k, v in obs.items()}, deterministic=True)
    # Alone, an observation is cut to its own width: the same action up to float rounding.
    assert single.argmax() == actions[0, :-1].argmax()
    np.testing.assert_allclose(single, actions[0], atol=1e-5)
    # Someone else's file: a policy config of 2**40 parameters is refused from its shapes.
    saved = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    saved["config"]["policy"]["d_model"] = 2**20
    torch.save(saved, tmp_path / "tampered.pt")
    with pytest.raises(CheckpointError, match=r"the weights of the intervention policy do not fit its own config"):
        load_agent(tmp_path / "tampered.pt")


def _state(path: Path) -> dict:
    return torch.load(path, weights_only=True)["state"]


def _assert_same(a: object, b: object, where: str = "state") -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            _assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b or (isinstance(a, float) and np.isnan(a) and np.isnan(b)), where


def _wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (code {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _checkpointed(directory: Path, at_least: int) -> bool:
    return any(int(p.stem.split("_")[1]) >= at_least for p in directory.glob("step_*.pt"))


@pytest.mark.slow
def test_sigkill_and_resume_end_bitwise_equal(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["iterations=8", "checkpoint_every=2", "evaluation.enabled=false"]
    subprocess.run(grpo(tmp_path / "full", *args), check=True, env=env, capture_output=True, timeout=600)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(grpo(killed, *args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(lambda: _checkpointed(killed / "checkpoints", 4), proc, "the checkpoint at iteration 4")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert _state(killed / "checkpoints" / "last.pt")["stream"]["iteration"] < 8
    resumed = subprocess.run(grpo(killed, *args), env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from iteration" in resumed.stdout + resumed.stderr
    _assert_same(_state(tmp_path / "full" / "checkpoints" / "last.pt"), _state(killed / "checkpoints" / "last.pt"))


@pytest.mark.slow
def test_sigterm_writes_a_checkpoint_and_exits(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(grpo(tmp_path, "iterations=400", "checkpoint_every=100", "evaluation.enabled=false"),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_for(lambda: any((tmp_path / "tensorboard").glob("events.*")) and (tmp_path / "tensorboard").exists()
              and time.sleep(1.0) is None, proc, "training to start")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "stop signal received: checkpoint at iteration" in out
    iteration = _state(tmp_path / "checkpoints" / "last.pt")["stream"]["iteration"]
    assert 0 < iteration < 400


DDP_CHECK = """
import sys
from pathlib import Path
import torch
import torch.distributed as dist
from agents.grpo.config import GrpoConfig
from agents.grpo.train import Trainer
from causal_meta import config

cfg = config.load(GrpoConfig, "debug", sys.argv[2:], config_package="agents.configs.grpo")
trainer = Trainer(cfg, Path(sys.argv[1]))
trainer.train()
weights = torch.cat([p.detach().flatten() for p in trainer.policy.parameters()]
                    + [p.detach().flatten() for p in trainer.surrogate.model.parameters()])
samples = torch.from_numpy(trainer.env._observation()["samples"]).flatten()
every = [torch.zeros_like(weights) for _ in range(2)]
dist.all_gather(every, weights)
episodes = [torch.zeros_like(samples) for _ in range(2)]
dist.all_gather(episodes, samples)
assert torch.equal(every[0], every[1]), "the ranks' weights differ: gradients were not averaged"
assert not torch.equal(episodes[0], episodes[1]), "the ranks played the same episodes"
print("rank", dist.get_rank(), "ok")
trainer.close()
"""


@pytest.mark.slow
def test_ddp_two_gloo_processes_stay_in_step(tmp_path: Path) -> None:
    script = tmp_path / "check.py"
    script.write_text(DDP_CHECK)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
                             "127.0.0.1", "--master_port", str(port), str(script), str(tmp_path / "run"), *TINY,
                             "iterations=2", "evaluation.enabled=false"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("ok") == 2


@pytest.mark.parametrize(("args", "message"), [
    (["grpo.epochs=1"], r"grpo.epochs = 1 is not allowed: must be an integer >= 2"),
    (["seed=4294967296"], r"seed = 4294967296 is not allowed: must be an integer in \[0, 2\*\*32\)"),
    (["grpo.advance=worst"], r"grpo.advance = 'worst' is not allowed: must be one of \['best', 'sampled'\]"),
    (["surrogate.checkpoint=/no/such.pt"], r"surrogate.checkpoint: checkpoint /no/such.pt does not exist"),
    (["grpo.group_sise=4"], r"unknown key 'group_sise' \(did you mean 'group_size'\?\)"),
    (["grpo.lr=1e30"], r"grpo.lr = 1e\+30 is not allowed: must be a number in \(0, 1\]"),
    (["surrogate.lr=nan"], r"surrogate.lr = nan is not allowed: must be a number in \(0, 1\]"),
    (["env.n_obs=0"], r"env.n_obs = 0 is not allowed: must be an integer >= 1 in training"),
    (["env.horizon=0"], r"env.horizon = 0 is not allowed: must be an integer in \[1, 65536\]"),
    (["env.intervention_range.low=3"], r"env.intervention_range = \(3.0, 2.0\) is not allowed: needs low < high"),
    (["env.optimum_samples=1"], r"env.optimum_samples = 1 is not allowed: must be an integer in \[2, 1048576\]"),
])
def test_cli_errors_name_the_key(args: list[str], message: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", "debug", "--output", str(tmp_path), *TINY, *args])
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_a_checkpoint_from_before_the_env_settings_resumes_and_loads(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    """Runs from before envs.settings.EnvSettings stored the trainer's own env section
    (six keys, none of samples_per_step, intervention_range or optimum_grid): a run still
    resumes from such a checkpoint (the keys that must match, env.n_obs and env.horizon,
    are there) and its agent loads."""
    torch.set_num_threads(1)
    args = ["--config", "debug", "--output", str(tmp_path), *TINY, "evaluation.enabled=false", "checkpoint_every=1"]
    main([*args, "iterations=1"])
    last = tmp_path / "checkpoints" / "last.pt"
    saved = torch.load(last, weights_only=True)
    saved["config"]["env"] = {"n_obs": 10, "horizon": 4, "w_target": 0.9, "w_parent": 0.1, "w_info": 0.0,
                              "optimum_samples": 128}
    torch.save(saved, last)
    capsys.readouterr()
    main([*args, "iterations=2"])
    captured = capsys.readouterr()
    assert "resumed from iteration 1" in captured.out + captured.err
    assert load_agent(last) is not None


def test_loading_a_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"was saved by model 'avici'"):
        load_agent(DEFAULT_CHECKPOINT)
    from agents.evaluate import resolve

    with pytest.raises(CheckpointError, match=r"policy = .* is not allowed: .* holds a model 'avici', not a policy"):
        resolve(str(DEFAULT_CHECKPOINT))
    corrupt = tmp_path / "bad.pt"
    corrupt.write_bytes(DEFAULT_CHECKPOINT.read_bytes()[:5000])
    with pytest.raises(ValueError, match="neither a stable-baselines3 zip"):
        resolve(str(corrupt))


def test_information_gain_is_the_surrogates_entropy_drop(tmp_path: Path) -> None:
    """The information gain the trainer's what-if scores (env.w_info > 0, the trainer's
    surrogate handed to the environment) is, per candidate, the drop of the summed
    Bernoulli entropy of the target's parent probabilities once the candidate's rows join
    the observation: checked one candidate at a time against the surrogate, on rows
    drawn here from the same seeds (a copy of each sub-environment's generator)."""
    import copy

    from agents.grpo.config import GrpoConfig
    from agents.grpo.train import Trainer
    from causal_meta import config
    from envs.causal_bo import SEED_BOUND, parent_entropy
    from envs.episode import standardise

    cfg = config.load(GrpoConfig, "debug", [*TINY, "env.w_info=0.5", "evaluation.enabled=false"],
                      config_package="agents.configs.grpo")
    trainer = Trainer(cfg, tmp_path)
    try:
        obs, _, _ = trainer._reset()
        env, surrogate = trainer.env, trainer.surrogate
        n, width = obs["valid"].shape
        generators = copy.deepcopy(env._generators)
        candidates = np.random.default_rng(0).uniform(-1, 1, (n, 2, width + 1)).astype(np.float32)
        scored = env.what_if(candidates, surrogate)
        probs = surrogate.parent_probs(obs).numpy()
        r = int(obs["row_mask"][0].sum())
        for i in range(n):
            seed = int(generators[i].integers(SEED_BOUND))
            scm, mean, std = env._episodes.scms[i], env._episodes.mean[i], env._episodes.std[i]
            before = parent_entropy(probs[i], obs["valid"][i])
            for k in range(2):
                node, x = int(scored.nodes[i, k]), float(scored.values[i, k])
                one = {key: value[i:i + 1].copy() for key, value in obs.items()}
                one["samples"][0, r, :scm.d] = standardise(scm.sample(1, do={node: x}, seed=seed)[0][0],
                                                           mean[:scm.d], std[:scm.d])
                one["intervened"][0, r, node] = 1
                one["row_mask"][0, r] = 1
                after = parent_entropy(surrogate.parent_probs(one)[0].numpy(), obs["valid"][i])
                assert scored.info_gains[i, k] == pytest.approx(before - after, abs=1e-5)
        assert np.abs(scored.info_gains).max() > 0
        target = obs["target"].argmax(axis=1)
        mean_y, std_y = env._episodes.mean[np.arange(n), target][:, None], env._episodes.std[np.arange(n), target][:, None]
        base = (0.9 * -np.clip((scored.target_values - mean_y) / std_y, -5, 5)
                + 0.1 * env._episodes.parents[np.arange(n)[:, None], scored.nodes])
        np.testing.assert_allclose(scored.rewards, base + 0.5 * scored.info_gains, rtol=1e-12, atol=1e-12)
    finally:
        trainer.close()


def test_the_trainer_runs_with_a_bcnp_surrogate(tmp_path: Path) -> None:
    """``surrogate.checkpoint`` may name any registered model's checkpoint: two tiny
    iterations with the shipped BCNP one (information gain on, so that the what-if
    queries it too) train it through BCNP's own loss, and the saved agent loads with a
    BCNP surrogate and acts."""
    from causal_meta.models.bcnp import Bcnp
    from causal_meta.pretrained import CHECKPOINTS

    torch.set_num_threads(1)
    main(["--config", "debug", "--output", str(tmp_path), *TINY, "iterations=2", "evaluation.enabled=false",
          f"surrogate.checkpoint={CHECKPOINTS['bcnp']}", "env.w_info=0.5"])
    state = _state(tmp_path / "checkpoints" / "last.pt")
    assert state["surrogate_config"]["name"] == "bcnp" and state["stream"]["iteration"] == 2
    shipped = torch.load(CHECKPOINTS["bcnp"], weights_only=True)["state"]["model"]
    assert any(not torch.equal(shipped[key], state["surrogate"][key]) for key in shipped)  # it was trained
    agent = load_agent(tmp_path / "checkpoints" / "last.pt")
    assert isinstance(agent.surrogate.model, Bcnp)
    from envs.vector import CausalBOVectorEnv

    env = CausalBOVectorEnv(3, level=2)
    obs, _ = env.reset(seed=1)
    actions, _ = agent.predict(obs, deterministic=True)
    assert actions.shape == (3, env.config.max_nodes + 1) and np.isfinite(actions).all()


def test_a_step_that_leaves_weights_non_finite_stops_the_run_by_name(tmp_path: Path) -> None:
    """An infinite gradient (what a far too high learning rate leads to) makes the next
    weights NaN: the run stops there with an error naming the learning-rate key, instead
    of failing later inside a distribution with a dump of NaN tensors."""
    from agents.grpo.config import GrpoConfig
    from agents.grpo.train import DivergedError, Trainer

    trainer = Trainer(GrpoConfig(), tmp_path)
    try:
        parameters = list(trainer.policy.parameters())
        for p in parameters:  # finite gradients: a normal step, no error
            p.grad = torch.ones_like(p)
        trainer._optimizer_step(trainer.optimizer, parameters, "grpo.lr")
        for p in parameters:
            p.grad = torch.full_like(p, float("inf"))
        with pytest.raises(DivergedError, match=r"diverged at iteration 1: after an optimizer step at grpo.lr = "
                                                r"0.0005 some weights are no longer finite; lower grpo.lr"):
            trainer._optimizer_step(trainer.optimizer, parameters, "grpo.lr")
    finally:
        trainer.close()
