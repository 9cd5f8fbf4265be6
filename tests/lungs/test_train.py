"""Training the lung networks: presets, the training run and its files, crops and augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from covidct.errors import InvalidInputError
from covidct.lungs.learned import LungUNet, LungUNet3D, load_lung_model


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


@pytest.mark.slow  # 20-30 s; the 3D network is measured, not shipped
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


def test_25d_training_writes_the_weights_and_their_onnx_export(tmp_path):
    """The 2.5D smoke preset, one short epoch on phantoms: the .pt, its card naming the ONNX
    export's sha256, and the export giving the .pt's probabilities."""
    from covidct.lungs.network import load_lung_models, predict_lung_probability
    from covidct.lungs.train import PRESETS, train_lung_model
    from covidct.phantom import simulate_case
    from covidct.provenance import sha256_file

    config = PRESETS["lungs-unet-quick"].with_overrides(phantom_seeds=(5000, 5002), val_phantom_seeds=(5900, 5901),
                                                        epochs=1, steps_per_epoch=2)
    out = train_lung_model(config, tmp_path / "run")
    model = load_lung_model(out / "lung-unet.pt")
    assert model.card["onnx_sha256"] == sha256_file(out / "lung-unet.onnx")
    exported = load_lung_models(out / "lung-unet.onnx")[0]
    vol = simulate_case(5, diagnosis="covid", size="small").volume
    np.testing.assert_allclose(predict_lung_probability(vol.array, vol.spacing, model=exported),
                               predict_lung_probability(vol.array, vol.spacing, model=model, device="cpu"), atol=1e-4)


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
