"""Mask R-CNN training presets: the seed's settings, overrides, YAML, the train family."""

from __future__ import annotations

import pytest

from covidct.detection.config import PRESETS, load_detection_config
from covidct.errors import InvalidInputError
from covidct.training.families import family_of


def test_seed_presets():
    for name in ("maskrcnn-r18-t1", "maskrcnn-r34-t1", "maskrcnn-r50", "ct-mask-net"):
        assert family_of(name) == "maskrcnn"
    r34 = PRESETS["maskrcnn-r34-t1"]
    assert (r34.backbone, r34.truncation, r34.lr, r34.weight_decay, r34.batch_size, r34.epochs) == (
        "resnet34", 1, 1e-5, 1e-3, 1, 100)
    assert r34.model_options().min_size == 512 and r34.model_options().box_batch_size == 256
    clf = PRESETS["ct-mask-net"]
    assert (clf.task, clf.roi_batch_size, clf.s_features, clf.epochs) == ("classification", 128, 512, 50)
    assert PRESETS["maskrcnn-r50"].model_options().truncation == 0


def test_overrides_coerce_text_numbers_and_reject_unknown():
    cfg = PRESETS["maskrcnn-r18-t1"].with_overrides(lr="2e-3", epochs="3", mask_type="both")
    assert cfg.lr == 0.002 and cfg.epochs == 3 and cfg.model_options().mask_type == "both"
    with pytest.raises(InvalidInputError):
        PRESETS["maskrcnn-r18-t1"].with_overrides(lr="fast")
    with pytest.raises(InvalidInputError):
        PRESETS["maskrcnn-r18-t1"].with_overrides(learning_rate=1.0)
    with pytest.raises(InvalidInputError):
        PRESETS["maskrcnn-r18-t1"].with_overrides(mask_type="lungs")


def test_yaml_names_a_preset(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("preset: maskrcnn-r34-t1\nmask_type: ggo\nepochs: 2\n")
    cfg = load_detection_config(path)
    assert (cfg.backbone, cfg.mask_type, cfg.epochs) == ("resnet34", "ggo", 2)
    assert family_of(str(path)) == "maskrcnn"
    path.write_text("epochs: 2\n")
    with pytest.raises(InvalidInputError):
        load_detection_config(path)
