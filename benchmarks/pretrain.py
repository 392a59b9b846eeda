"""Throughput of the pre-training loop on this machine, for one or several presets.

    python benchmarks/pretrain.py [--preset avici ...] [--steps 6] [--out PATH]
    python benchmarks/pretrain.py --preset cpu_small --preset bcnp_cpu_small

The second line compares AVICI and BCNP at equal width (d_model 64, 4 heads of 16, FFN
256) and depth (6 attention blocks each: AVICI's 3 pairs over samples and variables;
BCNP's 2 encoder blocks, then 2 in each decoder stack) on the same data.

For each preset, in fp32 and bf16 autocast: steps/s and tasks/s of the real trainer
(`causal_meta.train.loop.Trainer`, validation and checkpoints pushed past the end), and
the fractions of step time it logs per step: waiting for data, and forward + backward.
The loop's overhead is the rest: optimiser step, clipping, scheduler, logging.
Goals (issue): data wait < 5% of step time, overhead < 10%.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from _common import default_out, machine_info
from causal_meta import config
from causal_meta.train import loop
from causal_meta.train.config import PretrainConfig


def trainer_run(cfg: PretrainConfig, run_dir: Path) -> dict[str, float]:
    """Medians of the trainer's own per-step TensorBoard scalars (the first step, which
    warms up, is dropped)."""
    trainer = loop.Trainer(cfg, run_dir)
    try:
        trainer.train()
    finally:
        trainer.close()
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()

    def median(tag: str) -> float:
        return statistics.median(e.value for e in events.Scalars(tag)[1:])

    return {"steps_per_s": median("charts/steps_per_s"), "data_wait": median("charts/data_wait_fraction"),
            "forward_backward": median("charts/forward_backward_fraction")}


def measure(preset: str, amp: bool, steps: int) -> dict:
    overrides = [f"trainer.steps={steps + 1}", "trainer.log_every=1", "trainer.val_every=1000000", "trainer.val_tasks=1",
                 "trainer.checkpoint_every=1000000", "trainer.progress=false", f"trainer.amp={str(amp).lower()}",
                 "trainer.amp_dtype=bf16"]
    cfg = config.load(PretrainConfig, preset, overrides, config_package="agents.configs.pretrain")
    with tempfile.TemporaryDirectory() as tmp:
        m = trainer_run(cfg, Path(tmp))
    return {"preset": preset, "model": cfg.model.name, "precision": "bf16 autocast" if amp else "fp32",
            "seconds_per_step": 1 / m["steps_per_s"],
            "steps_per_s": m["steps_per_s"], "tasks_per_s": cfg.data.batch_size * m["steps_per_s"],
            "data_wait_fraction": m["data_wait"], "forward_backward_fraction": m["forward_backward"],
            "loop_overhead_fraction": 1 - m["data_wait"] - m["forward_backward"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", action="append", default=None,
                        help="pre-training preset; repeat to compare several (default: avici)")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per precision (default 6)")
    parser.add_argument("--out", type=Path, default=default_out("pretrain.json"), help="JSON output path")
    args = parser.parse_args(argv)
    presets = args.preset or ["avici"]
    rows = [measure(preset, amp, args.steps) for preset in presets for amp in (False, True)]
    print(f"{torch.get_num_threads()} torch threads\n")
    print("| preset | model | precision | s/step | steps/s | tasks/s | data wait | forward+backward | loop overhead |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['preset']} | {r['model']} | {r['precision']} | {r['seconds_per_step']:.3f} "
              f"| {r['steps_per_s']:.3f} | {r['tasks_per_s']:.2f} | {r['data_wait_fraction']:.1%} "
              f"| {r['forward_backward_fraction']:.1%} "
              f"| {r['loop_overhead_fraction']:.1%} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"presets": presets, "machine": machine_info(), "results": rows}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
