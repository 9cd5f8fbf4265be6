"""Lungs in view or not: how much lung a real abdominal CT shows, against scans of the lung bases.

Usage: .venv/bin/python benchmarks/lungs_in_view.py [--real DIR] [--abdomen DIR]
       [--cts lung1 lung2 ...] [--methods refined hybrid] [--heights 40 60 80]

For each abdominal CT (``../shared/data/real-abdomen``: a NIfTI and a DICOM series) prints what
`segment_lungs` says (its one-line error), then, for each method, the lung-like volume (mL) and
height (mm: slices holding at least 5 cm² of it; right and left lung extents) it finds with the
in-view check off (``SelectOptions(min_view_ml=0)``). The same for each CT of ``--real`` (its
``CT_lungmask`` labels, else the rules' mask, as reference) cut to the lowest 40, 60 and 80 mm
of its lungs, clear and its first two "standard" painted cases: whether the check refuses it,
and what it holds. A volume or height that the abdominal CT reaches cannot tell the two apart.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from lung_bases_heldout import cut, scans

from covidct.errors import CovidCTError
from covidct.io import read_ct
from covidct.lungs import LEFT, RIGHT, LungOptions, segment_lungs
from covidct.lungs.options import SelectOptions

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SLICE_CM2 = 5.0  # a slice with less lung than this does not count towards the height
CHECK_OFF = LungOptions(select=SelectOptions(min_view_ml=0.0))


def amount(volume, labels: np.ndarray, sides: bool = True) -> str:
    """Volume, height and (``sides``) right / left extents of ``labels`` (input grid of ``volume``)."""
    sz, sy, sx = volume.spacing
    area = (labels > 0).reshape(labels.shape[0], -1).sum(axis=1) * sy * sx / 100.0
    extent = {k: (labels == k).any(axis=(1, 2)).sum() * sz for k in (RIGHT, LEFT)}
    out = f"{np.count_nonzero(labels) * volume.voxel_volume_ml:5.0f} mL, height {(area >= SLICE_CM2).sum() * sz:3.0f} mm"
    return f"{out} (right {extent[RIGHT]:3.0f}, left {extent[LEFT]:3.0f})" if sides else out


def verdict(volume, method: str) -> str:
    """'kept' or the one-line refusal of the default check; then what the check-off run holds."""
    try:
        segment_lungs(volume, method=method)
        said = "kept   "
    except CovidCTError as exc:
        said = "refused" if "no lungs in view" in str(exc) else f"refused ({str(exc).split(': ', 1)[1][:40]})"
    try:
        return f"{said} {amount(volume, segment_lungs(volume, method=method, options=CHECK_OFF))}"
    except CovidCTError:
        return f"{said} nothing lung-like"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=SHARED / "real-ct")
    parser.add_argument("--abdomen", type=Path, default=SHARED / "real-abdomen")
    parser.add_argument("--cts", nargs="+", default=["lung1", "lung2"])
    parser.add_argument("--methods", nargs="+", default=["refined", "hybrid"])
    parser.add_argument("--heights", nargs="+", type=float, default=[40.0, 60.0, 80.0])
    args = parser.parse_args()
    for path in (args.abdomen / "abdomen_ct.nii.gz", args.abdomen / "dicom"):
        volume = read_ct(path)
        for method in args.methods:
            print(f"{path.name:<34} {method:<8} {verdict(volume, method)}", flush=True)
    for ct in args.cts:
        for number, (case, volume, reference) in enumerate(scans(args.real, ct)):
            if number > 2:
                break
            for mm in args.heights:
                part, ref = cut(volume, reference, mm)
                print(f"{case:<26} {mm:3.0f} mm reference          {amount(part, ref, sides=False)}")
                for method in args.methods:
                    print(f"{case:<26} {mm:3.0f} mm {method:<8} {verdict(part, method)}", flush=True)


if __name__ == "__main__":
    main()
