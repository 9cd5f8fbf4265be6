"""report.json: follows its schema and holds the library's own numbers."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from covidct.errors import InvalidInputError
from covidct.inference.volume import predict_volume, prepare_volume
from covidct.io import read_ct, read_mask
from covidct.lesions import quantify
from covidct.lungs import segment_lungs
from covidct.provenance import sha256_file
from covidct.report import report_schema, validate_record, write_report
from covidct.report.models import demo_model_path


@pytest.fixture(scope="module")
def report(sim_analysis, tmp_path_factory):
    return write_report(sim_analysis, tmp_path_factory.mktemp("rep") / "out")


def test_schema_is_valid_and_report_follows_it(report):
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(report_schema())
    record = json.loads(report.files["report_json"].read_text())
    validate_record(record)
    assert record == report.record


@pytest.mark.parametrize("path, value", [
    (("summary", "lesion_fraction"), 1.5),
    (("summary", "ct_category"), "CT-5"),
    (("lesions", "quantification", "zones", "right"), {"upper": 0.1}),
    (("provenance", "inputs"), []),
])
def test_schema_rejects_broken_records(report, path, value):
    bad = copy.deepcopy(report.record)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(InvalidInputError, match="schema"):
        validate_record(bad)


def test_numbers_equal_the_library(report, sim_nifti):
    ct = read_ct(sim_nifti)
    lungs = segment_lungs(ct)
    written_lungs = read_mask(report.files["lungs"], ct)
    np.testing.assert_array_equal(written_lungs, lungs)
    q = quantify(ct, lungs)
    np.testing.assert_array_equal(read_mask(report.files["lesions"], ct), q.lesion_mask)
    expected = q.to_dict()
    expected.pop("options")
    got = report.record["lesions"]["quantification"]
    assert got.keys() == expected.keys()
    for key in ("lung_volume_ml", "lesion_fraction", "ggo_volume_ml", "consolidation_fraction"):
        assert got[key] == pytest.approx(expected[key], rel=1e-12)
    for side in ("right", "left"):
        assert got["zones"][side] == pytest.approx(expected["zones"][side], rel=1e-12)
        assert got[side] == pytest.approx(expected[side], rel=1e-12)
    assert report.record["summary"]["ct_category"] == q.ct_category
    vol = report.record["lungs"]["volume_ml"]
    assert vol["total"] == pytest.approx(q.lung_volume_ml, rel=1e-12)
    assert vol["right"] == pytest.approx(q.right.lung_volume_ml, rel=1e-12)
    # the profile: lung volume per slice sums to the lung volume
    assert sum(report.record["profile"]["lung_ml"]) == pytest.approx(q.lung_volume_ml, rel=1e-9)
    assert report.record["provenance"]["inputs"][0]["sha256"] == sha256_file(sim_nifti)
    assert report.record["research_use"].lower().startswith("research use")


@pytest.mark.skipif(demo_model_path() is None, reason="demo model not installed")
def test_probabilities_equal_the_model(report, sim_analysis):
    model = sim_analysis.model
    probs = predict_volume(model, prepare_volume(model, sim_analysis.ct, sim_analysis.lungs))
    block = report.record["model"]
    assert block["sha256"] == sha256_file(demo_model_path()) == model.card["sha256"]
    assert "simulated" in block["trained_on"].lower()
    for task, p in probs.items():
        assert block["probabilities"][task]["p"] == pytest.approx(p.tolist(), abs=1e-6)
        assert sum(block["probabilities"][task]["p"]) == pytest.approx(1.0, abs=1e-5)
    assert report.record["summary"]["covid_ct_probability"] == pytest.approx(float(probs["ct"][1]))
    assert any("simulated data" in w for w in report.record["warnings"])


def test_steps_and_timings(report):
    names = [s["name"] for s in report.record["steps"]]
    assert names[:3] == ["read", "lungs", "lesions"]
    assert {"3d model", "heat map"} <= set(names)
    heat = next(s for s in report.record["steps"] if s["name"] == "heat map")
    assert heat["status"] in ("done", "not available", "skipped")
    t = report.record["timings_s"]
    assert t["total"] == pytest.approx(sum(v for k, v in t.items() if k != "total"), abs=0.01)
