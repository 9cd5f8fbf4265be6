"""Load time and compression of the preprocessed store on a real CT at the paper grid.

Usage: .venv/bin/python benchmarks/bench_store.py [--grid paper] [--repeat 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from covidct.io import read_ct
from covidct.io.samples import sample_path
from covidct.lungs import segment_lungs
from covidct.preprocess import get_grid, load_case, save_case, to_grid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--grid", default="paper")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print("| study | grid shape | raw MB | stored MB | ratio | save s | load s (best) | bit-exact |")
    print("|---|---|---|---|---|---|---|---|")
    for name in ("lung1", "lung2"):
        vol = read_ct(sample_path(name))
        case = to_grid(vol, segment_lungs(vol), get_grid(args.grid))
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            paths = save_case(tmp, name, case.volume, case.lungs)
            t_save = time.perf_counter() - t0
            loads = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                back = load_case(tmp, name)
                loads.append(time.perf_counter() - t0)
            exact = np.array_equal(back.volume.array, case.volume.array) and np.array_equal(
                back.lungs, case.lungs)
            raw = case.volume.array.nbytes + case.lungs.nbytes
            stored = sum(p.stat().st_size for p in paths.values())
            print(f"| {name} | {case.volume.shape} | {raw / 2**20:.1f} | {stored / 2**20:.2f} | "
                  f"{raw / stored:.0f}x | {t_save:.2f} | {min(loads):.3f} | {exact} |")


if __name__ == "__main__":
    main()
