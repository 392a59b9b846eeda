"""Helpers shared by the benchmark scripts: a robust rate measurement, the machine facts
that every result file records (numbers mean nothing without them), and where results
go."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from threadpoolctl import threadpool_info

from causal_meta.scm import simd_level

RESULTS = Path(__file__).resolve().parent / "results"
"""Where the committed results live; a script writes there only when ``--out`` says so."""

RUN = Path("runs") / "benchmarks" / datetime.now().strftime("%Y%m%d-%H%M%S")
"""This run's fresh output directory, the default of every script's ``--out``."""


def default_out(name: str) -> Path:
    """``name`` inside this run's fresh directory, so that a run never overwrites the
    committed results in ``benchmarks/results/`` unless ``--out`` points there."""
    return RUN / name


def rate(call: Callable[[], int], seconds: float, repeats: int) -> float:
    """Items per second of ``call`` (which returns how many items it made): one warm-up
    call, blocks sized to last ``seconds / repeats``, the median over ``repeats`` blocks."""
    start = time.perf_counter()
    call()
    once = max(time.perf_counter() - start, 1e-7)
    calls = max(1, round(seconds / repeats / once))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        items = sum(call() for _ in range(calls))
        rates.append(items / (time.perf_counter() - start))
    return statistics.median(rates)


def machine_info() -> dict:
    """What the numbers depend on: CPU, cores, SIMD level, versions, BLAS threads, load."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {name: metadata.version(name) for name in ("causal-meta", "numpy", "scipy", "networkx")}
    versions["python"] = platform.python_version()
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=True,
                                cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "simd_level": simd_level(),
        "platform": platform.platform(),
        "versions": versions,
        "git_describe": commit,
        "blas_threads": [pool["num_threads"] for pool in threadpool_info()],
        "load_average_1min_at_start": os.getloadavg()[0],
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
