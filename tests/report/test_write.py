"""Writing a report folder: atomic (no half-made report), never over the input or a stranger."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from covidct.errors import InvalidInputError
from covidct.lesions.detect import detect_lesions
from covidct.report import AnalyzeOptions, analyze_study, write_report
from covidct.report import write as write_mod


def test_crash_leaves_no_report(sim_analysis, tmp_path, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(write_mod, "render_html", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(sim_analysis, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []  # neither the report nor its staging folder


def test_rewrite_replaces_previous_report(sim_analysis, tmp_path, monkeypatch):
    first = write_report(sim_analysis, tmp_path / "out")
    (tmp_path / "out" / "stale.txt").write_text("old")
    second = write_report(sim_analysis, tmp_path / "out")
    assert not (tmp_path / "out" / "stale.txt").exists()
    assert second.record["summary"] == first.record["summary"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    # a crash while replacing keeps the previous report whole
    monkeypatch.setattr(write_mod, "render_html", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_report(sim_analysis, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "report.json").read_text())["summary"] == first.record["summary"]


def test_refuses_unrelated_folder_and_input_folder(sim_analysis, tmp_path):
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="non-empty folder"):
        write_report(sim_analysis, stranger)
    assert (stranger / "notes.txt").read_text() == "mine"
    with pytest.raises(InvalidInputError, match="outside the input"):
        write_report(sim_analysis, sim_analysis.source.parent)


def test_lesion_model_missing_is_a_clear_error(sim_nifti, tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        analyze_study(sim_nifti, options=AnalyzeOptions(model="", lesion_model=str(tmp_path / "x.pt")))


def test_lesion_model_numbers_when_detection_exists(sim_nifti, sim_analysis, tmp_path, monkeypatch):
    """A lesion model giving the HU mask must give the HU method's numbers exactly."""
    calls = []

    def segment_lesions_model(ct, lungs, model):
        calls.append(model)
        return detect_lesions(ct.array, lungs, ct.spacing, options=AnalyzeOptions().lesions)

    fake = types.ModuleType("covidct.detection")
    fake.segment_lesions_model = segment_lesions_model
    monkeypatch.setitem(sys.modules, "covidct.detection", fake)
    weights = tmp_path / "maskrcnn.pt"
    weights.write_bytes(b"weights")
    got = analyze_study(sim_nifti, options=AnalyzeOptions(model="", lesion_model=str(weights)))
    assert calls == [str(weights)] and got.lesion_method == "model"
    ref = sim_analysis.quantification
    np.testing.assert_array_equal(got.quantification.lesion_mask, ref.lesion_mask)
    a, b = got.quantification.to_dict(), ref.to_dict()
    for key in ("lesion_fraction", "ggo_volume_ml", "consolidation_fraction", "ct_category"):
        assert a[key] == b[key]
    assert a["zones"] == b["zones"]


@pytest.mark.skipif(__import__("covidct.report.models", fromlist=["x"]).demo_model_path() is None,
                    reason="demo model not installed")
def test_heatmap_step_when_explain_exists(sim_nifti, tmp_path, monkeypatch):
    """With covidct.explain present, its map goes into the report, the NIfTI and the page."""
    from covidct.io import read_ct

    seen = {}

    def volume_heatmap(model, prepared, ct, *, task="ct", target=None):
        seen.update(task=task, shape=tuple(prepared.tensor.shape))
        z = np.linspace(0.0, 1.0, ct.shape[0], dtype=np.float32)
        return np.broadcast_to(z[:, None, None], ct.shape).copy()

    fake = types.ModuleType("covidct.explain")
    fake.volume_heatmap = volume_heatmap
    monkeypatch.setitem(sys.modules, "covidct.explain", fake)
    files = write_report(analyze_study(sim_nifti), tmp_path / "out")
    assert seen["task"] == "ct" and seen["shape"][:2] == (1, 1)
    assert files.record["heatmap"]["status"] == "done"
    ct = read_ct(sim_nifti)
    heat = read_ct(files.files["heatmap"]).array
    lungs = read_ct(files.files["lungs"]).array
    assert heat.shape == ct.shape
    z = np.linspace(0.0, 1.0, ct.shape[0], dtype=np.float32)[:, None, None]
    expected = np.where(lungs > 0, z, 0.0)  # the map is kept inside the lungs only
    np.testing.assert_allclose(heat, expected, atol=1e-6)
    assert files.record["heatmap"]["max"] == pytest.approx(float(expected.max()))
    assert files.files["image_montage_heat"].is_file()
    assert files.html.read_text().count("data:image/png;base64,") == 4


def test_pictures_of_a_file_stored_in_ras_are_drawn_as_from_dicom_order(sim_analysis, tmp_path):
    """The same study stored in RAS (x and y flipped, the direction saying so) gets the same
    axial montage, front up and the patient's right on the viewer's left."""
    import dataclasses

    import numpy as np

    from covidct.report.write import _pictures

    flip = lambda a: None if a is None else np.ascontiguousarray(a[:, ::-1, ::-1])
    a, ct = sim_analysis, sim_analysis.ct
    ras = dataclasses.replace(
        a, ct=dataclasses.replace(ct, array=flip(ct.array), direction=(-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0)),
        lungs=flip(a.lungs), heatmap=flip(a.heatmap),
        quantification=dataclasses.replace(a.quantification, lesion_mask=flip(a.quantification.lesion_mask)))
    (tmp_path / "lps").mkdir(), (tmp_path / "ras").mkdir()
    lps_pics, ras_pics = _pictures(a, tmp_path / "lps", "t"), _pictures(ras, tmp_path / "ras", "t")
    assert lps_pics["montage"].read_bytes() == ras_pics["montage"].read_bytes()


def test_a_reformat_is_drawn_and_profiled_as_its_axial_series(sim_analysis, tmp_path, reformat):
    """The same study stored as coronal or sagittal slices gets the axial series' montage,
    coronal picture, lesion profile and input warnings (before: its montage showed coronal
    slices and its profile ran front to back)."""
    import dataclasses

    from covidct.report.analysis import lesion_profile, study_warnings
    from covidct.report.write import _pictures

    a, ct = sim_analysis, sim_analysis.ct
    q = a.quantification
    ref = dataclasses.replace(
        a, ct=reformat.volume(ct), lungs=reformat.mask(a.lungs), heatmap=reformat.mask(a.heatmap),
        quantification=dataclasses.replace(q, lesion_mask=reformat.mask(q.lesion_mask)))
    assert ref.ct.shape != ct.shape
    (tmp_path / "axial").mkdir(), (tmp_path / "reformat").mkdir()
    pics, ref_pics = _pictures(a, tmp_path / "axial", "t"), _pictures(ref, tmp_path / "reformat", "t")
    for name in ("montage", "coronal", "profile", "montage_heat"):
        assert pics[name].read_bytes() == ref_pics[name].read_bytes(), name
    assert lesion_profile(ref.lungs, ref.quantification.lesion_mask, ref.ct) == \
        lesion_profile(a.lungs, q.lesion_mask, ct)
    assert study_warnings(ref.ct) == study_warnings(ct)
    html = write_report(ref, tmp_path / "out").html.read_text()
    assert f"{reformat.plane} slices (analysed and shown as axial slices)" in html
