"""Slice datasets: patient-level splits, UCSD's by-image split warning, body-box crop, transforms."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch

from covidct.datasets.ucsd import read_ucsd
from covidct.errors import InvalidInputError
from covidct.slices.data import SliceDataset, patients_in_several_splits, slice_folds
from covidct.slices.transforms import TRANSFORM_PRESETS, SliceTransform, crop_box, get_transform


def _no_patient_in_two_parts(parts):
    sets = [set(parts.train["patient_id"]), set(parts.val["patient_id"]), set(parts.test["patient_id"])]
    return all(not (a & b) for i, a in enumerate(sets) for b in sets[i + 1:])


def test_given_split_is_honoured_and_warns_about_images(ucsd_root, caplog):
    table = read_ucsd(ucsd_root)
    with caplog.at_level(logging.WARNING, logger="covidct.slices.data"):
        (parts,) = slice_folds(table, folds=0)
    assert "by image, not by patient: 0 of 16 patients" in caplog.text
    assert set(parts.test["case_id"]) == set(table.loc[table["split"] == "test", "case_id"])
    assert set(parts.val["case_id"]) == set(table.loc[table["split"] == "val", "case_id"])
    assert _no_patient_in_two_parts(parts)


def test_leaking_split_files_are_counted(ucsd_root, caplog):
    table = read_ucsd(ucsd_root)
    leaked = table.copy()
    first = leaked.index[leaked["patient_id"] == "P004"][0]  # P004 is in train; one slice moves
    leaked.loc[first, "split"] = "test"
    assert patients_in_several_splits(leaked) == 1
    with caplog.at_level(logging.WARNING, logger="covidct.slices.data"):
        slice_folds(leaked, folds=0)
    assert "1 of 16 patients have slices in more than one split" in caplog.text


def test_patient_folds_never_split_a_patient(ucsd_root):
    table = read_ucsd(ucsd_root)
    folds = slice_folds(table, folds=4, val_size=0.2, seed=3)
    assert len(folds) == 4
    tested = pd.concat([f.test for f in folds])
    assert sorted(tested["case_id"]) == sorted(table["case_id"])  # every slice tested once
    assert all(_no_patient_in_two_parts(f) for f in folds)
    assert all(len(f.val) > 0 for f in folds)


def test_missing_split_files_need_folds(ucsd_root):
    table = read_ucsd(ucsd_root).assign(split="")
    with pytest.raises(InvalidInputError, match="--folds"):
        slice_folds(table, folds=0)


def test_tutorial_preset_is_the_tutorials():
    tf = TRANSFORM_PRESETS["tutorial"]
    assert (tf.resize, tf.crop, tf.scale, tf.hflip) == (256, 224, (0.5, 1.0), True)
    assert tf.mean == (0.0, 0.0, 0.0) and tf.std == (1.0, 1.0, 1.0)
    image = torch.full((1, 300, 400), 255, dtype=torch.uint8)
    train = tf.build(train=True)(image)
    test = tf.build(train=False)(image)
    assert train.shape == (3, 224, 224) and test.shape == (3, 224, 224)
    torch.testing.assert_close(test, torch.ones(3, 224, 224))  # grey 255 -> 1.0, mean 0 std 1
    imnet = get_transform("imagenet").build(train=False)(image)
    np.testing.assert_allclose(imnet[:, 0, 0].numpy(), (1 - np.array([0.485, 0.456, 0.406])) /
                               np.array([0.229, 0.224, 0.225]), rtol=1e-5)
    with pytest.raises(InvalidInputError):
        SliceTransform(resize=100, crop=224)


def test_body_box_crop(tmp_path):
    image = np.arange(100, dtype=np.uint8).reshape(10, 10)
    np.testing.assert_array_equal(crop_box(image, (2, 3, 7, 9)), image[3:9, 2:7])
    assert crop_box(image, None) is image
    assert crop_box(image, (5, 5, 5, 9)).shape == (10, 10)  # empty box: whole image


def test_dataset_items_and_not_hu_flag(ucsd_root, caplog):
    table = read_ucsd(ucsd_root)
    with caplog.at_level(logging.INFO, logger="covidct.slices.data"):
        ds = SliceDataset(table, ucsd_root, get_transform("cpu-64").build(train=False))
    assert "not HU" in caplog.text
    item = ds[0]
    assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.float32
    assert int(item["label"]) == int(table["class_id"].iloc[0])
    assert ds.image(0).dtype == np.uint8
