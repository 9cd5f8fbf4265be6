"""compare_runs across families: a COVID-CT-Mask-Net classifier run, a segmentation run."""

from __future__ import annotations

import json

import pytest

from covidct.errors import InvalidInputError
from covidct.training.run import compare_runs


def _metric(value: float) -> dict:
    return {"value": value, "ci_low": value - 0.1, "ci_high": value + 0.05}


def test_compare_reads_a_classifier_run_per_level_and_refuses_a_segmentation_run(tmp_path):
    clf = tmp_path / "clf"
    clf.mkdir()
    (clf / "config.yaml").write_text("name: ct-mask-net-cpu\n")
    level = {"n": 365, "metrics": {"accuracy": _metric(0.805), "auc": _metric(0.88)}}
    (clf / "metrics.json").write_text(json.dumps(
        {"name": "ct-mask-net-cpu", "task": "classification", "metrics": {"slice": level}}))
    table = compare_runs([clf], tmp_path / "cmp")
    assert "| clf | 3-class (slice) | 365 | 0.805 [0.705, 0.855] | 0.880 [0.780, 0.930] |" in table
    assert (tmp_path / "cmp" / "comparison.png").stat().st_size > 0
    seg = tmp_path / "seg"
    seg.mkdir()
    (seg / "config.yaml").write_text("name: maskrcnn-r18-t2-cpu\n")
    (seg / "metrics.json").write_text(json.dumps({"task": "segmentation", "metrics": {}}))
    with pytest.raises(InvalidInputError, match="not a classification run"):
        compare_runs([seg])


def test_compare_refuses_a_damaged_metrics_file(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("name: ct-mask-net-cpu\n")
    (run / "metrics.json").write_text('{"task": "classif')
    with pytest.raises(InvalidInputError, match="cannot read"):
        compare_runs([run])
