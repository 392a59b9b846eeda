"""Pictures of a CausalBO episode.

``rgb_array``: the hidden graph (layered by topological generation, causes on the left)
beside the target's trajectory. The target is red, its true parents have orange rims
and orange edges into the target, and the more often a node was intervened on the
darker its blue. The trajectory shows each step's target value, the best so far, the
expected target of the optimal intervention and the observational mean.

``ansi``: the same facts as text.

Both show the hidden truth (graph, parents, optimum): they are for people watching an
agent, not for the agent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from envs.causal_bo import CausalBOEnv

__all__ = ["ansi", "rgb_array"]

_SIZE = (9.0, 4.0)
_DPI = 80


def _names(env: CausalBOEnv) -> list[str]:
    scm = env.episode.scm
    return list(getattr(scm, "names", [f"X{i}" for i in range(scm.d)]))


def _layout(adjacency: np.ndarray) -> dict[int, np.ndarray]:
    graph = nx.DiGraph(adjacency)
    for layer, nodes in enumerate(nx.topological_generations(graph)):
        for node in nodes:
            graph.nodes[node]["layer"] = layer
    return nx.multipartite_layout(graph, subset_key="layer")


def rgb_array(env: CausalBOEnv) -> np.ndarray:
    """(H, W, 3) uint8 frame of the current episode."""
    ep = env.episode
    adjacency = np.asarray(ep.scm.adjacency)
    graph = nx.DiGraph(adjacency)
    pos = _layout(adjacency)
    names = _names(env)
    counts = np.bincount([node for node, _, _ in env.history], minlength=ep.d)
    shade = counts / max(1, counts.max())
    colors = [(1.0, 0.2, 0.2) if i == ep.target else (1 - 0.8 * s, 1 - 0.6 * s, 1.0) for i, s in enumerate(shade)]
    rims = ["orange" if ep.parents[i] else "black" for i in range(ep.d)]

    fig = Figure(figsize=_SIZE, dpi=_DPI)
    canvas = FigureCanvasAgg(fig)
    ax_graph, ax_traj = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
    size = min(350.0, 5000.0 / ep.d)  # big graphs get small nodes
    into_target = [(u, v) for u, v in graph.edges if v == ep.target]
    other = [e for e in graph.edges if e[1] != ep.target]
    nx.draw_networkx_edges(graph, pos, edgelist=other, ax=ax_graph, edge_color="0.6", arrowsize=8, node_size=size)
    nx.draw_networkx_edges(graph, pos, edgelist=into_target, ax=ax_graph, edge_color="orange", width=2.0,
                           arrowsize=10, node_size=size)
    nx.draw_networkx_nodes(graph, pos, ax=ax_graph, node_color=colors, edgecolors=rims, linewidths=1.5,
                           node_size=size)
    nx.draw_networkx_labels(graph, pos, labels=dict(enumerate(names)), ax=ax_graph,
                            font_size=9 if ep.d <= 12 else 5)
    level = "" if ep.level is None else f"level {ep.level}, "
    ax_graph.set_title(f"{level}target {names[ep.target]} (red), parents orange", fontsize=9)
    ax_graph.set_axis_off()

    steps = np.arange(1, len(env.history) + 1)
    ys = np.array([y for _, _, y in env.history])
    if len(ys):
        ax_traj.plot(steps, ys, "o", color="tab:blue", label="target")
        ax_traj.step(steps, np.minimum.accumulate(ys), where="post", color="tab:green", label="best so far")
    optimum = ep.optimum[2]
    if np.isfinite(optimum):
        ax_traj.axhline(optimum, color="tab:red", linestyle="--", label="optimal E[target]")
    ax_traj.axhline(ep.mean[ep.target], color="0.5", linestyle=":", label="observational mean")
    ax_traj.set_xlim(0.5, env.config.horizon + 0.5)
    ax_traj.set_xlabel("step")
    ax_traj.set_title(f"target {names[ep.target]}", fontsize=9)
    ax_traj.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def ansi(env: CausalBOEnv) -> str:
    """A few lines describing the current episode."""
    ep = env.episode
    names = _names(env)
    parents = ", ".join(names[i] for i in np.flatnonzero(ep.parents))
    level = "named SCM" if ep.level is None else f"level {ep.level}"
    lines = [f"CausalBO {level} | step {len(env.history)}/{env.config.horizon} | "
             f"target {names[ep.target]} (parents: {parents})"]
    if env.history:
        node, value, y = env.history[-1]
        best = min(h[2] for h in env.history)
        tag = " (parent)" if ep.parents[node] else ""
        lines.append(f"last: do({names[node]} = {value:.3g}){tag} -> {names[ep.target]} = {y:.3g} | best {best:.3g}")
    node, value, expected, stderr = ep.optimum
    if node >= 0:
        lines.append(f"optimum: do({names[node]} = {value:.3g}) -> E[{names[ep.target]}] = {expected:.3g}"
                     f" +- {stderr:.2g}")
    return "\n".join(lines) + "\n"
