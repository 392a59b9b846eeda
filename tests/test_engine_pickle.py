"""Unpickling an Scm checks the state it is given: a tampered pickle is refused with a
clear error and never reaches unchecked indexing (no crash, no abort, no rows of
another SCM)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causal_meta._core import _scm_from_state
from causal_meta.scm import sample_scm

FAMILY = {"nodes": [4, 6], "graph": {"type": "er", "edges_per_node": 1.5},
          "mechanism": {"type": "mixture", "components": [{"type": "linear"}, {"type": "mlp", "hidden": 4},
                                                          {"type": "gp", "features": 4}], "weights": [1, 1, 1]}}


def state_of(seed: int = 0) -> dict:
    scm = sample_scm(FAMILY, seed)
    ctor, (state,) = scm.__reduce__()
    return json.loads(state)


def load(state: dict):
    return _scm_from_state(json.dumps(state).encode())


def test_round_trip_still_works() -> None:
    scm = sample_scm(FAMILY, 3)
    again = pickle.loads(pickle.dumps(scm))
    np.testing.assert_array_equal(again.sample(5, seed=1)[0], scm.sample(5, seed=1)[0])


def _first_weights(state: dict) -> dict:
    """The span (start, len) of the first mechanism's weights that has some."""
    for m in state[0]["mechanisms"]:
        body = next(iter(m.values()))
        if isinstance(body, dict) and "w" in body and body["w"]["len"]:
            return body["w"]
    raise AssertionError("no mechanism with weights")


@pytest.mark.parametrize(("tamper", "message"), [
    (lambda s: s[0]["dag"].__setitem__("d", s[0]["dag"]["d"] + 3), r"adjacency has .* entries"),
    (lambda s: s[0]["dag"]["order"].reverse(), r"order is not topological"),
    (lambda s: s[0]["dag"]["order"].__setitem__(0, s[0]["dag"]["order"][1]), r"order is not a permutation"),
    (lambda s: s[0]["dag"]["adj"].__setitem__(0, 1), r"parents of node 0 disagree|adjacency"),
    (lambda s: s[0]["mechanisms"].pop(), r"mechanisms and .* noise laws"),
    (lambda s: _first_weights(s).__setitem__("len", _first_weights(s)["len"] - 1), r"parameters do not fit"),
    (lambda s: _first_weights(s).__setitem__("start", len(s[0]["params"])), r"parameters .* lie outside the \d+ parameters"),
    (lambda s: s[0]["noises"][0].__setitem__("scale", -1.0), r"noise scale -1 is not finite and positive"),
    (lambda s: s[0]["noises"][0].__setitem__("scale", 1e39), r"noise scale inf|is not finite"),
    (lambda s: s[1].__setitem__("s", [0, 0, 0, 0]), r"noise stream's state is all zero"),
])
def test_tampered_states_are_refused_with_the_reason(tamper, message: str) -> None:
    state = state_of()
    tamper(state)
    with pytest.raises(ValueError, match=r"corrupt Scm pickle state: .*" + message):
        load(state)


def _leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        yield path, node  # a list may be cut or grown as a whole
        for i, value in enumerate(node):
            yield from _leaves(value, (*path, i))
    else:
        yield path, node


def _set(state, path, value):
    node = state
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


REPLACEMENTS = st.one_of(
    st.integers(-3, 10**6), st.sampled_from([0, 1, 2**64 - 1, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True, width=32), st.just([]), st.just(None),
    st.lists(st.integers(0, 8), max_size=12),
)


@given(st.integers(0, 50), st.integers(0, 10**6), REPLACEMENTS)
@settings(max_examples=300, deadline=None)
def test_fuzzed_states_never_crash(seed: int, pick: int, replacement) -> None:
    """Mutate one field of a real state; loading either refuses it with ValueError or
    gives an SCM that samples finite-shaped output. A crash ends the test run."""
    state = state_of(seed % 5)
    leaves = list(_leaves(state))
    path, value = leaves[pick % len(leaves)]
    if isinstance(value, list) and replacement is not None and pick % 3 == 0:
        replacement = value[: len(value) // 2]  # cut a list short
    if not path:
        return
    _set(state, path, replacement)
    try:
        scm = load(state)
    except (ValueError, TypeError, OverflowError):
        return
    # Accepted: the mutation kept the state consistent (a weight changed, say), so the
    # SCM samples rows of its own width, or refuses them if the new weight overflows float32.
    try:
        data, mask = scm.sample(3, seed=0)
    except ValueError as err:
        assert str(err).startswith("the sample has non-finite values"), err
        return
    assert data.shape == (3, scm.d) and mask.shape == (3, scm.d) and scm.d == len(scm.topological_order)
