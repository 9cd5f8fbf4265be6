"""A patient whose scans carry different labels is an error in ``dataset info``/``split``."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from typer.testing import CliRunner

from covidct.cli.app import app
from covidct.datasets import write_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "preprocess"))
from test_run import _case


def test_conflicting_labels_refused_in_info_and_split(tmp_path):
    a, b, c = _case(0), _case(1), _case(2)
    b = dataclasses.replace(b, patient_id="P0", labels={**b.labels, "diagnosis": "control",
                                                        "ct_positive": 0})
    write_dataset([a, b, c], tmp_path / "data", "plain")
    runner = CliRunner()
    for args in (["dataset", "info", str(tmp_path / "data")],
                 ["dataset", "split", str(tmp_path / "data"), "-k", "2",
                  "-o", str(tmp_path / "folds.csv")]):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, res.output
        assert "1 patient(s) with conflicting labels" in res.stderr
        assert "diagnosis: P0 (control/covid)" in res.stderr
    assert not (tmp_path / "folds.csv").exists()
    # consistent labels: accepted
    write_dataset([a, c], tmp_path / "ok", "plain")
    assert runner.invoke(app, ["dataset", "info", str(tmp_path / "ok")]).exit_code == 0


def test_split_may_not_replace_a_dataset_file(tmp_path):
    write_dataset([_case(0), _case(1), _case(2)], tmp_path / "data", "plain")
    before = (tmp_path / "data" / "cases.csv").read_bytes()
    res = CliRunner().invoke(app, ["dataset", "split", str(tmp_path / "data"), "-k", "2",
                                   "-o", str(tmp_path / "data" / "cases.csv")])
    assert res.exit_code == 2 and "is the input" in res.stderr, res.output
    assert (tmp_path / "data" / "cases.csv").read_bytes() == before
