"""Paired difference of two classifier runs on the same test slices (patient bootstrap).

Usage: .venv/bin/python benchmarks/paired_predictions.py RUN_A RUN_B [--metric accuracy auc ...]

Reads each run's ``predictions.csv`` (case_id, patient_id, true, p0..pK), keeps the slices
both runs scored, and prints A - B with a 95 % CI and the verdict ("held", "contradicted",
"not shown") from :func:`covidct.evaluation.paired_difference`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--metric", nargs="+", default=["accuracy", "balanced_accuracy", "auc"])
    parser.add_argument("--bootstrap", type=int, default=2000)
    args = parser.parse_args()

    from covidct.evaluation import paired_difference, verdict

    a = pd.read_csv(args.run_a / "predictions.csv")
    b = pd.read_csv(args.run_b / "predictions.csv")
    both = a.merge(b, on=["case_id", "patient_id", "true"], suffixes=("_a", "_b"))
    probs = sorted(c for c in a.columns if c.startswith("p") and c[1:].isdigit())
    print(f"{len(both)} slices of {both['patient_id'].nunique()} patients scored by both runs")
    print("| metric | A | B | A - B (95 % CI) | verdict |\n|---|---|---|---|---|")
    for metric in args.metric:
        d = paired_difference(both["true"].to_numpy(), both[[f"{p}_a" for p in probs]].to_numpy(),
                              both[[f"{p}_b" for p in probs]].to_numpy(), n_classes=len(probs),
                              metric=metric, groups=both["patient_id"].to_numpy(),
                              bootstrap=args.bootstrap)
        print(f"| {metric} | {d['value_a']:.3f} | {d['value_b']:.3f} | {d['difference']:+.3f} "
              f"({d['ci_low']:+.3f} to {d['ci_high']:+.3f}) | {verdict(d)} |")


if __name__ == "__main__":
    main()
