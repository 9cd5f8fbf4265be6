"""Re-evaluate a Mask R-CNN / COVID-CT-Mask-Net run on some of its test patients.

Usage: .venv/bin/python benchmarks/maskrcnn_subset.py RUN --exclude P000011 [-o OUT]

For a held-out number when some test patients were looked at while choosing the recipe:
the run's own ``config.yaml``, ``splits.csv`` and ``model.pt``, its test split without the
``--exclude``d patients, the same metrics as ``covidct train`` (patient bootstrap), written to
``OUT/metrics.json`` and ``metrics.md`` (default ``RUN/subset``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--exclude", nargs="+", default=[], help="patient ids left out of the test split")
    parser.add_argument("-o", "--out", type=Path)
    args = parser.parse_args()

    from covidct.detection.checkpoint import load_model_file
    from covidct.detection.config import load_detection_config
    from covidct.detection.training import _read_table, evaluate_detection

    cfg = load_detection_config(args.run / "config.yaml")
    splits = pd.read_csv(args.run / "splits.csv", dtype=str)
    test_ids = splits.loc[(splits["split"] == "test") & ~splits["patient_id"].isin(args.exclude), "case_id"]
    table = _read_table(cfg)
    test = table[table["case_id"].isin(set(test_ids))]
    missing = set(args.exclude) - set(splits.loc[splits["split"] == "test", "patient_id"])
    if missing:
        raise SystemExit(f"not test patients of {args.run}: {sorted(missing)}")
    out = args.out or args.run / "subset"
    out.mkdir(parents=True, exist_ok=True)
    model, _ = load_model_file(args.run / "model.pt")
    print(f"{len(test)} test slices of {test['patient_id'].nunique()} patients "
          f"({', '.join(sorted(test['patient_id'].unique()))})")
    evaluate_detection(model, cfg, test, out)
    print((out / "metrics.md").read_text())


if __name__ == "__main__":
    main()
