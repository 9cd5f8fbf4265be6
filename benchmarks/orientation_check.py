"""The same scan stored in another array order gets the same lungs.

Usage: .venv/bin/python benchmarks/orientation_check.py [--real DIR] [--method M]

For lung1 and lung2 (``../shared/data/real-ct``), clear and with COVID painted in (involved
0.85, consolidated 0.9, seed 21: white lung, where the lung network decides most), the CT is
stored as a NIfTI in RAS would be (x and y flipped), head first (z flipped), both, and as
coronal and sagittal reformats (SimpleITK's ``PermuteAxes`` and ``Flip``); the direction says
so, the patient is where he was. ``segment_lungs`` runs on each, the labels are laid back
and compared voxel by voxel with those of the file as stored (a DICOM series' order): voxels that differ, Dice of the lung masks, and right / left labels that
agree. Dice against the painted reference is printed for the painted scans, and the lesion
fraction of ``quantify`` (each order with its own lungs) for every scan.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from _masks import dice

from covidct.io import CTVolume, read_ct
from covidct.lesions import quantify
from covidct.lungs import segment_lungs
from covidct.phantom import paint_into

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
#: how a file stores the scan: its ITK axes (x, y, z) as the scan's, then ITK axes flipped
ORDERS = {"RAS (x, y flipped)": ((0, 1, 2), (True, True, False)),
          "head first (z flipped)": ((0, 1, 2), (False, False, True)),
          "RAS, head first": ((0, 1, 2), (True, True, True)),
          "coronal (head at row 0)": ((0, 2, 1), (False, True, False)),
          "sagittal (head at row 0)": ((1, 2, 0), (False, True, True))}



def _image(array: np.ndarray, volume=None) -> sitk.Image:
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    if volume is not None:
        image.SetSpacing(volume.spacing[::-1])
        image.SetOrigin(volume.origin)
        image.SetDirection(volume.direction)
    return image


def stored(volume, order: tuple[tuple[int, ...], tuple[bool, ...]]) -> CTVolume:
    """``volume`` as a file stored in ``order`` keeps it (every voxel where it was)."""
    axes, flips = order
    image = sitk.Flip(sitk.PermuteAxes(_image(volume.array, volume), axes), flips)
    return CTVolume.from_sitk(image, metadata=volume.metadata)


def back(array: np.ndarray, order: tuple[tuple[int, ...], tuple[bool, ...]]) -> np.ndarray:
    """An array of the file stored in ``order`` laid back on the scan's own grid."""
    axes, flips = order
    return sitk.GetArrayFromImage(sitk.PermuteAxes(sitk.Flip(_image(array), flips), [axes.index(i) for i in range(3)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=SHARED / "real-ct")
    parser.add_argument("--method", default="hybrid")
    args = parser.parse_args()
    for ct in ("lung1", "lung2"):
        volume = read_ct(args.real / f"{ct}_image.nrrd")
        clear = segment_lungs(volume, method="refined")
        sick, _ = paint_into(volume, clear, diagnosis="covid", fraction=0.85, consolidation_share=0.9, seed=21)
        for case, scan in ((f"{ct} clear", volume), (f"{ct} covid 0.85/0.9 s21", sick)):
            t0 = time.perf_counter()
            base = segment_lungs(scan, method=args.method)
            ref = f", Dice to the painted reference {dice(base > 0, clear > 0):.4f}" if scan is sick else ""
            print(f"{case}: as stored{ref}, lesion fraction {quantify(scan, base).lesion_fraction:.4f} "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
            for name, order in ORDERS.items():
                labels = segment_lungs(stored(scan, order), method=args.method)
                fraction = quantify(stored(scan, order), labels).lesion_fraction
                other = back(labels, order)
                same_side = np.count_nonzero((other == base) & (base > 0)) / max(np.count_nonzero(base), 1)
                ref = f", Dice to the reference {dice(other > 0, clear > 0):.4f}" if scan is sick else ""
                print(f"  {name}: {np.count_nonzero(other != base)} voxels differ of {np.count_nonzero(base)}, "
                      f"Dice {dice(other > 0, base > 0):.4f}, same label {same_side:.4f}{ref}, "
                      f"lesion fraction {fraction:.4f}", flush=True)


if __name__ == "__main__":
    main()
