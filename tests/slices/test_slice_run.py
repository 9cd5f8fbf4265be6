"""A slice-training run end to end (tiny): files, model round trip, CLI on the result."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from covidct.cli.app import app
from covidct.datasets.ucsd import read_ucsd
from covidct.errors import InvalidInputError
from covidct.slices.model_file import load_slice_model
from covidct.training.families import family_of, load_family

pytestmark = pytest.mark.slow  # trains a network (about a minute on 2 shared cores)


@pytest.fixture(scope="module")
def run(ucsd_root, tmp_path_factory):
    assert family_of("slices-resnet18-cpu") == "slices"
    out = tmp_path_factory.mktemp("runs") / "r"
    overrides = {"data": str(ucsd_root), "transform": "cpu-64", "epochs": 2, "batch_size": 8,
                 "accumulate": 2, "weights": "none", "bootstrap": 50}
    return load_family("slices").train_from_cli("slices-resnet18-cpu", out, overrides)


def test_run_folder_holds_everything(run, expected_hardware):
    for name in ("config.yaml", "run.json", "splits.csv", "predictions.csv", "metrics.json",
                 "metrics.md", "roc.png", "confusion.png", "misclassified_scores.png", "patients.csv",
                 "fold0/model.pt", "fold0/model.card.json", "fold0/policy.json"):
        assert (run / name).is_file(), name
    assert list((run / "fold0" / "tensorboard").rglob("events.out.tfevents*"))
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["arch"] == "resnet18" and config["accumulate"] == 2
    info = json.loads((run / "run.json").read_text())
    assert info["classes"] == ["non-COVID", "COVID"] and "not HU" in info["input"]
    assert info["provenance"]["inputs"][0]["n_files"] > 0
    policy = json.loads((run / "fold0" / "policy.json").read_text())
    assert [h["epoch"] for h in policy["history"]] == [0, 1]
    card = json.loads((run / "fold0" / "model.card.json").read_text())
    assert card["epochs_run"] == 2
    assert card["hardware"] == expected_hardware  # "auto": the GPU in 16-mixed when present


def test_saved_model_reproduces_the_test_predictions(run, ucsd_root):
    preds = pd.read_csv(run / "predictions.csv", dtype={"patient_id": str})
    table = read_ucsd(ucsd_root)
    assert sorted(preds["case_id"]) == sorted(table.loc[table["split"] == "test", "case_id"])
    model = load_slice_model(run)
    assert model.class_names == ("non-COVID", "COVID") and model.transform.crop == 64
    from covidct.datasets._common import read_png

    probs = model.predict([read_png(ucsd_root / p) for p in preds["image"]])
    np.testing.assert_allclose(probs, preds[["p0", "p1"]].to_numpy(), atol=1e-5)


def test_existing_run_folder_is_not_overwritten(run, ucsd_root):
    with pytest.raises(InvalidInputError, match="not empty"):
        load_family("slices").train_from_cli("slices-resnet18-cpu", run, {"data": str(ucsd_root)})


def test_cli_explain_on_the_run_and_on_images(run, ucsd_root, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["explain", str(run), "test", "-o", str(tmp_path / "grid")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "grid" / "outcomes.png").is_file()
    listed = json.loads((tmp_path / "grid" / "explain.json").read_text())["examples"]
    assert {e["outcome"] for e in listed} <= {"TP", "FP", "TN", "FN"} and listed
    image = next((ucsd_root / "CT_COVID").iterdir())
    res = runner.invoke(app, ["explain", str(run / "fold0" / "model.pt"), str(image), "-o", str(tmp_path / "one")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "one" / f"{image.stem}_cam.png").is_file()
    res = runner.invoke(app, ["explain", str(run), str(tmp_path / "missing.png"), "-o", str(tmp_path / "x")])
    assert res.exit_code == 2 and "does not exist" in res.output
