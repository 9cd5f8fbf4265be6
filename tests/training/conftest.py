"""A small preprocessed cohort written straight into the store (no simulation needed)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from covidct.io import CTVolume
from covidct.preprocess import save_case
from covidct.preprocess.grid import GridPreset

GRID = GridPreset("test-8mm", (8.0, 8.0, 8.0), (16, 20, 20), (12, 16, 16))


@pytest.fixture(scope="session")
def cohort(tmp_path_factory):
    """16 cases of 8 patients (2 scans each); ct/nat/severity labels; a dense blob marks CT+."""
    root = tmp_path_factory.mktemp("prep")
    rng = np.random.default_rng(0)
    rows, feats = [], []
    for i in range(16):
        patient = f"P{i // 2}"
        ct = int((i // 2) % 2)
        sev = int((i // 2) % 3)
        arr = np.full(GRID.shape, -1024, np.int16)
        lungs = np.zeros(GRID.shape, np.uint8)
        lungs[3:13, 4:16, 2:9] = 1
        lungs[3:13, 4:16, 11:18] = 2
        arr[lungs > 0] = rng.normal(-850, 30, int((lungs > 0).sum())).astype(np.int16)
        if ct:
            arr[6:10, 6:12, 3:8] = 0
        vol = CTVolume(arr, GRID.spacing_mm)
        save_case(root / "cases", f"c{i:02d}", vol, lungs)
        rows.append({"case_id": f"c{i:02d}", "patient_id": patient, "ct_positive": ct,
                     "nat_positive": ct, "severity": sev, "status": "ok"})
        # two imaging features, then columns that must never reach a model: a timing, a
        # worker id, a label, geometry and a path (as written by features/batch.py)
        feats.append({"case_id": f"c{i:02d}", "patient_id": patient,
                      "original_firstorder_Mean": float(arr[lungs > 0].mean()),
                      "original_glcm_Noise": float(rng.normal()),
                      "status": "ok", "seconds": float(ct * 10 + rng.random()),
                      "worker_pid": 1000 + ct, "ct_positive": ct, "spacing_z": 8.0,
                      "path": f"cases/c{i:02d}_ct.nrrd"})
    pd.DataFrame(rows).to_parquet(root / "manifest.parquet")
    (root / "grid.json").write_text(json.dumps(GRID.to_dict()))
    pd.DataFrame(feats).to_parquet(root / "features.parquet")
    return root
