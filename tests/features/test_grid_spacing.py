"""Features of stored cases are computed at the stored grid's spacing unless asked otherwise;
the CLI shows progress per case."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from test_batch import _folder
from typer.testing import CliRunner

from covidct.cli.app import app
from covidct.features import extract_radiomics
from covidct.features.batch import extract_dataset_features
from covidct.features.presets import get_preset
from covidct.preprocess.grid import GridPreset
from covidct.preprocess.store import load_case


@pytest.fixture(scope="module")
def scheduler():
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_grid_spacing_by_default_preset_spacing_on_request(tmp_path, small_ct, scheduler):
    root = _folder(tmp_path, small_ct)
    grid = GridPreset("test-3mm", (3.0, 3.0, 3.0), (20, 40, 40), (8, 16, 16))
    (root / "grid.json").write_text(json.dumps(grid.to_dict()))
    case = load_case(root / "cases", "case0")
    fast = get_preset("fast")  # resamples to 2 mm
    at_grid = extract_radiomics(case.volume, case.lungs, preset=replace(
        fast, settings={**fast.settings, "resampledPixelSpacing": [3.0, 3.0, 3.0]}))
    at_preset = extract_radiomics(case.volume, case.lungs, preset=fast)
    assert not np.allclose(at_grid.to_numpy(), at_preset.to_numpy())

    s1 = extract_dataset_features(root, tmp_path / "g.parquet", preset="fast", hog=False,
                                  scheduler=scheduler)
    assert s1.spacing_mm_xyz == (3.0, 3.0, 3.0)
    row = pd.read_parquet(tmp_path / "g.parquet").set_index("case_id").loc["case0"]
    np.testing.assert_allclose(row[at_grid.index].to_numpy(float), at_grid.to_numpy(), rtol=1e-6)

    s2 = extract_dataset_features(root, tmp_path / "p.parquet", preset="fast", hog=False,
                                  scheduler=scheduler, preset_spacing=True)
    assert s2.spacing_mm_xyz is None
    row = pd.read_parquet(tmp_path / "p.parquet").set_index("case_id").loc["case0"]
    np.testing.assert_allclose(row[at_preset.index].to_numpy(float), at_preset.to_numpy(),
                               rtol=1e-6)


def test_cli_folder_progress_and_refusals(tmp_path, small_ct, scheduler):
    root = _folder(tmp_path, small_ct)
    runner = CliRunner()
    res = runner.invoke(app, ["features", str(root), "--preset", "fast", "--no-hog",
                              "--scheduler", scheduler, "-o", str(tmp_path / "f.csv")])
    assert res.exit_code == 0, res.output
    assert "2 ok, 1 failed of 3 cases" in res.stdout
    assert "case2: InvalidInputError" in res.stdout  # a failed case is named as it arrives
    for bad in ("f.xlsx", "prep/cases/x.csv"):
        res = runner.invoke(app, ["features", str(root), "--preset", "fast", "--no-hog",
                                  "-o", str(tmp_path / bad)])
        assert res.exit_code == 2 and res.stderr.startswith("error:"), res.output
