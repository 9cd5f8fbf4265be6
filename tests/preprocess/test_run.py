"""Cohort preprocessing on a local Dask cluster: manifest, failures, resume, retry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from covidct.datasets import write_dataset
from covidct.errors import InvalidInputError
from covidct.io import CTVolume
from covidct.preprocess import GridPreset, load_case, preprocess_dataset, read_manifest

GRID = GridPreset("test-4mm", (4.0, 4.0, 4.0), (30, 40, 40), (16, 24, 24))


@dataclass(frozen=True, eq=False)
class _Case:
    case_id: str
    patient_id: str
    volume: CTVolume
    lungs: np.ndarray
    lesions: np.ndarray
    labels: dict[str, Any] = field(default_factory=dict)


def _case(i: int) -> _Case:
    rng = np.random.default_rng(i)
    shape = (24, 48, 48)
    arr = rng.normal(30, 10, shape).astype(np.int16)
    lungs = np.zeros(shape, np.uint8)
    lungs[4:20, 10:38, 6:22] = 1
    lungs[4:20, 10:38, 26:42] = 2
    arr[lungs > 0] = -850
    lesions = np.zeros(shape, np.uint8)
    lesions[8:12, 15:20, 8:14] = 1
    vol = CTVolume(arr, (5.0, 3.0, 3.0), origin=(0.0, 0.0, -100.0 * i))
    labels = {"diagnosis": "covid", "ct_positive": 1, "nat_positive": 1, "severity": 1}
    return _Case(f"case{i}", f"P{i}", vol, lungs, lesions, labels)


@pytest.fixture()
def dataset(tmp_path):
    root = tmp_path / "data"
    write_dataset([_case(i) for i in range(3)], root, "plain")
    return root


def test_preprocess_manifest_failures_resume_retry(dataset, tmp_path):
    out = tmp_path / "prep"
    # break one case's image: it must be recorded, not stop the run
    table = pd.read_csv(dataset / "cases.csv", dtype=str)
    broken = dataset / table.loc[table.case_id == "case1", "image"].item()
    original = broken.read_bytes()
    broken.write_bytes(original[:100])

    summary = preprocess_dataset(dataset, out, grid=GRID, workers=2)
    assert (summary.n_cases, summary.n_ok, summary.n_failed) == (3, 2, 1)
    manifest = read_manifest(out)
    row = manifest.set_index("case_id").loc["case1"]
    assert row["status"] == "failed"
    assert broken.name in row["error"]
    ok = manifest[manifest.status == "ok"]
    assert set(ok.case_id) == {"case0", "case2"}
    assert (ok.stored_bytes < ok.raw_bytes).all()
    assert ok["fits"].all()
    # the folder says how it was made: grid options, versions, the case table's sha256
    import json

    from covidct.provenance import sha256_file

    prov = json.loads((out / "provenance.json").read_text())["provenance"]
    assert prov["options"]["grid"]["crop"] == list(GRID.crop)
    hashes = {p["path"]: p["sha256"] for p in prov["inputs"]}
    assert hashes[str(dataset / "cases.csv")] == sha256_file(dataset / "cases.csv")

    # stored volumes: on the grid, blanked outside the lungs, lungs and lesions kept
    stored = load_case(out / "cases", "case0")
    assert stored.volume.shape == GRID.shape
    assert np.all(stored.volume.array[stored.lungs == 0] == GRID.fill_hu)
    vol_ml = (stored.lungs > 0).sum() * stored.volume.voxel_volume_ml
    true_ml = (_case(0).lungs > 0).sum() * _case(0).volume.voxel_volume_ml
    assert vol_ml == pytest.approx(true_ml, rel=0.1)
    assert stored.lesions is not None and stored.lesions.sum() > 0

    # rerun: finished and failed cases are skipped
    again = preprocess_dataset(dataset, out, grid=GRID, workers=1)
    assert again.n_skipped == 3 and again.n_ok == 2 and again.n_failed == 1

    # fix the file, retry failed cases only
    broken.write_bytes(original)
    retry = preprocess_dataset(dataset, out, grid=GRID, workers=1, retry_failed=True)
    assert retry.n_skipped == 2 and retry.n_ok == 3 and retry.n_failed == 0
    assert not list((out / "cases").glob("*.tmp*"))


def test_preprocess_refuses_slice_datasets_and_missing(tmp_path):
    with pytest.raises(InvalidInputError):
        preprocess_dataset(tmp_path / "nothing", tmp_path / "out", grid=GRID)
