"""Time the Rust engine against the numpy reference sampler, in one run.

    python benchmarks/sampler.py [--seconds 1.0] [--repeats 5] [--cases a,b,c,d,e,f,g] [--out PATH]

Cases:

(a) ER d=20 (edge prob 0.2), linear, 256 samples per task;
(b) the same with MLP mechanisms (hidden 32);
(c) the same with GP mechanisms (256 random Fourier features);
(d) ER d=100 (2 edges per node), linear, 1000 samples per task;
(e) one interventional row, ``Scm.sample(1, do={i: v})``, from a fixed d=20 linear SCM;
(f) small calls: µs per task of ``sample_tasks`` on one thread in calls of 8 and of 256
    tasks of case (a), with the family given as a ``CompiledFamily``, a ``Family`` and a
    dict, and µs per call of one task of one row (what a call costs before any work);
(g) rows/s of ``Scm.sample(n)`` for n = 1, 16 and 256 from the SCM of (e).

For (a)-(d): tasks/s of the engine on one thread (``threads=1``) and on all cores
(``threads=None``), of the reference (:mod:`causal_meta.reference`, float32, one
thread), and the per-core ratio engine(1 thread) / reference. For (a) and (c) also the
engine's plain path (``set_simd(False)``) against the detected SIMD level. For (e): µs
per call and the ratio; for (g): rows/s and the ratio. Goals: (a) >= 20x per core, (c)
>= 5x, (e) < 5 µs per call, (f) a call of 8 tasks of a compiled family at most 1.5x the
per-task time of a call of 256.

The reference runs single-threaded: OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and
MKL_NUM_THREADS are set to 1 below, before numpy is imported (so this only holds when
the script is the process's entry point; the BLAS thread count actually in force is
recorded). Each measurement warms up, sizes a block of calls to last
``seconds / repeats``, and reports the median rate over ``repeats`` blocks.

Prints a Markdown table, writes JSON with machine information to
``sampler.json`` in a fresh directory under ``runs/benchmarks/`` (or ``--out``; the
committed results were written with ``--out benchmarks/results/sampler.json``) and a
bar plot PNG next to it.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402 - the variables above must be set before numpy loads
import json  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from _common import default_out, machine_info, rate  # noqa: E402
from causal_meta.reference import sample_scm_reference, sample_tasks_reference  # noqa: E402
from causal_meta.scm import (  # noqa: E402
    compile_family,
    sample_scm,
    sample_tasks,
    set_simd,
    simd_level,
)
from causal_meta.specs import Er, Family, Gp, Mlp  # noqa: E402



@dataclass(frozen=True)
class Case:
    """One task-sampling workload and the batch sizes that keep a call short."""

    key: str
    label: str
    family: Family
    n: int
    engine_batch: int  # tasks per engine call: enough to spread over the cores
    goal: float | None = None  # minimum per-core ratio engine / reference


ER20 = Er(edge_prob=0.2)
CASES = [
    Case("a", "ER d=20 p=0.2, linear, n=256", Family(nodes=20, graph=ER20), 256, 256, goal=20.0),
    Case("b", "ER d=20 p=0.2, MLP h=32, n=256", Family(nodes=20, graph=ER20, mechanism=Mlp(hidden=32)), 256, 128),
    Case("c", "ER d=20 p=0.2, GP-RFF F=256, n=256", Family(nodes=20, graph=ER20, mechanism=Gp(features=256)), 256, 16,
         goal=5.0),
    Case("d", "ER d=100 2/node, linear, n=1000", Family(nodes=100, graph=Er(edges_per_node=2.0)), 1000, 16),
]
SIMD_CASES = ("a", "c")
DO_GOAL_US = 5.0
DO_FAMILY = Family(nodes=20, graph=ER20)
SMALL_COUNTS = (8, 256)
SMALL_GOAL = 1.5  # per-task time in calls of 8 over that in calls of 256, compiled family
ROW_COUNTS = (1, 16, 256)
ALL_CASES = ("a", "b", "c", "d", "e", "f", "g")


def engine_rate(case: Case, threads: int | None, seconds: float, repeats: int) -> float:
    """Engine tasks/s; each call samples the next ``engine_batch`` tasks of one stream."""
    spec = compile_family(case.family)  # parsed once, as a task stream keeps it
    next_start = iter(range(0, 1 << 62, case.engine_batch))

    def call() -> int:
        sample_tasks(spec, 0, next(next_start), case.engine_batch, case.n, 0, threads)
        return case.engine_batch

    return rate(call, seconds, repeats)


def reference_rate(case: Case, seconds: float, repeats: int) -> float:
    """Reference tasks/s; one task per call, a fresh seed each time."""
    seeds = iter(range(1 << 62))

    def call() -> int:
        sample_tasks_reference(case.family, next(seeds), 1, case.n)
        return 1

    return rate(call, seconds, repeats)


def measure_case(case: Case, seconds: float, repeats: int) -> dict:
    engine_1 = engine_rate(case, 1, seconds, repeats)
    result = {
        "key": case.key,
        "label": case.label,
        "family": case.family.to_dict(),
        "samples": case.n,
        "engine_1_thread_tasks_per_s": engine_1,
        "engine_all_cores_tasks_per_s": engine_rate(case, None, seconds, repeats),
        "reference_tasks_per_s": reference_rate(case, seconds, repeats),
    }
    result["per_core_ratio"] = engine_1 / result["reference_tasks_per_s"]
    result["goal_per_core_ratio"] = case.goal
    result["goal_met"] = None if case.goal is None else result["per_core_ratio"] >= case.goal
    return result


def measure_simd(case: Case, seconds: float, repeats: int) -> dict:
    """The engine on one thread, plain path against the detected SIMD level."""
    set_simd(False)
    try:
        plain = engine_rate(case, 1, seconds, repeats)
    finally:
        set_simd(True)
    fast = engine_rate(case, 1, seconds, repeats)
    return {"key": case.key, "label": case.label, "level": simd_level(), "plain_tasks_per_s": plain,
            "simd_tasks_per_s": fast, "speedup": fast / plain}


def measure_do(seconds: float, repeats: int) -> dict:
    """µs per one-row interventional sample from a fixed d=20 linear SCM."""
    engine_scm = sample_scm(DO_FAMILY, 0)
    rng = np.random.default_rng(0)
    reference_scm = sample_scm_reference(DO_FAMILY, rng)
    node, value = engine_scm.topological_order[5], 1.5
    ref_node = int(reference_scm.order[5])

    def engine_call() -> int:
        engine_scm.sample(1, do={node: value})
        return 1

    def reference_call() -> int:
        reference_scm.sample(1, rng, do={ref_node: value})
        return 1

    engine_us = 1e6 / rate(engine_call, seconds, repeats)
    reference_us = 1e6 / rate(reference_call, seconds, repeats)
    return {"label": "d=20 linear SCM, sample(1, do={i: v})", "engine_us_per_call": engine_us,
            "reference_us_per_call": reference_us, "ratio": reference_us / engine_us,
            "goal_us_per_call": DO_GOAL_US, "goal_met": engine_us < DO_GOAL_US}


def measure_small_calls(seconds: float, repeats: int) -> dict:
    """µs per task on one thread in calls of 8 and 256 tasks of case (a), and µs per call
    of one one-row task, for each way of giving the family."""
    case = CASES[0]
    forms = {"CompiledFamily": compile_family(case.family), "Family": case.family, "dict": case.family.to_dict()}
    results = {}
    for name, family in forms.items():
        per_task = {}
        for count in SMALL_COUNTS:
            starts = iter(range(0, 1 << 62, count))

            def call(count: int = count, family: object = family, starts: object = starts) -> int:
                sample_tasks(family, 0, next(starts), count, case.n, 0, 1)
                return count

            per_task[count] = 1e6 / rate(call, seconds, repeats)
        seeds = iter(range(1 << 62))

        def one_row(family: object = family, seeds: object = seeds) -> int:
            sample_tasks(family, 0, next(seeds), 1, 1, 0, 1)
            return 1

        small, large = (per_task[c] for c in SMALL_COUNTS)
        results[name] = {"us_per_task_8": small, "us_per_task_256": large, "ratio": small / large,
                         "us_per_call_one_row": 1e6 / rate(one_row, seconds, repeats)}
    results["goal_ratio"] = SMALL_GOAL
    results["goal_met"] = results["CompiledFamily"]["ratio"] <= SMALL_GOAL
    return results


def measure_rows(seconds: float, repeats: int) -> list[dict]:
    """Rows/s of ``Scm.sample(n)`` against the reference, from the SCM of (e)."""
    engine_scm = sample_scm(DO_FAMILY, 0)
    rng = np.random.default_rng(0)
    reference_scm = sample_scm_reference(DO_FAMILY, rng)
    out = []
    for n in ROW_COUNTS:
        def engine_call(n: int = n) -> int:
            engine_scm.sample(n)
            return n

        def reference_call(n: int = n) -> int:
            reference_scm.sample(n, rng)
            return n

        engine, reference = rate(engine_call, seconds, repeats), rate(reference_call, seconds, repeats)
        out.append({"n": n, "engine_rows_per_s": engine, "reference_rows_per_s": reference, "ratio": engine / reference})
    return out


def table(cases: list[dict], simd: list[dict], do: dict | None, small: dict | None = None,
          rows: list[dict] | None = None) -> str:
    """The results as Markdown."""
    lines = [
        "| case | engine 1 thread (tasks/s) | engine all cores (tasks/s) | numpy reference (tasks/s) "
        "| per-core ratio | goal |",
        "|---|---:|---:|---:|---:|---|",
    ] if cases else []
    for c in cases:
        goal = "" if c["goal_per_core_ratio"] is None else (
            f">= {c['goal_per_core_ratio']:g}x: {'met' if c['goal_met'] else 'NOT MET'}")
        lines.append(f"| ({c['key']}) {c['label']} | {c['engine_1_thread_tasks_per_s']:,.0f} "
                     f"| {c['engine_all_cores_tasks_per_s']:,.0f} | {c['reference_tasks_per_s']:,.1f} "
                     f"| {c['per_core_ratio']:.1f}x | {goal} |")
    if do is not None:
        lines += ["", "| case | engine (µs/call) | numpy reference (µs/call) | ratio | goal |",
                  "|---|---:|---:|---:|---|",
                  f"| (e) {do['label']} | {do['engine_us_per_call']:.2f} | {do['reference_us_per_call']:.1f} "
                  f"| {do['ratio']:.1f}x | < {DO_GOAL_US:g} µs: {'met' if do['goal_met'] else 'NOT MET'} |"]
    if small is not None:
        lines += ["", "| (f) family given as | µs/task, calls of 8 | µs/task, calls of 256 | ratio "
                  "| µs per call of one 1-row task |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {name} | {small[name]['us_per_task_8']:.2f} | {small[name]['us_per_task_256']:.2f} "
                  f"| {small[name]['ratio']:.2f} | {small[name]['us_per_call_one_row']:.1f} |"
                  for name in ("CompiledFamily", "Family", "dict")]
        lines.append(f"\nGoal (f): CompiledFamily ratio <= {SMALL_GOAL:g}: "
                     f"{'met' if small['goal_met'] else 'NOT MET'}")
    if rows:
        lines += ["", "| (g) Scm.sample(n) | engine (rows/s) | numpy reference (rows/s) | ratio |",
                  "|---|---:|---:|---:|"]
        lines += [f"| n = {r['n']} | {r['engine_rows_per_s']:,.0f} | {r['reference_rows_per_s']:,.0f} "
                  f"| {r['ratio']:.1f}x |" for r in rows]
    if simd:
        lines += ["", "| case | plain path (tasks/s) | SIMD level | SIMD path (tasks/s) | speed-up |",
                  "|---|---:|---|---:|---:|"]
        lines += [f"| ({s['key']}) {s['label']} | {s['plain_tasks_per_s']:,.0f} | {s['level']} "
                  f"| {s['simd_tasks_per_s']:,.0f} | {s['speedup']:.2f}x |" for s in simd]
    return "\n".join(lines)


def plot(cases: list[dict], simd: list[dict], do: dict | None, path: Path) -> None:
    """Grouped bars on a log scale: tasks/s for (a)-(d), calls/s for (e)."""
    plain = {s["key"]: s["plain_tasks_per_s"] for s in simd}
    groups = [(f"({c['key']})", c["engine_1_thread_tasks_per_s"], c["engine_all_cores_tasks_per_s"],
               plain.get(c["key"], np.nan), c["reference_tasks_per_s"]) for c in cases]
    if do is not None:
        calls = (1e6 / do["engine_us_per_call"], np.nan, np.nan, 1e6 / do["reference_us_per_call"])
        groups.append(("(e) calls/s", *calls))
    series = ["engine, 1 thread", "engine, all cores", "engine plain path, 1 thread", "numpy reference"]
    x = np.arange(len(groups))
    width = 0.2
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for s, name in enumerate(series):
        ax.bar(x + (s - 1.5) * width, [g[1 + s] for g in groups], width, label=name)
    ax.set_xticks(x, [g[0] for g in groups])
    ax.set_yscale("log")
    ax.set_ylabel("tasks (e: calls) per second, log scale")
    ax.set_title(f"SCM sampling: engine vs numpy reference ({simd_level()})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement (default 1.0)")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks per measurement; the median is kept")
    parser.add_argument("--cases", default=",".join(ALL_CASES), help="comma-separated subset of a,b,c,d,e,f,g")
    parser.add_argument("--out", type=Path, default=default_out("sampler.json"),
                        help="JSON path; the PNG goes next to it")
    args = parser.parse_args(argv)
    chosen = set(args.cases.split(","))
    unknown = chosen - set(ALL_CASES)
    if unknown:
        parser.error(f"--cases: unknown case(s) {sorted(unknown)}; allowed: {', '.join(ALL_CASES)}")
    if args.seconds <= 0 or args.repeats < 1:
        parser.error("--seconds must be > 0 and --repeats >= 1")

    info = machine_info()
    run = [c for c in CASES if c.key in chosen]
    cases = [measure_case(c, args.seconds, args.repeats) for c in run]
    simd = [measure_simd(c, args.seconds, args.repeats) for c in run if c.key in SIMD_CASES]
    do = measure_do(args.seconds, args.repeats) if "e" in chosen else None
    small = measure_small_calls(args.seconds, args.repeats) if "f" in chosen else None
    rows = measure_rows(args.seconds, args.repeats) if "g" in chosen else None

    print(f"{info['cpu']}, {info['usable_cores']} cores, SIMD {info['simd_level']}, BLAS threads "
          f"{info['blas_threads']}, load {info['load_average_1min_at_start']:.2f}\n")
    print(table(cases, simd, do, small, rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"seconds": args.seconds, "repeats": args.repeats, "reference_precision": "float32"}
    report = {"machine": info, "settings": settings, "cases": cases, "simd": simd, "intervention": do,
              "small_calls": small, "scm_rows": rows}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    png = args.out.with_suffix(".png")
    plot(cases, simd, do, png)
    print(f"\nwrote {args.out} and {png}")


if __name__ == "__main__":
    main()
