"""predict-lesions on an untrained model: figures, masks and JSON are written; errors are one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from covidct.cli.app import app
from covidct.datasets._common import read_png
from covidct.detection.checkpoint import load_model_file, save_model_file
from covidct.detection.classifier import CTMaskNet, CTMaskNetOptions
from covidct.detection.model import MaskRCNNOptions, build_maskrcnn

from .conftest import write_blob_slices


def _models(tmp_path):
    torch.manual_seed(0)
    options = MaskRCNNOptions(truncation=2, mask_type="both", min_size=64, max_size=64,
                              box_score_thresh=0.0)
    seg = build_maskrcnn(options)
    save_model_file(seg, options, tmp_path / "seg.pt")
    clf = CTMaskNet(build_maskrcnn(options), CTMaskNetOptions(roi_batch_size=8, s_features=4))
    save_model_file(clf, options, tmp_path / "clf.pt")
    return tmp_path / "seg.pt", tmp_path / "clf.pt"


def test_model_files_round_trip(tmp_path):
    seg, clf = _models(tmp_path)
    model, meta = load_model_file(seg)
    again, _ = load_model_file(seg)
    x = [torch.rand(3, 64, 64)]
    assert meta["format"] == "covidct-maskrcnn/1" and not (tmp_path / "seg.pt.tmp").exists()
    with torch.inference_mode():
        a, b = model(x)[0], again(x)[0]
    assert torch.equal(a["boxes"], b["boxes"])
    classifier, meta = load_model_file(clf)
    assert meta["classifier"] == {"roi_batch_size": 8, "s_features": 4}
    assert classifier.detector.roi_heads.detections_per_img == 8


def test_predict_lesions_cli(tmp_path):
    seg, clf = _models(tmp_path)
    data = write_blob_slices(tmp_path / "cncb", patients=1, slices=2)
    runner = CliRunner()
    res = runner.invoke(app, ["predict-lesions", str(seg), str(data), "-o", str(tmp_path / "a"),
                              "--score-threshold", "0.0"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "a").glob("*.png")) == [
        "pat00_0000.png", "pat00_0000_mask.png", "pat00_0001.png", "pat00_0001_mask.png"]
    mask = read_png(tmp_path / "a" / "pat00_0000_mask.png")
    assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0, 1, 2}
    one = data / "imgs" / "pat00_0001.png"
    res = runner.invoke(app, ["predict-lesions", str(clf), str(one), "-o", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    record = json.loads((tmp_path / "b" / "predictions.json").read_text())["slices"][0]
    assert set(record["class_scores"]) == {"control", "pneumonia", "covid"}
    res = runner.invoke(app, ["predict-lesions", str(tmp_path / "none.pt"), str(one), "-o",
                              str(tmp_path / "c")])
    assert res.exit_code == 2 and "does not exist" in res.output


@pytest.mark.slow
def test_quantify_cli_with_lesion_model(tmp_path):
    from covidct.io import write_image
    from covidct.phantom import simulate_case

    seg, _ = _models(tmp_path)
    case = simulate_case(3, diagnosis="covid", size="tiny")
    write_image(case.volume.array, case.volume, tmp_path / "ct.nii.gz")
    write_image(case.lungs, case.volume, tmp_path / "lungs.nii.gz")
    runner = CliRunner()
    args = ["quantify", str(tmp_path / "ct.nii.gz"), "--lungs", str(tmp_path / "lungs.nii.gz"), "--json"]
    res = runner.invoke(app, [*args, "--lesion-model", str(seg)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert 0.0 <= out["lesion_fraction"] <= 1.0
    res = runner.invoke(app, [*args, "--lesion-model", str(tmp_path / "none.pt")])
    assert res.exit_code == 2 and "does not exist" in res.output
