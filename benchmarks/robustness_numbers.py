"""Numbers behind docs/robustness.md: what damaged inputs did before (read silently) and the
slice thickness at which lesion shares drift.

Run: PYTHONPATH=src python benchmarks/robustness_numbers.py [--out results/robustness.json]

1. lung1 as a NIfTI cut in half: what ITK alone reads (lungs, lesion share) versus the
   complete file; covidct now refuses the cut file.
2. lung1 with its slices resampled to 1.25 ... 20 mm (CT B-spline, lung mask label-linear
   from one segmentation of the native CT): the lesion share at each thickness, and whether
   covidct warns.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from covidct.errors import InvalidInputError
from covidct.io import CTVolume, read_ct, write_volume
from covidct.io.samples import sample_path
from covidct.lesions import quantify
from covidct.lungs import segment_lungs
from covidct.preprocess.grid import resample


def _share(volume: CTVolume, lungs: np.ndarray) -> dict[str, float]:
    q = quantify(volume, lungs)
    return {"lung_ml": round(q.lung_volume_ml, 1), "lesion_pct": round(100 * q.lesion_fraction, 2),
            "warnings": list(q.warnings)}


def truncated_nifti(volume: CTVolume, lungs: np.ndarray) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lung1.nii.gz"
        write_volume(volume, path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        itk = CTVolume.from_sitk(sitk.ReadImage(str(path)))  # what ITK alone gives
        try:
            read_ct(path)
            refused = ""
        except InvalidInputError as exc:
            refused = str(exc).replace(tmp, "<tmp>")
    return {"complete": _share(volume, lungs), "itk_reads_cut_file": _share(itk, lungs),
            "itk_zero_voxels_pct": round(100 * float(np.mean(itk.array == 0)), 1),
            "covidct": refused}


def thick_slices(volume: CTVolume, lungs: np.ndarray) -> list[dict[str, object]]:
    """Per thickness: the native segmentation resampled, and the lungs segmented again on
    the thick-slice CT (what ``covidct quantify`` does with such a file)."""
    rows = []
    for dz in sorted({round(volume.spacing[0], 3), 8.0, 10.0, 20.0}):
        sp = (dz, volume.spacing[1], volume.spacing[2])
        v = resample(volume, sp)
        m = resample(volume.with_array(lungs), sp, labels=True).array.astype(np.uint8)
        again = segment_lungs(v)
        rows.append({"slice_mm": dz, "native_mask": _share(v, m),
                     "segmented_again": _share(v, again)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    t0 = time.perf_counter()
    volume = read_ct(sample_path("lung1"))
    lungs = segment_lungs(volume)
    result = {"ct": "lung1", "spacing_mm_zyx": list(volume.spacing),
              "truncated_nifti": truncated_nifti(volume, lungs),
              "thick_slices": thick_slices(volume, lungs)}
    result["seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
