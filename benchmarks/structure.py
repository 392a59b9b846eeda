"""Score structure learners on the same held-out test tasks: trained models from their
checkpoints next to PC, GES, a random baseline and the zero-training score baselines
(precision, correlation).

    python benchmarks/structure.py --family cpu_small/er2_linear_d10 [--tasks 20] [--checkpoint PATH ...]
    python benchmarks/structure.py --suite full_audit --checkpoint AVICI.pt --checkpoint BCNP.pt
    python benchmarks/structure.py --suite semi_real [--tasks 5] [--n-obs 256]

The test tasks are those the trainer's report scores (:mod:`causal_meta.evaluation`):
for each family (every family of ``--suite``, labelled ``SUITE/NAME``, or the one
``--family``), tasks drawn from ``derive_seed(seed, "test:LABEL")`` whose graphs differ
from the first 20,000 training graphs, standardised as models see them. The training
family, seed and row counts default to those of the first checkpoint's config (so that a
run's report and this benchmark describe the same tasks), else to ``--family`` itself,
seed 0 and the data module's defaults. Metrics are computed per task on its real
variables and averaged over the tasks where they are defined. The random baseline's
density is the training family's expected edge density over its first 2000 graphs.

``--suite semi_real`` (:mod:`causal_meta.semi_real`, the ``semi_real`` extra; nothing is
downloaded) scores the four Gaussian Bayesian networks pgmpy ships (ecoli70, magic-niab,
magic-irri, arth150: 44 to 107 variables), each sampled with its own parameters into
``--tasks`` tasks (default 5 seeds) of ``--n-obs`` observational rows (default as above,
256 without a checkpoint), and the Sachs flow-cytometry data (one task, all 7,466 rows,
against its 17-edge consensus DAG). Those tasks are observational, so ``--n-int`` is not
allowed with it; the training family (for the random baseline's density) defaults to the
checkpoint's, else cpu_small/er2_linear_d10. GES is not among its default learners
(:data:`SEMI_REAL_BASELINES`); with the defaults the suite takes about 1.5 minutes on the
2-core development machine, nearly all of it PC (one task: 1 s on Sachs and magic-niab,
1.3 s on magic-irri, 2 s on ecoli70, 10 s on arth150; precision and correlation take
milliseconds).

The precision and correlation baselines give symmetric scores, not probabilities
(:mod:`causal_meta.baselines`): they get AUROC, AUPRC and the best-threshold edge F1 only,
and every other column reads n/a for them (threshold 0.5, ECE and the posterior-sample
metrics do not apply). Best-threshold F1 is optimistic for every learner: the threshold
is chosen with the truth in hand.

Prints a Markdown table (one row per family and learner), writes JSON (settings, means,
standard errors, per-task values) to ``structure_<name>.json`` in a fresh directory under
``runs/benchmarks/`` (or ``--out``) and one plot PNG next to it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import fields
from functools import partial
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from _common import default_out

from causal_meta import baselines, semi_real
from causal_meta.data import StreamSpec
from causal_meta.evaluation import RANKING_METRICS, held_out_tasks, score_task
from causal_meta.families import load_family, load_suite
from causal_meta.models import registry
from causal_meta.models.learner import AmortizedLearner
from causal_meta.pretrained import restore_model
from causal_meta.scm import sample_graphs
from causal_meta.specs import Family
from causal_meta.train import checkpoint as ckpt

DENSITY_GRAPHS = 2000
DEFAULT_FAMILY = "cpu_small/er2_linear_d10"
DEFAULT_TASKS = 20
SEMI_REAL_TASKS = 5
"""Seeds per semi-real network: with 256 rows, enough for a standard error at a modest cost."""

BASELINES = ("pc", "ges", "random", "precision", "correlation")
SEMI_REAL_BASELINES = ("pc", "random", "precision", "correlation")
"""GES is left out of the semi-real default: causal-learn's GES did not finish one arth150
task (107 variables, 256 rows) in 7 minutes on the 2-core development machine, where PC
takes 10 s; ``--learners`` adds it back."""

# (summarize key, table header, higher is better)
COLUMNS = [
    ("expected_shd", "E-SHD", False),
    ("expected_edge_f1", "E-edge F1", True),
    ("auroc", "AUROC", True),
    ("auprc", "AUPRC", True),
    ("ece", "ECE", False),
    ("valid_dag_fraction", "valid DAG", True),
    ("best_edge_f1", "best F1", True),
    ("edge_f1", "edge F1 @0.5", True),
    ("seconds", "s / task", False),
]

SCORES_NOTE = ("precision and correlation give symmetric scores, not probabilities: only AUROC, AUPRC and "
               "best F1 (the F1 at the best threshold) apply to them, the other columns read n/a.")


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


def load_semi_real_tasks(name: str, rows: int, count: int, seed: int) -> dict[str, np.ndarray]:
    """The tasks of one semi-real data set (:func:`causal_meta.semi_real.tasks`), keyed as
    :func:`load_test_tasks` keys its own."""
    return semi_real.tasks(name, rows, count, seed)._asdict()


def score(tasks: dict[str, np.ndarray], fitted: baselines.PosteriorBatch,
          scores_only: bool = False) -> dict[str, list[float]]:
    """Per-task metrics (:func:`causal_meta.evaluation.score_task`) on each task's real
    variables; only the ranking metrics where ``fitted`` holds scores, not probabilities."""
    per_task: dict[str, list[float]] = {"seconds": fitted.seconds.tolist()}
    for t, d in enumerate(tasks["n_nodes"]):
        samples = None if fitted.samples is None else fitted.samples[t, :, :d, :d]
        row = score_task(tasks["adjacency"][t, :d, :d], fitted.probs[t, :d, :d], samples, scores_only=scores_only)
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
    """Rows: (family, learner); columns: :data:`COLUMNS`, as mean ± standard error; n/a
    where a metric is defined on no task or does not apply (:data:`SCORES_NOTE`)."""
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
                    cells.append("n/a")  # defined on no task, or not computed: samples or probabilities missing
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


def _baseline(name: str, args: argparse.Namespace, density: float) -> tuple[baselines.StructureLearner, dict]:
    """The baseline ``name`` and the settings the JSON records for it."""
    if name in ("precision", "correlation"):
        return baselines.get_learner(name), {"scores_only": True}
    settings = {"pc": {"alpha": args.alpha}, "ges": {}, "random": {"density": density}}[name]
    return baselines.get_learner(name, n_samples=args.samples, **settings), {"n_samples": args.samples, **settings}


def _task_sets(args: argparse.Namespace, seed: int, n_obs: int, n_int: int,
               train_family: Family) -> dict[str, Callable[[], dict[str, np.ndarray]]]:
    """Each family's (or semi-real data set's) label and how to make its test tasks."""
    if args.suite == semi_real.SUITE:
        return {f"{args.suite}/{name}": partial(load_semi_real_tasks, name, n_obs, args.tasks, seed)
                for name in semi_real.DATASETS}
    families = ({f"{args.suite}/{name}": family for name, family in load_suite(args.suite).items()} if args.suite
                else {args.family: load_family(args.family)})
    return {label: partial(load_test_tasks, family, label, seed, args.tasks, n_obs, n_int, train_family)
            for label, family in families.items()}


def run(args: argparse.Namespace) -> dict:
    """Fit every learner on every family's test tasks; return the JSON-ready results."""
    learned, trained_on = _learned(args.checkpoint, args.samples)
    data = trained_on.get("data", {})
    on_semi_real = args.suite == semi_real.SUITE
    train_ref = (args.train_family or data.get("family") or args.family
                 or (DEFAULT_FAMILY if on_semi_real else args.suite))
    seed = args.seed if args.seed is not None else int(data.get("seed", 0))
    n_obs = args.n_obs if args.n_obs is not None else int(
        trained_on.get("evaluation", {}).get("n_obs") or data.get("n_obs") or _defaults()["n_obs"])
    n_int = 0 if on_semi_real else (
        args.n_int if args.n_int is not None else int(data.get("n_int", _defaults()["n_int"])))
    train_family = load_family(train_ref)
    density = family_density(train_family, seed)
    learners = {name: _baseline(name, args, density) for name in args.learners}
    learners.update({name: (learner, {"n_samples": args.samples, **settings})
                     for name, (learner, settings) in learned.items()})
    results: dict[str, dict[str, dict]] = {}
    for label, make_tasks in _task_sets(args, seed, n_obs, n_int, train_family).items():
        tasks = make_tasks()
        results[label] = {}
        for name, (learner, learner_settings) in learners.items():
            print(f"{label}: fitting {name} on {len(tasks['data'])} tasks ...", file=sys.stderr, flush=True)
            fitted = baselines.fit_tasks(learner, tasks["data"], tasks["mask"], tasks["n_nodes"], seed=seed)
            per_task = score(tasks, fitted, scores_only=isinstance(learner, baselines.ScoreBaseline))
            stats = {key: mean_and_sem(values) for key, values in per_task.items()}
            results[label][name] = {
                "settings": learner_settings,
                "tasks": len(tasks["data"]),
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
        "ranking_metrics": list(RANKING_METRICS),
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
        description="Score trained models (--checkpoint), PC, GES, a random baseline and the precision and "
                    "correlation score baselines on the same held-out test tasks of a family, of every family of a "
                    f"suite, or of the semi-real data sets (--suite {semi_real.SUITE}).",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--family", default=None,
                       help="one family: NAME (a collection's train family), NAME/FAMILY or a YAML path "
                            "(default: cpu_small/er2_linear_d10 unless --suite is given)")
    where.add_argument("--suite", default=None,
                       help=f"every family of this collection, e.g. full_audit; or {semi_real.SUITE}: the Gaussian "
                            "networks pgmpy ships and the Sachs data (the semi_real extra; offline)")
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
    parser.add_argument("--n-int", type=int, default=None,
                        help=f"interventional rows per task (not with --suite {semi_real.SUITE}, which is "
                             "observational)")
    parser.add_argument("--tasks", type=int, default=None,
                        help=f"test tasks per family (default {DEFAULT_TASKS}; with --suite {semi_real.SUITE}: "
                             f"seeds per network, default {SEMI_REAL_TASKS}, Sachs being one fixed task)")
    parser.add_argument("--samples", type=int, default=100, help="graph samples per task (default 100)")
    parser.add_argument("--alpha", type=float, default=0.05, help="PC's significance level (default 0.05)")
    parser.add_argument("--learners", nargs="*", default=None, choices=BASELINES,
                        help=f"baselines to score (default: {' '.join(BASELINES)}; with --suite {semi_real.SUITE} "
                             f"{' '.join(SEMI_REAL_BASELINES)}, GES being too slow there); precision and correlation "
                             "give scores, not probabilities, and get only the ranking metrics")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON path (default: runs/benchmarks/<time>/structure_<name>.json); the PNG "
                             "goes next to it")
    args = parser.parse_args(argv)
    if args.tasks is None:
        args.tasks = SEMI_REAL_TASKS if args.suite == semi_real.SUITE else DEFAULT_TASKS
    if args.learners is None:
        args.learners = list(SEMI_REAL_BASELINES if args.suite == semi_real.SUITE else BASELINES)
    if args.tasks < 1:
        parser.error(f"--tasks must be >= 1; got {args.tasks}")
    if args.suite == semi_real.SUITE and args.n_int:
        parser.error(f"--n-int must be 0 with --suite {semi_real.SUITE}: its tasks are observational; got {args.n_int}")
    if args.family is None and args.suite is None:
        args.family = DEFAULT_FAMILY
    if args.out is None:
        ref = args.suite or args.family
        stem = Path(ref).stem if ref.endswith((".yaml", ".yml")) else ref.replace("/", "_")
        args.out = default_out(f"structure_{stem}.json")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run, print the table, write JSON and PNG."""
    args = parse_args(argv)
    report = run(args)
    count = (f"{args.tasks} seeds per network (Sachs: its one data set)" if args.suite == semi_real.SUITE
             else f"{args.tasks} test tasks per family")
    title = (f"{args.suite or args.family}: {count}, n_obs = {report['n_obs']}, "
             f"n_int = {report['n_int']} (random density {report['density']:.3f})")
    print(f"### {title}\n\n{markdown_table(report['results'])}\n")
    print("Means ± standard errors over tasks. Point metrics threshold P(edge) > 0.5, so the "
          "undirected edges of PC and GES (0.5 each way) are not predicted there; the samples orient them. "
          + SCORES_NOTE)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_nan_to_null(report), indent=2, allow_nan=False) + "\n")
    plot(report["results"], title, args.out.with_suffix(".png"))
    print(f"\nwrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
