"""The demo is the README's main job: it must run and report what it claims."""

from __future__ import annotations

import re

import networkx as nx
import numpy as np

from causal_meta.demo import demo_family, main, run
from causal_meta.scm import sample_scm


def test_demo_reports_exactly_the_descendants_as_changed() -> None:
    report = run(nodes=7, seed=3, samples=200)
    scm = sample_scm(demo_family(7), 3)
    graph = nx.from_numpy_array(scm.adjacency, create_using=nx.DiGraph)
    source = int(re.search(r"do\(X(\d+)=", report).group(1))
    changed = {int(i) for i in re.findall(r"X(\d+)", report.split("descendants): ")[1].splitlines()[0])}
    assert changed == {source} | nx.descendants(graph, source)
    assert f"Topological order: {scm.topological_order}" in report


def test_demo_cli_prints_the_adjacency(capsys) -> None:
    main(["--nodes", "5", "--seed", "1", "--samples", "50"])
    out = capsys.readouterr().out
    rows = out.split("Adjacency:\n")[1].split("\n\n")[0].splitlines()
    adjacency = np.array([[int(v) for v in row.split()] for row in rows])
    assert np.array_equal(adjacency, sample_scm(demo_family(5), 1).adjacency)
