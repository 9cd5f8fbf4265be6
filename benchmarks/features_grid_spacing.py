"""Seconds per case of ``covidct features`` on a preprocessed folder: at the stored grid's
spacing (the default) versus the preset's 1 mm resampling (``--preset-spacing``).

Run: PYTHONPATH=src python benchmarks/features_grid_spacing.py [--grid tiny-6mm]

Builds a plain dataset of the real CT lung1 (lungs segmented), preprocesses it onto the
grid, then times the covid-mtl radiomics (no HOG) both ways, one worker.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from covidct.features.batch import extract_dataset_features
from covidct.io.samples import sample_path
from covidct.preprocess import preprocess_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="tiny-6mm")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        root.mkdir()
        pd.DataFrame([{"patient_id": "lung1", "image": str(sample_path("lung1"))}]).to_csv(
            root / "cases.csv", index=False)
        prep = Path(tmp) / "prep"
        t0 = time.perf_counter()
        preprocess_dataset(root, prep, grid=args.grid, workers=1)
        rows = {"grid": args.grid, "preprocess_s": round(time.perf_counter() - t0, 1)}
        for name, preset_spacing in (("grid_spacing", False), ("preset_1mm", True)):
            t0 = time.perf_counter()
            s = extract_dataset_features(prep, Path(tmp) / f"{name}.parquet", hog=False,
                                         preset="covid-mtl", preset_spacing=preset_spacing)
            rows[name] = {"seconds": round(time.perf_counter() - t0, 1), "n_ok": s.n_ok,
                          "n_features": s.n_features,
                          "spacing_mm_xyz": s.spacing_mm_xyz}
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
