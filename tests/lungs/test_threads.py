"""Slices side by side: thread_map keeps the order and the results of a plain loop."""

from __future__ import annotations

import threading

import numpy as np
from scipy import ndimage as ndi

from covidct.lungs.threads import cores, thread_map


def test_thread_map_equals_the_loop_in_order():
    rng = np.random.default_rng(0)
    slices = [rng.random((64, 64)) > 0.4 for _ in range(9)]

    def work(m: np.ndarray) -> np.ndarray:
        return ndi.distance_transform_edt(ndi.binary_opening(m))

    out = thread_map(work, slices)
    assert len(out) == len(slices)
    assert all(np.array_equal(a, work(m)) for a, m in zip(out, slices))
    assert thread_map(work, []) == [] and np.array_equal(thread_map(work, slices[:1])[0], work(slices[0]))


def test_thread_map_uses_one_thread_per_core():
    seen = set()
    barrier = threading.Barrier(min(cores(), 4), timeout=10)

    def work(i: int) -> int:
        seen.add(threading.get_ident())
        if cores() >= 2:
            barrier.wait()  # only passes when the items run side by side
        return i * i

    assert thread_map(work, range(min(cores(), 4))) == [i * i for i in range(min(cores(), 4))]
    assert len(seen) == min(cores(), 4)
