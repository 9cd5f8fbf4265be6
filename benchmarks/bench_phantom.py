"""Phantom speed: cases per second for each size preset (skips 'full' unless --full).

Usage: .venv/bin/python benchmarks/bench_phantom.py [--n 5] [--full] [--physics]
"""

from __future__ import annotations

import argparse
import time

from covidct.phantom import SIZE_PRESETS, PhantomOptions, simulate_cohort


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=5, help="cases per preset")
    ap.add_argument("--full", action="store_true", help="also time the 'full' preset")
    ap.add_argument("--physics", action="store_true", help="physics (FBP) mode")
    args = ap.parse_args()
    opts = PhantomOptions(physics=args.physics)
    for size, preset in SIZE_PRESETS.items():
        if size == "full" and not args.full:
            continue
        n = args.n if size in ("tiny", "small") else max(1, args.n // 3)
        t0 = time.perf_counter()
        for _ in simulate_cohort(n, 0, size=size, options=opts):
            pass
        dt = time.perf_counter() - t0
        print(f"{size:7s} {preset.shape!s:16s} {n:3d} cases  {dt / n:7.2f} s/case  "
              f"{n / dt:7.2f} cases/s")


if __name__ == "__main__":
    main()
