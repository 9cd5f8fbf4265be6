"""Timing and memory helpers shared by the benchmark scripts (``python benchmarks/NAME.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable


def proc_kb(field: str) -> float:
    """A ``/proc/self/status`` field in kB (``VmRSS``, ``VmHWM``), NaN when absent."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    return float("nan")


def reset_peak_rss() -> None:
    """Reset the peak RSS (VmHWM) to the current RSS (Linux >= 4.0; a no-op elsewhere)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def sync(device: str) -> None:
    """Wait for queued CUDA work (timings of GPU calls are otherwise too short)."""
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    """``fn()``'s result and its wall-clock seconds."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def machine_seconds() -> float:
    """Seconds of a fixed CPU workload (a pure-Python loop of 10**7 additions, then a 3D
    Gaussian filter of a 128**3 float32 volume on one thread): printed beside timings so that
    runs on days of different machine speed can be compared."""
    import numpy as np
    from scipy import ndimage as ndi

    t0 = time.perf_counter()
    total = 0
    for i in range(10**7):
        total += i
    ndi.gaussian_filter(np.random.default_rng(0).random((128, 128, 128), np.float32), 2.0)
    return time.perf_counter() - t0


def best_time(fn: Callable[[], object], device: str, repeat: int) -> float:
    """Seconds of the fastest of ``repeat`` calls of ``fn`` after one warm-up call."""
    fn()
    sync(device)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return min(times)
