"""One train command for every family: preset lookup, --list rows, --set parsing."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from covidct.cli.app import app
from covidct.cli.train import _parse_sets
from covidct.errors import InvalidInputError
from covidct.training.families import FAMILY_MODULES, all_preset_rows, family_of, load_family


def test_every_preset_belongs_to_exactly_one_family():
    names = [n for f in FAMILY_MODULES for n in load_family(f).PRESETS]
    assert len(names) == len(set(names))
    for family in FAMILY_MODULES:
        for name in load_family(family).PRESETS:
            assert family_of(name) == family


def test_yaml_naming_a_preset_and_plain_yaml(tmp_path):
    named = tmp_path / "a.yaml"
    named.write_text("preset: covid-mtl-cpu\nepochs: 2\n")
    plain = tmp_path / "b.yaml"
    plain.write_text("epochs: 2\n")
    assert family_of(str(named)) == "volume"
    assert family_of(str(plain)) == "volume"
    with pytest.raises(InvalidInputError, match="unknown training preset"):
        family_of("no-such-preset")


def test_list_rows_count_parameters_of_the_paper_model():
    rows = {r.name: r for r in all_preset_rows()}
    mtl = rows["covid-mtl-paper"]
    assert mtl.family == "volume" and mtl.task == "ct+nat+severity"
    assert 3.7e6 < mtl.parameters < 4.0e6  # the paper's ~3.85 M
    assert rows["shiftnet3d-nat"].task == "nat"


def test_list_counts_built_on_the_meta_device_equal_those_of_real_models():
    from covidct.training.families import load_family

    rows = {r.name: r for r in all_preset_rows()}
    for family in ("lungs", "maskrcnn"):
        for real in load_family(family).preset_rows():  # built with real tensors
            assert rows[real.name] == real and real.parameters and real.parameters > 1000


def test_set_values_are_parsed_as_yaml():
    assert _parse_sets(["epochs=3", "lr=1e-3", "tasks=[ct, nat]", "name=x"]) == {
        "epochs": 3, "lr": 1e-3, "tasks": ["ct", "nat"], "name": "x"}
    with pytest.raises(InvalidInputError):
        _parse_sets(["epochs"])


def test_cli_list_and_missing_arguments():
    runner = CliRunner()
    listed = runner.invoke(app, ["train", "--list"])
    assert listed.exit_code == 0
    assert "covid-mtl-paper" in listed.output and "decovnet-severity" in listed.output
    bare = runner.invoke(app, ["train"])
    assert bare.exit_code == 2


def test_run_folder_policy_overwrite_and_failed_marker(tmp_path, monkeypatch):
    import json

    from covidct.training import families

    calls = []

    def fake_train(source, out, overrides, progress):
        calls.append(source)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text("name: x\n")
        if overrides.get("fail"):
            raise InvalidInputError("no data")
        return out

    monkeypatch.setattr(load_family("volume"), "train_from_cli", fake_train)
    run = tmp_path / "run"
    assert families.train_preset("covid-mtl-cpu", run, {}) == run
    with pytest.raises(InvalidInputError, match="--overwrite"):
        families.train_preset("covid-mtl-cpu", run, {})
    assert families.train_preset("covid-mtl-cpu", run, {}, overwrite=True) == run
    with pytest.raises(InvalidInputError, match="no data"):
        families.train_preset("covid-mtl-cpu", run, {"fail": True}, overwrite=True)
    failed = json.loads((run / families.FAILED_FILE).read_text())
    assert "no data" in failed["error"]
    assert families.train_preset("covid-mtl-cpu", run, {}) == run  # a failed run is redone
    assert not (run / families.FAILED_FILE).exists()
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(InvalidInputError, match="no training run"):
        families.train_preset("covid-mtl-cpu", other, {}, overwrite=True)
    assert (other / "notes.txt").read_text() == "keep"
    assert len(calls) == 4


def test_one_loader_for_every_family_config(tmp_path):
    from covidct.slices.config import PRESETS as SLICE_PRESETS
    from covidct.slices.config import load_slice_config

    name = sorted(SLICE_PRESETS)[0]
    named = tmp_path / "s.yaml"
    named.write_text(f"preset: {name}\nepochs: 3\n")
    cfg = load_slice_config(named)
    assert cfg.epochs == 3 and cfg == SLICE_PRESETS[name].with_overrides(epochs=3)
    bare = tmp_path / "bare.yaml"
    bare.write_text("epochs: 3\n")
    with pytest.raises(InvalidInputError, match="must name a slice preset"):
        load_slice_config(bare)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(InvalidInputError, match="mapping"):
        load_slice_config(listed)


def test_a_runs_saved_config_reads_back_as_that_run(tmp_path):
    from covidct.detection.config import PRESETS, load_detection_config

    cfg = PRESETS["ct-mask-net-cpu"].with_overrides(epochs=2, data="somewhere")
    saved = cfg.save(tmp_path / "config.yaml")
    assert family_of(str(saved)) == "maskrcnn"
    assert load_detection_config(saved) == cfg
    own = tmp_path / "own.yaml"  # a volume config with its own run name stays a volume config
    own.write_text("name: my-study\nepochs: 2\n")
    assert family_of(str(own)) == "volume"
