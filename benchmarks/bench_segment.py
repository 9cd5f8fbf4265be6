"""Time and memory of covidct.lungs.segment_lungs on CT files (default: the two real CTs).

Usage: .venv/bin/python benchmarks/bench_segment.py [CT_PATH ...] [--method refined|classical|both]
       [--repeat N]
Each study runs in a fresh child process; prints method, wall time (s), the child's peak
resident memory (MB, ru_maxrss) and the volume of each lung (mL).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from pathlib import Path

DEFAULT = [
    Path(__file__).resolve().parents[2] / "shared" / "data" / "real-ct" / f"lung{i}_image.nrrd"
    for i in (1, 2)
]


def _child(path: str, method: str, queue) -> None:
    import SimpleITK as sitk

    from covidct.io.volume import CTVolume
    from covidct.lungs import LEFT, RIGHT, segment_lungs

    vol = CTVolume.from_sitk(sitk.ReadImage(path))
    t0 = time.perf_counter()
    labels = segment_lungs(vol, method=method)
    dt = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    ml = vol.voxel_volume_ml
    queue.put((dt, peak_mb, (labels == RIGHT).sum() * ml, (labels == LEFT).sum() * ml))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", type=Path, default=DEFAULT)
    ap.add_argument("--method", choices=["refined", "classical", "both"], default="both")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    methods = ["classical", "refined"] if args.method == "both" else [args.method]
    ctx = mp.get_context("spawn")
    print(f"{'study':<22}{'method':<11}{'time_s':>8}{'peak_MB':>9}{'right_mL':>10}{'left_mL':>9}{'total_mL':>10}")
    for path in args.paths:
        for method in methods:
            for _ in range(args.repeat):
                q = ctx.Queue()
                p = ctx.Process(target=_child, args=(str(path), method, q))
                p.start()
                dt, peak, r, l = q.get()
                p.join()
                print(f"{path.name:<22}{method:<11}{dt:>8.2f}{peak:>9.0f}{r:>10.0f}{l:>9.0f}{r + l:>10.0f}")


if __name__ == "__main__":
    main()
