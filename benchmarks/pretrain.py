"""Throughput of the pre-training loop for the `avici` architecture on this machine.

    python benchmarks/pretrain.py [--preset avici] [--steps 6] [--out PATH]

For fp32 and bf16 autocast: steps/s and tasks/s of the real trainer
(`causal_meta.train.loop.Trainer`, validation and checkpoints pushed past the end), the
data-wait fraction it logs, and the loop's overhead: the share of a step spent outside
forward and backward, from the same batches timed through forward + backward alone.
Goals (issue): data wait < 5% of step time, overhead < 10%.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from _common import RESULTS, machine_info
from causal_meta import config
from causal_meta.data import StreamSpec, TaskStream
from causal_meta.families import load_family
from causal_meta.train import loop
from causal_meta.train.config import PretrainConfig


def trainer_run(cfg: PretrainConfig, run_dir: Path) -> tuple[float, float]:
    """(median seconds per step, median data-wait fraction) from the trainer's own
    per-step TensorBoard scalars (the first step, which warms up, is dropped)."""
    trainer = loop.Trainer(cfg, run_dir)
    try:
        trainer.train()
    finally:
        trainer.close()
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    rates = [e.value for e in events.Scalars("charts/steps_per_s")][1:]
    waits = [e.value for e in events.Scalars("charts/data_wait_fraction")][1:]
    return 1 / statistics.median(rates), statistics.median(waits)


def forward_backward(cfg: PretrainConfig, steps: int) -> float:
    """Seconds per forward + backward on the stream's batches 1..steps, nothing else."""
    torch.manual_seed(cfg.seed)
    model = loop.build_model(cfg.model)
    d = cfg.data
    stream = TaskStream(StreamSpec(load_family(d.family), seed=d.seed, batch_size=d.batch_size, n_obs=d.n_obs))
    batches = [stream.batch(s) for s in range(1, steps + 1)]
    total = 0.0
    for batch in batches:
        start = time.perf_counter()
        with loop.autocast(cfg, torch.device("cpu")):
            loss, _, _ = loop.forward_loss(model, batch, 0.0, cfg.model.power_iterations)
        loss.backward()
        total += time.perf_counter() - start
        model.zero_grad(set_to_none=True)
    return total / steps


def measure(preset: str, amp: bool, steps: int) -> dict:
    overrides = [f"trainer.steps={steps + 1}", "trainer.log_every=1", "trainer.val_every=1000000", "trainer.val_tasks=1",
                 "trainer.checkpoint_every=1000000", "trainer.progress=false", f"trainer.amp={str(amp).lower()}",
                 "trainer.amp_dtype=bf16"]
    cfg = config.load(PretrainConfig, preset, overrides, config_package="agents.configs")
    with tempfile.TemporaryDirectory() as tmp:
        step_s, data_wait = trainer_run(cfg, Path(tmp))
    fb = forward_backward(cfg, steps)
    return {"precision": "bf16 autocast" if amp else "fp32", "seconds_per_step": step_s,
            "steps_per_s": 1 / step_s, "tasks_per_s": cfg.data.batch_size / step_s,
            "data_wait_fraction": data_wait, "forward_backward_s": fb,
            "loop_overhead_fraction": max(0.0, 1 - fb / step_s)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="avici", help="architecture preset (default avici)")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per precision (default 6)")
    parser.add_argument("--out", type=Path, default=RESULTS / "pretrain.json", help="JSON output path")
    args = parser.parse_args(argv)
    rows = [measure(args.preset, amp, args.steps) for amp in (False, True)]
    print(f"preset {args.preset}, {torch.get_num_threads()} torch threads\n")
    print("| precision | s/step | steps/s | tasks/s | data wait | forward+backward s | loop overhead |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['precision']} | {r['seconds_per_step']:.3f} | {r['steps_per_s']:.3f} | {r['tasks_per_s']:.2f} "
              f"| {r['data_wait_fraction']:.1%} | {r['forward_backward_s']:.3f} | {r['loop_overhead_fraction']:.1%} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"preset": args.preset, "machine": machine_info(), "results": rows}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
