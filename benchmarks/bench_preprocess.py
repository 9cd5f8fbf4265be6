"""Benchmark cohort preprocessing: cases per minute and peak memory per worker, 1 and 2 workers.

Usage:
    .venv/bin/python benchmarks/bench_preprocess.py [--grid paper] [--sim N] [--sim-size full]
        [--repeat-real K] [--workers 1 2]

Builds a plain-layout dataset from the two real sample CTs (each listed K times under
different case ids, so there is enough work to share) and N simulated cases, then runs
``preprocess_dataset`` with each worker count into a fresh folder, segmenting the lungs
(the expensive step) for every case. Prints one line per run and a Markdown table.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from covidct.io.samples import sample_path
from covidct.preprocess import preprocess_dataset, read_manifest


def build_dataset(root: Path, repeat_real: int, n_sim: int, sim_size: str) -> int:
    rows = []
    for name in ("lung1", "lung2"):
        path = sample_path(name)
        for k in range(repeat_real):
            rows.append({"patient_id": f"{name}-{k}", "case_id": f"{name}-{k}", "image": str(path)})
    if n_sim:
        from covidct.datasets import write_dataset
        from covidct.phantom import simulate_cohort

        sim_root = root / "sim"
        table = write_dataset(simulate_cohort(n_sim, seed=7, size=sim_size), sim_root, "plain")
        for row in table.to_dict("records"):
            rows.append({"patient_id": row["patient_id"], "case_id": row["case_id"],
                         "image": str(sim_root / row["image"])})
    root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(root / "cases.csv", index=False)
    return len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", default="paper")
    ap.add_argument("--sim", type=int, default=4, help="number of simulated cases")
    ap.add_argument("--sim-size", default="full")
    ap.add_argument("--repeat-real", type=int, default=2)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="covidct-bench-prep-"))
    try:
        n = build_dataset(tmp / "data", args.repeat_real, args.sim, args.sim_size)
        lines = []
        for w in args.workers:
            out = tmp / f"out-{w}"
            t0 = time.perf_counter()
            summary = preprocess_dataset(tmp / "data", out, grid=args.grid, workers=w)
            wall = time.perf_counter() - t0
            m = read_manifest(out)
            ok = m[m.status == "ok"]
            peak = ok.groupby("worker_pid")["worker_peak_rss_mb"].max()
            ratio = (ok.raw_bytes.sum() / ok.stored_bytes.sum()) if len(ok) else float("nan")
            line = (f"| {w} | {n} | {summary.n_ok} | {wall:.1f} | {60 * n / wall:.1f} | "
                    f"{ok.total_s.mean():.1f} | {peak.max():.0f} | {ratio:.0f}x |")
            print(line, flush=True)
            lines.append(line)
        print(f"\ngrid {args.grid}; {args.repeat_real}x2 real CTs + {args.sim} simulated "
              f"({args.sim_size}) cases")
        print("| workers | cases | ok | wall s | cases/min | s/case (in worker) | "
              "peak RSS/worker MB | compression |")
        print("|---|---|---|---|---|---|---|---|")
        print("\n".join(lines))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
