"""The learned lung model: shipped weights, resampling, prediction, methods, training family."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from synth import dice

from covidct.errors import DataUnavailableError, InvalidInputError, NoLungsFoundError
from covidct.lungs import segment_lungs
from covidct.lungs.learned import (
    FORMAT,
    LUNG_MODEL_FILES,
    LungModel,
    LungUNet,
    LungUNet3D,
    context_channels,
    context_offsets,
    from_model_grid,
    load_lung_model,
    load_lung_models,
    lung_model_path,
    lung_model_paths,
    neighbour_stack,
    predict_lung_probability,
    save_lung_model,
    to_model_grid,
)
from covidct.provenance import sha256_file


@pytest.fixture(scope="module")
def phantom():
    """A small phantom chest whose seed no lung model trained or validated on (exact lungs)."""
    from covidct.phantom import simulate_case

    return simulate_case(7, diagnosis="covid", size="small")


@pytest.fixture(scope="module")
def masks(phantom):
    """The phantom's lungs by "refined", "model" and "hybrid" (segmented once)."""
    return {m: segment_lungs(phantom.volume, method=m) for m in ("refined", "model", "hybrid")}


@pytest.mark.parametrize("name", LUNG_MODEL_FILES)
def test_shipped_weights_match_their_card(name):
    path = lung_model_path(name)
    model = load_lung_model(path)
    card = json.loads(path.with_name(path.stem + ".card.json").read_text())
    assert model.sha256 == card["sha256"] == sha256_file(path)
    assert model.card["trained_on"]["real_cts"] == ["lung1_image.nrrd", "lung2_image.nrrd"]
    assert {r["case"].split()[0] for r in card["held_out"]["rows"]} == {"lung1", "lung2"}
    assert path.stat().st_size < 5_000_000
    assert not model.module.training
    assert not model.is_3d


def test_the_shipped_model_is_the_25d_network():
    shipped = load_lung_models()
    assert [m.source for m in shipped] == lung_model_paths() == [lung_model_path()]


def test_corrupt_or_missing_weights_raise(tmp_path):
    src = lung_model_path()
    bad = tmp_path / "lung-unet.pt"
    shutil.copy(src, bad)
    shutil.copy(src.with_name("lung-unet.card.json"), tmp_path / "lung-unet.card.json")
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(InvalidInputError, match="corrupt"):
        load_lung_model(bad)
    with pytest.raises(DataUnavailableError, match="missing"):
        load_lung_model(tmp_path / "absent.pt")


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    net = LungUNet(features=(4, 8)).eval()
    model = LungModel(module=net, pixel_mm=4.0, canvas=32, hu_window=(-1000.0, 200.0))
    path = save_lung_model(model, tmp_path / "m.pt", card={"name": "test"})
    loaded = load_lung_model(path)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(x), loaded.module(x))
    assert loaded.card["sha256"] == sha256_file(path) and loaded.pixel_mm == 4.0


def test_neighbour_channels_by_context():
    """Slice z of a stack whose slice k holds the value k: the channels are the slices of the
    context's offsets, clamped at the ends."""
    slices = torch.arange(10, dtype=torch.float32)[:, None, None].expand(10, 2, 2)
    assert context_offsets((1,), 2) == [-2, 0, 2]
    assert context_offsets((4, 1, 2), 1) == [-4, -2, -1, 0, 1, 2, 4] and context_channels((4, 1, 2)) == 7
    x = neighbour_stack(slices, np.array([0, 5, 9]), 1, (1, 3))
    assert x.shape == (3, 5, 2, 2)
    assert x[:, :, 0, 0].tolist() == [[0, 0, 0, 1, 3], [2, 4, 5, 6, 8], [6, 8, 9, 9, 9]]
    assert torch.equal(neighbour_stack(slices, np.array([4]), 2), slices[[2, 4, 6]][None])


def test_context_is_saved_with_the_model_and_old_files_read_as_three_slices(tmp_path):
    torch.manual_seed(0)
    net = LungUNet(in_channels=5, features=(4, 8)).eval()
    path = save_lung_model(LungModel(module=net, pixel_mm=4.0, canvas=32, hu_window=(-1000.0, 200.0),
                                     context=(1, 3)), tmp_path / "wide.pt")
    loaded = load_lung_model(path)
    assert loaded.context == (1, 3) and loaded.module.down[0][0].in_channels == 5
    old = {"format": FORMAT, "features": [4, 8], "pixel_mm": 4.0, "canvas": 32, "hu_window": [-1000.0, 200.0],
           "state_dict": LungUNet(features=(4, 8)).state_dict()}  # written before the context key
    torch.save(old, tmp_path / "old.pt")
    assert load_lung_model(tmp_path / "old.pt").context == (1,)
    torch.save({**old, "context": [1, 3]}, tmp_path / "mismatch.pt")  # 5 channels said, 3 stored
    with pytest.raises(InvalidInputError, match="not a usable lung model"):
        load_lung_model(tmp_path / "mismatch.pt")
    probability = predict_lung_probability(np.full((12, 40, 40), -800, np.int16), (2.5, 1.0, 1.0), model=loaded)
    assert probability.shape == (12, 40, 40) and np.isfinite(probability).all()


class _DarkIsLung(LungUNet3D):
    """A fixed "3D network": lung logit -20 x scaled HU (lung below the window's middle)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -20.0 * x


def test_3d_model_file_round_trip_and_the_mean_of_networks(tmp_path):
    torch.manual_seed(0)
    net = LungUNet3D(features=(2, 4)).eval()
    path = save_lung_model(LungModel(module=net, pixel_mm=4.0, canvas=32, hu_window=(-1000.0, 200.0), pool=2,
                                     slice_mm=5.0), tmp_path / "m3.pt", card={"name": "test3d"})
    loaded = load_lung_model(path)
    assert loaded.is_3d and (loaded.pool, loaded.slice_mm, loaded.card["name"]) == (2, 5.0, "test3d")
    assert all(torch.equal(a, b) for a, b in zip(loaded.module.state_dict().values(), net.state_dict().values()))
    flat = save_lung_model(LungModel(module=LungUNet(features=(4, 8)).eval(), pixel_mm=4.0, canvas=32,
                                     hu_window=(-1000.0, 200.0)), tmp_path / "m2.pt")
    vol = np.random.default_rng(0).normal(-500, 300, (13, 40, 44)).astype(np.float32)
    sp = (2.5, 1.0, 1.0)
    one = predict_lung_probability(vol, sp, model=loaded)
    assert one.shape == vol.shape and np.isfinite(one).all() and 0.0 <= one.min() and one.max() <= 1.0
    pair = load_lung_models(f"{flat}+{path}")
    assert [m.is_3d for m in pair] == [False, True]
    mean = (predict_lung_probability(vol, sp, model=pair[0]) + one) / 2  # the mean of their probabilities
    np.testing.assert_allclose(predict_lung_probability(vol, sp, model=pair), mean, atol=1e-6)


def test_3d_network_input_and_output_keep_the_geometry():
    """A 60 mm disk of lung (-900 HU) in water on 0.8 mm pixels and 1.25 mm slices: through
    the 2 mm canvas, 2 x 2 pooling (4 mm) and 5 mm slices, a network that calls dark voxels
    lung gives the disk back on the CT's grid, from the first slice to the last."""
    model = LungModel(module=_DarkIsLung(features=(2,)).eval(), pixel_mm=2.0, canvas=192,
                      hu_window=(-1024.0, 400.0), pool=2, slice_mm=5.0)
    yy, xx = np.mgrid[:300, :320]
    disk = (yy - 140) ** 2 + (xx - 170) ** 2 <= (30 / 0.8) ** 2
    vol = np.where(disk, -900.0, 0.0)[None].repeat(24, axis=0).astype(np.float32)
    prob = predict_lung_probability(vol, (1.25, 0.8, 0.8), model=model)
    assert prob.shape == vol.shape
    assert dice(prob[0] > 0.5, disk) > 0.97 and dice(prob[-1] > 0.5, disk) > 0.97


def test_model_grid_round_trip_keeps_a_disk():
    """A 60 mm disk on 0.7 mm pixels, to 3 mm pixels and back: same area within 2 %."""
    yy, xx = np.mgrid[:400, :420]
    disk = ((yy - 190) ** 2 + (xx - 230) ** 2 <= (30 / 0.7) ** 2).astype(np.float32)[None]
    low, geo = to_model_grid(disk, (0.7, 0.7), pixel_mm=3.0, canvas=128, fill=0.0)
    assert geo.scaled == (93, 98)
    assert float(low.sum()) * 9.0 == pytest.approx(float(disk.sum()) * 0.49, rel=0.02)
    back = from_model_grid(low, geo).numpy() > 0.5
    assert back.shape == disk.shape
    assert dice(back, disk > 0) > 0.98
    # a canvas smaller than the image crops its centre; the rest comes back as 0
    low, geo = to_model_grid(np.ones((1, 400, 400), np.float32), (1.0, 1.0), pixel_mm=4.0, canvas=64, fill=0.0)
    assert geo.offset == (-18, -18) and float(low.min()) == 1.0
    back = from_model_grid(low, geo).numpy()[0]
    assert back[200, 200] == pytest.approx(1.0) and back[5, 5] == 0.0


def test_prediction_on_a_phantom(phantom):
    vol = phantom.volume
    prob = predict_lung_probability(vol.array, vol.spacing)
    assert prob.dtype == np.float32 and prob.shape == vol.shape
    assert 0.0 <= prob.min() and prob.max() <= 1.0
    assert dice(prob > 0.5, phantom.lungs > 0) > 0.9
    assert np.array_equal(prob, predict_lung_probability(vol.array, vol.spacing))  # deterministic
    before = torch.get_num_threads()
    one = predict_lung_probability(vol.array, vol.spacing, threads=1)  # as beside the rules
    assert torch.get_num_threads() == before  # restored
    np.testing.assert_allclose(one, prob, atol=1e-5)


def test_thin_slices_are_predicted_every_few_and_interpolated(phantom):
    """1.3 mm slices (every slice repeated 4 times): the network sees slices 4 apart."""
    vol = phantom.volume
    thin = np.repeat(vol.array[20:40], 4, axis=0)
    prob = predict_lung_probability(thin, (vol.spacing[0] / 4, *vol.spacing[1:]))
    assert dice(prob > 0.5, np.repeat(phantom.lungs[20:40], 4, axis=0) > 0) > 0.9


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
    "model" equal the same steps run one after the other."""
    from covidct.lungs.learned_segment import hybrid_lungs, model_lungs, network_pass
    from covidct.lungs.options import LungOptions

    vol, opts = phantom.volume, LungOptions.fast()
    args = (vol.array, vol.spacing, vol.direction)
    assert np.array_equal(masks["hybrid"], hybrid_lungs(*args, masks["refined"], opts, "ct"))
    assert np.array_equal(masks["model"], model_lungs(*args, opts, "ct"))
    grid, _, hu, body, prob, labels = network_pass(*args, opts, "ct")
    assert hu.shape == body.shape == prob.shape == labels.shape == grid.shape
    assert 0.0 <= float(prob.min()) and float(prob.max()) <= 1.0


def test_hybrid_uses_the_model_where_the_rules_collapsed(phantom, masks):
    """Rules that lost the lower half of the lungs (as on white lung over the domes) hold
    less than ``collapse_ratio`` of the network's lung: with fixed thresholds "hybrid" gives
    the network's mask; with the guard off it keeps the rules' half and adds what the network
    is sure of. The default, the learned choice, takes the lost half back too."""
    import dataclasses

    from covidct.lungs.learned_segment import hybrid_lungs
    from covidct.lungs.options import HybridOptions, LungOptions

    vol = phantom.volume
    zs = np.nonzero(masks["refined"].any(axis=(1, 2)))[0]
    half = masks["refined"].copy()
    half[: zs[len(zs) // 2]] = 0
    args = (vol.array, vol.spacing, vol.direction, half)
    for diseased_only in (True, False):  # the check runs whether or not the gate opens
        opts = dataclasses.replace(LungOptions.fast(), hybrid=HybridOptions(learned_choice=False,
                                                                             diseased_only=diseased_only))
        assert np.array_equal(hybrid_lungs(*args, opts, "ct"), masks["model"])
    off = dataclasses.replace(opts, hybrid=HybridOptions(learned_choice=False, diseased_only=False,
                                                         collapse_ratio=0.0))
    kept = hybrid_lungs(*args, off, "ct")
    assert not np.array_equal(kept, masks["model"])
    assert np.count_nonzero(kept[half > 0]) >= 0.95 * np.count_nonzero(half)  # the rules' half stays
    truth = phantom.lungs > 0
    chosen = hybrid_lungs(*args, LungOptions.fast(), "ct") > 0
    assert dice(chosen, truth) >= dice(masks["refined"] > 0, truth) > dice(half > 0, truth) + 0.25
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
    with pytest.raises(InvalidInputError):
        predict_lung_probability(np.zeros((32, 32)), (1.0, 1.0, 1.0))
    with pytest.raises(InvalidInputError):
        predict_lung_probability(np.zeros((4, 32, 32)), (0.0, 1.0, 1.0))
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


def test_lungs_training_family():
    from covidct.lungs.train import PRESETS, LungTrainConfig, preset_rows
    from covidct.training.families import family_of

    assert family_of("lungs-unet") == "lungs"
    rows = {r.name: r for r in preset_rows()}
    assert rows["lungs-unet"].parameters == sum(p.numel() for p in LungUNet().parameters())
    assert PRESETS["lungs-unet"].with_overrides(exclude=["lung2"]).exclude == ("lung2",)
    with pytest.raises(InvalidInputError, match="overlap"):
        LungTrainConfig(phantom_seeds=(0, 10), val_phantom_seeds=(5, 6))
    with pytest.raises(InvalidInputError, match="unknown"):
        PRESETS["lungs-unet"].with_overrides(epoch=3)
    wide = PRESETS["lungs-unet"].with_overrides(name="wide", context=[1, 3])
    assert wide.context == (1, 3)
    PRESETS["wide"] = wide
    try:
        row = {r.name: r for r in preset_rows()}["wide"]
    finally:
        del PRESETS["wide"]
    assert row.parameters == sum(p.numel() for p in LungUNet(in_channels=5).parameters())
    for bad in ((), (0, 1), (1, 1)):
        with pytest.raises(InvalidInputError, match="context"):
            LungTrainConfig(context=bad)
    assert rows["lungs-unet3d"].parameters == sum(p.numel() for p in LungUNet3D().parameters())
    assert rows["lungs-unet3d"].model == "LungUNet3D"
    with pytest.raises(InvalidInputError, match="network"):
        LungTrainConfig(network="2d")
    with pytest.raises(InvalidInputError, match="pool"):
        LungTrainConfig(network="3d", canvas=99, pool=2)
    with pytest.raises(InvalidInputError, match="3D network"):
        LungTrainConfig(base_share=0.3)
    for share, mm in ((1.5, (50.0, 110.0)), (0.3, (0.0, 10.0)), (0.3, (80.0, 60.0))):
        with pytest.raises(InvalidInputError, match="base_share"):
            LungTrainConfig(network="3d", base_share=share, base_mm=mm)


def test_3d_training_writes_a_loadable_3d_model(tmp_path, chest):
    """The 3D smoke preset on two phantoms and a real-like CT: a 3D model file with its card,
    a validation Dice, and the digest of the CT's labels."""
    from covidct.io import write_volume
    from covidct.io.volume import CTVolume
    from covidct.lungs.train import PRESETS, train_lung_model

    write_volume(CTVolume(array=chest.hu, spacing=chest.spacing), tmp_path / "data" / "syn_image.nrrd")
    config = PRESETS["lungs-unet3d-quick"].with_overrides(phantom_seeds=(5000, 5002), epochs=1,
                                                          data=str(tmp_path / "data"), base_share=0.5)
    out = train_lung_model(config, tmp_path / "run")
    model = load_lung_model(out / "lung-unet3d.pt")
    assert model.is_3d and model.card["input"]["pool"] == 2 and model.card["name"] == "lungs-unet3d-quick"
    assert 0.0 <= model.card["validation"]["val_dice"] <= 1.0
    labels = model.card["trained_on"]["real_labels"]  # each real CT's labels, by digest
    assert list(labels) == model.card["trained_on"]["real_cts"] == ["syn_image.nrrd"]
    assert all(name.startswith(ct.split("_")[0] + "-") and len(name.split("-")[-1]) == 12 for ct, name in labels.items())


def test_volume_crops_and_their_augmentation():
    """Crops: ``crop`` slices, a short volume padded with air and no lung, 2 x 2 pooling
    keeps the mean; augmentation shifts HU and labels together and is seeded."""
    from covidct.lungs.train_data import Example
    from covidct.lungs.train_loop import CropSet, augment_volume

    rng = np.random.default_rng(0)
    long = Example(hu=rng.integers(-1000, 100, (30, 8, 8)).astype(np.int16),
                   lung=rng.integers(0, 256, (30, 8, 8)).astype(np.uint8), step=2, name="phantom-1")
    short = Example(hu=np.zeros((4, 8, 8), np.int16), lung=np.full((4, 8, 8), 255, np.uint8), step=2, name="a")
    crops = CropSet([long, short], pool=2, crop=10)
    x, y = crops[0]
    assert x.shape == y.shape == (1, 10, 4, 4)
    assert float(CropSet([long], pool=2)[0][0].mean()) == pytest.approx(float(long.hu.mean()), rel=1e-5)
    x, y = crops[1]
    assert float(x[0, :3].max()) == -1024.0 and float(y[0, :3].max()) == 0.0  # 6 slices of padding, 3 a side
    assert float(x[0, 3:7].min()) == 0.0 and float(y[0, 3:7].min()) == 1.0
    lab = torch.zeros(3, 1, 6, 16, 16)
    lab[:, :, :, 4:10, 5:9] = 1.0
    a, ay = augment_volume(2 * lab - 1, torch.Generator().manual_seed(2), y=lab)
    b, _ = augment_volume(2 * lab - 1, torch.Generator().manual_seed(2), y=lab)
    assert torch.equal(a, b) and torch.equal(ay.sum(dim=(2, 3, 4)), lab.sum(dim=(2, 3, 4)))
    assert torch.equal(a > 0, ay > 0.5) and not torch.equal(ay, lab)  # shifted, together


def test_base_crops_show_the_lowest_lung_and_not_the_apex():
    """A base crop starts at or below the lowest lung slice and stops 50-110 mm above it
    (slices of 5 / step mm): never past it, never with the apex; lengths vary."""
    from covidct.lungs.train_data import Example
    from covidct.lungs.train_loop import CropSet

    lung = np.zeros((60, 8, 8), np.uint8)
    lung[10:55] = 255  # lowest lung slice 10, apex 54; 5 mm slices (step 1)
    hu = np.broadcast_to(np.arange(60, dtype=np.int16)[:, None, None], (60, 8, 8)).copy()  # HU = slice index
    crops = CropSet([Example(hu=hu, lung=lung, step=1, name="a")], pool=2, crop=48, base_share=1.0)
    torch.manual_seed(0)
    firsts, lasts = [], []
    for _ in range(200):
        x, y = crops[0]
        z = x[0, :, 0, 0].round().int()
        assert torch.equal(z, torch.arange(int(z[0]), int(z[0]) + len(z), dtype=z.dtype))  # one run, no padding
        firsts.append(int(z[0]))
        lasts.append(int(z[-1]))
        assert torch.equal(y[0, :, 0, 0] > 0.5, z >= 10)
    assert min(firsts) == 0 and max(firsts) == 10
    assert min(lasts) >= 10 + 10 - 1 and max(lasts) <= 10 + 22 - 1 < 54  # 50 / 5 and 110 / 5 slices
    assert len({b - a for a, b in zip(firsts, lasts)}) > 10
    whole = CropSet([Example(hu=hu, lung=lung, step=1, name="a")], pool=2, crop=48)
    assert all(whole[0][0].shape[1] == 48 for _ in range(5))  # base_share 0: the usual crops


def test_augmentation_keeps_shapes_and_is_seeded():
    from covidct.lungs.train_loop import augment

    x = torch.full((4, 3, 32, 32), -800.0)
    y = torch.zeros(4, 1, 32, 32)
    y[:, :, 8:24, 8:24] = 1.0
    a = augment(x, y, torch.Generator().manual_seed(1))
    b = augment(x, y, torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].shape == x.shape and a[1].shape == y.shape
    assert float(a[1].min()) >= 0.0 and float(a[1].max()) <= 1.0 + 1e-6
    assert 0.5 < float(a[1].sum() / y.sum()) < 1.6  # scale 0.85-1.2: area within (1/1.2^2, 1/0.85^2)


def test_augmentation_thickens_the_centre_slice_of_any_context():
    """Five channels, only the centre's nearest neighbours bright: after augmentation the
    centre reads part of them (slice thickness) and the outer channels stay dark."""
    from covidct.lungs.train_loop import augment

    x = torch.full((64, 5, 16, 16), -1000.0)
    x[:, 1:4:2] = 0.0  # channels 1 and 3: the nearest neighbours of the centre (2)
    y = torch.ones(64, 1, 16, 16)
    a, _ = augment(x, y, torch.Generator().manual_seed(0))
    inner = a[:, :, 6:10, 6:10].mean(dim=(2, 3))
    assert a.shape == x.shape
    assert float((inner[:, 2] + 1000.0).max()) > 300.0  # mixed with up to 30 % of each neighbour
    assert float(inner[:, [0, 4]].max()) < -800.0


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
