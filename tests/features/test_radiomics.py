"""Radiomics: equal to plain pyradiomics, the covid-mtl names/count, paper columns, errors."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import radiomics
from radiomics.featureextractor import RadiomicsFeatureExtractor

import covidct.features.radiomics as radiomics_module
from covidct.errors import CovidCTError, GeometryMismatchError, InvalidInputError
from covidct.features import (
    extract_radiomics,
    extract_radiomics_reference,
    feature_names,
    paper_columns,
    resolve_preset,
)
from covidct.features.radiomics import PAPER_OVERWRITTEN

radiomics.setVerbosity(logging.ERROR)


def _direct(volume, mask01, classes, image_types=("Original",), **settings):
    """Features from one plain RadiomicsFeatureExtractor call."""
    ext = RadiomicsFeatureExtractor(**settings)
    ext.disableAllImageTypes()
    for t in image_types:
        ext.enableImageTypeByName(t)
    ext.disableAllFeatures()
    ext.enableFeaturesByName(**classes)
    res = ext.execute(volume.to_sitk(), volume.to_sitk(mask01.astype(np.uint8)), label=1)
    return pd.Series({k: float(np.asarray(v).reshape(-1)[0]) for k, v in res.items()
                      if not k.startswith("diagnostics")})


def test_fast_preset_equals_direct_pyradiomics(small_ct):
    volume, mask = small_ct
    before = volume.array.copy(), mask.copy()
    ours = extract_radiomics(volume, mask, preset="fast")
    direct = _direct(volume, mask > 0, {"firstorder": [], "glcm": []}, binWidth=25,
                     resampledPixelSpacing=[2.0, 2.0, 2.0], interpolator="sitkBSpline")
    assert list(ours.index) == list(direct.index)
    assert len(ours) == 18 + 24
    np.testing.assert_allclose(ours.to_numpy(), direct.to_numpy(), rtol=1e-9, atol=0)
    np.testing.assert_array_equal(volume.array, before[0])  # inputs not modified
    np.testing.assert_array_equal(mask, before[1])


def test_covid_mtl_preset_378_features_equal_to_pyradiomics(small_ct):
    volume, mask = small_ct
    ours = extract_radiomics(volume, mask)
    assert len(ours) == 378
    assert list(ours.index) == feature_names("covid-mtl")
    assert "original_glcm_Contrast" in ours and "wavelet-LLH_glrlm_RunEntropy" in ours
    assert "wavelet-HHH_glcm_SumAverage" not in ours and "wavelet-LLL_glcm_MCC" not in ours
    assert "original_glcm_MCC" in ours and "original_glszm_ZoneEntropy" in ours
    counts = pd.Series([n.split("_")[0] + "_" + n.split("_")[1] for n in ours.index]).value_counts()
    assert counts["original_firstorder"] == 18 and counts["original_glszm"] == 16
    assert counts["wavelet-LHL_glcm"] == 22 and counts["wavelet-LHL_glrlm"] == 16
    # plain pyradiomics (two extractors: original classes, wavelet classes)
    orig = _direct(volume, mask > 0, {"firstorder": [], "glcm": [], "glrlm": [], "glszm": []},
                   binWidth=25, resampledPixelSpacing=[1, 1, 1], interpolator="sitkBSpline")
    wav_glcm = list(resolve_preset("covid-mtl").classes["Wavelet"]["glcm"])
    wav = _direct(volume, mask > 0, {"glcm": wav_glcm, "glrlm": []}, image_types=("Wavelet",),
                  binWidth=25, resampledPixelSpacing=[1, 1, 1], interpolator="sitkBSpline")
    direct = pd.concat([orig, wav])
    assert list(direct.index) == list(ours.index)
    np.testing.assert_array_equal(ours.to_numpy(), direct.to_numpy())  # bit for bit
    # several processes give the same values in the same order
    pd.testing.assert_series_equal(extract_radiomics(volume, mask, workers=2), ours, check_exact=True)
    pd.testing.assert_series_equal(extract_radiomics_reference(volume, mask), ours, check_names=False,
                                   check_exact=True)


def test_label_selects_one_lung(small_ct):
    volume, mask = small_ct
    right = extract_radiomics(volume, mask, preset="fast", label=1)
    only = extract_radiomics(volume, (mask == 1).astype(np.uint8), preset="fast")
    pd.testing.assert_series_equal(right, only)
    both = extract_radiomics(volume, mask, preset="fast")
    assert not np.allclose(right.to_numpy(), both.to_numpy())


def test_params_yaml_overrides_settings(small_ct, tmp_path):
    volume, mask = small_ct
    yaml_file = tmp_path / "params.yaml"
    yaml_file.write_text("setting:\n  binWidth: 10\n")
    ours = extract_radiomics(volume, mask, preset="fast", params=yaml_file)
    direct = _direct(volume, mask > 0, {"firstorder": [], "glcm": []}, binWidth=10,
                     resampledPixelSpacing=[2.0, 2.0, 2.0], interpolator="sitkBSpline")
    np.testing.assert_allclose(ours.to_numpy(), direct.to_numpy(), rtol=1e-9)
    assert ours["original_firstorder_Entropy"] != extract_radiomics(
        volume, mask, preset="fast")["original_firstorder_Entropy"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("setting:\n  binWidth: [1, 2\n")
    with pytest.raises(InvalidInputError, match="bad.yaml"):
        extract_radiomics(volume, mask, preset="fast", params=bad)


def test_bad_inputs(small_ct):
    volume, mask = small_ct
    with pytest.raises(GeometryMismatchError):
        extract_radiomics(volume, mask[1:], preset="fast")
    with pytest.raises(InvalidInputError, match="no voxel"):
        extract_radiomics(volume, np.zeros_like(mask), preset="fast")
    with pytest.raises(InvalidInputError, match="label 7"):
        extract_radiomics(volume, mask, preset="fast", label=7)
    with pytest.raises(InvalidInputError, match="unknown radiomics preset"):
        extract_radiomics(volume, mask, preset="nope")
    with pytest.raises(InvalidInputError, match="workers"):
        extract_radiomics(volume, mask, preset="fast", workers=0)


def test_array_extreme_returns_the_builtin_answer():
    rng = np.random.default_rng(0)
    values = rng.normal(-500, 300, 10_001)
    fast_min = radiomics_module._array_extreme(min)
    fast_max = radiomics_module._array_extreme(max)
    assert fast_min(values) == min(values) and type(fast_min(values)) is type(min(values))
    assert fast_max(values) == max(values)
    assert fast_min(3, 1, 2) == 1 and fast_max([4, 9]) == 9 and fast_min([], default=5) == 5
    with_nan = np.array([np.nan, 2.0, 1.0])
    assert np.isnan(fast_min(with_nan)) and np.isnan(min(with_nan))  # the builtin's answer
    assert fast_min(with_nan[1:]) == 1.0
    # the shim is only in place while a job bins its image
    assert not hasattr(radiomics.imageoperations, "min")


@pytest.mark.skipif(not radiomics_module._CAN_FORK, reason="needs the fork start method")
def test_worker_errors_reach_the_caller(small_ct, monkeypatch):
    volume, mask = small_ct

    def failing(job):
        raise InvalidInputError(f"cannot do {job.name}")

    monkeypatch.setattr(radiomics_module, "_run_job", failing)
    with pytest.raises(InvalidInputError, match="cannot do original"):
        extract_radiomics(volume, mask, preset="fast", workers=2)

    def dying(job):
        import os

        os._exit(3)

    monkeypatch.setattr(radiomics_module, "_run_job", dying)
    with pytest.raises(CovidCTError, match="stopped without a result.*exit code 3"):
        extract_radiomics(volume, mask, preset="fast", workers=2)


def test_paper_columns_375_and_overwrite_semantics():
    names = feature_names("covid-mtl")
    values = pd.Series(np.arange(len(names), dtype=float), index=names)
    paper = paper_columns(values)
    assert len(names) == 378 and len(paper) == 375
    for feat in PAPER_OVERWRITTEN:
        # the GLSZM value wins, at the position where the GLRLM feature first appeared
        assert paper[f"original_{feat}"] == values[f"original_glszm_{feat}"]
        assert list(paper.index).index(f"original_{feat}") < list(paper.index).index(
            "original_HighGrayLevelZoneEmphasis")
    assert paper["original_Contrast"] == values["original_glcm_Contrast"]
    assert paper["wavelet-LLH_RunEntropy"] == values["wavelet-LLH_glrlm_RunEntropy"]
    assert paper["wavelet-LLH_GrayLevelNonUniformity"] == values["wavelet-LLH_glrlm_GrayLevelNonUniformity"]
    frame = pd.DataFrame([values, values * 2]).assign(case_id=["a", "b"], ct_positive=[1, 0])
    pframe = paper_columns(frame)
    assert pframe.shape == (2, 377)
    assert list(pframe["case_id"]) == ["a", "b"]
    assert pframe["original_GrayLevelVariance"].tolist() == [
        values["original_glszm_GrayLevelVariance"], 2 * values["original_glszm_GrayLevelVariance"]]


def test_presets_are_immutable_and_describable():
    preset = resolve_preset("covid-mtl")
    with pytest.raises(TypeError):
        preset.settings["binWidth"] = 5  # type: ignore[index]
    d = preset.to_dict()
    assert d["settings"]["binWidth"] == 25 and d["classes"]["Wavelet"]["glrlm"] is None
    assert len(d["classes"]["Wavelet"]["glcm"]) == 22
