"""Training configs: presets, YAML round trip, clear errors."""

from __future__ import annotations

import pytest

from covidct.errors import InvalidInputError
from covidct.training import PRESETS, TrainConfig, get_preset, load_config


def test_paper_preset_has_the_paper_settings():
    cfg = get_preset("covid-mtl-paper")
    assert cfg.model == "covid-mtl" and cfg.model_options == {"backbone": "shiftnet3d"}
    assert cfg.crop == (200, 250, 250)
    assert (cfg.lr, cfg.momentum, cfg.weight_decay, cfg.nesterov) == (0.005, 0.9, 5e-5, True)
    assert (cfg.epochs, cfg.batch_size, cfg.schedule, cfg.loss) == (80, 10, "cosine", "random")
    assert cfg.loss_options == {"alpha": 1.0, "n_draws": 2}
    assert cfg.tasks == ("ct", "nat", "severity")


def test_every_comparison_has_a_preset():
    for name in ("covid-mtl-cpu", "covid-mtl-equal", "covid-mtl-uncertainty",
                 "covid-mtl-nofeatures", "shiftnet3d-nat", "squeezenet3d-ct",
                 "resnet3d-severity", "decovnet-nat"):
        assert name in PRESETS
    assert get_preset("decovnet-nat").tasks == ("nat",)


def test_yaml_round_trip_and_preset_base(tmp_path):
    cfg = get_preset("covid-mtl-cpu").with_overrides(epochs=3, crop=(8, 8, 8))
    path = cfg.save(tmp_path / "c.yaml")
    assert load_config(path) == cfg
    (tmp_path / "d.yaml").write_text("preset: shiftnet3d-ct\nepochs: 2\n")
    loaded = load_config(tmp_path / "d.yaml")
    assert loaded.model == "shiftnet3d" and loaded.epochs == 2 and loaded.tasks == ("ct",)


@pytest.mark.parametrize("changes, message", [
    ({"tasks": ("ct", "flu")}, "tasks"),
    ({"loss": "max"}, "loss"),
    ({"model": "shiftnet3d", "tasks": ("ct", "nat")}, "single-task"),
    ({"folds": 1}, "folds"),
])
def test_bad_configs_are_refused(changes, message):
    with pytest.raises(InvalidInputError, match=message):
        TrainConfig(**changes)


def test_unknown_override_and_missing_file(tmp_path):
    with pytest.raises(InvalidInputError, match="unknown config fields"):
        get_preset("covid-mtl-cpu").with_overrides(lr_max=1)
    with pytest.raises(InvalidInputError, match="neither a YAML file nor a preset"):
        load_config(tmp_path / "nope.yaml")
