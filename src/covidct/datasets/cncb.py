"""CNCB lesion-segmentation layout (COVID-CT-Mask-Net): 512 x 512 PNG slices and masks.

Layout::

    root/imgs/{patient}_{slice:04d}.png    8-bit CT slice, lung window (see _common)
    root/masks/{patient}_{slice:04d}.png   0 background, 1 lung field, 2 GGO, 3 consolidation

The writer takes every axial slice that holds lung, resamples it to isotropic pixels
fitting 512 x 512 (linear for the CT, nearest for the mask) and pads with black / 0; the
CT is mapped to 8 bits with the lung window (centre -600 HU, width 1500 HU).
Reader: one row per slice; ``case_id`` = the file stem, ``lesion_mask`` = the mask (the
lung field is value 1 in it), ``slice_index`` extra; no class labels.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from covidct.datasets._common import (
    CaseLike,
    Progress,
    hu_to_uint8,
    iter_with_progress,
    lung_slice_indices,
    prepare_output_dir,
    resample_slice_to_square,
    safe_name,
    write_png,
)
from covidct.datasets.table import make_case_table
from covidct.errors import InvalidInputError
from covidct.io.layout import display_view

__all__ = [
    "IMAGE_DIR",
    "LAYOUT",
    "MASK_DIR",
    "MASK_VALUES",
    "SLICE_SIZE",
    "cncb_mask",
    "read_cncb_seg",
    "write_cncb_seg",
]

LAYOUT = "cncb-seg"
IMAGE_DIR, MASK_DIR = "imgs", "masks"
SLICE_SIZE = 512
#: Mask pixel values of the CNCB segmentation set.
MASK_VALUES = {"background": 0, "lung": 1, "ggo": 2, "consolidation": 3}
_NAME_RE = re.compile(r"^(?P<patient>.+)_(?P<slice>\d+)$")
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def cncb_mask(lungs: np.ndarray, lesions: np.ndarray) -> np.ndarray:
    """CNCB mask values from covidct masks (lungs 0/1/2, lesions 0/1 GGO/2 consolidation)."""
    lungs, lesions = np.asarray(lungs), np.asarray(lesions)
    if lungs.shape != lesions.shape:
        raise InvalidInputError(f"lung mask {lungs.shape} and lesion mask {lesions.shape} differ")
    mask = np.where(lungs > 0, MASK_VALUES["lung"], MASK_VALUES["background"]).astype(np.uint8)
    mask[lesions == 1] = MASK_VALUES["ggo"]
    mask[lesions == 2] = MASK_VALUES["consolidation"]
    return mask


def write_cncb_seg(
    cases: Iterable[CaseLike], out: str | Path, *, progress: Progress | None = None
) -> pd.DataFrame:
    """Write the lung slices of each case as 512 x 512 PNG image + mask pairs; returns the table."""
    root = prepare_output_dir(out)
    for _, case in iter_with_progress(cases, progress):
        image3d, (mask3d, lungs), spacing = display_view(
            case.volume, cncb_mask(case.lungs, case.lesions), case.lungs)
        spacing_yx = spacing[1:]
        patient = safe_name(case.patient_id)
        for z in lung_slice_indices(lungs):
            hu = resample_slice_to_square(
                image3d[z], spacing_yx, size=SLICE_SIZE, order=1, fill=-2000.0
            )
            mask = resample_slice_to_square(mask3d[z], spacing_yx, size=SLICE_SIZE, order=0, fill=0)
            name = f"{patient}_{z:04d}.png"
            write_png(hu_to_uint8(hu), root / IMAGE_DIR / name)
            write_png(mask.astype(np.uint8), root / MASK_DIR / name)
    return read_cncb_seg(root)


def read_cncb_seg(root: str | Path) -> pd.DataFrame:
    """Read a CNCB segmentation folder into a case table (one row per slice)."""
    root = Path(root)
    img_dir = root / IMAGE_DIR
    if not img_dir.is_dir():
        raise InvalidInputError(f"CNCB segmentation dataset {root} has no {IMAGE_DIR}/ folder")
    rows = []
    for path in sorted(p for p in img_dir.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES):
        match = _NAME_RE.match(path.stem)
        if match is None:
            raise InvalidInputError(f"CNCB slice {path} is not named <patient>_<slice>.png")
        mask = root / MASK_DIR / path.name
        if not mask.exists():
            alt = [m for m in (root / MASK_DIR).glob(path.stem + ".*")]
            mask = alt[0] if alt else mask
        rows.append(
            {
                "patient_id": match["patient"],
                "scan_id": "1",
                "case_id": path.stem,
                "image": f"{IMAGE_DIR}/{path.name}",
                "lesion_mask": f"{MASK_DIR}/{mask.name}",
                "slice_index": int(match["slice"]),
            }
        )
    return make_case_table(rows, layout=LAYOUT)
