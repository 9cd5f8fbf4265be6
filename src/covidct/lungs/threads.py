"""The lung steps' threads: slices processed side by side (SciPy's ndimage releases the GIL)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["cores", "thread_map"]

T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def thread_map(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(item) for item in items]``, on one thread per core: for independent per-slice
    work whose time is in NumPy, SciPy and scikit-image calls (the same results, in order)."""
    items = list(items)
    if cores() < 2 or len(items) < 2:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=cores()) as pool:
        return list(pool.map(fn, items))
