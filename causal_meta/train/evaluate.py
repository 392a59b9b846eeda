"""Scoring a structure learner on fixed tasks, and the report written after training:
``metrics.json``, ``report.md`` (a Markdown table) and plots next to them."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from causal_meta import metrics  # noqa: E402
from causal_meta.evaluation import score_task  # noqa: E402
from causal_meta.train import distributed  # noqa: E402

# Every metric `score_tasks` reports (those of `metrics.summarize` with posterior samples).
METRIC_NAMES = tuple(metrics.summarize(np.zeros((2, 2)), np.full((2, 2), 0.5), np.zeros((1, 2, 2))))

# Metrics shown in the Markdown table and the bar plot, in order.
REPORT_METRICS = ("auroc", "auprc", "edge_f1", "expected_edge_f1", "expected_shd", "sid", "orientation_accuracy")


@torch.no_grad()
def predict(model: torch.nn.Module, tasks: dict[str, torch.Tensor], t: int, device: torch.device,
            amp: contextlib.AbstractContextManager, n_samples: int = 0,
            generator: torch.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Edge probabilities (d, d) of task ``t`` on its real variables, and ``n_samples``
    graphs (S, d, d) from the model's own posterior sampler."""
    one = {k: v[t:t + 1].to(device) for k, v in tasks.items()}
    with amp:
        probs, samples = model.posterior(one["data"], one["intervened"], one["node_mask"], n_samples, generator)
    d = int(one["n_nodes"][0])
    return probs.float()[0, :d, :d].cpu().numpy(), samples[0, :, :d, :d].cpu().numpy()


@torch.no_grad()
def score_tasks(model: torch.nn.Module, tasks: dict[str, torch.Tensor], n_samples: int, seed: int,
                ctx: distributed.Dist, amp: contextlib.AbstractContextManager) -> dict[str, float]:
    """Mean metrics over ``tasks`` (each rank scores every world_size-th task; the lists are
    gathered so that every rank returns the same means). Posterior samples are drawn with a
    generator seeded per task, so scores do not depend on the rank split."""
    model.eval()
    count = tasks["data"].shape[0]
    rows: list[dict[str, float]] = []
    for t in range(ctx.rank, count, ctx.world_size):
        generator = torch.Generator(device=ctx.device).manual_seed(seed * 1_000_003 + int(tasks["task_index"][t]))
        probs, samples = predict(model, tasks, t, ctx.device, amp, n_samples, generator)
        d = probs.shape[0]
        rows.append(score_task(tasks["adjacency"][t, :d, :d].numpy(), probs, samples))
    rows = distributed.gather_lists(rows, ctx)  # one collective, whatever each rank scored
    return {k: _nanmean([r[k] for r in rows]) for k in METRIC_NAMES}


def _nanmean(values: list[float]) -> float:
    """Mean over the tasks where a metric is defined; NaN (quietly) when it never is."""
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def write_report(results: dict[str, dict[str, float]], out_dir: Path, title: str) -> None:
    """``metrics.json``, ``report.md`` and ``metrics.png`` (one bar group per metric)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(results, indent=2, allow_nan=True))
    header = "| family | " + " | ".join(REPORT_METRICS) + " |"
    lines = [f"# {title}", "", header, "|---|" + "---:|" * len(REPORT_METRICS)]
    for family, r in results.items():
        lines.append(f"| {family} | " + " | ".join(f"{r.get(m, float('nan')):.3f}" for m in REPORT_METRICS) + " |")
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")
    shown = [m for m in REPORT_METRICS if m not in ("expected_shd", "sid")]  # keep one [0, 1] scale
    fig, ax = plt.subplots(figsize=(1.6 * len(shown) + 2, 3.5))
    width = 0.8 / max(1, len(results))
    for i, (family, r) in enumerate(results.items()):
        ax.bar(np.arange(len(shown)) + i * width, [r.get(m, np.nan) for m in shown], width, label=family)
    ax.set_xticks(np.arange(len(shown)) + 0.4 - width / 2, shown, rotation=20)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out_dir / "metrics.png", dpi=120)
    plt.close(fig)


def plot_adjacencies(model: torch.nn.Module, tasks: dict[str, torch.Tensor], count: int, device: torch.device,
                     amp: contextlib.AbstractContextManager, path: Path) -> None:
    """Predicted edge probabilities beside the true adjacency for the first ``count`` tasks."""
    count = min(count, tasks["data"].shape[0])
    fig, axes = plt.subplots(count, 2, figsize=(6, 3 * count), squeeze=False)
    for t in range(count):
        probs = predict(model, tasks, t, device, amp)[0]
        d = probs.shape[0]
        for ax, matrix, name in ((axes[t, 0], probs, "predicted P(i -> j)"),
                                 (axes[t, 1], tasks["adjacency"][t, :d, :d].numpy(), "true A[i, j]")):
            ax.imshow(matrix, vmin=0, vmax=1, cmap="Greys")
            ax.set_title(f"task {int(tasks['task_index'][t])}: {name}", fontsize=9)
            ax.set_xlabel("j (effect)")
            ax.set_ylabel("i (cause)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
