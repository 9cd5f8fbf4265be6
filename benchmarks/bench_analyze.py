"""Time of ``covidct analyze`` per study (default: the real sample CTs), with and without a 3D model.

Usage: .venv/bin/python benchmarks/bench_analyze.py [STUDY ...] [--out bench_analyze/]
       [--presets fast default]

For each study and preset, runs the CLI end to end in a fresh process
(``covidct analyze STUDY -o OUT --preset P``: start-up, imports, every step, the report
written) and reads the per-step times from its report.json. Besides wall time it gives the
child's CPU time (user + system): on a shared, busy machine that is the better guide to the
wall time on a free one. ``fast`` = no 3D model (the
issue's target: at most 30 s per study on the 2-core machine); ``default`` = the shipped
demo model. Also times ``covidct --version`` and ``--help``. Prints a Markdown table and
the load average (the machine is shared: a busy machine makes every number larger).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

COVIDCT = [sys.executable, "-m", "covidct.cli.app"]


def _run(args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one CLI run in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(COVIDCT + args, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("studies", nargs="*", default=["sample:lung1", "sample:lung2"])
    ap.add_argument("--out", type=Path, default=Path("bench_analyze"))
    ap.add_argument("--presets", nargs="*", default=["fast", "default"])
    args = ap.parse_args()

    start = {}
    for flag in ("--version", "--help"):
        runs = [_run([flag]) for _ in range(3)]
        start[flag] = {"wall_s": round(min(r[0] for r in runs), 3),
                       "cpu_s": round(min(r[1] for r in runs), 3)}
        print(f"start-up {flag} (best of 3): wall {start[flag]['wall_s']:.2f} s, "
              f"CPU {start[flag]['cpu_s']:.2f} s")
    rows = []
    for study in args.studies:
        for preset in args.presets:
            out = args.out / f"{study.replace(':', '_').replace('/', '_')}-{preset}"
            shutil.rmtree(out, ignore_errors=True)
            load = os.getloadavg()[0]
            wall, cpu = _run(["analyze", study, "-o", str(out), "--preset", preset])
            rec = json.loads((out / "report.json").read_text())
            t = rec["timings_s"]
            rows.append({"study": study, "preset": preset, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                         "steps_s": round(t["total"], 1), "lungs_s": t["lungs"],
                         "lesions_s": t["lesions"], "model_s": t.get("3d model", 0.0),
                         "load": round(load, 1), "lesion_pct": round(100 * rec["summary"]["lesion_fraction"], 2),
                         "category": rec["summary"]["ct_category"],
                         "p_covid_ct": rec["summary"]["covid_ct_probability"]})
            print(json.dumps(rows[-1]), flush=True)
    print("\n| study | preset | CLI wall (s) | CLI CPU (s) | steps (s) | lungs (s) | lesions (s) | 3D model (s) | load avg | lesion % | category |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['study']} | {r['preset']} | {r['wall_s']} | {r['cpu_s']} | {r['steps_s']} | {r['lungs_s']:.1f} | "
              f"{r['lesions_s']:.1f} | {r['model_s']:.1f} | {r['load']} | {r['lesion_pct']} | {r['category']} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"start_up_s": start, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
