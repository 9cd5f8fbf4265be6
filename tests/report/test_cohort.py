"""Cohort mode: a report per case, one summary; a corrupt case fails alone; the run resumes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from covidct.datasets import write_dataset
from covidct.phantom import simulate_cohort
from covidct.report import AnalyzeOptions
from covidct.report.cohort import analyze_case, analyze_cohort


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort") / "data"
    write_dataset(simulate_cohort(3, seed=4, size="tiny"), root, "plain")
    cases = pd.read_csv(root / "cases.csv")
    bad = root / cases.loc[1, "image"]
    bad.write_bytes(bad.read_bytes()[:300])  # a truncated, unreadable NIfTI
    return root, cases


def test_one_case_never_raises(dataset, tmp_path):
    root, cases = dataset
    opts = AnalyzeOptions(model="", heatmap=False)
    bad = analyze_case(cases.iloc[1].to_dict(), str(root), str(tmp_path), opts)
    assert bad["status"] == "failed" and bad["error"] and bad["case_id"] == cases.loc[1, "case_id"]
    good = analyze_case(cases.iloc[0].to_dict(), str(root), str(tmp_path), opts)
    assert good["status"] == "ok", good["error"]
    assert (tmp_path / good["report"]).is_file() and good["ct_category"].startswith("CT-")
    record = json.loads((tmp_path / "cases" / cases.loc[0, "case_id"] / "report.json").read_text())
    assert good["outline_consolidated"] == record["summary"]["outline_consolidated"]
    assert 0.0 <= good["outline_consolidated"] <= 1.0
    assert good["warnings"] == "; ".join(record["warnings"])
    assert not (tmp_path / "cases" / cases.loc[1, "case_id"]).exists()


@pytest.mark.slow
def test_cohort_survives_corrupt_case_and_resumes(dataset, tmp_path):
    root, cases = dataset
    out = tmp_path / "out"
    opts = AnalyzeOptions(model="", heatmap=False)
    first = analyze_cohort(root, out, options=opts, workers=1)
    assert (first.n_cases, first.n_ok, first.n_failed, first.n_skipped) == (3, 2, 1, 0)
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["case_id"]) == list(cases["case_id"])
    bad_id = cases.loc[1, "case_id"]
    row = summary.set_index("case_id").loc[bad_id]
    assert row["status"] == "failed" and isinstance(row["error"], str) and row["error"]
    assert not (out / "cases" / bad_id).exists()
    ok = summary[summary["status"] == "ok"]
    for r in ok.itertuples():
        assert (out / r.report).is_file()
        assert 0 <= r.lesion_fraction <= 1 and r.ct_category.startswith("CT-")
    # resume: nothing to do; then a lost report is redone alone
    again = analyze_cohort(root, out, options=opts, workers=1)
    assert (again.n_ok, again.n_failed, again.n_skipped) == (2, 1, 3)
    lost = ok["case_id"].iloc[0]
    (out / "cases" / lost / "report.json").unlink()
    redo = analyze_cohort(root, out, options=opts, workers=1)
    assert (redo.n_ok, redo.n_skipped) == (2, 2)
    assert (out / "cases" / lost / "report.json").is_file()
