"""The learned choice between the rules' and the network's lung masks (covidct.lungs.choice)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy import ndimage as ndi
from synth import dice

from covidct.errors import DataUnavailableError, InvalidInputError
from covidct.lungs.choice import (
    FEATURES,
    LungChoice,
    choose_lung,
    disagreement_features,
    fit_lung_choice,
    load_lung_choice,
    lung_choice_path,
    save_lung_choice,
)
from covidct.provenance import sha256_file

SPACING = (2.5, 1.25, 1.25)


def _scan():
    """A box body with two masks: the rules' block and the network's block 4 voxels lower in y."""
    shape = (12, 60, 60)
    rng = np.random.default_rng(0)
    hu = rng.normal(-800, 40, shape).astype(np.float32)
    body = np.zeros(shape, bool)
    body[:, 5:55, 5:55] = True
    rules = np.zeros(shape, bool)
    rules[2:10, 20:40, 20:40] = True
    net = np.roll(rules, 4, axis=1)
    hu[rules & (np.arange(60)[None, :, None] < 24)] = 0.0  # dense top rows of the rules' block
    prob = np.where(net, 0.8, 0.1).astype(np.float32)
    return hu, prob, body, rules, net


class _Always:
    """A stand-in booster that gives every voxel the probability ``p``."""

    def __init__(self, p: float) -> None:
        self.p = p

    def predict(self, X, num_threads=1):
        return np.full(len(X), self.p)


def test_features_have_known_values_and_match_whole_grid_filters():
    hu, prob, body, rules, net = _scan()
    idx, X = disagreement_features(hu, prob, body, rules, net, SPACING, superior_is_high=True)
    assert X.shape == (len(idx[0]), len(FEATURES)) and X.dtype == np.float32
    assert np.array_equal(np.stack(idx), np.stack(np.nonzero(rules ^ net)))
    col = {name: X[:, i] for i, name in enumerate(FEATURES)}
    np.testing.assert_array_equal(col["prob"], prob[idx])
    np.testing.assert_array_equal(col["hu"], hu[idx])
    # the box crop gives the values of the filters and distances on the whole grid
    np.testing.assert_allclose(col["hu_5mm"], ndi.gaussian_filter(hu, (1.0, 4.0, 4.0))[idx], atol=1e-3)
    np.testing.assert_allclose(col["prob_2mm"], ndi.gaussian_filter(prob, (0.5, 1.6, 1.6))[idx], atol=1e-5)
    np.testing.assert_allclose(col["depth_body_mm"], ndi.distance_transform_edt(body, sampling=SPACING)[idx])
    # a voxel of the network's block below the rules' one: 1.25 mm outside R per row, inside M
    below = (idx[0] == 5) & (idx[1] == 40) & (idx[2] == 30)
    assert col["depth_rules_mm"][below] == pytest.approx(-1.25)
    assert col["depth_net_mm"][below] == pytest.approx(1.25 * 4)  # 4 rows inside M's lower border
    assert col["above_base_mm"][below] == pytest.approx(3 * 2.5) and col["below_apex_mm"][below] == pytest.approx(4 * 2.5)
    assert np.allclose(col["dense_share"], 4 / 20) and np.allclose(col["rules_over_net"], 1.0)
    assert np.all(col["hu_sd_2mm"] >= 0)


def test_height_features_follow_the_patient_not_the_array():
    """A scan stored head first (superior at low z) gives each voxel the heights above the
    lungs' base and below their apex it has stored feet first."""
    hu, prob, body, rules, net = _scan()
    idx, X = disagreement_features(hu, prob, body, rules, net, SPACING, superior_is_high=True)
    flip = lambda a: np.ascontiguousarray(a[::-1])
    fidx, fX = disagreement_features(*map(flip, (hu, prob, body, rules, net)), SPACING, superior_is_high=False)
    order = np.lexsort((fidx[2], fidx[1], hu.shape[0] - 1 - fidx[0]))  # back to idx's order
    assert np.array_equal(hu.shape[0] - 1 - fidx[0][order], idx[0])
    heights = [FEATURES.index("above_base_mm"), FEATURES.index("below_apex_mm")]
    np.testing.assert_allclose(fX[order][:, heights], X[:, heights])
    assert X[:, heights].min() == 0.0 and X[:, heights].max() == pytest.approx(7 * 2.5)  # slices 2-9


def test_choice_keeps_agreement_and_follows_the_classifier_elsewhere():
    hu, prob, body, rules, net = _scan()
    assert np.array_equal(choose_lung(hu, prob, body, rules, net, SPACING, LungChoice(_Always(0.9)), superior_is_high=True), rules | net)
    assert np.array_equal(choose_lung(hu, prob, body, rules, net, SPACING, LungChoice(_Always(0.1)), superior_is_high=True), rules & net)
    empty = np.zeros_like(rules)
    assert not choose_lung(hu, prob, body, empty, empty, SPACING, LungChoice(_Always(0.9)), superior_is_high=True).any()


def test_fit_save_load_round_trip_and_damaged_files(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4000, len(FEATURES))).astype(np.float32)
    # a column of two adjacent float32 values, the higher one flipping the label: LightGBM
    # splits between them at a double that rounds up to the higher one in float32 (as on
    # real scans, 0.11 off before the export kept the thresholds' decisions)
    low = np.nextafter(np.float32(1.0), np.float32(2.0))
    X[:, 1] = np.where(rng.random(len(X)) < 0.5, low, np.nextafter(low, np.float32(2.0)))
    y = (X[:, 0] + 0.5 * X[:, 5] > 0) ^ (X[:, 1] > low)
    booster = fit_lung_choice(X, y, lung_weight=2.0, seed=0)
    path = save_lung_choice(booster, tmp_path / "choice.txt", card={"name": "test"})
    loaded = load_lung_choice(path)
    assert loaded.sha256 == sha256_file(path) == loaded.card["sha256"]
    assert loaded.card["features"] == list(FEATURES)
    p = loaded.booster.predict(X)
    np.testing.assert_allclose(p, booster.predict(X))
    assert np.mean((p > 0.5) == y) > 0.95  # it learned the rule
    exported = load_lung_choice(tmp_path / "choice.onnx")  # written beside it, its sha256 in the card
    assert exported.sha256 == sha256_file(tmp_path / "choice.onnx") == exported.card["onnx_sha256"]
    np.testing.assert_allclose(exported.booster.predict(X), booster.predict(X), atol=1e-5)
    assert not list(tmp_path.glob("*.part"))

    with pytest.raises(DataUnavailableError, match="missing"):
        load_lung_choice(tmp_path / "absent.txt")
    tampered = tmp_path / "tampered.txt"
    tampered.write_text(path.read_text().replace("learning_rate", "learning_rate ", 1))
    (tmp_path / "tampered.card.json").write_text(json.dumps({"sha256": loaded.sha256}))
    with pytest.raises(InvalidInputError, match="corrupt"):
        load_lung_choice(tampered)
    (tmp_path / "junk.txt").write_text("not a model\n")
    with pytest.raises(InvalidInputError, match="LightGBM"):
        load_lung_choice(tmp_path / "junk.txt")
    import lightgbm as lgb

    other = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X[:, :3], y).booster_  # other columns
    (tmp_path / "other.txt").write_text(other.model_to_string())
    with pytest.raises(InvalidInputError, match="features"):
        load_lung_choice(tmp_path / "other.txt")
    flipped = bytearray((tmp_path / "choice.onnx").read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF
    (tmp_path / "choice.onnx").write_bytes(bytes(flipped))
    with pytest.raises(InvalidInputError, match="corrupt"):
        load_lung_choice(tmp_path / "choice.onnx")
    (tmp_path / "cut.onnx").write_bytes(bytes(flipped[:1000]))
    with pytest.raises(InvalidInputError, match="not a lung choice classifier"):
        load_lung_choice(tmp_path / "cut.onnx")


def test_shipped_classifier_matches_its_card():
    """The run time's file is the ONNX export of the LightGBM text model beside it: both match
    the card, and they give the same probabilities (1e-5) on the features of a diseased scan."""
    choice = load_lung_choice()
    assert choice.source == lung_choice_path().resolve() and lung_choice_path().suffix == ".onnx"
    assert choice.sha256 == choice.card["onnx_sha256"] == sha256_file(lung_choice_path())
    text = load_lung_choice(lung_choice_path().with_suffix(".txt"))
    assert text.sha256 == choice.card["sha256"] == text.card["sha256"]
    assert choice.card["features"] == list(FEATURES) and tuple(text.booster.feature_name()) == FEATURES
    assert choice.card["onnx_export"]["checked"].startswith("probabilities of 1677841 rows")  # the voxels it was fitted on
    assert choice.card["onnx_export"]["max_gap"] < 1e-5
    _, X = disagreement_features(*_scan(), SPACING, superior_is_high=True)
    np.testing.assert_allclose(choice.booster.predict(X), text.booster.predict(X), atol=1e-5)
    assert choice.card["trained_on"][0]["ct"] == "rider" and choice.card["provenance"]["versions"]
    held = {(r["case"].split()[0], r["method"]) for r in choice.card["held_out"]["rows"]}
    assert {ct for ct, method in held if method == "hybrid"} == {"lung1", "lung2", "rider", "cxr"}


def test_hybrid_applies_the_choice_between_the_two_masks():
    """On a diseased phantom (correction forced on), a classifier given to ``segment_lungs``
    that always says lung gives the union of the rules' and the network's masks, one that
    never does their intersection."""
    from covidct.lungs import segment_lungs
    from covidct.lungs.options import HybridOptions, LungOptions
    from covidct.phantom import simulate_case

    vol = simulate_case(7, diagnosis="covid", size="small").volume
    opts = dataclasses.replace(LungOptions.fast(), hybrid=HybridOptions(diseased_only=False))
    rules, model = segment_lungs(vol, method="refined") > 0, segment_lungs(vol, method="model") > 0
    union = segment_lungs(vol, method="hybrid", options=opts, choice=LungChoice(_Always(0.9)))
    inter = segment_lungs(vol, method="hybrid", options=opts, choice=LungChoice(_Always(0.1)))
    assert np.all(union[rules] > 0) and dice(union > 0, rules | model) > 0.99
    assert not np.any(inter[~rules]) and dice(inter > 0, rules & model) > 0.99


@pytest.mark.parametrize("axes", [(0,), (1, 2)], ids=["head first", "RAS"])
def test_hybrid_of_a_scan_stored_otherwise_is_the_same(axes):
    """``corrected_rules`` on the arrays of a diseased phantom stored head first (z flipped)
    or as a NIfTI in RAS (x and y flipped; the direction's columns negated to match) gives the
    same labels: the network reads it in the standard order and the classifier's heights
    follow the patient (``segment_lungs`` lays such a scan the standard way first; this is
    the layer below)."""
    from covidct.lungs import segment_lungs
    from covidct.lungs.grid import labels_to_input, labels_to_working
    from covidct.lungs.learned_segment import corrected_rules, network_pass
    from covidct.lungs.options import HybridOptions, LungOptions
    from covidct.phantom import simulate_case

    vol = simulate_case(6, diagnosis="covid", size="small").volume
    d = np.asarray(vol.direction).reshape(3, 3)
    d[:, [2 - a for a in axes]] *= -1  # direction column of array axis z, y, x: 2, 1, 0
    flip = lambda a: np.ascontiguousarray(np.flip(a, axes))
    opts = dataclasses.replace(LungOptions.fast(), hybrid=HybridOptions(diseased_only=False))
    rules = segment_lungs(vol, method="refined")

    def corrected(arr: np.ndarray, direction: tuple[float, ...], rules_input: np.ndarray) -> np.ndarray:
        network = network_pass(arr, vol.spacing, direction, opts, "ct")
        return labels_to_input(corrected_rules(labels_to_working(rules_input, network.grid), network, opts, "ct"),
                               network.grid)

    labels = corrected(vol.array, vol.direction, rules)
    stored = corrected(flip(vol.array), tuple(d.ravel()), flip(rules))
    differ = np.count_nonzero(np.flip(stored, axes) != labels)
    assert differ <= 0.0001 * np.count_nonzero(labels)  # rounding at the classifier's 0.5


def test_default_hybrid_runs_the_choice_on_diseased_lungs_only():
    """``segment_lungs`` (default "hybrid") calls the classifier on a diseased phantom, whose
    disease gate opens, and not on a clear one, which keeps the rules' mask."""
    from unittest import mock

    from covidct.lungs import choice as choice_module
    from covidct.lungs import segment_lungs
    from covidct.phantom import simulate_case

    for diagnosis, seed, calls in (("covid", 6, 1), ("control", 8, 0)):  # covid 6: 34 % involved
        vol = simulate_case(seed, diagnosis=diagnosis, size="small").volume
        with mock.patch.object(choice_module, "choose_lung", wraps=choice_module.choose_lung) as spy:
            labels = segment_lungs(vol)
        assert spy.call_count == calls
        if not calls:
            assert np.array_equal(labels, segment_lungs(vol, method="refined"))


def test_choice_drops_added_lung_away_from_the_rules_unless_they_collapsed():
    """Lung the classifier takes from the network's mask where the rules have none is kept
    only in parts touching the rules' lungs (bowel under a scan of the lung bases), except when
    the rules collapsed: then a whole lung may be the network's."""
    from covidct.lungs import LEFT, RIGHT, segment_lungs
    from covidct.lungs.grid import labels_to_working
    from covidct.lungs.learned_segment import corrected_rules, network_pass
    from covidct.lungs.options import HybridOptions, LungOptions
    from covidct.phantom import simulate_case

    vol = simulate_case(7, diagnosis="covid", size="small").volume
    args = (vol.array, vol.spacing, vol.direction)
    base = LungOptions.fast()
    network = network_pass(*args, base, "ct")
    right_only = np.where(segment_lungs(vol, method="refined") == RIGHT, RIGHT, 0).astype(np.uint8)
    left = network.labels == LEFT  # the network's left lung, apart from the rules' right one
    assert left.sum() > 0.3 * (labels_to_working(right_only, network.grid) > 0).sum()
    always = LungChoice(_Always(0.9))
    for ratio, kept in ((0.0, False), (0.9, True)):  # 0.9: the rules hold half the network's lung
        opts = dataclasses.replace(base, hybrid=HybridOptions(diseased_only=False, collapse_ratio=ratio))
        out = corrected_rules(labels_to_working(right_only, network.grid), network, opts, "ct", choice=always)
        assert (np.count_nonzero(out[left] == LEFT) > 0.9 * left.sum()) == kept
        assert (out == RIGHT).sum() >= 0.99 * (labels_to_working(right_only, network.grid) > 0).sum()
