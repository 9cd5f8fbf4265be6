"""Tiny end-to-end runs: Mask R-CNN learns generated lesions (AP floor), module S trains on it.

Slow (minutes on a shared CPU): run with ``pytest -m slow tests/detection``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from covidct.detection.checkpoint import load_model_file
from covidct.detection.config import PRESETS
from covidct.detection.training import train_detection

from .conftest import write_blob_slices

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

TINY = {"min_size": 64, "max_size": 64, "lr": 2e-3, "batch_size": 2, "pretrained": "none",
        "bootstrap": 20, "val_size": 0.15, "test_size": 0.25, "max_train_slices": 0,
        "norm": "batch", "box_batch_size": 64, "eval_score_threshold": 0.3}


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory):
    root = write_blob_slices(tmp_path_factory.mktemp("blobs"))
    cfg = PRESETS["maskrcnn-r18-t1"].with_overrides(
        name="tiny", data=str(root), mask_type="both", truncation=2, epochs=EPOCHS, **TINY)
    run = train_detection(cfg, tmp_path_factory.mktemp("run"))
    return run, root


EPOCHS = 6


def test_segmentation_learns_above_floor(seg_run, expected_hardware):
    run, _ = seg_run
    result = json.loads((run / "metrics.json").read_text())
    coco = result["metrics"]["coco"]
    assert coco["segm"]["ap50"]["value"] > 0.1  # an untrained model scores about 0
    assert coco["bbox"]["ap50"]["value"] > 0.1
    assert result["metrics"]["per_image"]["ap50"]["value"] > 0.05  # scores >= 0.3: a young model
    assert result["provenance"]["seed"] == 0
    assert result["hardware"] == expected_hardware  # "auto": the GPU in 16-mixed when present
    splits = (run / "splits.csv").read_text()
    assert "test" in splits and "train" in splits
    assert (run / "tensorboard").is_dir() and (run / "checkpoints" / "last.ckpt").is_file()
    # patient-level split: no patient in two splits
    import pandas as pd
    s = pd.read_csv(run / "splits.csv")
    assert (s.groupby("patient_id")["split"].nunique() == 1).all()


def test_model_file_round_trip(seg_run):
    run, _ = seg_run
    model, meta = load_model_file(run)
    assert meta["options"].mask_type == "both" and meta["class_names"] == ["ggo", "consolidation"]
    assert meta["slice_size"] == 512 and meta["window_hu"] == [-600.0, 1500.0]
    assert not model.training
    assert np.isfinite(sum(float(p.sum()) for p in model.parameters()))


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.logical_and(a, b).sum() / max(1, a.sum() + b.sum())


def test_whole_volume_mask_from_trained_model(seg_run):
    """Slices of a 'CT' whose lung-window rendering is the generated test slices: the stacked
    lesion mask lands on the CT grid and overlaps the truth."""
    from covidct.datasets._common import read_png, uint8_to_hu
    from covidct.detection.volume import LesionModelOptions, segment_lesions_model
    from covidct.io.volume import CTVolume

    run, root = seg_run
    import pandas as pd

    splits = pd.read_csv(run / "splits.csv")
    test_ids = sorted(splits.loc[splits["split"] == "test", "case_id"])[:3]  # held-out patients
    names = [root / "imgs" / f"{c}.png" for c in test_ids]
    grey = np.stack([read_png(p) for p in names])
    truth = np.stack([read_png(root / "masks" / p.name) for p in names])
    volume = CTVolume(array=uint8_to_hu(grey), spacing=(2.0, 0.5, 0.5))
    lungs = np.ones(grey.shape, np.uint8)
    lungs[:, :, :4] = 0
    mask = segment_lesions_model(volume, lungs, run, options=LesionModelOptions(score_threshold=0.3))
    assert mask.shape == grey.shape and set(np.unique(mask)) <= {0, 1, 2}
    assert not mask[:, :, :4].any()  # nothing outside the lungs
    assert _dice(mask > 0, truth >= 2) > 0.2


def test_predict_lesions_cli_writes_figures(seg_run, tmp_path):
    from typer.testing import CliRunner

    from covidct.cli.app import app

    run, root = seg_run
    res = CliRunner().invoke(app, ["predict-lesions", str(run / "model.pt"), str(root), "-o",
                                   str(tmp_path / "figs"), "--max-slices", "2"])
    assert res.exit_code == 0, res.output
    figs = sorted((tmp_path / "figs").glob("*.png"))
    assert len(figs) == 4  # figure + mask per slice
    assert json.loads((tmp_path / "figs" / "predictions.json").read_text())["slices"]
    bad = CliRunner().invoke(app, ["predict-lesions", str(tmp_path / "absent.pt"), str(root), "-o",
                                   str(tmp_path / "x")])
    assert bad.exit_code == 2 and "does not exist" in bad.output


def test_ct_mask_net_trains_on_the_segmentation_model(seg_run, tmp_path):
    from .conftest import write_class_slices

    run, _ = seg_run
    data = write_class_slices(tmp_path / "covidx")
    cfg = PRESETS["ct-mask-net"].with_overrides(
        name="tiny-clf", data=str(data), segmentation=str(run), roi_batch_size=16, s_features=32,
        lr=1e-2, epochs=12, batch_size=4, min_size=64, max_size=64, bootstrap=20)
    out = train_detection(cfg, tmp_path / "clf")
    result = json.loads((out / "metrics.json").read_text())["metrics"]
    assert set(result) == {"slice", "patient_mean", "patient_max"}
    assert result["slice"]["n"] == 12 and result["patient_mean"]["n"] == 3
    assert np.asarray(result["slice"]["confusion_matrix"]).sum() == 12
    assert result["slice"]["metrics"]["accuracy"]["value"] > 0.4  # chance: 1/3
    assert (out / "confusion_slice.png").is_file() and (out / "predictions.csv").is_file()
    model, meta = load_model_file(out)
    assert meta["format"] == "covidct-ctmasknet/1" and model.s[0].in_features == 80
