"""Throughput of the CausalBO environments, against CartPole under the same wrappers.

    python benchmarks/env.py [--seconds 2.0] [--repeats 3] [--num-envs 1024] [--nonlinear-envs 64] [--out PATH]

Single environment (goal: >= 30k steps/s at level 5): ``gymnasium.make`` (which adds
PassiveEnvChecker, OrderEnforcing and TimeLimit), the same plus our
``envs.wrappers.FlattenObservation``, and plus Gymnasium's generic one; CartPole-v1
under ``gymnasium.make`` and Gymnasium's ``FlattenObservation`` for scale. Steps use
pre-drawn random actions, and resets at episode ends count towards the time (not the
steps). Also level 12, the first nonlinear level, whose resets pay for the Monte Carlo
optimum.

Vector environment (goals at level 10 with ``--num-envs`` environments: >= 1M
env-steps/s, and >= 20x ``SyncVectorEnv`` of the single environment): both built by
``gymnasium.make_vec`` and stepped with random actions for whole episodes, so the
autoreset steps and the episode starts they trigger are in the time. Also the engine
call alone (``sample_interventions`` for the same SCMs), the ceiling of any vector env
on this engine, and the nonlinear levels 12-15 with ``--nonlinear-envs`` environments
(their episode starts pay for Monte Carlo moments and optimum searches, some ms each).

What-if (GRPO scores G = 10 candidates per environment and step): candidates/s of the
vector environment's batched ``what_if`` against each single environment's in a loop
(the same results, bit for bit), at level 10 and at the nonlinear level 13.

Each figure is the median over ``repeats`` blocks of ``seconds / repeats``. Prints a
Markdown table, writes JSON with machine information to ``env.json`` in a fresh
directory under ``runs/benchmarks/`` (or ``--out``; the committed results were written
with ``--out benchmarks/results/env.json``), and saves an ``rgb_array`` frame of a level-6 episode as
``env_frame.png`` next to it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import matplotlib

matplotlib.use("Agg")
import matplotlib.image  # noqa: E402
import numpy as np  # noqa: E402

import envs  # noqa: E402,F401 - registers the ids
from _common import default_out, machine_info, rate  # noqa: E402
from causal_meta._core import sample_interventions  # noqa: E402
from envs.causal_bo import CausalBOEnv  # noqa: E402
from envs.vector import CausalBOVectorEnv  # noqa: E402
from envs.wrappers import FlattenObservation  # noqa: E402

GymFlatten = gym.wrappers.FlattenObservation

SINGLE_GOAL = 30_000
VECTOR_GOAL = 1_000_000
SYNC_RATIO_GOAL = 20.0
WHAT_IF_GROUP = 10
NONLINEAR_LEVELS = (12, 13, 14, 15)


def single_rate(make: Callable[[], gym.Env], steps_per_call: int, seconds: float, repeats: int) -> float:
    """Steps/s of one environment under random actions, resets included in the time."""
    env = make()
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(997)]
    position = [0]

    def call() -> int:
        i = position[0]
        for _ in range(steps_per_call):
            _, _, terminated, truncated, _ = env.step(actions[i % 997])
            i += 1
            if terminated or truncated:
                env.reset()
        position[0] = i
        return steps_per_call

    return rate(call, seconds, repeats)


def vector_rate(env: gym.vector.VectorEnv, seconds: float, repeats: int) -> float:
    """Env-steps/s of a vector environment; each call runs one full episode cycle
    (horizon steps plus the autoreset step) so that episode starts are counted."""
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = [rng.uniform(-1, 1, env.action_space.shape).astype(np.float32) for _ in range(7)]
    cycle = env.unwrapped.spec.max_episode_steps + 1 if env.unwrapped.spec.max_episode_steps else 21
    count = [0]

    def call() -> int:
        for _ in range(cycle):
            env.step(actions[count[0] % 7])
            count[0] += 1
        return cycle * env.num_envs

    return rate(call, seconds, repeats)


def engine_ceiling(level: int, num_envs: int, seconds: float, repeats: int) -> float:
    """Interventional rows/s of ``sample_interventions`` alone for level-``level`` SCMs."""
    vec = gym.make_vec("CausalBO-v0", num_envs=num_envs, vectorization_mode="vector_entry_point", level=level)
    vec.reset(seed=0)
    scms = list(vec.unwrapped._episodes.scms)
    nodes = np.zeros(num_envs, np.int64)
    values = np.ones(num_envs, np.float32)
    d_max = vec.unwrapped.config.max_nodes

    def call() -> int:
        sample_interventions(scms, nodes, values, 1, d_max)
        return num_envs

    return rate(call, seconds, repeats)


def what_if_rate(batched: bool, level: int, num_envs: int, group: int, seconds: float, repeats: int) -> float:
    """Candidates/s of what-if scoring, G = ``group`` candidates for each of ``num_envs``
    environments: the vector environment's one engine call, or each single environment's
    ``what_if`` in turn (the same results, bit for bit)."""
    vec = CausalBOVectorEnv(num_envs, level=level)
    vec.reset(seed=0)
    width = vec.config.max_nodes
    actions = np.random.default_rng(0).uniform(-1, 1, (num_envs, group, width + 1)).astype(np.float32)
    if batched:
        def call() -> int:
            vec.what_if(actions)
            return num_envs * group
    else:
        singles = [CausalBOEnv(level=level) for _ in range(num_envs)]
        for i, single in enumerate(singles):
            single.reset(seed=i)

        def call() -> int:
            for single, a in zip(singles, actions):
                single.what_if(a)
            return num_envs * group
    return rate(call, seconds, repeats)


def save_frame(path: Path) -> None:
    env = CausalBOEnv(level=6, render_mode="rgb_array")
    env.reset(seed=4)
    env.action_space.seed(4)
    for _ in range(8):
        env.step(env.action_space.sample())
    matplotlib.image.imsave(path, env.render())


def run(args: argparse.Namespace) -> dict:
    s, r, n = args.seconds, args.repeats, args.num_envs
    single = {
        "cartpole_make": single_rate(lambda: gym.make("CartPole-v1"), 2000, s, r),
        "cartpole_make_gym_flatten": single_rate(lambda: GymFlatten(gym.make("CartPole-v1")), 2000, s, r),
        "causal_bo_level5_make": single_rate(lambda: gym.make("CausalBO-v0", level=5), 2000, s, r),
        "causal_bo_level5_make_flatten": single_rate(
            lambda: FlattenObservation(gym.make("CausalBO-v0", level=5)), 2000, s, r),
        "causal_bo_level5_make_gym_flatten": single_rate(
            lambda: GymFlatten(gym.make("CausalBO-v0", level=5)), 2000, s, r),
        "causal_bo_level12_make": single_rate(lambda: gym.make("CausalBO-v0", level=12), 200, s, r),
    }
    vector = {
        "vector_level10": vector_rate(gym.make_vec("CausalBO-v0", num_envs=n, vectorization_mode="vector_entry_point",
                                                   level=10), s, r),
        "sync_level10": vector_rate(gym.make_vec("CausalBO-v0", num_envs=n, vectorization_mode="sync", level=10),
                                    s, r),
        "engine_call_level10": engine_ceiling(10, n, s, r),
    }
    for level in NONLINEAR_LEVELS:
        vector[f"vector_level{level}"] = vector_rate(
            gym.make_vec("CausalBO-v0", num_envs=args.nonlinear_envs, vectorization_mode="vector_entry_point",
                         level=level), s, r)
    vector["vector_over_sync"] = vector["vector_level10"] / vector["sync_level10"]
    what_if = {"batched_level10": what_if_rate(True, 10, n, WHAT_IF_GROUP, s, r),
               "single_loop_level10": what_if_rate(False, 10, min(n, 64), WHAT_IF_GROUP, s, r),
               "batched_level13": what_if_rate(True, 13, n, WHAT_IF_GROUP, s, r)}
    what_if["batched_over_single"] = what_if["batched_level10"] / what_if["single_loop_level10"]
    goals = {
        "single_level5_make": {"goal": SINGLE_GOAL, "met": single["causal_bo_level5_make"] >= SINGLE_GOAL},
        "single_level5_make_flatten": {"goal": SINGLE_GOAL,
                                       "met": single["causal_bo_level5_make_flatten"] >= SINGLE_GOAL},
        "vector_level10": {"goal": VECTOR_GOAL, "met": vector["vector_level10"] >= VECTOR_GOAL},
        "vector_over_sync": {"goal": SYNC_RATIO_GOAL, "met": vector["vector_over_sync"] >= SYNC_RATIO_GOAL},
    }
    frame = Path(args.out).with_name("env_frame.png")
    save_frame(frame)
    return {"machine": machine_info(),
            "settings": {"seconds": s, "repeats": r, "num_envs": n, "nonlinear_envs": args.nonlinear_envs},
            "single_steps_per_s": single, "vector_env_steps_per_s": vector, "what_if_candidates_per_s": what_if,
            "goals": goals, "frame": frame.name}


def table(doc: dict) -> str:
    single, vector, goals = doc["single_steps_per_s"], doc["vector_env_steps_per_s"], doc["goals"]
    what_if = doc["what_if_candidates_per_s"]
    mark = {True: "met", False: "NOT MET"}
    n = doc["settings"]["num_envs"]
    return "\n".join([
        "| case | steps/s | goal |", "|---|---:|---|",
        f"| CartPole-v1, make | {single['cartpole_make']:,.0f} | |",
        f"| CartPole-v1, make + Gymnasium's FlattenObservation | {single['cartpole_make_gym_flatten']:,.0f} | |",
        f"| CausalBO-v0 level 5, make | {single['causal_bo_level5_make']:,.0f} "
        f"| >= 30k: {mark[goals['single_level5_make']['met']]} |",
        f"| CausalBO-v0 level 5, make + envs.wrappers.FlattenObservation "
        f"| {single['causal_bo_level5_make_flatten']:,.0f} "
        f"| >= 30k: {mark[goals['single_level5_make_flatten']['met']]} |",
        f"| CausalBO-v0 level 5, make + Gymnasium's FlattenObservation "
        f"| {single['causal_bo_level5_make_gym_flatten']:,.0f} | |",
        f"| CausalBO-v0 level 12 (nonlinear, MC optimum), make | {single['causal_bo_level12_make']:,.0f} | |",
        f"| vector env, level 10, {n} envs | {vector['vector_level10']:,.0f} "
        f"| >= 1M: {mark[goals['vector_level10']['met']]} |",
        f"| SyncVectorEnv of the single env, level 10, {n} envs | {vector['sync_level10']:,.0f} | |",
        f"| vector / sync | {vector['vector_over_sync']:.1f}x | >= 20x: {mark[goals['vector_over_sync']['met']]} |",
        f"| engine call alone (sample_interventions, {n} SCMs) | {vector['engine_call_level10']:,.0f} | ceiling |",
        *(f"| vector env, level {level} (nonlinear), {doc['settings']['nonlinear_envs']} envs "
          f"| {vector[f'vector_level{level}']:,.0f} | |" for level in NONLINEAR_LEVELS),
        f"| what-if, vector env, level 10, {n} envs x {WHAT_IF_GROUP} candidates (candidates/s) "
        f"| {what_if['batched_level10']:,.0f} | |",
        f"| what-if, single envs in a loop, level 10 (candidates/s) | {what_if['single_loop_level10']:,.0f} | |",
        f"| what-if, batched / single loop | {what_if['batched_over_single']:.1f}x | |",
        f"| what-if, vector env, level 13 (nonlinear) (candidates/s) | {what_if['batched_level13']:,.0f} | |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default 2.0)")
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks per measurement; the median is kept")
    parser.add_argument("--num-envs", type=int, default=1024, help="environments of the vector env at level 10")
    parser.add_argument("--nonlinear-envs", type=int, default=64,
                        help="environments of the vector env at the nonlinear levels 12-15")
    parser.add_argument("--out", default=str(default_out("env.json")),
                        help="JSON path (default: a fresh directory under runs/benchmarks/); the frame goes next to it")
    args = parser.parse_args()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    doc = run(args)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(table(doc))
    print(f"\nwrote {args.out} and {doc['frame']}")


if __name__ == "__main__":
    main()
