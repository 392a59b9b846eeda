"""Ctrl-C stops a long engine call.

A long call runs with the GIL released in chunks and lets Python handle signals between
them, so a SIGINT raises KeyboardInterrupt within about a chunk's time (before, it
waited for the whole call: 32 s for a call of 2e7 tasks). The chunking never changes a
byte: tasks do not depend on how a range of them is split.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from causal_meta.scm import compile_family, sample_tasks

SLOW = {"nodes": 4, "graph": {"type": "chain"}, "mechanism": {"type": "gp", "features": 4096}}
"""Tasks that cost some 100 us each to draw (an SCM of 4096 random features per node) but
hold only a few bytes: 500k of them take a minute on two cores and 20 MB."""

CALLS = {
    "sample_tasks": "sample_tasks(family, 0, 0, 500_000, 1)",
    "sample_tasks-one-thread": "sample_tasks(family, 0, 0, 250_000, 1, threads=1)",
}


@pytest.mark.slow
@pytest.mark.parametrize("call", list(CALLS))
def test_ctrl_c_interrupts_a_long_call(call: str) -> None:
    """A subprocess starts the call, the test sends SIGINT a second later, and the process
    must end with KeyboardInterrupt well before the call could have finished."""
    script = textwrap.dedent(f"""
        import signal, sys
        from causal_meta.scm import compile_family, sample_tasks
        signal.signal(signal.SIGINT, signal.default_int_handler)
        family = compile_family({SLOW!r})
        print("started", flush=True)
        try:
            {CALLS[call]}
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
        print("finished", flush=True)
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env) as process:
        assert process.stdout is not None
        assert process.stdout.readline() == "started\n"
        time.sleep(1.0)  # the call has begun: the line above is printed just before it
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            pytest.fail(f"{call} still ran 20 s after SIGINT")
    assert (process.returncode, out) == (3, "interrupted\n"), err[-2000:]


def digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def test_a_chunked_call_gives_the_bytes_of_separate_calls() -> None:
    """20000 tasks of 16 rows hold far more values than one chunk: the call runs in
    several, and gives the bytes of 20 calls of 1000 tasks each (and of one thread)."""
    family = compile_family({"nodes": 8, "graph": {"type": "er", "edge_prob": 0.5},
                             "mechanism": {"type": "mlp", "hidden": 16}})
    whole = sample_tasks(family, 5, 100, 20_000, 12, 4)
    parts = [sample_tasks(family, 5, 100 + k, 1000, 12, 4, threads=1) for k in range(0, 20_000, 1000)]
    assert digest(*whole) == digest(*(np.concatenate(x) for x in zip(*parts)))
