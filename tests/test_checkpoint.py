"""Tests of causal_meta.train.checkpoint: atomic writes, safe loading, exact resume."""

from __future__ import annotations

import dataclasses
import errno
import os
import random
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from causal_meta.train import checkpoint as ckpt
from causal_meta.train.checkpoint import CheckpointError
from hostile_payloads import KINDS, add_zeros_member, assert_refused_safely, payload, ran_code

CONFIG = {"model": {"layers": 2, "width": 8, "heads": {"count": 2}}, "train": {"lr": 1e-3}}


@dataclasses.dataclass
class Trainer:
    """The objects a training loop checkpoints, with a step that draws from every RNG."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    numpy_rng: np.random.Generator

    @classmethod
    def fresh(cls, seed: int = 0) -> Trainer:
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 1))
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        scaler = torch.amp.GradScaler("cpu")
        return cls(model, optimizer, scheduler, scaler, np.random.default_rng(seed))

    def step(self) -> None:
        noise = random.random() + np.random.random() + self.numpy_rng.random()
        x = torch.randn(16, 4) + noise
        loss = self.model(x).pow(2).mean()
        self.optimizer.zero_grad()
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()

    def state(self, step: int) -> dict:
        """The training state as the loop builds it."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "stream": {"next_step": step},
            "rng": ckpt.capture_rng_state({"env": self.numpy_rng}),
        }

    def restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        ckpt.restore_rng_state(state["rng"], {"env": self.numpy_rng})


@pytest.fixture(scope="module")
def trainer() -> Trainer:
    return Trainer.fresh()


def _save(
    directory: Path,
    trainer: Trainer,
    step: int,
    *,
    keep_last_k: int = 3,
    is_best: bool = False,
    model_name: str = "avici",
) -> Path:
    manager = ckpt.CheckpointManager(directory, keep_last_k=keep_last_k)
    return manager.save(
        trainer.state(step),
        step=step,
        model_name=model_name,
        config=CONFIG,
        is_best=is_best,
        best_metric=("val/auroc", 0.75),
    )


def _load(path: Path, **kwargs) -> dict:
    kwargs.setdefault("expected_model", "avici")
    return ckpt.load_checkpoint(path, **kwargs)


def _step_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("step_*.pt"))


def _temp_files(directory: Path) -> list[Path]:
    return list(directory.glob("*.tmp"))


# --------------------------------------------------------------------------- contents


def test_checkpoint_loads_with_weights_only_and_holds_every_part(
    tmp_path: Path, trainer: Trainer
) -> None:
    last = _save(tmp_path, trainer, 7)
    raw = torch.load(last, weights_only=True)
    assert raw["format_version"] == ckpt.FORMAT_VERSION
    assert raw["step"] == 7 and raw["state"]["stream"] == {"next_step": 7}
    assert set(raw["state"]) == set(ckpt.REQUIRED_STATE)
    assert set(raw["state"]["rng"]) == {"python", "numpy", "torch", "cuda", "generators"}
    assert raw["config"] == CONFIG
    metadata = raw["metadata"]
    assert metadata["model_name"] == "avici"
    assert metadata["best_metric"] == {"name": "val/auroc", "value": 0.75}
    assert isinstance(metadata["saved_at"], float)
    assert metadata["torch_version"] == torch.__version__


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path: Path) -> None:
    uninterrupted = Trainer.fresh()
    for _ in range(3):
        uninterrupted.step()
    _save(tmp_path, uninterrupted, 3)
    for _ in range(3):
        uninterrupted.step()

    resumed = Trainer.fresh(seed=99)
    resumed.restore(_load(tmp_path / "last.pt", expected_config=CONFIG)["state"])
    for _ in range(3):
        resumed.step()

    for a, b in zip(uninterrupted.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert resumed.scheduler.get_last_lr() == uninterrupted.scheduler.get_last_lr()


def test_nothing_is_written_before_the_first_save(tmp_path: Path, trainer: Trainer) -> None:
    directory = tmp_path / "runs" / "demo" / "checkpoints"
    manager = ckpt.CheckpointManager(directory)  # as on a rank that never saves
    assert not (tmp_path / "runs").exists()
    manager.save(trainer.state(1), step=1, model_name="avici", config=CONFIG)
    assert sorted(p.name for p in directory.iterdir()) == ["last.pt", "step_1.pt"]


def test_a_state_without_a_required_part_is_refused(tmp_path: Path, trainer: Trainer) -> None:
    state = trainer.state(1)
    del state["stream"], state["rng"]
    manager = ckpt.CheckpointManager(tmp_path)
    with pytest.raises(ValueError, match=r"lacks \['stream', 'rng'\]; it must hold"):
        manager.save(state, step=1, model_name="avici", config=CONFIG)
    assert not tmp_path.joinpath("last.pt").exists()


# --------------------------------------------------------------------------- saving


@pytest.mark.parametrize("k", [0, 1, 3])
def test_rolling_history_keeps_exactly_k(tmp_path: Path, trainer: Trainer, k: int) -> None:
    for step in range(1, 7):
        _save(tmp_path, trainer, step, keep_last_k=k)
    assert _step_files(tmp_path) == [f"step_{s}.pt" for s in range(7 - k, 7)]
    for name in _step_files(tmp_path):
        assert _load(tmp_path / name)["step"] == int(name[5:-3])
    assert _load(tmp_path / "last.pt")["step"] == 6


def test_saving_after_resuming_earlier_drops_the_abandoned_steps(
    tmp_path: Path, trainer: Trainer
) -> None:
    for step in (10, 20, 30):
        _save(tmp_path, trainer, step)
    _save(tmp_path, trainer, 15)  # resumed from step 10, then saved again
    assert _step_files(tmp_path) == ["step_10.pt", "step_15.pt"]


def test_negative_k_is_refused(tmp_path: Path, trainer: Trainer) -> None:
    with pytest.raises(ValueError, match="keep_last_k must be >= 0, got -1"):
        _save(tmp_path, trainer, 1, keep_last_k=-1)


def test_best_is_replaced_only_when_is_best(tmp_path: Path, trainer: Trainer) -> None:
    best = tmp_path / "best.pt"
    _save(tmp_path, trainer, 1, is_best=False)
    assert not best.exists()
    for step, is_best in [(2, True), (3, False), (4, True), (5, False)]:
        _save(tmp_path, trainer, step, is_best=is_best)
    assert _load(best)["step"] == 4


@pytest.mark.parametrize("hard_links", [True, False])
def test_extra_names_survive_replacing_last(
    tmp_path: Path, trainer: Trainer, monkeypatch: pytest.MonkeyPatch, hard_links: bool
) -> None:
    if not hard_links:

        def no_links(*args: object) -> None:
            raise OSError("hard links not supported")

        monkeypatch.setattr(os, "link", no_links)
    _save(tmp_path, trainer, 1, is_best=True)
    _save(tmp_path, trainer, 2)
    assert (tmp_path / "step_1.pt").stat().st_nlink == (2 if hard_links else 1)
    assert _load(tmp_path / "best.pt")["step"] == 1
    assert _load(tmp_path / "step_1.pt")["step"] == 1
    assert _load(tmp_path / "last.pt")["step"] == 2
    assert not _temp_files(tmp_path)


def test_crash_at_rename_leaves_previous_last_intact(
    tmp_path: Path, trainer: Trainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _save(tmp_path, trainer, 1)

    def crash(*args: object) -> None:
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        _save(tmp_path, trainer, 2)
    monkeypatch.undo()
    assert _load(tmp_path / "last.pt")["step"] == 1
    assert _step_files(tmp_path) == ["step_1.pt"]
    assert not _temp_files(tmp_path)


# A process that is SIGKILLed by its own file writes once part of the checkpoint is on
# disk: a real mid-write death at a deterministic point.
_DIE_MID_WRITE = textwrap.dedent(
    """
    import io, os, signal, sys
    import torch
    from causal_meta.train import checkpoint as ckpt

    class DyingWriter(io.BufferedWriter):
        written = 0
        def write(self, data):
            if DyingWriter.written > 1 << 20:
                self.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            DyingWriter.written += len(data)
            return super().write(data)

    os.fdopen = lambda fd, mode: DyingWriter(io.FileIO(fd, mode))
    state = {key: {} for key in ckpt.REQUIRED_STATE}
    state["model"] = {f"w{i}": torch.ones(1 << 16) for i in range(64)}
    ckpt.CheckpointManager(sys.argv[1]).save(state, step=2, model_name="avici", config={})
    """
)


def test_sigkill_mid_write_leaves_previous_last_intact(tmp_path: Path, trainer: Trainer) -> None:
    _save(tmp_path, trainer, 1)
    result = subprocess.run(
        [sys.executable, "-c", _DIE_MID_WRITE, str(tmp_path)], capture_output=True, timeout=60
    )
    assert result.returncode == -9, result.stderr.decode()

    (partial,) = _temp_files(tmp_path)  # the half-written file exists, under a temp name
    assert partial.stat().st_size > 1 << 20
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        _load(partial)
    assert _load(tmp_path / "last.pt")["step"] == 1
    assert _step_files(tmp_path) == ["step_1.pt"]

    _save(tmp_path, trainer, 3)  # the next save clears the leftover
    assert not _temp_files(tmp_path)


def test_unsafe_payload_is_refused_and_leaves_last_intact(
    tmp_path: Path, trainer: Trainer
) -> None:
    _save(tmp_path, trainer, 1)
    state = trainer.state(2)
    state["stream"] = {"next_step": Path("not/a/plain/value")}
    manager = ckpt.CheckpointManager(tmp_path)
    with pytest.raises(CheckpointError, match=r"step 2.*weights_only=True\) refuses \(the first it refused: "
                                              r"pathlib\.[\w.]*Path\)") as info:
        manager.save(state, step=2, model_name="avici", config=CONFIG)
    assert "weights_only set to" not in str(info.value) and info.value.__cause__ is None
    assert _load(tmp_path / "last.pt")["step"] == 1
    assert not _temp_files(tmp_path)


def _no_space(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _partly_written_then_full(obj: object, handle) -> None:  # noqa: ANN001 - torch.save's file argument
    handle.write(b"PK\x03\x04 half a checkpoint")
    _no_space()


@pytest.mark.parametrize(("where", "fail"), [
    ("os.fsync", _no_space),
    ("torch.save", _partly_written_then_full),
], ids=["fsync", "write"])
def test_a_full_disk_is_reported_and_leaves_last_intact(tmp_path: Path, trainer: Trainer,
                                                        monkeypatch: pytest.MonkeyPatch, where: str, fail) -> None:
    _save(tmp_path, trainer, 1)
    monkeypatch.setattr(where, fail)
    with pytest.raises(CheckpointError, match=rf"^cannot save the checkpoint of step 2 as {tmp_path / 'last.pt'}: the "
                                              r"disk is full \(No space left on device\); it still holds the previous "
                                              r"checkpoint, intact, and no temporary file is left") as info:
        _save(tmp_path, trainer, 2)
    assert info.value.path == tmp_path / "last.pt" and isinstance(info.value.__cause__, OSError)
    monkeypatch.undo()
    assert _load(tmp_path / "last.pt")["step"] == 1
    assert not _temp_files(tmp_path) and _step_files(tmp_path) == ["step_1.pt"]


def test_a_full_disk_on_the_first_save_or_an_alias_says_what_was_written(
        tmp_path: Path, trainer: Trainer, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patched:
        patched.setattr("os.fsync", _no_space)
        with pytest.raises(CheckpointError, match=r"the disk is full .*; no checkpoint was written under it, and no "
                                                  "temporary file is left"):
            _save(tmp_path, trainer, 1)
    assert not any(tmp_path.iterdir())
    monkeypatch.setattr("os.link", _no_space)  # no hard link, and no room for a copy either
    monkeypatch.setattr("shutil.copyfileobj", _no_space)
    with pytest.raises(CheckpointError, match=rf"as {tmp_path / 'step_1.pt'}: the disk is full .*; no checkpoint was "
                                              rf"written under it; {tmp_path / 'last.pt'} holds step 1, complete, and "
                                              "no temporary file is left"):
        _save(tmp_path, trainer, 1)
    assert _load(tmp_path / "last.pt")["step"] == 1 and not _temp_files(tmp_path)


# --------------------------------------------------------------------------- loading


@pytest.mark.parametrize("kept_fraction", [0.0, 0.1, 0.5, 0.99, "all but one byte"])
def test_truncated_file_is_reported(
    tmp_path: Path, trainer: Trainer, kept_fraction: float | str
) -> None:
    data = _save(tmp_path, trainer, 1).read_bytes()
    kept = len(data) - 1 if isinstance(kept_fraction, str) else int(len(data) * kept_fraction)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[:kept])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
        _load(truncated)
    assert str(truncated) in str(info.value)
    assert info.value.path == truncated


def test_flipped_bit_inside_a_tensor_is_reported(tmp_path: Path, trainer: Trainer) -> None:
    data = bytearray(_save(tmp_path, trainer, 1).read_bytes())
    weights = trainer.model[0].weight.detach().numpy().tobytes()
    data[data.index(weights) + len(weights) // 2] ^= 0x10
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"damaged\.pt is (truncated or )?corrupt"):
        _load(damaged)


@pytest.mark.parametrize(
    "content",
    [b"", b"definitely not a checkpoint", os.urandom(4096)],
    ids=["empty", "text", "random"],
)
def test_garbage_file_is_reported(tmp_path: Path, content: bytes) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"garbage\.pt is truncated or corrupt"):
        _load(garbage)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nothing\.pt does not exist"):
        _load(tmp_path / "nothing.pt")


def test_a_directory_is_reported_as_one_pointing_at_its_checkpoint(tmp_path: Path, trainer: Trainer) -> None:
    run = tmp_path / "run"
    _save(run / "checkpoints", trainer, 1)
    last = run / "checkpoints" / "last.pt"
    for directory in (run, run / "checkpoints"):
        with pytest.raises(CheckpointError, match=rf"^checkpoint {directory} is a directory, not a file; it holds "
                                                  rf"{last}: pass that file$") as info:
            _load(directory)
        assert info.value.path == directory
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"empty is a directory, not a file; pass the checkpoint file itself, "
                                              r"such as checkpoints/last\.pt in a run directory$"):
        _load(tmp_path / "empty")


def test_a_foreign_torch_file_is_reported(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a causal-meta checkpoint"):
        _load(foreign)


def test_unknown_format_version_is_reported(tmp_path: Path, trainer: Trainer) -> None:
    future = tmp_path / "future.pt"
    torch.save({**torch.load(_save(tmp_path, trainer, 1)), "format_version": 99}, future)
    with pytest.raises(CheckpointError, match=r"format version 99.*reads format versions \[1\]"):
        _load(future)


@pytest.mark.parametrize(("drop", "missing"), [
    (lambda saved: saved.pop("metadata"), "metadata"),
    (lambda saved: saved["metadata"].pop("model_name"), r"metadata\.model_name"),
    (lambda saved: saved.pop("config"), "config"),
], ids=["metadata", "model-name", "config"])
def test_a_checkpoint_without_a_section_names_the_file_and_the_key(tmp_path: Path, trainer: Trainer, drop,
                                                                   missing: str) -> None:
    saved = torch.load(_save(tmp_path, trainer, 1), weights_only=True)
    drop(saved)
    path = tmp_path / "partial.pt"
    torch.save(saved, path)
    with pytest.raises(CheckpointError, match=rf"^checkpoint {path} has no {missing}: it does not hold what this "
                                              "loader needs") as info:
        _load(path, expected_config=CONFIG)
    assert info.value.path == path


def test_other_model_is_reported_by_name(tmp_path: Path, trainer: Trainer) -> None:
    last = _save(tmp_path, trainer, 1, model_name="bcnp")
    expected = "saved by model 'bcnp', but this run trains 'avici'"
    with pytest.raises(CheckpointError, match=expected):
        _load(last)


def test_other_config_lists_every_differing_key(tmp_path: Path, trainer: Trainer) -> None:
    last = _save(tmp_path, trainer, 1)
    current = {"model": {"layers": 4, "width": 8, "heads": {"count": 3}, "bias": True}}
    with pytest.raises(CheckpointError) as info:
        _load(last, expected_config=current, keys_to_check=["model"])
    message = str(info.value)
    assert "model.layers: checkpoint 2, this run 4" in message
    assert "model.heads.count: checkpoint 2, this run 3" in message
    assert "model.bias: checkpoint <absent>, this run True" in message
    assert "model.width" not in message


def test_keys_outside_the_checked_ones_may_change(tmp_path: Path, trainer: Trainer) -> None:
    last = _save(tmp_path, trainer, 1)
    current = {**CONFIG, "train": {"lr": 0.5}}
    assert _load(last, expected_config=current, keys_to_check=["model"])["step"] == 1
    with pytest.raises(CheckpointError, match="train.lr: checkpoint 0.001, this run 0.5"):
        _load(last, expected_config=current, keys_to_check=["model", "train.lr"])


@pytest.mark.parametrize(("keys", "value"), [
    (("model", "0.weight"), float("nan")),
    (("model", "2.bias"), float("inf")),
    (("optimizer", "state", 0, "exp_avg_sq"), float("-inf")),
], ids=["weight-nan", "bias-inf", "optimizer-moment"])
def test_a_non_finite_tensor_is_refused_naming_the_file_and_the_tensor(tmp_path: Path, keys: tuple,
                                                                         value: float) -> None:
    trainer = Trainer.fresh()
    trainer.step()  # the optimizer now holds moments
    saved = torch.load(_save(tmp_path, trainer, 1), weights_only=True)
    tensor = saved["state"]
    for key in keys:
        tensor = tensor[key]
    tensor.view(-1)[-1] = value
    path = tmp_path / "diverged.pt"
    torch.save(saved, path)
    dotted = ".".join(str(key) for key in ("state", *keys))
    with pytest.raises(CheckpointError, match=rf"^checkpoint {path}: tensor {re.escape(dotted)} holds 1 NaN or "
                                              rf"infinite value\(s\) of {tensor.numel()};") as info:
        _load(path)
    assert info.value.path == path


def test_resuming_skips_a_last_checkpoint_holding_nan(tmp_path: Path, trainer: Trainer) -> None:
    for step in (1, 2):
        _save(tmp_path, trainer, step, keep_last_k=1)
    saved = torch.load(tmp_path / "last.pt", weights_only=True)
    saved["state"]["model"]["0.weight"][0, 0] = float("nan")
    (tmp_path / "last.pt").unlink()  # break the link to step_2.pt
    torch.save(saved, tmp_path / "last.pt")
    with pytest.warns(RuntimeWarning, match=r"step_2\.pt because .*state\.model\.0\.weight holds 1 NaN"):
        assert ckpt.find_resume(tmp_path) == tmp_path / "step_2.pt"


def _tiny_checkpoint(directory: Path) -> bytes:
    """A whole checkpoint of a 4-parameter model: a few kilobytes."""
    model = nn.Linear(1, 2)
    state = {"model": model.state_dict(), "optimizer": {}, "scheduler": {}, "scaler": {}, "stream": {},
             "rng": ckpt.capture_rng_state()}
    return ckpt.CheckpointManager(directory, keep_last_k=0).save(state, step=0, model_name="avici",
                                                                 config={}).read_bytes()


def _declare_size(data: bytes, name: str, size: int) -> bytes:
    """``data`` with the central-directory entry of member ``name`` declaring ``size``
    bytes uncompressed, the member itself unchanged: a header that lies."""
    patched = bytearray(data)
    entry = patched.index(b"PK\x01\x02")
    while patched[entry + 46:entry + 46 + len(name)] != name.encode():
        entry = patched.index(b"PK\x01\x02", entry + 4)
    patched[entry + 24:entry + 28] = size.to_bytes(4, "little")
    return bytes(patched)


def test_a_zip_bomb_is_refused_from_its_directory_before_anything_inflates(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = tmp_path / "bomb.pt"
    bomb.write_bytes(add_zeros_member(_tiny_checkpoint(tmp_path / "run"), "archive/data/9", 64 * 2**20))
    size = bomb.stat().st_size
    assert size < 2**20 / 4  # 64 MiB in under 256 KiB

    def inflates(*args: object, **kwargs: object) -> None:
        raise AssertionError("a member was read")

    monkeypatch.setattr(zipfile.ZipFile, "testzip", inflates)
    monkeypatch.setattr(torch, "load", inflates)
    with pytest.raises(CheckpointError, match=rf"^checkpoint {bomb}: member 'archive/data/9' declares "
                                              rf"{64 * 2**20} bytes uncompressed, more than 4 times the {size} bytes "
                                              rf"of the whole file \({4 * size} bytes\); refused before reading"
                       ) as info:
        _load(bomb)
    assert info.value.path == bomb


def test_a_member_whose_header_declares_gigabytes_is_refused(tmp_path: Path) -> None:
    lying = tmp_path / "lying.pt"
    lying.write_bytes(_declare_size(_tiny_checkpoint(tmp_path / "run"), "archive/data/0", 3 * 2**30))
    with pytest.raises(CheckpointError, match=rf"member 'archive/data/0' declares {3 * 2**30} bytes uncompressed"):
        _load(lying)


def test_many_members_within_the_bound_each_are_refused_together(tmp_path: Path) -> None:
    data = _tiny_checkpoint(tmp_path / "run")
    for index in range(12):  # each about a third of the bound, which the file's own size sets
        data = add_zeros_member(data, f"archive/extra{index}", len(data) * 4 // 3)
    many = tmp_path / "many.pt"
    many.write_bytes(data)
    with pytest.raises(CheckpointError, match=r"its \d+ members declare \d+ bytes together uncompressed, more than 4 "
                                              r"times"):
        _load(many)


def test_a_checkpoint_within_the_bound_loads_with_its_extra_members(tmp_path: Path) -> None:
    data = _tiny_checkpoint(tmp_path / "run")
    roomy = tmp_path / "roomy.pt"
    roomy.write_bytes(add_zeros_member(data, "archive/extra", len(data)))
    assert _load(roomy)["step"] == 0


# --------------------------------------------------------------------------- RNG


def _draws(numpy_rng: np.random.Generator, torch_rng: torch.Generator) -> list:
    return [
        random.random(),
        random.gauss(0, 1),
        np.random.random(3).tolist(),
        np.random.standard_normal(),
        numpy_rng.random(3).tolist(),
        torch.rand(3).tolist(),
        torch.rand(3, generator=torch_rng).tolist(),
    ]


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.Philox, np.random.MT19937])
def test_rng_round_trip_repeats_every_draw(tmp_path: Path, bit_generator: type) -> None:
    numpy_rng = np.random.Generator(bit_generator(3))
    torch_rng = torch.Generator().manual_seed(4)
    random.gauss(0, 1)  # leaves a cached normal in the state
    np.random.standard_normal()  # likewise for numpy's legacy RNG
    generators = {"np": numpy_rng, "torch": torch_rng}

    state = ckpt.capture_rng_state(generators)
    torch.save(state, tmp_path / "rng.pt")  # the state must survive a weights-only file
    first = _draws(numpy_rng, torch_rng)
    ckpt.restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True), generators)
    assert _draws(numpy_rng, torch_rng) == first
    assert _draws(numpy_rng, torch_rng) != first


def test_restoring_an_unknown_or_mismatched_generator_is_reported() -> None:
    state = ckpt.capture_rng_state({"env": np.random.default_rng(0)})
    with pytest.raises(CheckpointError, match=r"no state for generator 'policy'.*\['env'\]"):
        ckpt.restore_rng_state(state, {"policy": np.random.default_rng(0)})
    with pytest.raises(CheckpointError, match="'env' is a Generator.*numpy generator state"):
        ckpt.restore_rng_state(state, {"env": torch.Generator()})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only fallback")
def test_cuda_states_without_cuda_only_warn() -> None:
    state = ckpt.capture_rng_state()
    state["cuda"] = [torch.get_rng_state()]
    with pytest.warns(RuntimeWarning, match="CUDA RNG states for 1 device.*0 are available"):
        ckpt.restore_rng_state(state)


# --------------------------------------------------------------------------- resume


def test_find_resume_without_checkpoints_is_none(tmp_path: Path) -> None:
    assert ckpt.find_resume(tmp_path) is None


def test_find_resume_prefers_last(tmp_path: Path, trainer: Trainer) -> None:
    for step in (1, 2):
        _save(tmp_path, trainer, step)
    assert ckpt.find_resume(tmp_path) == tmp_path / "last.pt"


def test_find_resume_falls_back_to_newest_readable_step(tmp_path: Path, trainer: Trainer) -> None:
    for step in (1, 2, 3):
        _save(tmp_path, trainer, step)
    for name in ("last.pt", "step_3.pt"):
        _corrupt(tmp_path / name)
    with pytest.warns(RuntimeWarning, match=r"resuming from .*step_2\.pt because .*last\.pt is"):
        assert ckpt.find_resume(tmp_path) == tmp_path / "step_2.pt"


def test_find_resume_falls_back_when_last_is_missing(tmp_path: Path, trainer: Trainer) -> None:
    _save(tmp_path, trainer, 1)
    (tmp_path / "last.pt").unlink()
    with pytest.warns(RuntimeWarning, match=r"step_1\.pt because .*last\.pt is missing"):
        assert ckpt.find_resume(tmp_path) == tmp_path / "step_1.pt"


def test_find_resume_refuses_when_nothing_reads(tmp_path: Path, trainer: Trainer) -> None:
    _save(tmp_path, trainer, 1, keep_last_k=0)
    _corrupt(tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match="no checkpoint in .* can be read"):
        ckpt.find_resume(tmp_path)


def _corrupt(path: Path) -> None:
    """Replace ``path`` by a truncated copy: break the link, not the shared inode."""
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_holding_code_or_objects_is_refused_as_such_not_as_corrupt(tmp_path: Path, kind: str) -> None:
    hostile, refused = payload(tmp_path, kind)
    path = tmp_path / "foreign.pt"
    torch.save({"format_version": 1, "payload": hostile}, path)
    with pytest.raises(CheckpointError) as info:
        ckpt.load_checkpoint(path, expected_model="avici")
    assert str(info.value).startswith(f"checkpoint {path} holds code or objects") and info.value.path == path
    assert_refused_safely(str(info.value), refused)
    assert info.value.__cause__ is None and info.value.__suppress_context__  # torch's advice is not passed on
    assert not ran_code(tmp_path)


def test_a_run_directory_serves_one_process_and_must_be_writable(tmp_path: Path) -> None:
    from causal_meta.train.rundir import RunDirectoryError, claim

    held = claim(tmp_path / "run")
    # (Reading .lock here would close a descriptor of it and so drop this process's POSIX
    # lock: the other process reports what it says instead.)
    other = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        from pathlib import Path
        from causal_meta.train.rundir import claim
        claim(Path({str(tmp_path / "run")!r}))
    """)], capture_output=True, text=True)
    assert other.returncode != 0
    assert f"is in use by process {os.getpid()} on " in other.stderr
    held.close()  # released: another process may take it now
    assert subprocess.run([sys.executable, "-c", f"from causal_meta.train.rundir import claim; "
                           f"claim(__import__('pathlib').Path({str(tmp_path / 'run')!r}))"]).returncode == 0
    locked = tmp_path / "read_only"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions: nothing to test here
            return
        with pytest.raises(RunDirectoryError, match="cannot be written"):
            claim(locked / "run")
    finally:
        locked.chmod(0o755)
