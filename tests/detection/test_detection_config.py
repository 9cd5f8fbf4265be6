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


def test_cpu_recipe_reaches_the_model_and_round_trips_through_yaml(tmp_path):
    cfg = PRESETS["maskrcnn-r18-t2-cpu"]
    opts = cfg.model_options()
    assert (opts.truncation, opts.min_size, opts.norm, opts.pretrained) == (2, 384, "batch", "none")
    assert opts.anchor_sizes == (6, 12, 24, 48, 96)
    assert (opts.box_fg_iou, opts.box_bg_iou, opts.box_positive_fraction, opts.box_batch_size) == (0.5, 0.5, 0.25, 128)
    # the seed's presets keep the seed's values
    seed = PRESETS["maskrcnn-r18-t1"].model_options()
    assert (seed.anchor_sizes, seed.box_fg_iou, seed.box_positive_fraction) == ((2, 4, 8, 16, 32), 0.75, 0.75)
    path = cfg.save(tmp_path / "config.yaml")
    assert "anchor_sizes:\n- 6\n" in path.read_text()
    path.write_text("preset: maskrcnn-r18-t1\n" + path.read_text())  # every field overridden
    assert load_detection_config(path) == cfg
    changed = cfg.with_overrides(anchor_sizes=[8, 16, 32, 64, 128])
    assert changed.model_options().anchor_sizes == (8, 16, 32, 64, 128)
    with pytest.raises(InvalidInputError):
        cfg.with_overrides(anchor_sizes=16)


def test_optimizer_schedule_and_flip_are_checked_and_the_schedule_warms_up_then_decays():
    from covidct.detection.lightning import warmup_cosine

    cfg = PRESETS["maskrcnn-r18-t1"].with_overrides(optimizer="adamw", schedule="cosine", hflip="0.5")
    assert (cfg.optimizer, cfg.schedule, cfg.hflip) == ("adamw", "cosine", 0.5)
    for bad in ({"optimizer": "sgd"}, {"schedule": "step"}, {"hflip": 1.5}):
        with pytest.raises(InvalidInputError):
            PRESETS["maskrcnn-r18-t1"].with_overrides(**bad)
    factors = [warmup_cosine(s, 110, 10) for s in range(110)]
    assert factors[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert factors[10] == 1.0 and factors[60] == pytest.approx(0.5) and factors[-1] < 0.001
    assert all(a >= b for a, b in zip(factors[10:], factors[11:], strict=False))


def test_classifier_presets_draw_by_class_and_balanced_sampling_is_for_classifiers_only():
    assert PRESETS["ct-mask-net"].max_train_slices == 3000  # the seed's 1000 per class
    assert PRESETS["ct-mask-net-cpu"].balanced_sampling and not PRESETS["ct-mask-net"].balanced_sampling
    with pytest.raises(InvalidInputError, match="classification"):
        PRESETS["maskrcnn-r18-t1"].with_overrides(balanced_sampling=True)
    with pytest.raises(InvalidInputError, match="true or false"):
        PRESETS["ct-mask-net"].with_overrides(balanced_sampling="often")
