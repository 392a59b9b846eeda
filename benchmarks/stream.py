"""How fast the training stream delivers tasks into torch tensors, against the engine alone.

    python benchmarks/stream.py [--family train_competence] [--batch-size 8] [--n-obs 256]
                                [--steps 200] [--workers 0,2] [--out PATH]

Three numbers per configuration, in tasks/s: the engine alone (``sample_tasks`` into
numpy), the stream in the main process (``TaskStream.batch``: engine + standardisation +
torch conversion), and a DataLoader with K worker processes consumed as fast as
possible (the ceiling a training loop can draw from). A model step must take longer
than ``batch_size / loader rate`` for the loader never to starve it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _common import default_out, machine_info, rate
from causal_meta.data import StreamSpec, TaskStream, make_loader
from causal_meta.families import load_family
from causal_meta.scm import sample_tasks


def loader_rate(spec: StreamSpec, workers: int, steps: int) -> float:
    """Tasks/s drawn from a DataLoader after its workers have started (first batch excluded)."""
    it = iter(make_loader(spec, workers=workers))
    next(it)
    start = time.perf_counter()
    for _ in range(steps):
        next(it)
    return steps * spec.batch_size / (time.perf_counter() - start)


def run(args: argparse.Namespace) -> dict:
    """Measure every configuration; returns the JSON document."""
    family = load_family(args.family)
    rows = []
    for workers in args.workers:
        spec = StreamSpec(family, batch_size=args.batch_size, n_obs=args.n_obs,
                          engine_threads=1 if workers else None)
        counter = iter(range(10**9))
        engine = rate(lambda: sample_tasks(family, 0, next(counter) * spec.batch_size, spec.batch_size,
                                           spec.n_obs, threads=spec.engine_threads) and spec.batch_size,
                      args.seconds, 3)
        stream = TaskStream(spec)
        steps = iter(range(10**9))
        in_process = rate(lambda: stream.batch(next(steps)) and spec.batch_size, args.seconds, 3)
        rows.append({"workers": workers, "engine_threads": spec.engine_threads,
                     "engine_tasks_per_s": engine, "stream_in_process_tasks_per_s": in_process,
                     "loader_tasks_per_s": loader_rate(spec, workers, args.steps)})
    return {"family": args.family, "batch_size": args.batch_size, "n_obs": args.n_obs,
            "machine": machine_info(), "results": rows}


def table(doc: dict) -> str:
    """Markdown table of the measurements."""
    lines = [f"family {doc['family']}, batch {doc['batch_size']}, n_obs {doc['n_obs']}", "",
             "| workers | engine threads | engine alone | stream (main process) | DataLoader |",
             "|---:|---:|---:|---:|---:|"]
    for r in doc["results"]:
        lines.append(f"| {r['workers']} | {r['engine_threads'] or 'all'} | {r['engine_tasks_per_s']:,.0f} "
                     f"| {r['stream_in_process_tasks_per_s']:,.0f} | {r['loader_tasks_per_s']:,.0f} |")
    return "\n".join(lines) + "\n\n(tasks/s)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", default="train_competence", help="family reference (default train_competence)")
    parser.add_argument("--batch-size", type=int, default=8, help="tasks per step (default 8)")
    parser.add_argument("--n-obs", type=int, default=256, help="rows per task (default 256)")
    parser.add_argument("--steps", type=int, default=100, help="batches drawn from each DataLoader (default 100)")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per in-process measurement (default 2)")
    parser.add_argument("--workers", type=lambda s: [int(w) for w in s.split(",")], default=[0, 2],
                        help="comma-separated DataLoader worker counts (default 0,2)")
    parser.add_argument("--out", type=Path, default=default_out("stream.json"), help="JSON output path")
    args = parser.parse_args(argv)
    doc = run(args)
    print(table(doc))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
