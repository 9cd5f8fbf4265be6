"""Batch features over a preprocessed folder: rows, labels, errors per case, resume, CSV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from covidct.features.batch import extract_dataset_features
from covidct.preprocess.store import save_case


def _folder(tmp_path, small_ct):
    volume, mask = small_ct
    root = tmp_path / "prep"
    rows = []
    for i in range(3):
        cid = f"case{i}"
        if i < 2:
            save_case(root / "cases", cid, volume.with_array(volume.array + 30 * i), mask)
        rows.append({"case_id": cid, "patient_id": f"P{i}", "ct_positive": i % 2, "severity": i,
                     "nat_positive": 1, "status": "ok", "lung_volume_ml": 1.0})
    rows.append({"case_id": "bad", "patient_id": "P9", "status": "failed"})
    pd.DataFrame(rows).to_parquet(root / "manifest.parquet")
    return root


@pytest.fixture(scope="module")
def scheduler():
    """One in-process Dask cluster for the module (a scheduler address, as for a real cluster)."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.mark.slow
def test_local_cluster_run(tmp_path, small_ct):
    root = _folder(tmp_path, small_ct)
    summary = extract_dataset_features(root, tmp_path / "f.parquet", preset="fast", hog=False)
    assert summary.n_ok == 2 and summary.n_failed == 1


def test_extract_dataset_features_resumable(tmp_path, small_ct, scheduler):
    root = _folder(tmp_path, small_ct)
    out = tmp_path / "feat.parquet"
    seen = []
    summary = extract_dataset_features(root, out, preset="fast", hog=True, scheduler=scheduler,
                                       progress=lambda d, t, r: seen.append((d, t, r["status"])))
    table = pd.read_parquet(out)
    assert summary.n_cases == 3 and summary.n_ok == 2 and summary.n_failed == 1
    assert len(seen) == 3 and seen[-1][0] == 3
    assert list(table.columns[:5]) == ["case_id", "patient_id", "ct_positive", "nat_positive", "severity"]
    assert set(table.case_id) == {"case0", "case1", "case2"}
    failed = table.set_index("case_id").loc["case2"]
    assert failed.status == "failed" and "not complete" in failed.error
    ok = table[table.status == "ok"]
    assert ok["original_glcm_Contrast"].notna().all() and "hog_8191" in table.columns
    assert ok["original_firstorder_Mean"].iloc[1] - ok["original_firstorder_Mean"].iloc[0] == 30
    again = extract_dataset_features(root, out, preset="fast", hog=True, scheduler=scheduler)
    assert again.n_skipped == 3 and again.n_ok == 2
    pd.testing.assert_frame_equal(pd.read_parquet(out), table)
    csv = tmp_path / "feat.csv"
    extract_dataset_features(root, csv, preset="fast", hog=False, scheduler=scheduler)
    from_csv = pd.read_csv(csv)
    np.testing.assert_allclose(from_csv.loc[from_csv.status == "ok", "original_glcm_Contrast"],
                               ok["original_glcm_Contrast"])
    assert not any(c.startswith("hog_") for c in from_csv.columns)
    # the sidecar says how the table was made, with the table's and the manifest's sha256
    import json

    from covidct.features.batch import sidecar_path
    from covidct.provenance import sha256_file

    prov = json.loads(sidecar_path(csv).read_text())["provenance"]
    assert prov["options"]["radiomics"]["name"] == "fast"
    assert prov["options"]["hog"] == {"enabled": False}
    hashes = {p["path"]: p["sha256"] for p in prov["inputs"]}
    assert hashes[str(csv)] == sha256_file(csv)
    assert hashes[str(root / "manifest.parquet")] == sha256_file(root / "manifest.parquet")
    assert prov["versions"]["numpy"] == np.__version__
