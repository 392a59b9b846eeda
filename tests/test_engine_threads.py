"""One Scm shared by several Python threads.

Calls that draw from an Scm's own noise stream take turns on it, so that threads sharing
one Scm together draw what the same calls would draw one after another (in some order);
the batched calls, which advance the streams of all their SCMs in parallel, refuse an Scm
listed twice or one that another thread is using, by its index. Before, any overlap of two
calls on one Scm raised PyO3's bare ``RuntimeError: Already borrowed``.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable

import numpy as np
import pytest

from causal_meta import _core
from causal_meta.scm import Scm, sample_scm
from envs.episode import Episodes
from envs.vector import StepArrays

ROWS = 20_000
"""Rows per call: 100k cells on 5 nodes, well above the size at which the engine releases
the GIL, so that the threads' calls overlap."""


def chain() -> Scm:
    return sample_scm({"nodes": 5, "graph": {"type": "chain"}}, 0)


def in_threads(work: Callable[[], list[bytes]], threads: int = 2) -> list[bytes]:
    """Run ``work`` in ``threads`` threads started together; their results, joined. Any
    exception in a thread is raised here."""
    start = threading.Barrier(threads)
    results: list[list[bytes]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def run(slot: list[bytes]) -> None:
        try:
            start.wait()
            slot.extend(work())
        except BaseException as err:  # noqa: BLE001 - reported by the caller
            errors.append(err)

    pool = [threading.Thread(target=run, args=(slot,)) for slot in results]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return [x for slot in results for x in slot]


def test_two_threads_draw_the_own_stream_in_turn() -> None:
    """Two threads each draw 40 large and 40 small unseeded samples from one Scm (the small
    ones too small to release the GIL, so they wait for a large one holding the stream).
    Every call takes the same share of the stream whatever its size, so the k-th call in
    time draws from the k-th state of the stream: each sample must be the sample of its
    size from one state, and the 160 calls must have used the first 160 states once each.
    Seeded calls and what-ifs, which leave the stream alone, run among them."""
    scm = chain()
    alone = pickle.loads(pickle.dumps(scm))
    last = scm.topological_order[-1]
    seeded = scm.sample(ROWS, seed=7)[0].tobytes()

    def work() -> list[bytes]:
        drawn = []
        for _ in range(40):
            drawn += [scm.sample(ROWS)[0].tobytes(), scm.sample(2)[0].tobytes()]
            assert scm.sample(ROWS, seed=7)[0].tobytes() == seeded
            scm.column_under_interventions(np.zeros(4, np.int64), np.ones(4, np.float32), ROWS // 4, 1, last)
        return drawn

    drawn = in_threads(work)
    state_of: dict[bytes, int] = {}
    for k in range(160):
        for n in (ROWS, 2):
            state_of[pickle.loads(pickle.dumps(alone)).sample(n)[0].tobytes()] = k
        alone.sample(1)
    assert sorted(state_of[x] for x in drawn) == list(range(160))
    assert scm.sample(3)[0].tobytes() == alone.sample(3)[0].tobytes()


def test_seed_noise_and_pickling_while_another_thread_samples() -> None:
    scm = chain()

    def work() -> list[bytes]:
        for k in range(30):
            scm.seed_noise(k)
            copy = pickle.loads(pickle.dumps(scm))
            assert copy.d == scm.d
            scm.sample(ROWS)
        return []

    in_threads(work)


def test_an_scm_listed_twice_in_a_batched_call_is_named() -> None:
    scm, other = chain(), chain()
    nodes, values = np.full(3, -1, np.int64), np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"^scms\[2\] is scms\[0\]: an Scm may appear only once in a call that "
                                         r"draws from the own noise streams$"):
        _core.sample_interventions([scm, other, scm], nodes, values, 2, 5)
    episodes = Episodes.empty(2, 5, 0)
    episodes.scms[:] = [scm, scm]
    episodes.valid[:, 0] = True
    episodes.target[:] = scm.topological_order[-1]
    with pytest.raises(ValueError, match=r"^scms\[1\] is scms\[0\]"):
        _core.step_envs(episodes, StepArrays.empty(2, 4, 5), np.zeros((2, 6)), np.ones(2, bool), 1, 0,
                        (1.0, 0.0, 0.0, 100.0, 5.0))


def test_a_batched_call_on_an_scm_that_another_thread_samples_is_named() -> None:
    """sample_interventions needs its SCMs to itself; while another thread samples one,
    it is refused by index (tried until the two calls overlap, which the other thread's
    long, GIL-free calls make almost immediate)."""
    scm = chain()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            scm.sample(ROWS * 10)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        for _ in range(10_000):
            try:
                _core.sample_interventions([scm], np.full(1, -1, np.int64), np.zeros(1, np.float32), 2, 5)
            except RuntimeError as err:
                message = str(err)
                break
        else:
            pytest.fail("the calls never overlapped")
    finally:
        stop.set()
        thread.join()
    assert message == ("scms[0] is in use by another thread (a call on that Scm has not returned yet): wait for "
                       "it, or give this call its own copy (a pickle round trip)")
