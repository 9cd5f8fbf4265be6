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
