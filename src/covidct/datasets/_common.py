"""Helpers shared by the layout writers and readers: cases, output folders, 8-bit slices.

8-bit slices (PNG layouts) use the **lung window** of COVIDNet-CT: centre -600 HU, width
1500 HU, so -1350 HU -> 0 and +150 HU -> 255, linear in between, clipped outside; one grey
level is 1500/255 = 5.9 HU (rounding error at most 2.9 HU). Slices resampled to a square
grid keep their aspect ratio (isotropic pixels) and are padded with black (0) around.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image
from skimage.measure import label as cc_label
from skimage.measure import regionprops
from skimage.transform import resize

from covidct.errors import InvalidInputError
from covidct.io import CTVolume, write_image

__all__ = [
    "FINDING_SHARE",
    "LUNG_WINDOW_CENTER_HU",
    "LUNG_WINDOW_WIDTH_HU",
    "CaseLike",
    "Progress",
    "body_box",
    "case_label",
    "hu_to_uint8",
    "iter_with_progress",
    "lung_slice_indices",
    "pick_slices",
    "prepare_output_dir",
    "read_png",
    "resample_slice_to_square",
    "safe_name",
    "uint8_to_hu",
    "write_nifti",
    "write_png",
    "writer_splits",
]

#: A slice "shows the findings" when its lesion area is at least this share of the case's
#: largest per-slice lesion area (the slice-dataset writers, :func:`pick_slices`).
FINDING_SHARE = 0.25
_PICKS = ("findings", "even")

log = logging.getLogger(__name__)

LUNG_WINDOW_CENTER_HU = -600.0
LUNG_WINDOW_WIDTH_HU = 1500.0

#: Called after each case is written, with the number of cases done so far.
Progress = Callable[[int], None]


class CaseLike(Protocol):
    """What writers need from a case (``covidct.phantom.SimulatedCase`` satisfies it).

    ``volume`` is a HU :class:`CTVolume` ``(z, y, x)``; ``lungs`` uint8 (0, 1 right, 2 left)
    and ``lesions`` uint8 (0, 1 GGO, 2 consolidation) on the same grid; ``labels`` holds
    diagnosis, ct_positive, nat_positive, severity, morbidity, age, sex, ct_category...
    """

    @property
    def case_id(self) -> str: ...
    @property
    def patient_id(self) -> str: ...
    @property
    def volume(self) -> CTVolume: ...
    @property
    def lungs(self) -> np.ndarray: ...
    @property
    def lesions(self) -> np.ndarray: ...
    @property
    def labels(self) -> Mapping[str, Any]: ...


def prepare_output_dir(out: str | Path) -> Path:
    """Create ``out``; refuse a non-empty existing folder (never overwrite user files)."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise InvalidInputError(f"output {out} exists and is not a folder")
        if any(out.iterdir()):
            raise InvalidInputError(
                f"output folder {out} is not empty; choose a new or empty folder"
            )
    out.mkdir(parents=True, exist_ok=True)
    return out


def hu_to_uint8(
    hu: np.ndarray,
    *,
    center_hu: float = LUNG_WINDOW_CENTER_HU,
    width_hu: float = LUNG_WINDOW_WIDTH_HU,
) -> np.ndarray:
    """Map HU to 8-bit grey levels with a window (default: the lung window, see module doc)."""
    lo = center_hu - width_hu / 2.0
    scaled = (np.asarray(hu, dtype=np.float64) - lo) * (255.0 / width_hu)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def uint8_to_hu(
    grey: np.ndarray,
    *,
    center_hu: float = LUNG_WINDOW_CENTER_HU,
    width_hu: float = LUNG_WINDOW_WIDTH_HU,
) -> np.ndarray:
    """Inverse of :func:`hu_to_uint8` inside the window (float32 HU)."""
    lo = center_hu - width_hu / 2.0
    return (lo + np.asarray(grey, dtype=np.float32) * (width_hu / 255.0)).astype(np.float32)


def resample_slice_to_square(
    image: np.ndarray,
    spacing_yx_mm: tuple[float, float],
    *,
    size: int = 512,
    order: int = 1,
    fill: float = 0.0,
) -> np.ndarray:
    """Resample a ``(y, x)`` slice to isotropic pixels fitting ``size`` x ``size``, then pad.

    The larger physical side fills ``size`` pixels; the other side is scaled by the same
    factor and centred with ``fill`` around. ``order=0`` (nearest) for label masks.
    Returns float64 for ``order > 0``, the input dtype for ``order == 0``.
    """
    ny, nx = image.shape
    sy, sx = (float(s) for s in spacing_yx_mm)
    pixel_mm = max(ny * sy, nx * sx) / size
    new_shape = (max(1, round(ny * sy / pixel_mm)), max(1, round(nx * sx / pixel_mm)))
    if new_shape == (ny, nx):
        res = np.asarray(image)
    else:
        res = resize(
            np.asarray(image, dtype=np.float64 if order else image.dtype),
            new_shape,
            order=order,
            preserve_range=True,
            anti_aliasing=bool(order) and (new_shape[0] < ny or new_shape[1] < nx),
            mode="edge",
        )
    res = res.astype(image.dtype) if order == 0 else res.astype(np.float64)
    out = np.full((size, size), fill, dtype=res.dtype)
    y0, x0 = (size - new_shape[0]) // 2, (size - new_shape[1]) // 2
    out[y0 : y0 + new_shape[0], x0 : x0 + new_shape[1]] = res
    return out


def body_box(hu_slice: np.ndarray, *, threshold_hu: float = -500.0) -> tuple[int, int, int, int]:
    """Body bounding box ``(xmin, ymin, xmax, ymax)`` in pixels, max exclusive.

    The body is the largest connected region above ``threshold_hu``; the whole slice
    when there is none.
    """
    labels = cc_label(np.asarray(hu_slice) > threshold_hu, connectivity=2)
    regions = regionprops(labels)
    if not regions:
        ny, nx = np.shape(hu_slice)
        return 0, 0, int(nx), int(ny)
    largest = max(regions, key=lambda r: r.area)
    ymin, xmin, ymax, xmax = largest.bbox
    return int(xmin), int(ymin), int(xmax), int(ymax)


def write_png(array: np.ndarray, path: Path) -> None:
    """Write a 2D uint8 array as a grey 8-bit PNG (zlib level 1: lossless, fast)."""
    arr = np.asarray(array)
    if arr.ndim != 2 or arr.dtype != np.uint8:
        raise InvalidInputError(f"PNG slice {path} must be 2D uint8; got {arr.shape} {arr.dtype}")
    from covidct.io.atomic import atomic_write

    def verify(tmp: Path) -> None:
        with Image.open(tmp) as img:
            if not np.array_equal(np.asarray(img), arr):
                raise InvalidInputError(f"PNG slice {path} reads back different")

    atomic_write(path, lambda tmp: Image.fromarray(arr).save(tmp, format="PNG", compress_level=1),
                 verify=verify, what="PNG slice")  # lossless; fast


def read_png(path: str | Path) -> np.ndarray:
    """Read a PNG/JPG slice as a 2D uint8 array (colour images are converted to grey)."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("L"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read image {path}: {exc}") from exc


def write_nifti(volume: CTVolume, path: Path, array: np.ndarray | None = None) -> None:
    """Write ``volume`` (or ``array`` on its grid) as NIfTI with the full geometry."""
    write_image(volume.array if array is None else array, volume, path)


def safe_name(text: str) -> str:
    """``text`` made safe for a file name: runs of other characters than letters, digits,
    ``.``, ``_`` and ``-`` become ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-") or "x"


def lung_slice_indices(lungs: np.ndarray) -> list[int]:
    """Axial indices ``z`` whose slice holds lung; every slice when the mask is empty."""
    per_slice = np.asarray(lungs).reshape(np.shape(lungs)[0], -1).any(axis=1)
    idx = np.flatnonzero(per_slice).tolist()
    return idx if idx else list(range(np.shape(lungs)[0]))


def pick_slices(
    lungs: np.ndarray, lesions: np.ndarray, n: int | None, *, pick: str = "findings"
) -> list[int]:
    """Axial indices ``z`` of the ``n`` slices a case contributes (fewer when it has fewer).

    ``lungs``, ``lesions``: (z, y, x) masks (non-zero = lung / lesion). Evenly spaced = the
    middles of ``n`` equal runs of the candidates; ``n=None`` keeps every candidate.
    ``pick="findings"``: the slices showing findings (lesion area at least
    :data:`FINDING_SHARE` of the case's largest per-slice lesion area), or the lung slices
    when the case has no lesion; ``pick="even"``: the lung slices.
    """
    if pick not in _PICKS:
        raise InvalidInputError(f"unknown slice pick {pick!r}; expected one of {list(_PICKS)}")
    if n is not None and n < 1:
        raise InvalidInputError(f"slices per case must be >= 1; got {n}")
    candidates = lung_slice_indices(lungs)
    lesion_px = np.asarray(lesions).reshape(np.shape(lesions)[0], -1).astype(bool).sum(axis=1)
    if pick == "findings" and lesion_px.max() > 0:
        candidates = np.flatnonzero(lesion_px >= FINDING_SHARE * lesion_px.max()).tolist()
    if n is None or len(candidates) <= n:
        return list(candidates)
    # the middles of n equal runs of the candidates: distinct, away from both ends
    return [candidates[int((k + 0.5) * len(candidates) / n)] for k in range(n)]


def case_label(case: CaseLike, key: str, default: Any = None) -> Any:
    """A label of a case, ``default`` when absent."""
    return case.labels.get(key, default) if case.labels is not None else default


def iter_with_progress(
    cases: Iterable[CaseLike], progress: Progress | None
) -> Iterable[tuple[int, CaseLike]]:
    """Enumerate cases, calling ``progress(done)`` after each one is handled."""
    for i, case in enumerate(cases):
        yield i, case
        if progress is not None:
            progress(i + 1)


def writer_splits(
    patient_labels: Mapping[str, Any],
    *,
    seed: int = 0,
    val_size: float = 0.15,
    test_size: float = 0.15,
) -> dict[str, str]:
    """``{patient_id: split}`` for writers of layouts with split files (train/val/test).

    Every split holds every class of the label: a stratified split when every class is
    large enough, else the first of a few seeded unstratified splits that does. When some
    class has only 2 patients, train and test each get every class and there is no val
    split (logged); with a class of 1 patient, InvalidInputError gives the patients per
    class. With fewer than 3 patients everything goes to ``train`` (no val/test at all).
    """
    import pandas as pd

    table = pd.DataFrame(
        {"patient_id": list(patient_labels), "label": [str(v) for v in patient_labels.values()]}
    )
    if len(table) < 3:
        return {p: "train" for p in table["patient_id"]}
    n, k = len(table), table["label"].nunique()
    test = max(test_size, (k - 0.01) / n)  # room for one patient of each class
    val = max(val_size, (k - 0.01) / n)
    for v in (val, 0.0):
        if v + test > 1 - k / n:  # train must keep one of each class too
            continue
        found = _every_class_split(table, seed=seed, val_size=v, test_size=test)
        if found is not None:
            if v == 0.0:
                log.warning("%d patients: too few per class for a val split with every "
                            "class; train and test only", len(table))
            return found
    counts = ", ".join(f"{k}: {v}" for k, v in table["label"].value_counts().sort_index().items())
    raise InvalidInputError(
        f"cannot split {len(table)} patients by patient with every class in train and test "
        f"(patients per class: {counts}); each class needs at least 2 patients (3 for a val "
        "split too): simulate more cases"
    )


def _every_class_split(
    table: Any, *, seed: int, val_size: float, test_size: float
) -> dict[str, str] | None:
    """A patient split whose every non-empty split holds every class, or None."""
    from covidct.datasets.splits import split_patients

    classes = set(table["label"])
    wanted = ("train", "val", "test") if val_size > 0 else ("train", "test")
    for stratify, s in [("label", seed)] + [(None, seed + k) for k in range(50)]:
        try:
            out = split_patients(
                table, val_size=val_size, test_size=test_size, seed=s, stratify=stratify
            )
        except InvalidInputError:
            continue
        if all(set(out.loc[out["split"] == sp, "label"]) == classes for sp in wanted):
            return dict(zip(out["patient_id"], out["split"], strict=True))
    return None
