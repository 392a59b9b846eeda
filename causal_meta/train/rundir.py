"""One process per run directory, and a directory it can write to.

Two runs started on the same directory would interleave ``last.pt`` (one of them then
dies on a file the other replaced); a read-only or full disk would only show at the
first checkpoint, possibly an hour in. :func:`claim` checks both when a run starts: it
takes an exclusive POSIX record lock (``fcntl.lockf``) on ``<run_dir>/.lock``, which
records the holder's process id and host, and writes and removes a probe file in
``<run_dir>/checkpoints``. The lock belongs to the process alone: unlike a ``flock``, the
DataLoader workers it forks do not inherit it, so a run killed with SIGKILL frees its
directory at once even while its orphaned workers wind down. (A process must not open
and close ``.lock`` itself while it holds the lock: closing any descriptor of the file
releases a POSIX lock.)
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from typing import IO

from causal_meta import atomic

__all__ = ["LOCK_FILE", "RunDirectoryError", "claim"]

LOCK_FILE = ".lock"


class RunDirectoryError(ValueError):
    """The run directory is in use by another process, or cannot be written."""


def claim(run_dir: Path) -> IO[str]:
    """Lock ``run_dir`` for this process and check that checkpoints can be written; the
    open lock file, which holds the lock until it is closed or the process ends."""
    run_dir = Path(run_dir)
    checkpoints = run_dir / "checkpoints"
    try:
        checkpoints.mkdir(parents=True, exist_ok=True)
        handle = open(run_dir / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 - kept open on purpose
    except OSError as err:
        raise RunDirectoryError(f"run directory {run_dir} cannot be written: {err}") from err
    try:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise RunDirectoryError(f"run directory {run_dir} is in use by {holder}: wait for it to finish, or give "
                                "this run another directory (hydra.run.dir=... or --output)") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"process {os.getpid()} on {socket.gethostname()}\n")
    handle.flush()
    try:
        atomic.write_temp(checkpoints, lambda f: f.write(b"probe"), prefix=".probe-").unlink()
    except OSError as err:
        handle.close()
        raise RunDirectoryError(f"checkpoint directory {checkpoints} cannot be written: {err}") from err
    return handle
