"""Lungs in view or not: real abdominal CTs, and the real chest CTs cut to their lung bases.

Usage: .venv/bin/python benchmarks/lungs_in_view.py [--real DIR] [--abdomen DIR] [--method M]

For each abdominal CT (``../shared/data/real-abdomen``: a NIfTI and a DICOM series) prints
what `segment_lungs` says (the one-line error) and the lung-like volume it finds with the
in-view check off (``LungOptions(select=SelectOptions(min_view_ml=0))``). For lung1 and lung2 cut to the lowest
60 and 80 mm of their lungs (feet first, as an abdominal scan would show the bases) prints
the lung volumes and the Dice against the full scan's mask over the same slices.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from covidct.errors import CovidCTError
from covidct.io import read_ct
from covidct.lungs import LEFT, RIGHT, LungOptions, segment_lungs
from covidct.lungs.options import SelectOptions

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float(np.count_nonzero(a & b)) / float(np.count_nonzero(a) + np.count_nonzero(b))


def abdomen(path: Path, method: str) -> None:
    volume = read_ct(path)
    try:
        segment_lungs(volume, method=method)
        verdict = "lungs found"
    except CovidCTError as exc:
        verdict = f"{type(exc).__name__}: {str(exc).split(': ', 1)[1]}"
    try:
        found = segment_lungs(volume, method=method,
                              options=LungOptions(select=SelectOptions(min_view_ml=0.0)))
        ml = f"{np.count_nonzero(found) * volume.voxel_volume_ml:.0f} mL"
    except CovidCTError:
        ml = "none"
    print(f"{path.name}: {verdict}\n    lung-like volume with the in-view check off: {ml}")


def bases(path: Path, method: str) -> None:
    volume = read_ct(path)
    full = segment_lungs(volume, method=method)
    zs = np.nonzero(full.any(axis=(1, 2)))[0]
    up = volume.direction[8] > 0  # superior at high z: the bases are the low slices
    for mm in (60.0, 80.0):
        n = round(mm / volume.spacing[0])
        keep = slice(0, int(zs.min()) + n) if up else slice(int(zs.max()) + 1 - n, volume.shape[0])
        cut = dataclasses.replace(volume, array=np.ascontiguousarray(volume.array[keep]))
        try:
            labels = segment_lungs(cut, method=method)
        except CovidCTError as exc:
            print(f"{path.name} lowest {mm:.0f} mm: {type(exc).__name__}: {exc}")
            continue
        ml = volume.voxel_volume_ml
        print(f"{path.name} lowest {mm:.0f} mm: right {np.count_nonzero(labels == RIGHT) * ml:.0f} mL, "
              f"left {np.count_nonzero(labels == LEFT) * ml:.0f} mL, Dice vs full scan "
              f"{dice(labels > 0, full[keep] > 0):.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=SHARED / "real-ct")
    parser.add_argument("--abdomen", type=Path, default=SHARED / "real-abdomen")
    parser.add_argument("--method", default="refined", help="segment_lungs method (the reference "
                        "of the bases is the full scan's mask by the same method)")
    args = parser.parse_args()
    for path in (args.abdomen / "abdomen_ct.nii.gz", args.abdomen / "dicom"):
        abdomen(path, args.method)
    for name in ("lung1", "lung2"):
        bases(args.real / f"{name}_image.nrrd", args.method)


if __name__ == "__main__":
    main()
