"""The dataset CLI on a small Typer app: phantom -> info -> split, and errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from covidct.cli.datasets import dataset_app, phantom
from covidct.datasets import read_dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(dataset_app, name="dataset")
    root.command("phantom")(phantom)
    return root


@pytest.fixture(scope="module")
def sim_dir(app, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "sim"
    result = runner.invoke(
        app, ["phantom", str(out), "-n", "6", "--seed", "2", "--size", "tiny", "--layout", "mosmed"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 6 mosmed cases of 6 patients" in result.output
    return out


def test_phantom_matches_simulator(sim_dir):
    from covidct.phantom import simulate_cohort

    table = read_dataset(sim_dir)
    expected = [c.labels["ct_category"] for c in simulate_cohort(6, 2, size="tiny")]
    assert table["ct_category"].tolist() == expected


def test_info_json(app, sim_dir):
    result = runner.invoke(app, ["dataset", "info", str(sim_dir), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["layout"] == "mosmed" and summary["n_cases"] == 6 and summary["n_patients"] == 6
    assert sum(v["all"] for v in summary["labels"]["ct_category"].values()) == 6


def test_info_table(app, sim_dir):
    result = runner.invoke(app, ["dataset", "info", str(sim_dir)])
    assert result.exit_code == 0, result.output
    assert "layout mosmed, 6 cases, 6 patients" in result.output
    assert "ct_category" in result.output


def test_split_writes_folds(app, sim_dir, tmp_path):
    out = tmp_path / "folds.csv"
    result = runner.invoke(
        app,
        [
            "dataset",
            "split",
            str(sim_dir),
            "--folds",
            "3",
            "--seed",
            "4",
            "-o",
            str(out),
            "--stratify",
            "none",
        ],
    )
    assert result.exit_code == 0, result.output
    folds = pd.read_csv(out)
    assert sorted(folds["fold"].unique()) == [0, 1, 2] and len(folds) == 6
    assert json.loads((tmp_path / "folds.csv.json").read_text())["seed"] == 4
    assert "3 patient-level folds" in result.output


def test_errors_exit_2(app, tmp_path):
    result = runner.invoke(app, ["dataset", "info", str(tmp_path)])
    assert result.exit_code == 2
    assert "no known dataset layout" in result.output
    result = runner.invoke(app, ["dataset", "split", str(tmp_path), "--layout", "plain"])
    assert result.exit_code == 2 and "cases.csv" in result.output
