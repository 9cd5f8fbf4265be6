"""Slice datasets (UCSD COVID-CT, COVIDx-CT case tables) and their patient-level splits.

Images are 8-bit slices (grey levels, **not HU**): :class:`SliceDataset` logs it once and
every run records it. Splits (:func:`slice_folds`):

* ``folds == 0``: the dataset's own split files (``split`` column: train/val/test). UCSD's
  are by image, not by patient: a warning says so, with the number of patients found in more
  than one split when the file names reveal patients. A missing validation split is carved
  from training by patient.
* ``folds >= 2``: patient-level stratified k-fold CV (:func:`covidct.datasets.patient_folds`),
  each training part giving a validation split by patient (``val_size``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from covidct.datasets._common import read_png
from covidct.datasets.splits import patient_folds, train_test_split_patients
from covidct.datasets.table import resolve_path
from covidct.errors import InvalidInputError
from covidct.slices.transforms import NOT_HU, crop_box, to_tensor

__all__ = ["FoldParts", "SliceDataset", "patients_in_several_splits", "slice_folds"]

log = logging.getLogger(__name__)
_BOX = ("xmin", "ymin", "xmax", "ymax")


class SliceDataset(Dataset):
    """Slices of a case table: item ``i`` -> ``{"image": (3, S, S) float, "label", "index"}``.

    Args:
        table: case table rows (``image``, ``class_id``, optional ``xmin ymin xmax ymax``).
        root: dataset root the image paths are relative to.
        transform: a callable on (1, H, W) uint8 tensors (:meth:`SliceTransform.build`).
        box_crop: crop each image to its body box (COVIDx-CT) when the table has one.
    """

    def __init__(self, table: pd.DataFrame, root: str | Path, transform, *, box_crop: bool = True) -> None:
        if table["class_id"].isna().any():
            raise InvalidInputError("every slice needs a class_id label")
        self.table = table.reset_index(drop=True)
        self.root = Path(root)
        self.transform = transform
        self.box_crop = box_crop and all(c in table.columns for c in _BOX)
        self.labels = self.table["class_id"].to_numpy(dtype=np.int64)
        log.info("reading %d slice images as %s", len(self.table), NOT_HU)

    def __len__(self) -> int:
        return len(self.table)

    def image(self, i: int) -> np.ndarray:
        """Slice ``i`` as a 2D uint8 array (after the body-box crop), grey levels not HU."""
        row = self.table.iloc[i]
        image = read_png(resolve_path(self.root, row["image"]))
        if self.box_crop and pd.notna(row["xmin"]):
            image = crop_box(image, tuple(int(row[c]) for c in _BOX))
        return image

    def __getitem__(self, i: int) -> dict[str, object]:
        return {"image": self.transform(to_tensor(self.image(i))),
                "label": torch.tensor(self.labels[i]), "index": i}


@dataclass(frozen=True)
class FoldParts:
    """Train / validation / test rows of one fold (``fold`` = the test fold index)."""

    fold: int
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame


def patients_in_several_splits(table: pd.DataFrame) -> int:
    """Number of patients with slices in more than one of the table's splits."""
    listed = table[table["split"] != ""]
    return int((listed.groupby("patient_id")["split"].nunique() > 1).sum())


def _carve_val(train: pd.DataFrame, val_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    parts = train_test_split_patients(train, val_size, seed=seed, stratify="class_id")
    mask = parts["split"].to_numpy() == "test"
    return train[~mask].reset_index(drop=True), train[mask].reset_index(drop=True)


def _given_split(table: pd.DataFrame, val_size: float, seed: int) -> list[FoldParts]:
    splits = set(table["split"])
    if not {"train", "test"} <= splits:
        raise InvalidInputError(
            f"the dataset has no train and test split files (splits found: {sorted(splits - {''})}); "
            "use --folds K for patient-level cross-validation"
        )
    if (table["layout"] == "ucsd").any():
        revealed = table["slice_index"].notna().any() if "slice_index" in table.columns else False
        if revealed:
            n = patients_in_several_splits(table)
            log.warning("UCSD split files are by image, not by patient: %d of %d patients have "
                        "slices in more than one split", n, table["patient_id"].nunique())
        else:
            log.warning("UCSD split files are by image, not by patient, and the file names do not "
                        "say which slices share a patient: the test set may hold slices of "
                        "training patients")
    train = table[table["split"] == "train"].reset_index(drop=True)
    val = table[table["split"] == "val"].reset_index(drop=True)
    if val.empty:
        train, val = _carve_val(train, val_size, seed)
    return [FoldParts(0, train, val, table[table["split"] == "test"].reset_index(drop=True))]


def slice_folds(table: pd.DataFrame, *, folds: int, val_size: float = 0.15, seed: int = 0) -> list[FoldParts]:
    """Train/val/test parts per fold, never splitting a patient (see the module docstring)."""
    if folds == 0:
        return _given_split(table, val_size, seed)
    if folds < 2:
        raise InvalidInputError(f"folds must be 0 (the dataset's split) or >= 2; got {folds}")
    table = patient_folds(table, folds, seed=seed, stratify="class_id")
    out = []
    for k in range(folds):
        train, val = _carve_val(table[table["fold"] != k], val_size, seed)
        out.append(FoldParts(k, train, val, table[table["fold"] == k].reset_index(drop=True)))
    return out
