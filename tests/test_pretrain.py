"""The pre-training runner end to end: smoke run and its files, exact resume after SIGKILL
with 0 and 2 DataLoader workers, preemption by SIGTERM, DDP over two gloo processes,
non-finite losses, mismatched checkpoints and mixed precision."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from agents.pretrain import main
from causal_meta import config
from causal_meta.models.avici import Avici
from causal_meta.train import checkpoint as ckpt
from causal_meta.train import loop
from causal_meta.train.config import PretrainConfig

ROOT = Path(__file__).resolve().parents[1]
TINY = ["model.d_model=8", "model.heads=2", "model.head_dim=4", "model.layers=2", "model.ffn=16", "model.key_size=8",
        "data.batch_size=2", "data.n_obs=16", "trainer.val_tasks=4", "trainer.val_n_samples=4",
        "evaluation.tasks=4", "evaluation.n_samples=4", "evaluation.plot_tasks=1", "trainer.progress=false"]


def cfg_for(*overrides: str) -> PretrainConfig:
    return config.load(PretrainConfig, "smoke", [*TINY, *overrides], config_package="agents.configs.pretrain")


def model_state(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["state"]["model"]


def test_smoke_preset_writes_every_artefact(tmp_path: Path) -> None:
    run_dir = tmp_path / "smoke"
    main(["avici", "--config", "smoke", f"hydra.run.dir={run_dir}", "trainer.progress=false"])
    for name in ("config.yaml", "metrics.json", "report.md", "metrics.png", "adjacency.png",
                 "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    saved = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert saved["state"]["train_state"]["step"] == 10


def _run_cli(run_dir: Path, workers: int, steps: int) -> subprocess.Popen:
    args = [sys.executable, "-m", "agents.pretrain", "avici", "--config", "smoke", f"hydra.run.dir={run_dir}",
            *TINY, f"trainer.steps={steps}", "optim.t_max=12", "trainer.checkpoint_every=2",
            "trainer.val_every=100", f"data.workers={workers}", "data.engine_threads=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("workers", [0, 2])
def test_sigkill_then_resume_is_bitwise_equal_to_an_uninterrupted_run(tmp_path: Path, workers: int) -> None:
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert _run_cli(whole, workers, 12).wait(timeout=240) == 0
    victim = _run_cli(cut, workers, 12)
    deadline = time.time() + 200
    while not (cut / "checkpoints" / "step_4.pt").exists():
        assert victim.poll() is None, victim.stdout.read() if victim.stdout else ""
        assert time.time() < deadline
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    resumed = _run_cli(cut, workers, 12)
    out = resumed.communicate(timeout=240)[0]
    assert resumed.returncode == 0, out
    assert "resumed from step" in out
    a, b = model_state(whole), model_state(cut)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigterm_writes_a_checkpoint_and_exits_cleanly(tmp_path: Path) -> None:
    proc = _run_cli(tmp_path, 0, 100_000)
    deadline = time.time() + 200
    while not (tmp_path / "checkpoints" / "step_2.pt").exists():
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out
    assert "stop signal received" in out
    step = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["state"]["train_state"]["step"]
    assert 2 <= step < 100_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_rank(rank: int, world: int, port: int, run_dir: str, overrides: list[str]) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    trainer = loop.Trainer(cfg_for(*overrides), Path(run_dir))
    try:
        trainer.train()
    finally:
        trainer.close()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_gloo_ranks_with_half_batches_match_one_rank_with_the_whole_batch(tmp_path: Path) -> None:
    """The two runs sum the same gradients in another order, so they differ by rounding
    (about 1e-10 here). A parameter whose true gradient is zero would turn that rounding
    into Adam steps of size lr with a kernel-dependent sign: the attention key bias did,
    and missed by 1.03e-5 on AVX2 machines; it is now held out of the forward pass
    (tests/test_blocks.py)."""
    common = ["trainer.steps=3", "trainer.val_every=100", "trainer.checkpoint_every=3", "optim.t_max=3",
              "model.dropout=0.0"]
    one, two = tmp_path / "one", tmp_path / "two"
    mp.spawn(_ddp_rank, args=(1, _free_port(), str(one), [*common, "data.batch_size=4"]), nprocs=1)
    mp.spawn(_ddp_rank, args=(2, _free_port(), str(two), [*common, "data.batch_size=2"]), nprocs=2)
    a, b = model_state(one), model_state(two)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=lambda report, key=key: f"{key}: {report}")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_torchrun_two_ranks_exit_cleanly_run_after_run(tmp_path: Path) -> None:
    """The command a user types, repeated: every run ends with exit code 0 on both ranks.
    Two crashes at shutdown were seen: a rank leaving the group while the other was still
    evaluating (about 1 in 7 runs; fixed by the barrier in ``teardown``), and after that a
    rank aborting after its last output (SIGABRT, 2 in about 50 runs, not reproduced on
    demand; ``exit_launched_rank`` now ends the process before interpreter finalization
    and C++ static destruction, where it presumably struck). A regression to 1 in 7 passes these three runs with
    probability (6/7)**3 = 0.63, one to 1 in 25 with 0.88: the test catches them over
    repeated CI runs, not in one. Faulthandler is on so that a crash shows its stacks."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    for run in range(3):
        args = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                f"--master_port={_free_port()}", "-m", "agents.pretrain", "avici", "--config", "smoke",
                f"hydra.run.dir={tmp_path / str(run)}", *TINY, "trainer.steps=2", "optim.t_max=2"]
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=250)
        assert done.returncode == 0, f"run {run}: {done.stdout[-2000:]}{done.stderr[-3000:]}"
        assert (tmp_path / str(run) / "report.md").is_file()


def test_non_finite_losses_are_skipped_then_abort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def nan_loss(*args, **kwargs):
        nan = torch.tensor(float("nan"), requires_grad=True)
        return nan, {"bce": nan}

    monkeypatch.setattr(Avici, "training_loss", nan_loss)
    trainer = loop.Trainer(cfg_for("trainer.max_nonfinite=3", "trainer.steps=10"), tmp_path)
    with pytest.raises(loop.NonFiniteLossError, match="3 non-finite losses in a row"):
        trainer.train()
    assert trainer.state.nonfinite_total == 3


def test_resuming_with_another_architecture_names_the_difference(tmp_path: Path) -> None:
    trainer = loop.Trainer(cfg_for("trainer.steps=2", "trainer.checkpoint_every=2", "trainer.val_every=100"), tmp_path)
    trainer.train()
    trainer.close()  # one process per run directory: the next run takes it over
    other = loop.Trainer(cfg_for("trainer.steps=4", "model.d_model=12", "model.key_size=12"), tmp_path)
    with pytest.raises(ckpt.CheckpointError, match="d_model"):
        other.train()


def test_a_checkpoint_older_than_a_model_option_matches_runs_that_leave_it_at_its_default(tmp_path: Path) -> None:
    """A file written before ``model.pair_statistics`` existed lacks the key: it is read as
    the option's default, so it initialises (or resumes) a run with the option off and is
    refused, naming the key, by a run that turns it on."""
    short = ("trainer.steps=2", "trainer.checkpoint_every=2", "trainer.val_every=100")
    loop.Trainer(cfg_for(*short), tmp_path / "first").train()
    checkpoint = torch.load(tmp_path / "first" / "checkpoints" / "last.pt", weights_only=True)
    del checkpoint["config"]["model"]["pair_statistics"]
    older = tmp_path / "older.pt"
    torch.save(checkpoint, older)
    loop.Trainer(cfg_for(*short), tmp_path / "second").initialise_from(older)
    with pytest.raises(ckpt.CheckpointError, match=r"model.pair_statistics: checkpoint False, this run True"):
        loop.Trainer(cfg_for(*short, "model.pair_statistics=true"), tmp_path / "third").initialise_from(older)


def test_init_from_starts_a_new_run_from_the_saved_weights_only(tmp_path: Path) -> None:
    short = ("trainer.steps=2", "trainer.checkpoint_every=2", "trainer.val_every=100")
    loop.Trainer(cfg_for(*short), tmp_path / "first").train()
    saved = tmp_path / "first" / "checkpoints" / "last.pt"
    second = loop.Trainer(cfg_for(*short, "seed=7", f"trainer.init_from={saved}"), tmp_path / "second")
    second.initialise_from(saved)
    weights = model_state(tmp_path / "first")
    assert all(torch.equal(second.model.state_dict()[k], v) for k, v in weights.items())
    fresh = loop.Trainer(cfg_for(*short, "seed=7"), tmp_path / "fresh")
    assert not all(torch.equal(fresh.model.state_dict()[k], v) for k, v in weights.items())
    assert second.train().step == 2  # its own step count and schedule, not the first run's
    second.close()
    # a fine-tuned run that was interrupted resumes from its own last.pt, not from init_from
    again = loop.Trainer(cfg_for("trainer.steps=3", "trainer.val_every=100", f"trainer.init_from={saved}"),
                         tmp_path / "second")
    assert again.resume() and again.state.step == 2
    wrong = loop.Trainer(cfg_for(*short, "model.d_model=12", "model.key_size=12", f"trainer.init_from={saved}"),
                         tmp_path / "wrong")
    with pytest.raises(ckpt.CheckpointError, match="trainer.init_from: .*d_model"):
        wrong.train()
    missing = loop.Trainer(cfg_for(*short, f"trainer.init_from={tmp_path / 'none.pt'}"), tmp_path / "missing")
    with pytest.raises(ckpt.CheckpointError, match="trainer.init_from: checkpoint .*none.pt does not exist"):
        missing.train()


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_mixed_precision_steps_run_on_cpu(tmp_path: Path, dtype: str) -> None:
    trainer = loop.Trainer(cfg_for("trainer.steps=2", "trainer.amp=true", f"trainer.amp_dtype={dtype}",
                                   "trainer.val_every=100", "trainer.checkpoint_every=100"), tmp_path)
    state = trainer.train()
    assert state.step == 2
    assert trainer.scaler.is_enabled() == (dtype == "fp16")


def test_schedule_warms_up_then_follows_the_cosine() -> None:
    cfg = cfg_for("optim.lr=1.0", "optim.warmup_steps=4", "optim.t_max=14", "optim.eta_min=0.1")
    assert [loop.get_lr(s, cfg) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert loop.get_lr(9, cfg) == pytest.approx(0.1 + 0.45 * (1 + torch.cos(torch.tensor(torch.pi / 2)).item()))
    assert loop.get_lr(14, cfg) == pytest.approx(0.1) and loop.get_lr(50, cfg) == pytest.approx(0.1)


def test_unknown_model_name_and_best_metric_are_named(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["bcnpx"])
    with pytest.raises(ValueError, match="trainer.best_metric = 'f2'"):
        loop.Trainer(cfg_for("trainer.best_metric=f2"), tmp_path)


def test_validation_and_test_rows_are_set_apart_from_the_training_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    trainer = loop.Trainer(cfg_for("trainer.val_n_obs=24", "evaluation.n_obs=40"), tmp_path)
    assert {tasks["data"].shape[1] for tasks in trainer.val_sets.values()} == {24}
    scored_rows: list[int] = []
    score = loop.evaluate.score_tasks

    def spy(model: torch.nn.Module, tasks: dict[str, torch.Tensor], *args: object) -> dict[str, float]:
        scored_rows.append(tasks["data"].shape[1])
        return score(model, tasks, *args)

    monkeypatch.setattr(loop.evaluate, "score_tasks", spy)
    trainer.test()
    assert scored_rows and set(scored_rows) == {40}
    default = loop.Trainer(cfg_for(), tmp_path / "default")
    assert {tasks["data"].shape[1] for tasks in default.val_sets.values()} == {16}  # data.n_obs
    with pytest.raises(ValueError, match="evaluation.n_obs = 0"):
        cfg_for("evaluation.n_obs=0")


def test_evaluation_says_when_it_falls_back_to_last(tmp_path: Path) -> None:
    trainer = loop.Trainer(cfg_for("trainer.steps=2", "trainer.checkpoint_every=2", "trainer.val_every=100"), tmp_path)
    trainer.train()
    (tmp_path / "checkpoints" / "best.pt").unlink(missing_ok=True)
    with pytest.warns(RuntimeWarning, match=r"best.pt is missing: evaluating .*last.pt instead"):
        assert trainer.load_for_evaluation().name == "last.pt"
    trainer.close()


def test_cli_reports_a_bad_checkpoint_in_one_line(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "agents.pretrain", "avici", "--config", "smoke",
               f"evaluation.checkpoint={tmp_path / 'none.pt'}", f"hydra.run.dir={tmp_path / 'run'}"]
    short = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert short.returncode == 2
    assert short.stderr.strip().splitlines() == [f"error: checkpoint {tmp_path / 'none.pt'} does not exist"]
    full = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "CAUSAL_META_TRACEBACK": "1"})
    assert "Traceback (most recent call last)" in full.stderr and full.returncode != 0


@pytest.mark.parametrize(("override", "message"), [
    ("data.seed=-1", r"data.seed = -1 is not allowed: must be an integer in \[0, 2\*\*64\)"),
    ("model.power_iterations=-1", r"model.power_iterations = -1 is not allowed: must be an integer >= 1"),
    ("seed=1180591620717411303424", r"seed = 1180591620717411303424 is not allowed: must be an integer in"),
    ("optim.lr=1e30", r"optim.lr = 1e\+30 is not allowed: must be a number in \(0, 1\]"),
    ("model.dropout=1.0", r"model.dropout = 1.0 is not allowed: must be a number in \[0, 1\)"),
    ("optim.beta2=1.5", r"optim.beta2 = 1.5 is not allowed"),
    # The model config group: the smoke preset sets AVICI keys, which BCNP's settings lack.
    ("model=bcnp", r"model.layers: unknown key 'layers' \(did you mean 'encoder_layers'\?\); allowed under "
                   r"'model': name, d_model, heads, head_dim, encoder_layers"),
    ("model=nosuch", r"Could not find 'model/nosuch'[\s\S]*Available options in 'model':\s+avici\s+bcnp"),
])
def test_ranges_are_checked_when_the_config_loads(override: str, message: str) -> None:
    with pytest.raises(config.ConfigError, match=message):
        cfg_for(override)
