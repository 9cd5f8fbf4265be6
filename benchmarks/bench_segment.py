"""Time and memory of covidct.lungs.segment_lungs on CT files (default: the two real CTs).

Usage: .venv/bin/python benchmarks/bench_segment.py [CT_PATH ...]
       [--method refined|classical|model|hybrid|both]
       [--repeat N] [--cli]
Each study runs in a fresh child process; prints method, wall time (s), the child's peak
resident memory (MB, ru_maxrss) and the volume of each lung (mL). With ``--cli`` it times
the whole ``covidct segment CT -o mask.nii.gz`` command instead (start-up imports, reading,
segmentation, writing), as a user runs it, with the same Python. First it prints the seconds
of a fixed CPU workload (``_timing.machine_seconds``): the same code is slower on a slower day.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import machine_seconds

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


def _cli(path: Path, method: str) -> tuple[float, float]:
    """Wall time and CPU time (user + system, s) of one ``covidct segment`` call in a fresh
    interpreter. On a shared machine the CPU time is the steadier of the two."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-c", "from covidct.cli.app import main; main()", "segment",
               str(path), "-o", str(Path(tmp) / "lungs.nii.gz"), "--method", method]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", type=Path, default=DEFAULT)
    ap.add_argument("--method", choices=["refined", "classical", "model", "hybrid", "both"], default="both")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--cli", action="store_true", help="time the whole covidct segment command")
    args = ap.parse_args()
    methods = ["classical", "refined"] if args.method == "both" else [args.method]
    print(f"machine: fixed workload {machine_seconds():.2f} s")
    if args.cli:
        print(f"{'study':<22}{'method':<11}{'wall_s':>8}{'cpu_s':>8}")
        for path in args.paths:
            for method in methods:
                for _ in range(args.repeat):
                    wall, cpu = _cli(path, method)
                    print(f"{path.name:<22}{method:<11}{wall:>8.2f}{cpu:>8.2f}", flush=True)
        return
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
