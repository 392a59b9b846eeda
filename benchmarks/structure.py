"""Score structure learners on the same held-out test tasks: trained models from their
checkpoints next to PC, GES and a random baseline.

    python benchmarks/structure.py --family cpu_small/er2_linear_d10 [--tasks 20] [--checkpoint PATH ...]
    python benchmarks/structure.py --suite full_audit --checkpoint AVICI.pt --checkpoint BCNP.pt

The test tasks are those the trainer's report scores (:mod:`causal_meta.evaluation`):
for each family (every family of ``--suite``, labelled ``SUITE/NAME``, or the one
``--family``), tasks drawn from ``derive_seed(seed, "test:LABEL")`` whose graphs differ
from the first 20,000 training graphs, standardised as models see them. The training
family, seed and row counts default to those of the first checkpoint's config (so that a
run's report and this benchmark describe the same tasks), else to ``--family`` itself,
seed 0 and the data module's defaults. Metrics are computed per task on its real
variables and averaged over the tasks where they are defined. The random baseline's
density is the training family's expected edge density over its first 2000 graphs.

Prints a Markdown table (one row per family and learner), writes JSON (settings, means,
standard errors, per-task values) to ``structure_<name>.json`` in a fresh directory under
``runs/benchmarks/`` (or ``--out``) and one plot PNG next to it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import fields
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from _common import default_out

from causal_meta import baselines
from causal_meta.data import StreamSpec
from causal_meta.evaluation import held_out_tasks, score_task
from causal_meta.families import load_family, load_suite
from causal_meta.models import registry
from causal_meta.models.learner import AmortizedLearner
from causal_meta.pretrained import restore_model
from causal_meta.scm import sample_graphs
from causal_meta.specs import Family
from causal_meta.train import checkpoint as ckpt

DENSITY_GRAPHS = 2000

# (summarize key, table header, higher is better)
COLUMNS = [
    ("expected_shd", "E-SHD", False),
    ("expected_edge_f1", "E-edge F1", True),
    ("auroc", "AUROC", True),
    ("auprc", "AUPRC", True),
    ("ece", "ECE", False),
    ("valid_dag_fraction", "valid DAG", True),
    ("edge_f1", "edge F1 @0.5", True),
    ("seconds", "s / task", False),
]


def family_density(family: Family, seed: int, count: int = DENSITY_GRAPHS) -> float:
    """Expected share of ordered pairs (i, j), i != j, with an edge i -> j in ``family``."""
    adjacency, n_nodes = sample_graphs(family, seed, 0, count)
    pairs = (n_nodes * (n_nodes - 1)).sum()
    return float(adjacency.sum() / pairs)


def load_test_tasks(family: Family, label: str, seed: int, count: int, n_obs: int, n_int: int,
                    train_family: Family) -> dict[str, np.ndarray]:
    """The held-out test tasks of ``family`` as numpy arrays: data, mask, adjacency, n_nodes."""
    tasks = held_out_tasks(family, label, "test", seed, count, n_obs, n_int, train_family)
    return {
        "data": tasks["data"].numpy(),
        "mask": tasks["intervened"].numpy().astype(np.uint8),
        "adjacency": tasks["adjacency"].numpy().astype(np.uint8),
        "n_nodes": tasks["n_nodes"].numpy(),
    }


def score(tasks: dict[str, np.ndarray], fitted: baselines.PosteriorBatch) -> dict[str, list[float]]:
    """Per-task metrics (:func:`causal_meta.metrics.summarize`) on each task's real variables."""
    per_task: dict[str, list[float]] = {"seconds": fitted.seconds.tolist()}
    for t, d in enumerate(tasks["n_nodes"]):
        samples = None if fitted.samples is None else fitted.samples[t, :, :d, :d]
        row = score_task(tasks["adjacency"][t, :d, :d], fitted.probs[t, :d, :d], samples)
        for key, value in row.items():
            per_task.setdefault(key, []).append(value)
    return per_task


def mean_and_sem(values: list[float]) -> tuple[float, float]:
    """Mean and standard error over the tasks where a metric is defined (NaN if none)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return math.nan, math.nan
    sem = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else math.nan
    return float(arr.mean()), sem


def markdown_table(results: dict[str, dict[str, dict]]) -> str:
    """Rows: (family, learner); columns: :data:`COLUMNS`, as mean ± standard error."""
    header = "| family | learner | " + " | ".join(h for _, h, _ in COLUMNS) + " |"
    rule = "|---|---|" + "---:|" * len(COLUMNS)
    rows = []
    for family, learners in results.items():
        for name, result in learners.items():
            cells = []
            for key, _, _ in COLUMNS:
                mean, sem = result["mean"].get(key, math.nan), result["sem"].get(key, math.nan)
                digits = 2 if key in ("expected_shd", "shd") else 3
                if math.isnan(mean):
                    cells.append("n/a")  # defined on no task, e.g. samples from a learner without them
                else:
                    cells.append(f"{mean:.{digits}f}" + ("" if math.isnan(sem) else f" ± {sem:.{digits}f}"))
            rows.append(f"| {family} | {name} | " + " | ".join(cells) + " |")
    return "\n".join([header, rule, *rows])


def plot(results: dict[str, dict[str, dict]], title: str, path: Path) -> None:
    """One panel per metric (seconds left out), the families along x, one bar per learner."""
    shown = [c for c in COLUMNS if c[0] != "seconds"]
    families = list(results)
    learners = list(dict.fromkeys(name for r in results.values() for name in r))
    cols = 3
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(min(24, max(12, 0.45 * len(families) * cols)), 3.2 * rows),
                             squeeze=False)
    width = 0.8 / max(1, len(learners))
    x = np.arange(len(families))
    for ax, (key, header, higher) in zip(axes.flat, shown):
        for k, name in enumerate(learners):
            means = [results[f].get(name, {}).get("mean", {}).get(key, math.nan) for f in families]
            sems = [results[f].get(name, {}).get("sem", {}).get(key, math.nan) for f in families]
            ax.bar(x + k * width, means, width, yerr=np.nan_to_num(sems), capsize=1.5, label=name)
        ax.set_title(f"{header} ({'higher' if higher else 'lower'} is better)", fontsize=9)
        ax.set_xticks(x + width * (len(learners) - 1) / 2, [f.rpartition("/")[2] for f in families], rotation=60,
                      ha="right", fontsize=7)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _learned(paths: list[Path], n_samples: int) -> tuple[dict[str, tuple[baselines.StructureLearner, dict]], dict]:
    """Each checkpoint (read once) as a learner with its JSON settings, named by its model
    (and the file's stem when two checkpoints hold the same model); and the config the
    first one was trained with ({} without checkpoints)."""
    out: dict[str, tuple[baselines.StructureLearner, dict]] = {}
    configs = []
    for path in paths:
        saved = ckpt.load_checkpoint(path, expected_model=tuple(registry.MODELS))
        learner = AmortizedLearner(restore_model(saved, path).eval(), n_samples=n_samples)
        name = learner.name if learner.name not in out else f"{learner.name} ({path.stem})"
        out[name] = (learner, {"checkpoint": str(path)})
        configs.append(ckpt.saved_section(saved, "config", path, settings=True))
    return out, (configs[0] if configs else {})


def run(args: argparse.Namespace) -> dict:
    """Fit every learner on every family's test tasks; return the JSON-ready results."""
    learned, trained_on = _learned(args.checkpoint, args.samples)
    data = trained_on.get("data", {})
    train_ref = args.train_family or data.get("family") or args.family or args.suite
    seed = args.seed if args.seed is not None else int(data.get("seed", 0))
    n_obs = args.n_obs if args.n_obs is not None else int(
        trained_on.get("evaluation", {}).get("n_obs") or data.get("n_obs") or _defaults()["n_obs"])
    n_int = args.n_int if args.n_int is not None else int(data.get("n_int", _defaults()["n_int"]))
    train_family = load_family(train_ref)
    families = ({f"{args.suite}/{name}": family for name, family in load_suite(args.suite).items()} if args.suite
                else {args.family: load_family(args.family)})
    density = family_density(train_family, seed)
    settings = {"pc": {"alpha": args.alpha}, "ges": {}, "random": {"density": density}}
    learners = {name: (baselines.get_learner(name, n_samples=args.samples, **settings[name]), settings[name])
                for name in args.learners}
    learners.update(learned)
    results: dict[str, dict[str, dict]] = {}
    for label, family in families.items():
        tasks = load_test_tasks(family, label, seed, args.tasks, n_obs, n_int, train_family)
        results[label] = {}
        for name, (learner, learner_settings) in learners.items():
            print(f"{label}: fitting {name} on {args.tasks} tasks ...", file=sys.stderr, flush=True)
            fitted = baselines.fit_tasks(learner, tasks["data"], tasks["mask"], tasks["n_nodes"], seed=seed)
            per_task = score(tasks, fitted)
            stats = {key: mean_and_sem(values) for key, values in per_task.items()}
            results[label][name] = {
                "settings": {"n_samples": args.samples, **learner_settings},
                "mean": {key: m for key, (m, _) in stats.items()},
                "sem": {key: s for key, (_, s) in stats.items()},
                "per_task": per_task,
            }
    return {
        "suite": args.suite,
        "family": args.family,
        "train_family": train_ref,
        "seed": seed,
        "tasks": args.tasks,
        "n_obs": n_obs,
        "n_int": n_int,
        "density": density,
        "threshold": 0.5,
        "results": results,
    }


def _nan_to_null(value: object) -> object:
    """NaN (an undefined metric) as JSON null, since NaN is not valid JSON."""
    if isinstance(value, dict):
        return {k: _nan_to_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_null(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _defaults() -> dict[str, int]:
    """The data module's default row counts, so that baselines see what models see."""
    return {f.name: f.default for f in fields(StreamSpec) if f.name in ("n_obs", "n_int")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; ``--help`` lists them."""
    parser = argparse.ArgumentParser(
        prog="python benchmarks/structure.py",
        description="Score trained models (--checkpoint), PC, GES and a random baseline on the same held-out "
                    "test tasks of a family or of every family of a suite.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--family", default=None,
                       help="one family: NAME (a collection's train family), NAME/FAMILY or a YAML path "
                            "(default: cpu_small/er2_linear_d10 unless --suite is given)")
    where.add_argument("--suite", default=None, help="every family of this collection, e.g. full_audit")
    parser.add_argument("--checkpoint", type=Path, action="append", default=[],
                        help="a trained model's checkpoint (AVICI or BCNP, recognised from the file); repeat for "
                             "several. The first one's config sets the defaults of the next four options")
    parser.add_argument("--train-family", default=None,
                        help="family whose first 20,000 training graphs the test graphs avoid (default: the "
                             "checkpoint's data.family, else --family or --suite)")
    parser.add_argument("--seed", type=int, default=None, help="training data seed (default: the checkpoint's, else 0)")
    parser.add_argument("--n-obs", type=int, default=None,
                        help="observational rows per task (default: the checkpoint's evaluation rows, else the "
                             "data module's)")
    parser.add_argument("--n-int", type=int, default=None, help="interventional rows per task")
    parser.add_argument("--tasks", type=int, default=20, help="test tasks per family (default 20)")
    parser.add_argument("--samples", type=int, default=100, help="graph samples per task (default 100)")
    parser.add_argument("--alpha", type=float, default=0.05, help="PC's significance level (default 0.05)")
    parser.add_argument("--learners", nargs="*", default=["pc", "ges", "random"], choices=["pc", "ges", "random"],
                        help="baselines to score (default: pc ges random)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON path (default: runs/benchmarks/<time>/structure_<name>.json); the PNG "
                             "goes next to it")
    args = parser.parse_args(argv)
    if args.tasks < 1:
        parser.error(f"--tasks must be >= 1; got {args.tasks}")
    if args.family is None and args.suite is None:
        args.family = "cpu_small/er2_linear_d10"
    if args.out is None:
        ref = args.suite or args.family
        stem = Path(ref).stem if ref.endswith((".yaml", ".yml")) else ref.replace("/", "_")
        args.out = default_out(f"structure_{stem}.json")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run, print the table, write JSON and PNG."""
    args = parse_args(argv)
    report = run(args)
    title = (f"{args.suite or args.family}: {args.tasks} test tasks per family, n_obs = {report['n_obs']}, "
             f"n_int = {report['n_int']} (random density {report['density']:.3f})")
    print(f"### {title}\n\n{markdown_table(report['results'])}\n")
    print("Means ± standard errors over tasks. Point metrics threshold P(edge) > 0.5, so the "
          "undirected edges of PC and GES (0.5 each way) are not predicted there; the samples orient them.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_nan_to_null(report), indent=2, allow_nan=False) + "\n")
    plot(report["results"], title, args.out.with_suffix(".png"))
    print(f"\nwrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
