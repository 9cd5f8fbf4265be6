"""The learned methods of segment_lungs: "model" and "hybrid" (the rules corrected by the network)."""

from __future__ import annotations

import numpy as np
import pytest
from synth import dice

from covidct.errors import InvalidInputError, NoLungsFoundError
from covidct.lungs import segment_lungs


@pytest.mark.parametrize("method", ["model", "hybrid"])
def test_learned_methods_on_a_phantom(phantom, masks, method):
    labels = masks[method]
    assert labels.dtype == np.uint8 and set(np.unique(labels)) == {0, 1, 2}
    assert dice(labels > 0, phantom.lungs > 0) > 0.93
    # right lung (label 1) on the patient's right: the low-x side of an LPS volume
    xs = {k: np.nonzero(labels == k)[2].mean() for k in (1, 2)}
    assert xs[1] < xs[2]


def test_hybrid_changes_the_rules_only_where_they_disagree_with_the_model(phantom, masks):
    rules, hybrid = masks["refined"], masks["hybrid"]
    truth = phantom.lungs > 0
    assert dice(hybrid > 0, rules > 0) > 0.95
    assert dice(hybrid > 0, truth) >= dice(rules > 0, truth) - 0.005
    both = (hybrid > 0) & (rules > 0)
    assert np.array_equal(hybrid[both], rules[both])  # kept voxels keep their side


def test_hybrid_diseased_only_keeps_the_rules_on_clear_lungs():
    """A clear phantom (control): its disease gate stays closed, so "hybrid" with
    ``diseased_only`` returns the rules' mask voxel for voxel (the network runs only for the
    collapse check: a network that sees no lung at all changes nothing)."""
    import dataclasses
    from unittest import mock

    from covidct.lungs import learned_segment
    from covidct.lungs.options import HybridOptions, LungOptions
    from covidct.phantom import simulate_case

    clear = simulate_case(8, diagnosis="control", size="small").volume
    opts = dataclasses.replace(LungOptions.fast(), hybrid=HybridOptions(diseased_only=True, remove_below=0.5))
    rules = segment_lungs(clear, method="refined")
    assert np.array_equal(segment_lungs(clear, method="hybrid", options=opts), rules)
    with mock.patch.object(learned_segment, "_probability", side_effect=lambda hu, *a: np.zeros(hu.shape)):
        assert np.array_equal(segment_lungs(clear, method="hybrid", options=opts), rules)


def test_network_run_beside_the_rules_gives_the_sequential_result(phantom, masks):
    """segment_lungs runs the network's pass in a thread beside the rules: "hybrid" and
    "model" equal the same steps run one after the other (the rules' working-grid labels
    corrected by ``corrected_rules``; the correction forced on, where it changes them)."""
    import dataclasses

    from covidct.lungs import segment
    from covidct.lungs.grid import labels_to_input
    from covidct.lungs.learned_segment import corrected_rules, model_lungs, network_pass
    from covidct.lungs.options import HybridOptions, LungOptions

    vol, opts = phantom.volume, LungOptions.fast()
    args = (vol.array, vol.spacing, vol.direction)
    network = network_pass(*args, opts, "ct")
    assert np.array_equal(masks["model"], model_lungs(*args, opts, "ct", network=network))
    forced = dataclasses.replace(opts, hybrid=HybridOptions(diseased_only=False))
    hu, body, grid, orient, _ = segment._working_scan(vol, None, forced)
    rules = segment._rules(hu, body, grid, orient, forced, "ct", "refined").labels
    corrected = corrected_rules(rules, network, forced, "ct")
    assert corrected is not rules and not np.array_equal(corrected, rules)
    assert np.array_equal(segment_lungs(vol, method="hybrid", options=forced), labels_to_input(corrected, grid))
    grid, _, hu, body, prob, labels = network
    assert hu.shape == body.shape == prob.shape == labels.shape == grid.shape
    assert 0.0 <= float(prob.min()) and float(prob.max()) <= 1.0


def test_a_given_network_is_used(phantom, masks):
    """``segment_lungs(model=...)``: the shipped network passed explicitly gives the default
    labels; a network that sees no lung leaves "model" nothing (the classifier:
    ``test_choice.py``)."""
    from unittest import mock

    from covidct.lungs import learned_segment
    from covidct.lungs.network import load_lung_models

    vol = phantom.volume
    assert np.array_equal(segment_lungs(vol, method="model", model=load_lung_models()), masks["model"])
    blind = object()
    real = learned_segment._probability

    def probability(hu, spacing, orient, model, threads):
        return np.zeros(hu.shape) if model == (blind,) else real(hu, spacing, orient, model, threads)

    with mock.patch.object(learned_segment, "_probability", side_effect=probability), \
            pytest.raises(NoLungsFoundError):
        segment_lungs(vol, method="model", model=blind)


def test_hybrid_uses_the_model_where_the_rules_collapsed(phantom, masks):
    """Rules that lost the lower half of the lungs (as on white lung over the domes) hold
    less than ``collapse_ratio`` of the network's lung: with fixed thresholds "hybrid" gives
    the network's mask; with the guard off it keeps the rules' half and adds what the network
    is sure of. The default, the learned choice, takes the lost half back too."""
    import dataclasses

    from covidct.lungs.grid import labels_to_input, labels_to_working
    from covidct.lungs.learned_segment import corrected_rules, network_pass
    from covidct.lungs.options import HybridOptions, LungOptions

    vol = phantom.volume
    network = network_pass(vol.array, vol.spacing, vol.direction, LungOptions.fast(), "ct")
    zs = np.nonzero(masks["refined"].any(axis=(1, 2)))[0]
    half_input = masks["refined"].copy()
    half_input[: zs[len(zs) // 2]] = 0
    half = labels_to_working(half_input, network.grid)
    for diseased_only in (True, False):  # the check runs whether or not the gate opens
        opts = dataclasses.replace(LungOptions.fast(), hybrid=HybridOptions(learned_choice=False,
                                                                             diseased_only=diseased_only))
        assert np.array_equal(corrected_rules(half, network, opts, "ct"), network.labels)
    off = dataclasses.replace(opts, hybrid=HybridOptions(learned_choice=False, diseased_only=False,
                                                         collapse_ratio=0.0))
    kept = corrected_rules(half, network, off, "ct")
    assert not np.array_equal(kept, network.labels)
    assert np.count_nonzero(kept[half > 0]) >= 0.95 * np.count_nonzero(half)  # the rules' half stays
    truth = phantom.lungs > 0
    chosen = labels_to_input(corrected_rules(half, network, LungOptions.fast(), "ct"), network.grid) > 0
    assert dice(chosen, truth) >= dice(masks["refined"] > 0, truth) > dice(half_input > 0, truth) + 0.25
    with pytest.raises(InvalidInputError, match="collapse_ratio"):
        HybridOptions(collapse_ratio=1.5)


def test_thick_disagreement_keeps_only_thick_parts_of_the_mask():
    """A 20 x 20 mm square survives the 4 mm opening, a 2 mm line does not; with no minimum
    volume (``min_ml=0``) the background never counts as a part."""
    import dataclasses

    from covidct.lungs.grid import WorkingGrid
    from covidct.lungs.learned_segment import _thick
    from covidct.lungs.options import HybridOptions, LungOptions

    grid = WorkingGrid.choose((4, 64, 64), (2.5, 1.0, 1.0), 1.0, 2.5)
    mask = np.zeros((4, 64, 64), bool)
    mask[:, 10:30, 10:30] = True
    mask[:, 40:42, 5:60] = True
    for min_ml in (0.0, 1.0):
        opts = dataclasses.replace(LungOptions.fast(), hybrid=HybridOptions(open_mm=4.0, min_ml=min_ml))
        thick = _thick(mask, grid, opts)
        assert np.array_equal(thick, mask & (np.arange(64)[None, :, None] < 35))
        assert not _thick(np.zeros_like(mask), grid, opts).any()
    # open_mm=0: no opening at all, the 2 mm line and a single voxel count too
    mask[0, 50, 50] = True
    opts = dataclasses.replace(LungOptions.fast(), hybrid=HybridOptions(open_mm=0.0, min_ml=0.0))
    assert np.array_equal(_thick(mask, grid, opts), mask)


def test_lost_lung_needs_a_thick_dense_part_of_the_network_outside_the_rules():
    """The gate-closed trigger (``hybrid.lost_ml``): a 40 x 40 mm block of 20 HU the network
    calls lung and the rules do not (12 mL on 3 slices of 2.5 mm), touching the rules' lung,
    fires at 10 mL; the same block of fat (-100 HU), away from the rules' lung, under the
    volume, or a 2 mm strip (the opening) does not; 0 mL switches the test off."""
    import dataclasses

    from covidct.lungs.grid import Orientation, WorkingGrid
    from covidct.lungs.learned_segment import NetworkPass, _lost_lung
    from covidct.lungs.options import HybridOptions, LungOptions

    shape, spacing = (3, 100, 100), (2.5, 1.25, 1.25)
    grid = WorkingGrid.choose(shape, spacing, 1.25, 2.5)
    rules = np.zeros(shape, np.uint8)
    rules[:, 10:90, 10:40] = 1  # the rules' lung
    net = rules.copy()
    net[:, 20:52, 40:72] = 1  # 32 x 32 pixels = 40 x 40 mm beside it: 12 mL
    hu = np.full(shape, -850.0, np.float32)
    hu[net > rules] = 20.0

    def lost(hu=hu, net=net, rules=rules, **fields):
        opts = dataclasses.replace(LungOptions.fast(), hybrid=HybridOptions(**fields))
        network = NetworkPass(grid, Orientation.from_direction((1, 0, 0, 0, 1, 0, 0, 0, 1), spacing),
                              hu, np.ones(shape, bool), (net > 0).astype(np.float32), net)
        return _lost_lung(rules, network, opts)

    assert lost(lost_ml=10.0)
    assert not lost(lost_ml=0.0)  # off
    assert not lost(lost_ml=15.0)  # 12 mL is less
    assert not lost(hu=np.where(hu == 20.0, -100.0, hu), lost_ml=10.0)  # fat
    far = np.zeros_like(rules)
    far[:, 10:90, 80:95] = 1  # the rules' lung 10 mm away: the 20 HU part does not touch it
    wide = np.maximum(net, far)
    assert not lost(rules=far, net=wide, hu=np.where(wide > far, 20.0, -850.0), lost_ml=10.0)
    strip = rules.copy()
    strip[:, 10:90, 40:42] = 1  # a 2.5 mm strip along the rules' lung: 1.9 mL, opened away
    assert not lost(net=strip, hu=np.where(strip > rules, 20.0, hu), lost_ml=1.0)


def test_hybrid_options_are_checked():
    from covidct.lungs.options import HybridOptions

    with pytest.raises(InvalidInputError, match="remove_below"):
        HybridOptions(remove_below=0.6, add_above=0.5)
    with pytest.raises(InvalidInputError, match="open_mm"):
        HybridOptions(open_mm=-1.0)
    with pytest.raises(InvalidInputError, match="lost_ml"):
        HybridOptions(lost_ml=-1.0)
    with pytest.raises(InvalidInputError, match="lost_hu"):
        HybridOptions(lost_hu=(60.0, -60.0))


def test_methods_and_bad_input():
    with pytest.raises(InvalidInputError, match="'hybrid'"):
        segment_lungs(np.zeros((8, 32, 32)), (3.0, 1.0, 1.0), method="unet")
    body = np.full((20, 96, 96), -1000, np.int16)
    yy, xx = np.mgrid[:96, :96]
    body[:, (yy - 48) ** 2 + (xx - 48) ** 2 < 40 ** 2] = 40  # a water cylinder: no lungs
    with pytest.raises(NoLungsFoundError):
        segment_lungs(body, (5.0, 4.0, 4.0), method="model")


def test_a_reformat_gets_the_model_labels_of_its_axial_series(phantom, masks, reformat):
    """A sagittal or coronal reformat is laid as an axial series before the network sees it
    (``network_pass`` itself takes axial slices only)."""
    from covidct.lungs.learned_segment import network_pass
    from covidct.lungs.options import LungOptions

    stored = reformat.volume(phantom.volume)
    assert np.array_equal(reformat.back(segment_lungs(stored, method="model")), masks["model"])
    with pytest.raises(InvalidInputError, match="axial"):
        network_pass(stored.array, stored.spacing, stored.direction, LungOptions.fast(), "reformat")


@pytest.mark.slow
def test_cli_segment_with_the_hybrid_method(phantom, tmp_path):
    from typer.testing import CliRunner

    from covidct.cli.app import app
    from covidct.io import read_ct, read_mask, write_volume

    path = write_volume(phantom.volume, tmp_path / "ct.nii.gz")
    out = tmp_path / "lungs.nrrd"
    res = CliRunner().invoke(app, ["segment", str(path), "-o", str(out), "--method", "hybrid"])
    assert res.exit_code == 0, res.output
    vol = read_ct(path)
    assert np.array_equal(read_mask(out, vol), segment_lungs(vol, method="hybrid"))
    bad = CliRunner().invoke(app, ["segment", str(path), "-o", str(tmp_path / "b.nrrd"), "--method", "unet"])
    assert bad.exit_code == 2 and "hybrid" in bad.output and not (tmp_path / "b.nrrd").exists()


def test_hybrid_refuses_the_real_abdominal_ct(real_abdomen_paths):
    from covidct.io import read_ct

    with pytest.raises(NoLungsFoundError, match="no lungs in view"):
        segment_lungs(read_ct(real_abdomen_paths["nifti"]), method="hybrid")


def test_model_method_refuses_the_real_abdominal_ct(real_abdomen_paths):
    """The model alone takes bowel gas for lung; the rules' refusal runs first."""
    from covidct.io import read_ct

    with pytest.raises(NoLungsFoundError, match="no lungs in view"):
        segment_lungs(read_ct(real_abdomen_paths["nifti"]), method="model")


def test_hybrid_imports_neither_torch_nor_lightgbm():
    """The shipped network and lung choice classifier run in ONNX Runtime: a "hybrid"
    segmentation (which loads both) imports neither torch nor LightGBM and scikit-learn
    (seconds of start-up on every ``covidct segment``)."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from covidct.phantom import simulate_case\n"
            "from covidct.lungs import segment_lungs\n"
            "labels = segment_lungs(simulate_case(7, diagnosis='covid', size='small').volume, method='hybrid')\n"
            "print(int((labels > 0).sum()), [m for m in ('onnxruntime', 'covidct.lungs.choice', 'torch', 'lightgbm',"
            " 'sklearn') if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lung_voxels, modules = out.split(" ", 1)
    assert int(lung_voxels) > 0
    assert modules.strip() == "['onnxruntime', 'covidct.lungs.choice']"
