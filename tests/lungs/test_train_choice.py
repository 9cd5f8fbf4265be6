"""Fitting a lung choice classifier for a network (``covidct train lung-choice``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from covidct.errors import InvalidInputError
from covidct.io import CTVolume, write_volume
from covidct.lungs.choice import FEATURES, load_lung_choice
from covidct.lungs.network import load_lung_models
from covidct.lungs.train_choice import PRESETS, ChoiceTrainConfig, train_lung_choice
from covidct.lungs.weights import fitted_with, network_id


@pytest.fixture(scope="module")
def ct_folder(tmp_path_factory):
    """A folder holding one clear small phantom chest CT (a seed and a name no shipped network
    trained on)."""
    from covidct.phantom import simulate_case

    folder = tmp_path_factory.mktemp("cts")
    write_volume(simulate_case(11, diagnosis="control", size="small").volume, folder / "phan_image.nrrd")
    return folder


@pytest.fixture(scope="module")
def fitted(ct_folder, tmp_path_factory):
    config = PRESETS["lung-choice-quick"].with_overrides(data=str(ct_folder), voxels_per_case=3000)
    return config, train_lung_choice(config, tmp_path_factory.mktemp("run") / "choice")


def test_config_refuses_unknown_sets_fields_and_sizes():
    with pytest.raises(InvalidInputError, match="painted sets"):
        ChoiceTrainConfig(cases=("standard", "severe"))
    with pytest.raises(InvalidInputError, match="painted sets"):
        ChoiceTrainConfig(cases=())
    with pytest.raises(InvalidInputError, match="> 0"):
        ChoiceTrainConfig(voxels_per_case=0)
    with pytest.raises(InvalidInputError, match="unknown config fields"):
        ChoiceTrainConfig().with_overrides(epochs=3)


def test_the_fit_writes_a_classifier_named_for_its_network(fitted):
    """The run's classifier loads, is recorded as fitted with the network it was fitted with
    (the shipped one here), and learned its voxels: it classifies its training voxels better
    than the majority class does."""
    config, run = fitted
    assert {"config.yaml", "features.npz", "lung-choice.txt", "lung-choice.onnx",
            "lung-choice.card.json"} <= {p.name for p in run.iterdir()}
    choice = load_lung_choice(run / "lung-choice.onnx")
    networks = load_lung_models()
    assert fitted_with(choice, networks)
    card = json.loads((run / "lung-choice.card.json").read_text())
    assert card["trained_on"][0]["model_sha256"] == network_id(networks)
    assert card["trained_on"][0]["real_cts"] == ["phan_image.nrrd"]
    assert card["provenance"]["options"]["lung_choice"]["cases"] == ["standard"]
    data = np.load(run / "features.npz")
    X, y = data["X"], data["y"]
    scans = json.loads(str(data["meta"]))["scans"]
    assert X.shape == (len(y), len(FEATURES)) and len(scans) == 4
    assert sum(s["kept"] for s in scans) == len(y) <= 4 * config.voxels_per_case
    assert all(s["kept"] <= s["disagreement_voxels"] for s in scans)
    assert 0 < y.mean() < 1
    accuracy = float(((choice.booster.predict(X.astype(np.float32)) > 0.5) == y).mean())
    assert accuracy > max(y.mean(), 1 - y.mean()) + 0.05


def test_a_ct_the_network_trained_on_is_refused_before_anything_is_written(chest, tmp_path):
    """The shipped network's card names lung1_image.nrrd among its training CTs: its
    disagreements there are not those of a new scan."""
    folder = tmp_path / "cts"
    folder.mkdir()
    write_volume(CTVolume(array=chest.hu, spacing=chest.spacing), folder / "lung1_image.nrrd")
    config = PRESETS["lung-choice-quick"].with_overrides(data=str(folder))
    with pytest.raises(InvalidInputError, match=r"trained on \['lung1_image.nrrd'\]"):
        train_lung_choice(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    with pytest.raises(InvalidInputError, match="no CT left"):
        train_lung_choice(config.with_overrides(exclude=("lung1",)), tmp_path / "run")


def test_cli_refuses_in_one_line_and_writes_nothing(ct_folder, tmp_path):
    from typer.testing import CliRunner

    from covidct.cli.app import app

    (tmp_path / "notes.txt").write_text("no CT here")
    res = CliRunner().invoke(app, ["train", "lung-choice-quick", "--data", str(tmp_path), "-o", str(tmp_path / "run")])
    assert res.exit_code == 2 and "no CT left" in res.output and len(res.output.strip().splitlines()) == 1
    res = CliRunner().invoke(app, ["train", "lung-choice-quick", "--data", str(ct_folder), "--set",
                                   f"model={tmp_path / 'notes.txt'}", "-o", str(tmp_path / "run")])
    assert res.exit_code == 2 and "notes.txt" in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "run").exists()


def test_a_ct_without_lungs_is_refused_before_anything_is_written(real_abdomen_paths, tmp_path):
    from covidct.errors import NoLungsFoundError

    folder = tmp_path / "cts"
    folder.mkdir()
    (folder / "abdomen_ct.nii.gz").symlink_to(real_abdomen_paths["nifti"])
    config = PRESETS["lung-choice-quick"].with_overrides(data=str(folder))
    with pytest.raises(NoLungsFoundError, match="abdomen_ct.nii.gz: no lungs in view; lung-choice needs chest CTs"):
        train_lung_choice(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
