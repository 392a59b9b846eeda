"""Training checkpoints that survive crashes, load safely and resume exactly.

The research code this project replaces wrote checkpoints in place, so a crash mid-write
left a half file under the final name, and it pickled arbitrary objects, so opening a
colleague's checkpoint could run their code. Here:

* every file is written to a temporary name in the same directory, flushed, fsynced,
  checked to load with ``torch.load(weights_only=True)`` and only then renamed over its
  final name (the directory is fsynced too), so a final name always holds a complete file;
* everything stored is tensors, numbers, strings, lists and dicts, RNG states included;
* loading bounds the zip members' declared sizes (a zip bomb is refused unread), verifies
  the zip CRCs (catching truncation and bit rot), refuses NaN or infinite tensors, checks
  the format version, the model name and the architecture-relevant config keys, and
  reports any failure as a `CheckpointError` that names the file and what is wrong.

Layout of a run's checkpoint directory (``runs/<name>/checkpoints/``): ``last.pt`` (the
newest; resuming starts here), ``best.pt`` (the last one saved with ``is_best=True``) and
``step_<N>.pt`` for the ``keep_last_k`` most recent steps. One write serves all three
names: the extra names are hard links (or durable copies where the filesystem has none).
Files are never modified in place, so sharing one inode is safe.

A checkpoint (format version 1) is a dict::

    format_version  int
    step            int, the number of optimizer steps taken
    state           the caller's training state; at least REQUIRED_STATE:
                      model, optimizer, scheduler, scaler   state dicts (scaler may be {})
                      stream   dict[str, int], the task-stream position, e.g. the next step
                      rng      capture_rng_state()
    config          the resolved config as plain dicts and lists
    metadata        model_name, best_metric ({"name", "value"} or None), saved_at (Unix
                    seconds), git_describe (or None), torch_version

Only one process may write a run's checkpoints (rank 0 under DDP): saving removes
temporary files left by an earlier crash, which would break a concurrent writer.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import pickle
import random
import re
import secrets
import shutil
import subprocess
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from causal_meta import atomic
from causal_meta.options import to_plain

__all__ = [
    "BEST",
    "FORMAT_VERSION",
    "LAST",
    "MAX_INFLATION",
    "REQUIRED_STATE",
    "SUPPORTED_VERSIONS",
    "CheckpointError",
    "CheckpointManager",
    "capture_rng_state",
    "check_configured_model",
    "check_member_sizes",
    "find_resume",
    "load_checkpoint",
    "load_weights",
    "require_file",
    "restore_module",
    "restore_rng_state",
    "saved_section",
]

FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
"""Format versions `load_checkpoint` reads; bump FORMAT_VERSION when the layout changes."""

LAST = "last.pt"
BEST = "best.pt"
REQUIRED_STATE = ("model", "optimizer", "scheduler", "scaler", "stream", "rng")
"""Keys every saved training state holds: what an exact resume cannot do without."""

MAX_INFLATION = 4
"""How many times its file's size the members of a checkpoint zip may declare, each and
all together (uncompressed). torch.save and SB3 store members uncompressed, so a genuine
file declares about its own size; the slack admits one re-packed with compression, and
bounds what loading a hostile one can allocate to a few times its size."""

_STEP_FILE = re.compile(r"step_(\d+)\.pt")
_TEMP_PREFIX = ".ckpt-"
_TEMP_SUFFIX = ".tmp"

RandomGenerator = np.random.Generator | torch.Generator


class CheckpointError(ValueError):
    """A checkpoint cannot be used: unreadable, unsafe, or from another model or config.

    ``path`` is the file at fault, or None when the problem is not tied to one file.
    """

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else Path(path)


# --------------------------------------------------------------------------- RNG state


def capture_rng_state(
    generators: Mapping[str, RandomGenerator] | None = None,
) -> dict[str, Any]:
    """The state of every RNG a training step may draw from, in weights-only-safe types.

    Covers Python's ``random``, numpy's global legacy RNG, torch's CPU generator, every
    CUDA device's generator when CUDA is available, and the named numpy or torch
    ``generators`` that a caller owns (an environment's ``np_random``, say). Numpy states
    are stored as JSON text because they hold arrays and integers wider than 64 bits,
    neither of which a weights-only load accepts.
    """
    version, internal, gauss_next = random.getstate()
    return {
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        "numpy": _numpy_state_text(np.random.get_state(legacy=False)),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {name: _capture_generator(gen) for name, gen in (generators or {}).items()},
    }


def restore_rng_state(
    state: Mapping[str, Any],
    generators: Mapping[str, RandomGenerator] | None = None,
) -> None:
    """Put every RNG back where `capture_rng_state` found it, so draws continue identically.

    ``generators`` are restored in place and must carry the names they were captured
    under. CUDA states are restored for the devices present; a mismatch in device count
    only warns, because resuming a GPU run elsewhere is legitimate even if not bit-exact.
    """
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"]), python["gauss_next"]))
    np.random.set_state(json.loads(state["numpy"]))
    torch.set_rng_state(state["torch"])
    _restore_cuda(state["cuda"])
    for name, gen in (generators or {}).items():
        _restore_generator(name, gen, state["generators"])


def _numpy_state_text(state: Mapping[str, Any]) -> str:
    return json.dumps(state, default=lambda array: array.tolist())


def _capture_generator(gen: RandomGenerator) -> dict[str, Any]:
    if isinstance(gen, torch.Generator):
        return {"kind": "torch", "state": gen.get_state()}
    if isinstance(gen, np.random.Generator):
        return {"kind": "numpy", "state": _numpy_state_text(gen.bit_generator.state)}
    raise TypeError(
        f"cannot capture the state of a {type(gen).__name__}; "
        "allowed: numpy.random.Generator, torch.Generator"
    )


def _restore_generator(
    name: str, gen: RandomGenerator, saved: Mapping[str, Mapping[str, Any]]
) -> None:
    if name not in saved:
        raise CheckpointError(
            f"the checkpoint holds no state for generator {name!r}; it holds {sorted(saved)}"
        )
    entry = saved[name]
    if isinstance(gen, torch.Generator) and entry["kind"] == "torch":
        gen.set_state(entry["state"])
    elif isinstance(gen, np.random.Generator) and entry["kind"] == "numpy":
        gen.bit_generator.state = json.loads(entry["state"])
    else:
        raise CheckpointError(
            f"generator {name!r} is a {type(gen).__name__}, but the checkpoint holds "
            f"a {entry['kind']} generator state under that name"
        )


def _restore_cuda(states: Sequence[torch.Tensor]) -> None:
    if not states:
        return
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if available != len(states):
        warnings.warn(
            f"the checkpoint holds CUDA RNG states for {len(states)} device(s) but "
            f"{available} are available; restoring {min(available, len(states))}, so GPU "
            "random draws will not continue the saved sequence exactly",
            RuntimeWarning,
            stacklevel=3,
        )
    for device, device_state in enumerate(states[:available]):
        torch.cuda.set_rng_state(device_state, device)


# --------------------------------------------------------------------------- saving


class CheckpointManager:
    """Writes the checkpoints of one run into ``directory``.

    Construct it on every rank but call `save` on rank 0 only; nothing touches the disk
    before the first save, so other ranks never create files.
    """

    def __init__(self, directory: str | os.PathLike[str], keep_last_k: int = 3) -> None:
        if keep_last_k < 0:
            raise ValueError(f"keep_last_k must be >= 0, got {keep_last_k}")
        self.directory = Path(directory)
        self.keep_last_k = keep_last_k

    def save(
        self,
        state: Mapping[str, Any],
        *,
        step: int,
        model_name: str,
        config: object,
        is_best: bool = False,
        best_metric: tuple[str, float] | None = None,
    ) -> Path:
        """Write ``state`` as last.pt (and step_<N>.pt, and best.pt if ``is_best``).

        ``state`` holds at least `REQUIRED_STATE`; ``config`` is a schema instance or a
        plain dict, stored as plain data so that a later run can compare its own config
        with it; ``best_metric`` is the best value so far with its name, so a resumed run
        keeps judging ``is_best`` against it. Returns the path of last.pt.

        Each name is replaced atomically, last.pt first, so a crash at any point leaves
        every name holding a complete checkpoint and last.pt the newest. Afterwards only
        the ``keep_last_k`` newest step files up to ``step`` are kept (0 keeps none); step
        files beyond ``step`` come from a continuation abandoned by resuming from an
        earlier checkpoint, and are removed so they are never mistaken for newer history.
        A state that a weights-only load would refuse raises `CheckpointError` and leaves
        the existing files untouched; so does a full disk, with a message that says so and
        what each name still holds.
        """
        checkpoint = _assemble(state, step, model_name, config, best_metric)
        last = self.directory / LAST
        with _disk_full_reported(last, step):
            self.directory.mkdir(parents=True, exist_ok=True)
            _remove_leftover_temps(self.directory)
            atomic.publish(_write_verified_temp(self.directory, checkpoint), last)
        for alias, wanted in ((self.directory / f"step_{step}.pt", self.keep_last_k > 0),
                              (self.directory / BEST, is_best)):
            if wanted:
                with _disk_full_reported(alias, step, f"; {last} holds step {step}, complete"):
                    _publish_alias(last, alias)
        _prune_history(self.directory, step, self.keep_last_k)
        return last


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def _disk_full_reported(target: Path, step: int, saved: str = "") -> Iterator[None]:
    """Running out of disk space while ``target`` is written, as a CheckpointError that
    says so and what ``target`` holds now (``saved`` adds what was written before it).
    The writers have removed their temporary file by then, and ``target`` is only ever
    replaced by a rename, so it is either what it was (intact) or the new checkpoint."""
    before = _identity(target)
    try:
        yield
    except OSError as err:
        if err.errno not in _NO_SPACE:
            raise
        now = _identity(target)
        holds = ("no checkpoint was written under it" if now is None else
                 "it still holds the previous checkpoint, intact" if now == before else
                 f"it already holds step {step}, complete")
        raise CheckpointError(f"cannot save the checkpoint of step {step} as {target}: the disk is full "
                              f"({os.strerror(err.errno)}); {holds}{saved}, and no temporary file is left. Free "
                              "space and save again", target) from err


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of ``path``, None if it does not exist: what tells a replaced file."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def _assemble(
    state: Mapping[str, Any],
    step: int,
    model_name: str,
    config: object,
    best_metric: tuple[str, float] | None,
) -> dict[str, Any]:
    missing = [key for key in REQUIRED_STATE if key not in state]
    if missing:
        raise ValueError(
            f"the training state to checkpoint lacks {missing}; it must hold "
            f"{list(REQUIRED_STATE)} for an exact resume"
        )
    return {
        "format_version": FORMAT_VERSION,
        "step": step,
        "state": dict(state),
        "config": to_plain(config),
        "metadata": {
            "model_name": model_name,
            "best_metric": None
            if best_metric is None
            else {"name": best_metric[0], "value": float(best_metric[1])},
            "saved_at": time.time(),
            "git_describe": _git_describe(),
            "torch_version": str(torch.__version__),  # a str subclass the safe loader refuses
        },
    }


@functools.cache
def _git_describe() -> str | None:
    """The code version of this process, looked up once: the code that runs is the code
    that was imported, even if the working tree changes later."""
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def _remove_leftover_temps(directory: Path) -> None:
    for leftover in directory.glob(f"{_TEMP_PREFIX}*{_TEMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)


def _write_verified_temp(directory: Path, checkpoint: dict[str, Any]) -> Path:
    temp = atomic.write_temp(directory, lambda handle: torch.save(checkpoint, handle), _TEMP_PREFIX, _TEMP_SUFFIX)
    try:
        _verify_safe(temp, checkpoint["step"])
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _verify_safe(path: Path, step: int) -> None:
    """Refuse, before it gets a final name, a file that a weights-only load rejects; the
    memory map keeps this cheap, as tensor data is not read."""
    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"the checkpoint for step {step} holds objects that torch.load(weights_only=True) refuses"
            f"{_first_refused(err)}; store only tensors, numbers, strings, lists and dicts") from None


def _publish_alias(source: Path, target: Path) -> None:
    temp = source.parent / f"{_TEMP_PREFIX}{secrets.token_hex(8)}{_TEMP_SUFFIX}"
    try:
        try:
            os.link(source, temp)
        except OSError:  # a filesystem without hard links
            _durable_copy(source, temp)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    atomic.publish(temp, target)


def _durable_copy(source: Path, target: Path) -> None:
    with open(source, "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
        dst.flush()
        os.fsync(dst.fileno())


def _prune_history(directory: Path, step: int, keep: int) -> None:
    history = _step_files(directory)
    kept = [path for number, path in history if number <= step][:keep]
    for _, path in history:
        if path not in kept:
            path.unlink(missing_ok=True)


def _step_files(directory: Path) -> list[tuple[int, Path]]:
    """The step_<N>.pt files, newest step first."""
    found = [(_step_number(path), path) for path in directory.glob("step_*.pt")]
    return sorted(((n, p) for n, p in found if n >= 0), reverse=True)


def _step_number(path: Path) -> int:
    match = _STEP_FILE.fullmatch(path.name)
    return int(match.group(1)) if match else -1


# --------------------------------------------------------------------------- loading


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    expected_model: str | tuple[str, ...],
    expected_config: object | None = None,
    keys_to_check: Sequence[str] = ("model",),
    defaults: object | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Read a checkpoint safely and check that it belongs to this run: saved by
    ``expected_model`` (or one of several names).

    ``keys_to_check`` are dotted config keys (a section such as ``"model"`` covers every
    key under it) whose values must equal those in ``expected_config``: the ones that
    shape the network, so a checkpoint from another architecture fails here with the
    differing keys instead of deep inside ``load_state_dict``. Keys outside them (learning
    rate, logging, ...) may change on resume. ``expected_config`` may be a schema instance
    or a plain dict; None skips the comparison. ``defaults`` (same form) gives the value
    of a key that the checkpoint lacks because it was written before the key existed
    (an option added later, off by default): such a file still matches a run that leaves
    the option at its default. Returns the whole checkpoint; the training state that was
    saved is under ``"state"``.
    """
    checkpoint = _read(Path(path), map_location=map_location, mmap=False)
    _check_model(checkpoint, expected_model, path)
    if expected_config is not None:
        _check_config(saved_section(checkpoint, "config", path, settings=True), to_plain(expected_config),
                      keys_to_check, path, {} if defaults is None else to_plain(defaults))
    return checkpoint


def saved_section(checkpoint: Mapping[str, Any], dotted: str, path: str | os.PathLike[str],
                  settings: bool = False) -> Any:
    """``checkpoint[a][b]...`` for ``dotted = "a.b..."``, or CheckpointError naming the
    file and the missing key (a file with the right format but the wrong contents). With
    ``settings``, the section must be a mapping (the keyword arguments of a config)."""
    value: Any = checkpoint
    keys = dotted.split(".")
    for depth, key in enumerate(keys):
        if not isinstance(value, Mapping) or key not in value:
            where = ".".join(keys[:depth + 1])
            raise CheckpointError(f"checkpoint {path} has no {where}: it does not hold what this loader needs", path)
        value = value[key]
    if settings and not isinstance(value, Mapping):
        raise CheckpointError(f"checkpoint {path}: {dotted} is not a mapping of settings", path)
    return value


def restore_module(build: Callable[[], torch.nn.Module], state: Mapping[str, Any], path: str | os.PathLike[str],
                   what: str) -> torch.nn.Module:
    """The module ``build()`` makes, holding the weights ``state`` of the checkpoint at
    ``path``, checked before anything is allocated.

    ``build`` reads the architecture from the file's own config, which someone else may
    have written: it is first run on the meta device (no memory), and the shapes it
    declares are compared with the saved tensors. Only when every name and shape matches
    is it built for real, so the allocation is bounded by the weights the file holds.
    A config that cannot build (unknown or missing key, bad value) and any mismatch raise
    CheckpointError naming the file and ``what`` (for example ``"the AVICI model"``).
    """
    try:
        with torch.device("meta"):
            skeleton = build()
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"checkpoint {path}: its config cannot build {what} "
                              f"({type(err).__name__}: {_first_line(err)})", path) from None
    expected = {name: tuple(t.shape) for name, t in skeleton.state_dict().items()}
    if not isinstance(state, Mapping) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise CheckpointError(f"checkpoint {path}: the weights of {what} are not a mapping of tensors", path)
    saved = {name: tuple(t.shape) for name, t in state.items()}
    problems = [f"missing {name}" for name in expected if name not in saved]
    problems += [f"unexpected {name}" for name in saved if name not in expected]
    problems += [f"{name} has shape {saved[name]} where the config makes {shape}"
                 for name, shape in expected.items() if name in saved and saved[name] != shape]
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise CheckpointError(f"checkpoint {path}: the weights of {what} do not fit its own config ({shown})", path)
    module = build()
    module.load_state_dict(state)
    return module


def find_resume(directory: str | os.PathLike[str]) -> Path | None:
    """The checkpoint to resume from in a run's checkpoint ``directory``, or None if none.

    last.pt if it reads; otherwise, with a warning, the newest readable step_<N>.pt.
    When checkpoints exist but none reads, this raises instead of returning None: a
    fresh start would overwrite them.
    """
    directory = Path(directory)
    candidates = [directory / LAST, *(path for _, path in _step_files(directory))]
    failures = []
    for candidate in (path for path in candidates if path.exists()):
        try:
            _read(candidate, map_location="cpu", mmap=True)
        except CheckpointError as err:
            failures.append(str(err))
            continue
        if failures or candidate.name != LAST:
            reason = "; ".join(failures) if failures else f"{directory / LAST} is missing"
            warnings.warn(
                f"resuming from {candidate} because {reason}", RuntimeWarning, stacklevel=2
            )
        return candidate
    if failures:
        raise CheckpointError(
            f"no checkpoint in {directory} can be read: {'; '.join(failures)}. Move them "
            "away or use another run directory to start afresh",
            directory,
        )
    return None


def _read(path: Path, *, map_location: str | torch.device, mmap: bool) -> dict[str, Any]:
    require_file(path, "checkpoint", (f"checkpoints/{LAST}", LAST))
    checkpoint = load_weights(path, path, f"checkpoint {path}", map_location=map_location, mmap=mmap)
    _check_version(checkpoint, path)
    return checkpoint


def require_file(path: Path, what: str, candidates: Sequence[str]) -> None:
    """CheckpointError unless ``path`` is a file: a directory is reported as one (not as
    missing), pointing at the ``candidates`` inside it that exist (the file names a run
    directory, or its checkpoint directory, keeps, the usual one first)."""
    if path.is_file():
        return
    if not path.is_dir():
        raise CheckpointError(f"{what} {path} does not exist", path)
    found = [str(path / name) for name in candidates if (path / name).is_file()]
    hint = (f"it holds {' and '.join(found)}: pass that file" if found else
            f"pass the {what} file itself, such as {candidates[0]} in a run directory")
    raise CheckpointError(f"{what} {path} is a directory, not a file; {hint}", path)


def load_weights(source: Path | BinaryIO, path: str | os.PathLike[str], what: str, *,
                 map_location: str | torch.device = "cpu", mmap: bool = False) -> Any:
    """What ``torch.load(weights_only=True)`` reads from the torch archive ``source``
    (the file ``path``, or a member of it read into memory), with the checks that torch
    does not make; ``what`` names it in messages (``"checkpoint runs/a/last.pt"``).

    The one safe reader of torch files: checkpoints go through it, and so do the weight
    files inside a stable-baselines3 zip. A truncated or corrupt archive, one holding
    anything a weights-only load refuses and one with a NaN or infinite value in a
    floating tensor raise CheckpointError naming the file (and the tensor); torch's own
    wording of a refusal, which advises loading unsafely, is never passed on.
    """
    try:
        _check_archive(source, path, what)
        if not isinstance(source, Path):
            source.seek(0)
        loaded = torch.load(source, map_location=map_location, weights_only=True, mmap=mmap)
    except CheckpointError:
        raise
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{what} holds code or objects that a safe (weights-only) load refuses{_first_refused(err)}: a "
            "checkpoint may hold only tensors, numbers, strings, lists and dicts, since unpickling anything else "
            "could run code from the file. It was not loaded",
            path,
        ) from None
    except Exception as err:
        raise CheckpointError(
            f"{what} is truncated or corrupt and cannot be loaded ({type(err).__name__}: {_first_line(err)})",
            path,
        ) from err
    _check_finite(loaded, path, what)
    return loaded


def _check_finite(loaded: Any, path: str | os.PathLike[str], what: str) -> None:
    """Refuse NaN or infinite values in any floating tensor (weights, optimizer moments):
    loaded, they surface far from the file, as a NaN action or a probability error
    during evaluation that names neither the file nor the tensor."""
    for key, tensor in _tensors(loaded, ""):
        if not (tensor.is_floating_point() or tensor.is_complex()):
            continue
        finite = torch.isfinite(tensor)
        if not bool(finite.all()):
            raise CheckpointError(
                f"{what}: tensor {key} holds {tensor.numel() - int(finite.sum())} NaN or infinite value(s) of "
                f"{tensor.numel()}; the weights and optimizer state a checkpoint restores must be finite (the run "
                "that wrote it diverged, or the file was altered)",
                path,
            )


def _tensors(value: Any, prefix: str) -> Iterator[tuple[str, torch.Tensor]]:
    """(dotted key, tensor) for every tensor inside nested dicts, lists and tuples."""
    if isinstance(value, torch.Tensor):
        yield prefix, value
    elif isinstance(value, Mapping):
        for key, child in value.items():
            yield from _tensors(child, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, (list, tuple)):
        for index, child in enumerate(value):
            yield from _tensors(child, f"{prefix}.{index}" if prefix else str(index))


def _first_refused(err: pickle.UnpicklingError) -> str:
    """The global that a weights-only refusal names, as a parenthesis for a message ("" if none).

    torch raises UnpicklingError for every refusal (a blocked module such as
    posix.system, a global outside its allowlist, a __reduce__ payload), worded
    differently per case and per torch version, and always with the advice to retry with
    weights_only=False, which would run the file's code: so the exception's type says
    what happened, and only the global's name is taken from its text."""
    refused = re.search(r"GLOBAL (\S+)", str(err))
    return f" (the first it refused: {refused.group(1)})" if refused else ""


def _check_archive(source: Path | BinaryIO, path: str | os.PathLike[str], what: str) -> None:
    """Bound the members' sizes (before anything inflates them), then verify the zip
    CRCs: torch's reader does not, so a flipped bit inside a tensor would load silently."""
    size = source.stat().st_size if isinstance(source, Path) else source.seek(0, os.SEEK_END)
    with zipfile.ZipFile(source) as archive:
        check_member_sizes(archive, size, path, what)
        bad_member = archive.testzip()
    if bad_member is not None:
        raise CheckpointError(f"{what} is corrupt: member {bad_member!r} fails its CRC check", path)


def check_member_sizes(archive: zipfile.ZipFile, size: int, path: str | os.PathLike[str], what: str) -> None:
    """Refuse, from the central directory alone, a zip of ``size`` bytes whose members
    declare more than `MAX_INFLATION` times that uncompressed, one member or all together:
    a small file that inflates to gigabytes (a zip bomb) stops here, not at the process's
    memory limit minutes later."""
    limit = MAX_INFLATION * size
    members = archive.infolist()
    largest = max(members, key=lambda info: info.file_size, default=None)
    total = sum(info.file_size for info in members)
    if largest is not None and largest.file_size > limit:
        found = f"member {largest.filename!r} declares {largest.file_size} bytes"
    elif total > limit:
        found = f"its {len(members)} members declare {total} bytes together"
    else:
        return
    raise CheckpointError(
        f"{what}: {found} uncompressed, more than {MAX_INFLATION} times the {size} bytes of the whole file "
        f"({limit} bytes); refused before reading, since genuine checkpoints store their members uncompressed "
        "and a file that inflates far beyond its size is a zip bomb",
        path,
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else "no message"


def _check_version(checkpoint: object, path: Path) -> None:
    if not isinstance(checkpoint, dict) or "format_version" not in checkpoint:
        raise CheckpointError(
            f"{path} is not a causal-meta checkpoint: it has no format_version", path
        )
    version = checkpoint["format_version"]
    if version not in SUPPORTED_VERSIONS:
        raise CheckpointError(
            f"checkpoint {path} has format version {version!r}; this version of "
            f"causal-meta reads format versions {list(SUPPORTED_VERSIONS)}",
            path,
        )


def check_configured_model(checkpoint: Mapping[str, Any], path: str | os.PathLike[str], configured: str,
                           where: str, expected: str | tuple[str, ...]) -> None:
    """Refuse a file that names two models: ``configured`` is the model that its config
    (at ``where``) builds, and it must be the one its metadata names, which
    `load_checkpoint` checked against ``expected``. Without this a file saying BCNP in
    its metadata but holding an AVICI config and weights would load as AVICI."""
    _check_model(checkpoint, expected, path)
    saved = saved_section(checkpoint, "metadata.model_name", path)
    if configured != saved:
        raise CheckpointError(
            f"checkpoint {path} names two models: its metadata says {saved!r} but its {where} says {configured!r}, "
            f"which is what it would build; a checkpoint's config must build the model its metadata names, and "
            f"this loader allows {_wanted(expected)}",
            path,
        )


def _check_model(
    checkpoint: Mapping[str, Any], expected: str | tuple[str, ...], path: str | os.PathLike[str]
) -> None:
    saved = saved_section(checkpoint, "metadata.model_name", path)
    allowed = (expected,) if isinstance(expected, str) else expected
    if saved not in allowed:
        raise CheckpointError(
            f"checkpoint {path} was saved by model {saved!r}, but this run trains {_wanted(expected)}",
            path,
        )


def _wanted(expected: str | tuple[str, ...]) -> str:
    return repr(expected) if isinstance(expected, str) else f"one of {list(expected)}"


class _Absent:
    """Marks a config key present on one side of a comparison only."""

    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


def _check_config(
    saved: Mapping[str, Any],
    expected: Mapping[str, Any],
    keys: Sequence[str],
    path: str | os.PathLike[str],
    defaults: Mapping[str, Any],
) -> None:
    differences = [
        f"{key}: checkpoint {old!r}, this run {new!r}"
        for key, old, new in _config_differences(saved, expected, keys, defaults)
    ]
    if differences:
        raise CheckpointError(
            f"checkpoint {path} was saved with another configuration; these keys must "
            f"match to resume: {'; '.join(differences)}",
            path,
        )


def _config_differences(
    saved: Mapping[str, Any], expected: Mapping[str, Any], keys: Sequence[str], defaults: Mapping[str, Any]
) -> Iterator[tuple[str, Any, Any]]:
    for key in keys:
        old = dict(_leaves(_lookup(saved, key), key))
        new = dict(_leaves(_lookup(expected, key), key))
        fallback = dict(_leaves(_lookup(defaults, key), key))
        for leaf in sorted(old.keys() | new.keys()):
            before, after = old.get(leaf, fallback.get(leaf, _ABSENT)), new.get(leaf, _ABSENT)
            if before != after:
                yield leaf, before, after


def _lookup(config: Any, dotted: str) -> Any:
    node = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def _leaves(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(dotted key, value) for every non-dict value under ``value``."""
    if isinstance(value, Mapping) and value:
        for key, child in value.items():
            yield from _leaves(child, f"{prefix}.{key}")
    else:
        yield prefix, value
