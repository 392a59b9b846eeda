"""Pictures of a CausalBO episode.

``rgb_array``: the hidden graph (layered by topological generation, causes on the left)
beside the target's trajectory, under a caption saying that the target is minimised
and that the graph, parents and optimum are hidden from the agent. The target is red,
its true parents have orange rims and orange edges into the target, and the more often
a node was intervened on the darker its blue (the legends under the panels say so).
The trajectory shows, per step, the target's sampled value labelled with the variable
intervened on, its expected value under that intervention, and the best sample so far;
and the expected target of the optimal intervention and the observational mean. The
samples are noisy, so the best of them can lie below the optimum's expected value; the
expected values never do (beyond Monte Carlo error).

``ansi``: the same facts as text.

Both show the hidden truth (graph, parents, optimum): they are for people watching an
agent, not for the agent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D

if TYPE_CHECKING:
    from envs.causal_bo import CausalBOEnv

__all__ = ["ansi", "figure", "rgb_array"]

_SIZE = (9.0, 4.0)
_DPI = 80
"""The frame: 720 x 320 pixels."""
_TITLE_PT, _TEXT_PT, _SMALL_PT = 10.0, 9.0, 8.0
"""Font sizes (points; at _DPI the smallest is about 9 pixels to the em). The legends
were once 6 points, letters about 5 pixels tall: unreadable at the frame's size."""
_CAPTION = "Goal: minimise the target. Graph, parents and optimum: hidden from the agent, shown for the viewer only."


def _names(env: CausalBOEnv) -> list[str]:
    scm = env.episode.scm
    return list(getattr(scm, "names", [f"X{i}" for i in range(scm.d)]))


def _layout(adjacency: np.ndarray) -> dict[int, np.ndarray]:
    graph = nx.DiGraph(adjacency)
    for layer, nodes in enumerate(nx.topological_generations(graph)):
        for node in nodes:
            graph.nodes[node]["layer"] = layer
    return nx.multipartite_layout(graph, subset_key="layer")


def figure(env: CausalBOEnv) -> Figure:
    """The matplotlib figure of the current episode's frame, _SIZE inches at _DPI (the
    frame's pixels); :func:`rgb_array` draws it. A caption says that the target is
    minimised and that what is drawn is hidden from the agent; every text is at least
    8 points, and the legends sit in bands below the panels, where they cover neither
    nodes nor points."""
    ep = env.episode
    adjacency = np.asarray(ep.scm.adjacency)
    graph = nx.DiGraph(adjacency)
    pos = _layout(adjacency)
    names = _names(env)
    counts = np.bincount([step.node for step in env.history], minlength=ep.d)
    shade = counts / max(1, counts.max())
    colors = [(1.0, 0.2, 0.2) if i == ep.target else (1 - 0.8 * s, 1 - 0.6 * s, 1.0) for i, s in enumerate(shade)]
    rims = ["orange" if ep.parents[i] else "black" for i in range(ep.d)]

    fig = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    fig.suptitle(_CAPTION, fontsize=_TITLE_PT)
    left, right = fig.subfigures(1, 2, width_ratios=[1.2, 1])
    ax_graph, ax_traj = left.subplots(), right.subplots()
    size = min(350.0, 5000.0 / ep.d)  # big graphs get small nodes
    into_target = [(u, v) for u, v in graph.edges if v == ep.target]
    other = [e for e in graph.edges if e[1] != ep.target]
    nx.draw_networkx_edges(graph, pos, edgelist=other, ax=ax_graph, edge_color="0.6", arrowsize=8, node_size=size)
    nx.draw_networkx_edges(graph, pos, edgelist=into_target, ax=ax_graph, edge_color="orange", width=2.0,
                           arrowsize=10, node_size=size)
    nx.draw_networkx_nodes(graph, pos, ax=ax_graph, node_color=colors, edgecolors=rims, linewidths=1.5,
                           node_size=size)
    nx.draw_networkx_labels(graph, pos, labels=dict(enumerate(names)), ax=ax_graph,
                            font_size=_TEXT_PT if ep.d <= 12 else _SMALL_PT)
    level = "" if ep.level is None else f"level {ep.level}, "
    ax_graph.set_title(f"hidden graph ({level}target {names[ep.target]})", fontsize=_TITLE_PT)
    _legend_below(left, [
        Line2D([], [], marker="o", linestyle="", markerfacecolor=(1.0, 0.2, 0.2), markeredgecolor="black",
               label="target"),
        Line2D([], [], marker="o", linestyle="", markerfacecolor="white", markeredgecolor="orange",
               markeredgewidth=1.5, label="parent of the target"),
        Line2D([], [], marker="o", linestyle="", markerfacecolor=(0.2, 0.4, 1.0), markeredgecolor="black",
               label="intervened on (darker: more often)"),
    ])
    ax_graph.set_axis_off()

    steps = np.arange(1, len(env.history) + 1)
    ys = np.array([step.target_value for step in env.history])
    if len(ys):
        ax_traj.plot(steps, ys, "o", color="tab:blue", label="sampled target, do(label)")
        for x, step in zip(steps, env.history):
            ax_traj.annotate(names[step.node], (x, step.target_value), textcoords="offset points", xytext=(0, 4),
                             ha="center", fontsize=_SMALL_PT)
        expected = np.array([step.expected_target for step in env.history])
        if np.isfinite(expected).any():
            ax_traj.plot(steps, expected, "x", color="tab:purple", label="E[target] at that do")
        ax_traj.step(steps, np.minimum.accumulate(ys), where="post", color="tab:green", label="best sample so far")
    optimum = ep.optimum.expected
    if np.isfinite(optimum):
        ax_traj.axhline(optimum, color="tab:red", linestyle="--", label="optimal E[target]")
    ax_traj.axhline(ep.mean[ep.target], color="0.5", linestyle=":", label="observational mean")
    ax_traj.set_xlim(0.5, env.config.horizon + 0.5)
    ax_traj.set_xlabel("step", fontsize=_TEXT_PT)
    ax_traj.tick_params(labelsize=_TEXT_PT)
    ax_traj.set_title(f"target {names[ep.target]} per step (lower is better)", fontsize=_TITLE_PT)
    _legend_below(right, ax_traj.get_legend_handles_labels()[0])
    return fig


def _legend_below(panel: SubFigure, handles: list[Artist]) -> None:
    """A legend in two columns in a band at the foot of ``panel``, below its axes and
    their labels: the constrained layout shrinks the axes to make room for it."""
    panel.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=_TEXT_PT, frameon=False,
                 handletextpad=0.4, columnspacing=1.0, borderaxespad=0.2)


def rgb_array(env: CausalBOEnv) -> np.ndarray:
    """(H, W, 3) uint8 frame of the current episode (see :func:`figure`)."""
    canvas = FigureCanvasAgg(figure(env))
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
        node, value, y, expected = env.history[-1]
        best = min(step.target_value for step in env.history)
        tag = " (parent)" if ep.parents[node] else ""
        lines.append(f"last: do({names[node]} = {value:.3g}){tag} -> {names[ep.target]} = {y:.3g} "
                     f"(E = {expected:.3g}) | best {best:.3g}")
    node, value, expected, stderr = ep.optimum
    if node >= 0:
        lines.append(f"optimum: do({names[node]} = {value:.3g}) -> E[{names[ep.target]}] = {expected:.3g}"
                     f" +- {stderr:.2g}")
    return "\n".join(lines) + "\n"
