"""A small synthetic feature table with patients having several scans."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture()
def feature_table() -> pd.DataFrame:
    """120 scans of 60 patients; ct/nat separable by two features, severity by a third."""
    rng = np.random.default_rng(0)
    n_pat = 60
    ct = rng.integers(0, 2, n_pat)
    nat = rng.integers(0, 2, n_pat)
    sev = rng.integers(0, 3, n_pat)
    rows = []
    for p in range(n_pat):
        for scan in range(2):
            noise = rng.normal(0, 1, 8)
            rows.append({
                "case_id": f"c{p:03d}-{scan}", "patient_id": f"P{p:03d}",
                "ct_positive": ct[p], "nat_positive": nat[p], "severity": sev[p], "status": "ok",
                "original_glcm_Contrast": 4.0 * ct[p] + noise[0],
                "original_firstorder_Mean": 4.0 * nat[p] + noise[1],
                "wavelet-LLH_glrlm_RunEntropy": 3.0 * sev[p] + noise[2],
                **{f"original_glszm_Noise{i}": noise[3 + i] for i in range(5)},
            })
    return pd.DataFrame(rows)
