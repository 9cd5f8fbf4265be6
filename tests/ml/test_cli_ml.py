"""CLI smoke test of ``ml run`` (the Typer sub-app, as the lead registers it)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from covidct.cli.ml import ml_app

runner = CliRunner()


def test_ml_run_cli(feature_table, tmp_path):
    path = tmp_path / "features.csv"
    feature_table.to_csv(path, index=False)
    out = tmp_path / "res"
    res = runner.invoke(ml_app, ["run", str(path), "--task", "ct", "--model", "logreg", "--folds", "3",
                                 "--bootstrap", "50", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "AUC" in res.output
    saved = json.loads((out / "results.json").read_text())
    assert saved["results"][0]["metrics"]["auc"]["value"] > 0.9
    bad = runner.invoke(ml_app, ["run", str(path), "--task", "lungs", "-o", str(out)])
    assert bad.exit_code == 2 and "--task" in bad.output
    missing = runner.invoke(ml_app, ["run", str(tmp_path / "nope.parquet"), "-o", str(out)])
    assert missing.exit_code == 2
    helped = runner.invoke(ml_app, ["run", "--help"])
    assert "Example" in helped.output


def test_ml_run_cli_folds_file(feature_table, tmp_path):
    from covidct.datasets.splits import patient_folds, save_folds

    path = tmp_path / "features.csv"
    feature_table.to_csv(path, index=False)
    folds = save_folds(patient_folds(feature_table, 3, seed=1, stratify="ct_positive"),
                       tmp_path / "folds.csv")
    out = tmp_path / "res"
    res = runner.invoke(ml_app, ["run", str(path), "--task", "ct", "--model", "logreg",
                                 "--folds-file", str(folds), "--bootstrap", "20", "-o", str(out)])
    assert res.exit_code == 0, res.output
    saved = json.loads((out / "results.json").read_text())
    assert saved["results"][0]["evaluation"] == f"patient-level folds of {folds}"
    assert saved["options"]["folds_file"] == str(folds)
    assert {p["path"] for p in saved["provenance"]["inputs"]} == {str(path), str(folds)}
    bad = runner.invoke(ml_app, ["run", str(path), "--folds-file", str(tmp_path / "none.csv"),
                                 "-o", str(out)])
    assert bad.exit_code == 2 and "not found" in bad.output
