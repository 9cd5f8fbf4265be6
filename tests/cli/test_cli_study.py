"""CLI segment/quantify give the same numbers as the library, and write the promised files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from covidct.cli.app import app
from covidct.io import CTVolume, read_ct, read_mask, write_image, write_volume
from covidct.lesions import quantify
from covidct.lungs import segment_lungs
from covidct.phantom import simulate_case

runner = CliRunner()


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    case = simulate_case(3, diagnosis="covid", size="small")
    path = write_volume(case.volume, root / "ct.nii.gz")
    lungs = write_image(case.lungs, case.volume, root / "true_lungs.nii.gz")
    return case, path, lungs


def test_segment_writes_the_library_mask(study, tmp_path):
    case, path, _ = study
    out = tmp_path / "lungs.nrrd"
    res = runner.invoke(app, ["segment", str(path), "-o", str(out)])
    assert res.exit_code == 0, res.output
    vol = read_ct(path)
    mask = read_mask(out, vol)
    assert np.array_equal(mask, segment_lungs(vol))
    assert "right" in res.output and "left" in res.output


def test_quantify_json_equals_library(study, tmp_path):
    case, path, lungs = study
    res = runner.invoke(app, ["quantify", str(path), "--lungs", str(lungs), "--json",
                              "--out", str(tmp_path / "q")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    lib = quantify(read_ct(path), case.lungs).to_dict()
    for key in ("lung_volume_ml", "lesion_volume_ml", "lesion_fraction", "ggo_fraction",
                "consolidation_fraction", "ct_category"):
        assert out[key] == lib[key]
    assert set(out["right"]) >= {"lung_volume_ml", "lesion_fraction"}
    assert set(out["zones"]) == {"right", "left"}
    assert set(out["zones"]["right"]) == {"upper", "middle", "lower"}
    for name in ("lesions.nii.gz", "montage.png", "quantification.json"):
        assert (tmp_path / "q" / name).is_file()
    lesions = read_mask(tmp_path / "q" / "lesions.nii.gz", read_ct(path))
    assert set(np.unique(lesions)) <= {0, 1, 2}


def test_quantify_table_output(study):
    _, path, lungs = study
    res = runner.invoke(app, ["quantify", str(path), "--lungs", str(lungs)])
    assert res.exit_code == 0, res.output
    for word in ("right", "left", "both", "upper", "CT category"):
        assert word in res.output


def test_wrong_mask_shape_is_a_clear_error(study, tmp_path):
    case, path, _ = study
    bad = tmp_path / "bad.nii.gz"
    write_volume(CTVolume(np.zeros((4, 5, 6), np.uint8), (1.0, 1.0, 1.0)), bad)
    res = runner.invoke(app, ["quantify", str(path), "--lungs", str(bad)])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert "does not match" in res.output or "shape" in res.output


def test_lung_preset_and_provenance_in_quantification_json(study, tmp_path):
    from covidct.pipeline import lung_options
    from covidct.provenance import sha256_file

    _, path, _ = study
    out = tmp_path / "q"
    res = runner.invoke(app, ["quantify", str(path), "--lung-preset", "paper", "--out", str(out)])
    assert res.exit_code == 0, res.output
    vol = read_ct(path)
    paper = lung_options("paper")
    assert not paper.pockets.enabled and paper.grid.inplane_mm == 1.0
    assert np.array_equal(read_mask(out / "lungs.nii.gz", vol), segment_lungs(vol, options=paper))
    prov = json.loads((out / "quantification.json").read_text())["provenance"]
    assert prov["options"]["lung_preset"] == "paper"
    assert prov["options"]["lungs"]["pockets"]["enabled"] is False
    assert prov["options"]["lesions"]  # the QuantOptions used
    assert prov["inputs"][0]["sha256"] == sha256_file(path)
    bad = runner.invoke(app, ["segment", str(path), "-o", str(tmp_path / "m.nrrd"),
                              "--lung-preset", "nope"])
    assert bad.exit_code == 2 and "unknown lung preset" in bad.output


def test_a_lung_network_and_classifier_from_files(study, tmp_path):
    """--lung-model / --lung-choice: the library's labels with those files, named with their
    sha256 in the JSON; refused, on one line, where they cannot be used."""
    from covidct.lungs.choice import lung_choice_path
    from covidct.lungs.learned import TORCH_MODEL_FILE
    from covidct.lungs.network import lung_model_path
    from covidct.pipeline import lung_options
    from covidct.provenance import sha256_file

    _, path, lungs = study
    pt, text = lung_model_path(TORCH_MODEL_FILE), lung_choice_path().with_suffix(".txt")
    out = tmp_path / "q"
    res = runner.invoke(app, ["quantify", str(path), "--lung-model", str(pt), "--lung-choice", str(text),
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    vol = read_ct(path)
    opts = lung_options(model=pt, choice=text)
    assert np.array_equal(read_mask(out / "lungs.nii.gz", vol), segment_lungs(vol, options=opts))
    prov = json.loads((out / "quantification.json").read_text())["provenance"]["options"]
    assert prov["lungs"]["hybrid"]["model"] == str(pt) and prov["lungs"]["hybrid"]["choice"] == str(text)
    assert prov["lung_model"] == {"networks": [{"file": pt.name, "sha256": sha256_file(pt)}],
                                  "choice": {"file": text.name, "sha256": sha256_file(text),
                                             "fitted_with_networks": True}}
    mask = tmp_path / "m.nrrd"
    for args, words in (
        (["segment", str(path), "-o", str(mask), "--lung-model", str(tmp_path / "absent.pt")], "is missing"),
        (["segment", str(path), "-o", str(mask), "--method", "refined", "--lung-model", str(pt)], "not refined"),
        (["segment", str(path), "-o", str(mask), "--method", "model", "--lung-choice", str(text)], "not model"),
        (["quantify", str(path), "--lungs", str(lungs), "--lung-model", str(pt), "--out", str(tmp_path / "r")],
         "given lung mask"),
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and words in res.output and "Traceback" not in res.output, res.output
    assert not mask.exists() and not (tmp_path / "r").exists()


def test_quantify_of_a_file_stored_otherwise_writes_the_same_montage(study, tmp_path, stored_order):
    """The study stored in RAS or as a coronal or sagittal reformat: the same numbers, its
    lesion mask on its own grid, and the montage of the DICOM-order file (axial slices, front
    up, the patient's right on the left; before: the file's slices as stored)."""
    case, path, lungs = study
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    volume = stored_order.volume(case.volume)
    write_volume(case.volume, tmp_path / "a" / "ct.nii.gz")
    write_volume(volume, tmp_path / "b" / "ct.nii.gz")  # the same name: the same montage title
    write_image(stored_order.mask(case.lungs), volume, tmp_path / "b" / "lungs.nii.gz")
    for folder, mask in (("a", lungs), ("b", tmp_path / "b" / "lungs.nii.gz")):
        res = runner.invoke(app, ["quantify", str(tmp_path / folder / "ct.nii.gz"), "--lungs", str(mask),
                                  "--out", str(tmp_path / folder / "q")])
        assert res.exit_code == 0, res.output
    a, b = (json.loads((tmp_path / f / "q" / "quantification.json").read_text()) for f in "ab")
    assert (a["lesion_fraction"], a["zones"]) == (b["lesion_fraction"], b["zones"])
    lesions = read_mask(tmp_path / "b" / "q" / "lesions.nii.gz", read_ct(tmp_path / "b" / "ct.nii.gz"))
    assert np.array_equal(stored_order.back(lesions), read_mask(tmp_path / "a" / "q" / "lesions.nii.gz", case.volume))
    assert (tmp_path / "a" / "q" / "montage.png").read_bytes() == (tmp_path / "b" / "q" / "montage.png").read_bytes()
