"""Bad input to the engine fails loudly and helpfully.

One test per kind of bad input. Each asserts the exception type (ValueError for a bad
value, TypeError for a value of the wrong kind) and that the message names the parameter,
the value given and what is allowed, so that a user can fix the input from the message
alone. Cases where the engine does not yet do so are written as they should be and marked
``xfail(strict=True)``: fixing the engine turns them into failures until the mark goes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from causal_meta import _core
from causal_meta.scm import Scm, family_json, sample_scm, sample_tasks, task_seed
from causal_meta.specs import SpecError, parse_family

Spec = dict[str, Any]

GRAPH_TYPES = ["er", "sf", "ws", "sbm", "grg", "chain", "fork", "collider", "diamond", "butterfly",
               "layered", "hierarchical", "bipartite", "mixture"]
MECHANISM_TYPES = ["linear", "mlp", "gp", "pnl", "square", "periodic", "logistic_map", "heteroscedastic", "mixture"]
NOISE_TYPES = ["gaussian", "laplace", "cauchy", "uniform", "mixture"]
DIST_TYPES = ["fixed", "uniform", "signed_uniform", "gaussian", "log_uniform", "gamma"]


def assert_raises(call: Callable[[], object], exc: type[Exception], *fragments: str) -> str:
    """Run ``call``, expect ``exc`` and every fragment (regex) in its message; return it."""
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert re.search(fragment, message), f"{fragment!r} not found in {message!r}"
    return message


def family(**overrides: Any) -> Spec:
    """A small valid family with some fields replaced."""
    return {"nodes": 6, "graph": {"type": "er", "edge_prob": 0.5}, **overrides}


def raw_json(edit: Callable[[Spec], None]) -> str:
    """Engine JSON of a valid family after ``edit``, bypassing parse_family's own checks,
    as any caller of the engine with hand-written JSON would."""
    spec = json.loads(family_json(family()))
    edit(spec)
    return json.dumps(spec)



def scm(d: int = 5) -> Scm:
    """A d-node chain SCM: any valid SCM will do for argument checks."""
    return sample_scm({"nodes": d, "graph": {"type": "chain"}}, 0)


# ---------------------------------------------------------------- node counts


def test_zero_nodes() -> None:
    assert_raises(lambda: sample_scm({"nodes": 0}, 0), ValueError,
                  r"nodes\[0\]", "= 0 ", rf"\[1, {_core.MAX_NODES}\]")


@pytest.mark.parametrize(("nodes", "name", "value"), [
    (_core.MAX_NODES + 1, r"nodes\[0\]", str(_core.MAX_NODES + 1)),
    (10**6, r"nodes\[0\]", "1000000"),
    ([5, _core.MAX_NODES + 1], r"nodes\[1\]", str(_core.MAX_NODES + 1)),
], ids=["max+1", "million", "range-max"])
def test_too_many_nodes(nodes: int | list[int], name: str, value: str) -> None:
    assert_raises(lambda: sample_scm(family(nodes=nodes), 0), ValueError, name, f"= {value} ", str(_core.MAX_NODES))


def test_node_range_reversed() -> None:
    assert_raises(lambda: sample_scm(family(nodes=[8, 5]), 0), ValueError, r"nodes\[1\]", "= 5 ", r"\[8, ")


@pytest.mark.parametrize("nodes", [-1, 10**30], ids=["negative", "beyond-u64"])
def test_nodes_outside_the_integer_type(nodes: int) -> None:
    assert_raises(lambda: sample_scm(family(nodes=nodes), 0), ValueError,
                  r"nodes\[0\]", f"= {nodes} ", rf"\[1, {_core.MAX_NODES}\]")


# ---------------------------------------------------------------- graph parameters


@pytest.mark.parametrize(("graph", "name", "value"), [
    ({"type": "er", "edge_prob": 1.5}, "edge_prob", "1.5"),
    ({"type": "er", "edge_prob": -0.1}, "edge_prob", "-0.1"),
    ({"type": "ws", "k": 2, "rewire_prob": 1.2}, "rewire_prob", "1.2"),
    ({"type": "sbm", "p_in": 2.5}, "p_in", "2.5"),
    ({"type": "sbm", "p_out": -0.5}, "p_out", "-0.5"),
    ({"type": "layered", "edge_prob": 1.01}, "edge_prob", "1.01"),
    ({"type": "bipartite", "cause_fraction": -0.2}, "cause_fraction", "-0.2"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_probability_outside_unit_interval(graph: Spec, name: str, value: str) -> None:
    assert_raises(lambda: sample_scm(family(graph=graph), 0), ValueError,
                  rf"graph\.{name} = {value} ", r"\[0, 1\]")


@pytest.mark.parametrize(("graph", "name", "value", "allowed"), [
    ({"type": "sf", "m": 0}, "m", "0", "must be an integer >= 1$"),
    ({"type": "ws", "k": 1}, "k", "1", "must be an integer >= 2$"),
    ({"type": "sbm", "blocks": 0}, "blocks", "0", "must be an integer >= 1$"),
    ({"type": "layered", "layers": 0}, "layers", "0", "must be an integer >= 1$"),
    ({"type": "hierarchical", "branching": 0}, "branching", "0", "must be an integer >= 1$"),
    ({"type": "grg", "radius": -0.5}, "radius", "-0.5", ">= 0"),
    ({"type": "er", "edges_per_node": 3.5}, "edges_per_node", "3.5", r"at most .* = 2\.5"),
], ids=lambda v: v if isinstance(v, str) and v.isidentifier() else None)
def test_graph_parameter_out_of_range(graph: Spec, name: str, value: str, allowed: str) -> None:
    """Parameters with only a lower bound say so (before, their range ended at 2**64 - 1,
    printed in full)."""
    message = assert_raises(lambda: sample_scm(family(graph=graph), 0), ValueError, rf"graph\.{name} = {value} ",
                            allowed)
    assert str(2**64 - 1) not in message


def test_er_with_both_densities() -> None:
    assert_raises(lambda: sample_scm(family(graph={"type": "er", "edge_prob": 0.3, "edges_per_node": 1.0}), 0),
                  ValueError, "edge_prob", "edges_per_node", "exactly one")


@pytest.mark.parametrize(("graph", "name"), [
    ({"type": "sf", "m": 7}, "m"),
    ({"type": "ws", "k": 7}, "k"),
    ({"type": "layered", "layers": 7}, "layers"),
], ids=["sf", "ws", "layered"])
def test_graph_parameter_too_large_for_the_node_count(graph: Spec, name: str) -> None:
    """sf needs m < d, ws k < d, layered layers <= d; with d = 5 a value of 7 is refused and
    the message states the 7 and the largest value d = 5 allows."""
    assert_raises(lambda: sample_scm(family(nodes=5, graph=graph), 0), ValueError,
                  rf"graph\.{name} = 7 ", r"\b[45]\b")


def test_scale_free_m_equal_to_the_node_count() -> None:
    """m >= d is refused, naming graph.m, its value and the largest m that d nodes allow."""
    assert_raises(lambda: sample_scm(family(nodes=5, graph={"type": "sf", "m": 5}), 0), ValueError,
                  r"graph\.m = 5 ", "at most 4", "5 nodes")


def test_more_blocks_than_nodes() -> None:
    assert_raises(lambda: sample_scm(family(nodes=10, graph={"type": "sbm", "blocks": 50}), 0), ValueError,
                  r"graph\.blocks = 50 ", "10")


# ---------------------------------------------------------------- unknown names and keys


@pytest.mark.parametrize(("field", "allowed"), [
    ("graph", GRAPH_TYPES), ("mechanism", MECHANISM_TYPES), ("noise", NOISE_TYPES)])
def test_unknown_type_name_in_parse_family(field: str, allowed: list[str]) -> None:
    message = assert_raises(lambda: parse_family({field: {"type": "nope"}}), SpecError,
                            rf"family\.{field}\.type", "'nope'")
    assert all(f"'{name}'" in message for name in allowed), message


def test_unknown_distribution_name_in_parse_family() -> None:
    message = assert_raises(lambda: parse_family({"mechanism": {"type": "linear", "weights": {"type": "nope"}}}),
                            SpecError, r"family\.mechanism\.weights\.type", "'nope'")
    assert all(f"'{name}'" in message for name in DIST_TYPES), message


@pytest.mark.parametrize(("field", "allowed"), [
    ("graph", GRAPH_TYPES), ("mechanism", MECHANISM_TYPES), ("noise", NOISE_TYPES)])
def test_unknown_type_name_in_engine_json(field: str, allowed: list[str]) -> None:
    """Hand-written JSON skips parse_family; the engine itself names path and choices."""
    bad = raw_json(lambda s: s[field].update(type="nope"))
    message = assert_raises(lambda: Scm.from_family(bad, 0), ValueError, rf"{field}\.type", "nope")
    assert all(f"`{name}`" in message for name in allowed), message


@pytest.mark.parametrize(("spec", "path", "allowed"), [
    ({"colour": 1}, r"family", ["nodes", "graph", "mechanism", "noise", "interventions"]),
    ({"graph": {"type": "er", "colour": 1}}, r"family\.graph", ["edge_prob", "edges_per_node"]),
    ({"mechanism": {"type": "mlp", "colour": 1}}, r"family\.mechanism", ["hidden", "activation", "noise_input"]),
    ({"noise": {"type": "laplace", "colour": 1}}, r"family\.noise", ["scale"]),
    ({"noise": {"type": "gaussian", "scale": {"type": "gamma", "shape": 1, "scale": 1, "colour": 1}}},
     r"family\.noise\.scale", ["shape", "scale"]),
    ({"graph": {"type": "mixture", "components": [{"type": "chain"}], "colour": 1}}, r"family\.graph",
     ["components", "weights"]),
    ({"interventions": {"colour": 1}}, r"family\.interventions", ["value"]),
], ids=["family", "graph", "mechanism", "noise", "distribution", "mixture", "interventions"])
def test_unknown_key_in_parse_family(spec: Spec, path: str, allowed: list[str]) -> None:
    message = assert_raises(lambda: parse_family(spec), SpecError, path, "'colour'")
    assert all(f"'{key}'" in message for key in allowed), message


@pytest.mark.parametrize(("edit", "allowed"), [
    (lambda s: s.update(colour=1), ["nodes", "graph", "mechanism", "noise", "interventions"]),
    (lambda s: s["graph"].update(colour=1), ["edge_prob", "edges_per_node"]),
    (lambda s: s["mechanism"].update(colour=1), ["weights", "bias"]),
    (lambda s: s["noise"].update(colour=1), ["scale"]),
    (lambda s: s["interventions"].update(colour=1), ["value"]),
    (lambda s: s["interventions"]["value"].update(colour=1), ["low", "high"]),
], ids=["family", "graph", "mechanism", "noise", "interventions", "interventions.value"])
def test_unknown_key_in_engine_json(edit: Callable[[Spec], None], allowed: list[str]) -> None:
    message = assert_raises(lambda: Scm.from_family(raw_json(edit), 0), ValueError, "colour")
    assert all(f"`{key}`" in message for key in allowed), message


@pytest.mark.xfail(strict=True, reason="inside a tagged enum the error path stops at the enum: the engine "
                                        "reports 'invalid spec at mechanism' / 'at noise' for a key of "
                                        "mechanism.weights / noise.scale")
@pytest.mark.parametrize(("edit", "path"), [
    (lambda s: s["mechanism"]["weights"].update(colour=1), r"mechanism\.weights"),
    (lambda s: s["noise"]["scale"].update(colour=1), r"noise\.scale"),
], ids=["mechanism.weights", "noise.scale"])
def test_unknown_key_in_a_nested_distribution_names_its_path(edit: Callable[[Spec], None], path: str) -> None:
    assert_raises(lambda: Scm.from_family(raw_json(edit), 0), ValueError, path, "colour")


@pytest.mark.parametrize(("spec", "path", "value", "allowed"), [
    ({"nodes": 5.0}, r"family\.nodes", "5.0", "integer"),
    ({"graph": {"type": "sf", "m": 2.5}}, r"family\.graph\.m", "2.5", "integer"),
    ({"graph": {"type": "sf", "transpose": "yes"}}, r"family\.graph\.transpose", "'yes'", "true or false"),
    ({"mechanism": {"type": "mlp", "activation": "gelu"}}, r"family\.mechanism\.activation", "'gelu'", "'relu'"),
    ({"graph": {"type": "mixture", "components": []}}, r"family\.graph\.components", r"\[\]", "non-empty"),
], ids=["nodes", "m", "transpose", "activation", "components"])
def test_wrong_kind_of_value_in_parse_family(spec: Spec, path: str, value: str, allowed: str) -> None:
    assert_raises(lambda: parse_family(spec), SpecError, path, value, allowed)


# ---------------------------------------------------------------- mechanism, noise and distribution parameters


@pytest.mark.parametrize(("overrides", "name", "value", "allowed"), [
    ({"mechanism": {"type": "mlp", "hidden": 0}}, r"mechanism\.hidden", "0", r"\[1, 4096\]"),
    ({"mechanism": {"type": "gp", "features": 0}}, r"mechanism\.features", "0", r"\[1, 4096\]"),
    ({"mechanism": {"type": "linear", "weights": {"type": "uniform", "low": 1.0, "high": 0.5}}},
     r"mechanism\.weights\.high", "0.5", r">= low \(1\)"),
    ({"mechanism": {"type": "linear", "weights": {"type": "gaussian", "std": -1.0}}},
     r"mechanism\.weights\.std", "-1", ">= 0"),
    ({"mechanism": {"type": "linear", "weights": {"type": "log_uniform", "low": 0.0, "high": 1.0}}},
     r"mechanism\.weights\.low", "0", "> 0"),
    ({"noise": {"type": "gaussian", "scale": -1.0}}, r"noise\.scale", "-1", "> 0"),
    ({"noise": {"type": "laplace", "scale": 0.0}}, r"noise\.scale", "0", "> 0"),
    ({"noise": {"type": "mixture", "components": [{"type": "gaussian"}], "weights": [-1.0]}},
     r"noise\.weights\[0\]", "-1", ">= 0"),
    ({"noise": {"type": "mixture", "components": [{"type": "gaussian"}], "weights": [1.0, 2.0]}},
     r"noise\.weights", "2 weights", r"one weight per component \(1\)"),
], ids=["hidden", "features", "uniform", "std", "log_uniform", "scale-negative", "scale-zero",
        "mixture-weight", "mixture-length"])
def test_parameter_out_of_range(overrides: Spec, name: str, value: str, allowed: str) -> None:
    """The value may be shown inside the offending distribution (``Fixed { value: -1.0 }``)."""
    assert_raises(lambda: sample_scm(family(**overrides), 0), ValueError, rf"{name} = .*{value}", allowed)


@pytest.mark.parametrize(("overrides", "name"), [
    ({"mechanism": {"type": "linear", "weights": math.nan}}, r"mechanism\.weights"),
    ({"mechanism": {"type": "linear", "weights": {"type": "uniform", "low": 0.0, "high": math.inf}}},
     r"mechanism\.weights\.high"),
    ({"noise": {"type": "gaussian", "scale": math.nan}}, r"noise\.scale"),
    ({"noise": {"type": "gaussian", "scale": math.inf}}, r"noise\.scale"),
    ({"interventions": {"value": -math.inf}}, r"interventions\.value"),
], ids=["weights-nan", "weights-inf", "scale-nan", "scale-inf", "interventions-inf"])
def test_non_finite_parameter(overrides: Spec, name: str) -> None:
    assert_raises(lambda: sample_scm(family(**overrides), 0), ValueError, name, r"(?i)nan|inf", "finite")


@pytest.mark.parametrize(("overrides", "name"), [
    ({"mechanism": {"type": "linear", "weights": 1e300}}, r"mechanism\.weights"),
    ({"noise": {"type": "gaussian", "scale": 1e300}}, r"noise\.scale"),
], ids=["weights", "scale"])
def test_parameter_beyond_float32(overrides: Spec, name: str) -> None:
    assert_raises(lambda: sample_scm(family(**overrides), 0), ValueError, name, "1e[+]?300", "finite|float32")


# ---------------------------------------------------------------- sample counts


@pytest.mark.parametrize(("args", "name", "value", "allowed"), [
    ((0, 5, 0), "count", "0", r"\[1, "),
    ((-1, 5, 0), "count", "-1", r"\[1, "),
    ((2, -1, 5), "n_obs", "-1", r"\[0, "),
    ((2, 5, -3), "n_int", "-3", r"\[0, "),
    ((2, 0, 0), r"n_obs \+ n_int", "0", r"\[1, "),
    ((10**6, 10**6, 0), r"count \* \(n_obs \+ n_int\) \* max nodes", "6000000000000", "the 4 GiB one call may use"),
], ids=["count-0", "count-negative", "n_obs-negative", "n_int-negative", "no-rows", "too-many-cells"])
def test_bad_sample_counts_for_tasks(args: tuple[int, int, int], name: str, value: str, allowed: str) -> None:
    count, n_obs, n_int = args
    assert_raises(lambda: sample_tasks(family(), 0, 0, count, n_obs, n_int), ValueError,
                  rf"{name} = {value}", allowed)


@pytest.mark.parametrize("n", [0, -1, _core.MAX_SAMPLES + 1])
def test_bad_row_count_for_scm_sample(n: int) -> None:
    assert_raises(lambda: scm().sample(n), ValueError, rf"\bn = {n} ", rf"\[1, {_core.MAX_SAMPLES}\]")



def test_fractional_row_count() -> None:
    assert_raises(lambda: scm().sample(2.5), TypeError, r"\bn\b", "float")  # type: ignore[arg-type]


# ---------------------------------------------------------------- seeds and threads


@pytest.mark.parametrize(("name", "value"), [("base_seed", -1), ("start", 2**64)])
def test_seed_or_start_outside_u64_in_sample_tasks(name: str, value: int) -> None:
    kwargs = {"base_seed": 0, "start": 0, name: value}
    assert_raises(lambda: sample_tasks(family(), count=1, n_obs=1, **kwargs), ValueError,
                  rf"{name} = {value} ", r"\[0, 2\*\*64\)")



@pytest.mark.parametrize(("call", "name"), [
    (lambda: sample_scm(family(), -1), "seed"),
    (lambda: scm().sample(3, seed=-1), "seed"),
    (lambda: scm().seed_noise(-1), "seed"),
    (lambda: task_seed(-1, 0), "base_seed"),
], ids=["sample_scm", "Scm.sample", "seed_noise", "task_seed"])
def test_negative_seed_in_the_engine(call: Callable[[], object], name: str) -> None:
    assert_raises(call, ValueError, rf"{name} = -1 ", r"\[0, 2\*\*64\)")


@pytest.mark.parametrize("threads", [0, 10**6])
def test_thread_count_out_of_range(threads: int) -> None:
    assert_raises(lambda: sample_tasks(family(), 0, 0, 2, 3, threads=threads), ValueError,
                  rf"threads = {threads} ", r"\[1, 1024\]")



@pytest.mark.parametrize(("threads", "exc", "fragments"), [
    (-1, ValueError, ["threads = -1 ", r"\[1, 1024\]"]),
    (1.5, TypeError, ["threads", "float"]),
    ("2", TypeError, ["threads", "str"]),
], ids=["negative", "float", "str"])
def test_thread_count_of_the_wrong_kind(threads: object, exc: type[Exception], fragments: list[str]) -> None:
    assert_raises(lambda: sample_tasks(family(), 0, 0, 2, 3, threads=threads), exc, *fragments)  # type: ignore[arg-type]


# ---------------------------------------------------------------- do()


@pytest.mark.parametrize("node", [5, 99, -1, 2**70, -(2**70), np.uint64(2**64 - 1)],
                         ids=["d", "99", "-1", "2**70", "-2**70", "uint64-max"])
def test_do_dict_node_out_of_range(node: int) -> None:
    """Beyond int64 too: 2**70 is an integer, out of range, not "not an int"."""
    assert_raises(lambda: scm(5).sample(3, do={node: 1.0}), ValueError,
                  rf"^do node = {node} is not allowed: must be a node index in \[0, 4\]$")


@pytest.mark.parametrize(("mask_shape", "values_shape", "name", "bad"), [
    ((3, 4), (3, 5), "mask", r"\[3, 4\]"),
    ((3, 5), (2, 5), "values", r"\[2, 5\]"),
    ((4, 5), (4, 5), "mask", r"\[4, 5\]"),
], ids=["mask-columns", "values-rows", "both-rows"])
def test_do_per_row_shape_mismatch(
    mask_shape: tuple[int, int], values_shape: tuple[int, int], name: str, bad: str
) -> None:
    do = (np.zeros(mask_shape, bool), np.zeros(values_shape))
    assert_raises(lambda: scm(5).sample(3, do=do), ValueError, rf"do {name} shape = {bad}", r"\(n, d\) = \(3, 5\)")


@pytest.mark.parametrize(("do", "fragment"), [
    ([1, 2], "got list"),
    ((np.zeros(15, bool), np.zeros(15)), "mask must be a 2-d"),
    ((np.zeros((3, 5)), np.zeros((3, 5))), "mask must be a 2-d bool or uint8"),
    ((np.zeros((3, 5), bool), np.zeros((3, 5), np.int64)), "values must be a 2-d float32 or float64"),
    ({"a": 1.0}, "keys must be node indices"),
    ({1: "a"}, "values must be numbers"),
], ids=["list", "1-d-mask", "float-mask", "int-values", "str-key", "str-value"])
def test_do_of_the_wrong_kind(do: object, fragment: str) -> None:
    assert_raises(lambda: scm(5).sample(3, do=do), TypeError, fragment)  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "shown"), [(math.nan, "NaN"), (math.inf, "inf"), (-math.inf, "-inf")])
def test_do_dict_non_finite_value(value: float, shown: str) -> None:
    assert_raises(lambda: scm(5).sample(3, do={2: value}), ValueError, f"do value of node 2 = {shown} ", "finite")


def test_do_per_row_non_finite_value() -> None:
    mask = np.zeros((3, 5), bool)
    mask[1, 2] = True
    values = np.zeros((3, 5))
    values[1, 2] = math.nan
    assert_raises(lambda: scm(5).sample(3, do=(mask, values)), ValueError,
                  "do value at row 1, node 2 = NaN ", "finite")


def test_do_per_row_ignores_values_where_the_mask_is_zero() -> None:
    """Only masked cells are read, so NaN placeholders elsewhere are allowed (not an error)."""
    mask = np.zeros((3, 5), bool)
    mask[0, 1] = True
    values = np.full((3, 5), math.nan)
    values[0, 1] = 0.25
    x, _ = scm(5).sample(3, do=(mask, values))
    assert x[0, 1] == np.float32(0.25)


def test_do_value_beyond_float32() -> None:
    assert_raises(lambda: scm(5).sample(3, do={2: 1e300}), ValueError, "node 2", "1e[+]?300", "float32|finite")


def test_parents_of_a_node_out_of_range() -> None:
    assert_raises(lambda: scm(5).parents(5), ValueError, "node = 5 ", r"\[0, 4\]")


def test_linear_parameters_of_a_nonlinear_scm() -> None:
    nonlinear = sample_scm(family(mechanism={"type": "mlp"}), 0)
    assert_raises(nonlinear.linear_parameters, ValueError, "node 0", "mlp", "linear")


# ---------------------------------------------------------------- memory bounds
# Every call that allocates in proportion to its arguments is refused past 4 GiB (outputs
# and workspace), naming the arguments; these requests would otherwise abort the process
# or take the machine's memory. The sizes are those of the hostile-input catalogue.

WIDE = {"nodes": 1000, "graph": {"type": "chain"}}


def wide_scm() -> Scm:
    return sample_scm(WIDE, 0)


@pytest.mark.parametrize(("call", "name", "value"), [
    (lambda: wide_scm().sample(10**7), r"n \* d", "10000000000"),
    (lambda: _core.sample_interventions([wide_scm()], np.zeros(1, np.int64), np.zeros(1, np.float32), 10**7, 1000),
     r"len\(scms\) \* n \* d_max", "10000000000"),
    (lambda: wide_scm().column_under_interventions(np.zeros(2000, np.int64), np.zeros(2000, np.float32), 10**7, 0, 0),
     r"len\(nodes\) \* n", "20000000000"),
    (lambda: _core.columns_under_interventions([wide_scm()], np.zeros((1, 2000), np.int64),
                                               np.zeros((1, 2000), np.float32), 10**7, [0], np.zeros(1, np.int64)),
     r"len\(scms\) \* G \* n", "20000000000"),
    (lambda: _core.sample_scms(family_json(WIDE), np.arange(10**6, dtype=np.uint64)), r"len\(seeds\)", "1000000"),
    # Within the old cap of 2**30 output cells, but its data, masks and workspace need ~5 GB.
    (lambda: sample_tasks(WIDE, 0, 0, 1000, 1000, 0), r"count \* \(n_obs \+ n_int\) \* max nodes", "1000000000"),
    (lambda: _core.sample_graphs(family_json(WIDE), 0, 0, 10**4), r"count \* max nodes \* max nodes", "10000000000"),
], ids=["sample", "sample_interventions", "column_under_interventions", "columns_under_interventions",
        "sample_scms", "sample_tasks", "sample_graphs"])
def test_oversized_requests_are_refused_by_name(call: Callable[[], object], name: str, value: str) -> None:
    assert_raises(call, ValueError, rf"{name} = {value} is not allowed", "the 4 GiB one call may use")


def test_a_failed_allocation_is_a_memory_error_not_an_abort() -> None:
    """Under a 1.5 GiB address-space limit, requests inside the 4 GiB cap cannot be served:
    each raises MemoryError naming its buffer, and the process goes on (before, the
    allocator's failure aborted it with SIGABRT)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import resource
        import numpy as np
        from causal_meta import _core
        from causal_meta.scm import sample_scm, sample_tasks
        resource.setrlimit(resource.RLIMIT_AS, (3 << 29, 3 << 29))
        # Weights of 1: the default ones (0.5 to 2 in magnitude) overflow float32 along a
        # chain of 1000 nodes, and the last sample would be refused for it.
        wide = {"nodes": 1000, "graph": {"type": "chain"}, "mechanism": {"type": "linear", "weights": 1.0}}
        scm, other = (sample_scm(wide, seed) for seed in (0, 1))
        calls = [
            lambda: scm.sample(200_000),
            lambda: _core.sample_interventions([scm, other], np.zeros(2, np.int64), np.zeros(2, np.float32), 100_000,
                                               1000),
            lambda: sample_tasks(wide, 0, 0, 4, 100_000, 0, threads=1),
        ]
        for call in calls:
            try:
                call()
                print("served")
            except MemoryError as err:
                print("MemoryError:", err)
        print("alive", scm.sample(3)[0].shape)
    """)
    # One malloc arena: each extra one reserves 64 MiB of address space per thread, which
    # on a many-core machine would count against the limit before any engine call.
    env = {**__import__("os").environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[-1] == "alive (3, 1000)", done.stdout
    assert len(lines) == 4, done.stdout
    buffers = ("the sampled rows", "the sampler's node columns", "the sampler's noise", "the tasks' data")
    for line in lines[:3]:
        assert re.fullmatch(r"MemoryError: cannot allocate [\d.]+ GiB for (.+): the machine has not enough free "
                            r"memory; ask for less per call", line), line
        assert any(f"for {buffer}:" in line for buffer in buffers), line


# ---------------------------------------------------------------- panics and corrupt state


def test_rust_panic_surfaces_as_runtime_error() -> None:
    """A panic inside the engine becomes a RuntimeError that asks for a report; the
    interpreter survives it (and this test then keeps running)."""
    assert_raises(_core._panic_for_test, RuntimeError, "internal error", "deliberate test panic")
    assert scm().sample(2)[0].shape == (2, 5)


def test_corrupt_pickle_state() -> None:
    assert_raises(lambda: _core._scm_from_state(b"not a pickled scm"), ValueError, "corrupt Scm pickle state")


def test_the_stub_declares_exactly_what_the_extension_exports() -> None:
    """causal_meta/_core.pyi is written by hand: every public name of the extension (and
    of Scm) must be declared there, and nothing else; a TypedDict there is no export but
    the keys of what a function returns (EpisodeStarts: start_episodes), and must name
    exactly those."""
    import ast
    from pathlib import Path

    import causal_meta._core as core

    tree = ast.parse((Path(core.__file__).parent / "_core.pyi").read_text())
    declared, methods, typed_dicts = set(), set(), {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(isinstance(b, ast.Name) and b.id == "TypedDict" for b in node.bases):
            typed_dicts[node.name] = {item.target.id for item in node.body if isinstance(item, ast.AnnAssign)}
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            declared.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            declared.add(node.target.id)
        if isinstance(node, ast.ClassDef) and node.name == "Scm":
            methods = {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
    exported = {name for name in dir(core) if not name.startswith("__")}
    assert declared == exported
    assert methods - {"__reduce__"} == {name for name in dir(core.Scm) if not name.startswith("__")}
    spec = {"nodes": 3, "graph": {"type": "chain"}}
    assert typed_dicts == {"EpisodeStarts": set(core.start_episodes(family_json(spec), [0], 2, 4, -2.0, 2.0))}


def test_arguments_of_the_wrong_kind_are_named() -> None:
    from causal_meta._core import columns_under_interventions, linear_moments, sample_interventions

    scm = sample_scm({"nodes": 4, "graph": {"type": "chain"}}, 0)
    with pytest.raises(TypeError, match=r"do: keys must be node indices \(int\), got the bool True"):
        scm.sample(2, do={True: 2.0})
    with pytest.raises(TypeError, match=r"do: values must be numbers, got the bool True"):
        scm.sample(2, do={0: True})
    with pytest.raises(ValueError, match=r"node = 1180591620717411303424 is not allowed: must be an integer in "
                                         r"\[0, 3\]"):
        scm.parents(2**70)
    with pytest.raises(ValueError, match=r"node = -1 is not allowed"):
        scm.parents(-1)
    with pytest.raises(TypeError, match=r"values must be a 1-d float32 numpy array, got a float64 array of shape"):
        sample_interventions([scm], np.zeros(1, np.int64), np.zeros(1), 2, 4)
    with pytest.raises(TypeError, match=r"nodes must be a 1-d int64 numpy array, got a int32 array"):
        sample_interventions([scm], np.zeros(1, np.int32), np.zeros(1, np.float32), 2, 4)
    with pytest.raises(TypeError, match=r"nodes must be a 2-d int64 numpy array, got a list"):
        columns_under_interventions([scm], [[0]], np.zeros((1, 1), np.float32), 2, [0], np.zeros(1, np.int64))
    with pytest.raises(TypeError, match=r"targets must be a 1-d int64 numpy array"):
        linear_moments([scm], np.zeros(1, np.float64), 4)
    with pytest.raises(TypeError, match=r"nodes must be a 1-d int64 numpy array"):
        scm.column_under_interventions(np.zeros(2, np.int32), np.zeros(2, np.float32), 3, 0, 3)
    with pytest.raises(ValueError, match=r"seed = -1 is not allowed: must be an integer in \[0, 2\*\*64\)"):
        scm.sample(2, seed=-1)


def test_families_that_overflow_are_refused_not_returned() -> None:
    chain = {"nodes": 6, "graph": {"type": "chain"},
             "mechanism": {"type": "linear", "weights": {"type": "fixed", "value": 1e30}}}
    with pytest.raises(ValueError, match=r"task 3 of the stream 0 has non-finite values \(inf or NaN\): .* overflow float32"):
        sample_tasks(chain, base_seed=0, start=3, count=2, n_obs=8)
    wide = {"nodes": 3, "graph": {"type": "chain"},
            "noise": {"type": "cauchy", "scale": {"type": "fixed", "value": 3e38}}}
    with pytest.raises(ValueError, match=r"non-finite values"):
        sample_tasks(wide, base_seed=0, start=0, count=4, n_obs=64)
    fine = sample_tasks({"nodes": 4, "graph": {"type": "chain"}}, base_seed=0, start=0, count=2, n_obs=8)
    assert np.isfinite(fine.data).all()


# ---------------------------------------------------------------- overflow past float32
# A finite spec can still overflow float32 when it is sampled (weights of 1e30 along a
# chain, a Cauchy scale near the float32 maximum, an intervention value near it times a
# weight of 2). Every call that returns an SCM's data refuses such values, naming where
# they came from, instead of handing inf or NaN to a model.

OVERFLOWING = {
    "weights": {"nodes": 6, "graph": {"type": "chain"},
                "mechanism": {"type": "linear", "weights": {"type": "fixed", "value": 1e30}}},
    "cauchy": {"nodes": 3, "graph": {"type": "chain"},
               "noise": {"type": "cauchy", "scale": {"type": "fixed", "value": 3e38}}},
}
OVERFLOW = r"has non-finite values \(inf or NaN\): the SCM's parameters .* or the intervention values overflow float32"


def overflowing_calls(spec: Spec) -> dict[str, tuple[Callable[[], object], str]]:
    """Each engine call that returns data of the SCM of ``spec``, with the name its
    refusal must give."""
    from envs.episode import Episodes
    from envs.vector import StepArrays

    bad, fine = sample_scm(spec, 0), sample_scm({"nodes": spec["nodes"], "graph": {"type": "chain"}}, 0)
    d, last = bad.d, bad.topological_order[-1]
    none, at_root = np.full(1, -1, np.int64), np.array([bad.topological_order[0]], np.int64)
    one = np.ones(1, np.float32)
    mask = np.zeros((64, d), bool)
    mask[:, last] = True
    episodes, arrays = Episodes.empty(1, d, 0), StepArrays.empty(1, 4, d)
    episodes.scms[0] = bad
    episodes.valid[0, bad.topological_order[0]] = True
    episodes.target[0] = last
    step = (np.zeros((1, d + 1)), np.ones(1, bool), 4, 0, (1.0, 0.0, 0.0, 100.0, 5.0))
    return {
        "sample": (lambda: bad.sample(64), "the sample"),
        "sample-seed": (lambda: bad.sample(64, seed=1), "the sample"),
        "sample-do": (lambda: bad.sample(64, do={bad.topological_order[0]: 1.0}), "the sample"),
        "sample-per-row": (lambda: bad.sample(64, do=(mask, np.zeros((64, d)))), "the sample"),
        "column_under_interventions": (lambda: bad.column_under_interventions(none, one, 64, 0, last),
                                       "the sample under common random numbers"),
        "common_random_numbers": (lambda: bad.common_random_numbers(64, 0, last).columns(at_root, one),
                                  "the sample under common random numbers"),
        "sample_interventions": (lambda: _core.sample_interventions([fine, bad], np.full(2, -1, np.int64),
                                                                    np.ones(2, np.float32), 64, d), r"the sample of scms\[1\]"),
        "columns_under_interventions": (lambda: _core.columns_under_interventions(
            [fine, bad], np.full((2, 1), -1, np.int64), np.ones((2, 1), np.float32), 64, [0, 0],
            np.array([last, last], np.int64)), r"the sample of scms\[1\] under common random numbers"),
        "start_episodes": (lambda: _core.start_episodes(family_json(spec), [0], 64, d, -2.0, 2.0),
                           "the start of the episode of seed 0"),
        "step_envs": (lambda: _core.step_envs(episodes, arrays, *step), "the step of environment 0"),
    }


CALLS = list(overflowing_calls(OVERFLOWING["weights"]))


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("spec", list(OVERFLOWING))
def test_scm_data_that_overflow_are_refused_not_returned(spec: str, call: str) -> None:
    run, name = overflowing_calls(OVERFLOWING[spec])[call]
    assert_raises(run, ValueError, rf"^{name} {OVERFLOW}; choose smaller ones$")


def test_an_intervention_value_that_overflows_is_refused() -> None:
    """Weights of 2 are fine; do(X = 3e38) on the chain's root makes its child 6e38."""
    doubling = sample_scm({"nodes": 3, "graph": {"type": "chain"},
                           "mechanism": {"type": "linear", "weights": {"type": "fixed", "value": 2.0}}}, 0)
    root = doubling.topological_order[0]
    assert np.isfinite(doubling.sample(8, do={root: 5e37})[0]).all()
    assert_raises(lambda: doubling.sample(8, do={root: 3e38}), ValueError, rf"^the sample {OVERFLOW}")
