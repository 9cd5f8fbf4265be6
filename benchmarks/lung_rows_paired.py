"""Paired difference of two runs of the lung benchmarks on the same scans: B - A, bootstrap CI over cases.

Usage:
  .venv/bin/python benchmarks/lung_rows_paired.py --a A1.json A2.json --b B1.json B2.json [--method hybrid]
  .venv/bin/python benchmarks/lung_rows_paired.py --a ROWS.json --b ROWS.json --method hybrid-thresholds --method-b hybrid

Reads the ``--json`` rows of ``lung_model_validation.py`` (a list: one row per case and method,
with ``dice`` and, on painted cases, ``error``) or of ``lung_bases_heldout.py`` (``{"rows":
[...]}``: one row per cut, the method's Dice under its name, None where refused). Rows of the
same scan (case, and cut height) in A and B are paired: ``--method`` of A against
``--method-b`` of B (default the same method; two methods of one run: the same file twice). Prints B - A of Dice
(mean, 95 % percentile bootstrap CI over scans, seed 0, how many higher / lower), "held" /
"contradicted" / "not shown" (:func:`covidct.evaluation.verdict`), the counts of Dice >= 0.95
and of involvement within 0.05, and the scans one run refused and the other did not.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import bootstrap

from covidct.evaluation import verdict


def read_rows(files: list[Path], method: str) -> dict[str, dict]:
    """``{scan name: {"dice", "error"}}`` of ``method`` (Dice None: refused)."""
    out: dict[str, dict] = {}
    for file in files:
        data = json.loads(file.read_text())
        for row in data["rows"] if isinstance(data, dict) else data:
            if "mm" in row:  # lung_bases_heldout: one row per cut, Dice by method
                if method in row:
                    out[f"{row['case']} {row['mm']:g} mm"] = {"dice": row[method], "error": None}
            elif row.get("method") == method:
                out[row["case"]] = {"dice": row["dice"], "error": row.get("error")}
    return out


def bootstrap_mean(d: np.ndarray, *, n: int = 10000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile bootstrap CI of the mean of ``d`` (scipy.stats.bootstrap)."""
    if np.ptp(d) == 0:
        return float(d[0]), float(d[0])
    res = bootstrap((d,), np.mean, n_resamples=n, method="percentile", random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", nargs="+", type=Path, required=True)
    parser.add_argument("--b", nargs="+", type=Path, required=True)
    parser.add_argument("--method", default="hybrid", help="A's method")
    parser.add_argument("--method-b", help="B's method (default: --method)")
    args = parser.parse_args()
    missing = [str(f) for f in args.a + args.b if not f.is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(missing)}")
    a, b = read_rows(args.a, args.method), read_rows(args.b, args.method_b or args.method)
    both = sorted(set(a) & set(b))
    scored = [k for k in both if a[k]["dice"] is not None and b[k]["dice"] is not None]
    for k in both:
        if (a[k]["dice"] is None) != (b[k]["dice"] is None):
            print(f"refused by {'A' if a[k]['dice'] is None else 'B'} only: {k} "
                  f"(the other: {a[k]['dice'] or b[k]['dice']:.4f})")
    if not scored:
        raise SystemExit("error: no scan scored by both runs")
    d = np.array([b[k]["dice"] - a[k]["dice"] for k in scored])
    lo, hi = bootstrap_mean(d)
    print(f"{len(scored)} scans scored by both ({len(set(a) ^ set(b))} in one run only); "
          f"Dice B - A {d.mean():+.4f} ({lo:+.4f}..{hi:+.4f}): {verdict({'ci_low': lo, 'ci_high': hi})}; "
          f"B higher on {(d > 0).sum()}, lower on {(d < 0).sum()}")
    for name, rows in (("A", a), ("B", b)):
        dice = [rows[k]["dice"] for k in scored]
        errors = [rows[k]["error"] for k in scored if rows[k]["error"] is not None]
        print(f"{name}: Dice >= 0.95 on {sum(x >= 0.95 for x in dice)} of {len(dice)}, lowest {min(dice):.3f}; "
              f"involvement within 0.05 on {sum(abs(e) <= 0.05 for e in errors)} of {len(errors)}")
    for k in scored:
        if abs(b[k]["dice"] - a[k]["dice"]) >= 0.01:
            print(f"  {k}: {a[k]['dice']:.3f} -> {b[k]['dice']:.3f}")


if __name__ == "__main__":
    main()
