"""False lesion on the clear real lungs: share of the lung that `quantify` calls lesion.

Usage: .venv/bin/python benchmarks/false_lesion_real.py [--real DIR] [--cases NAME ...] [--hilum-off] [--bands-off]

lung1 has clear lungs; lung2 has a left lower lobe tumour (``lung2_label.nrrd``), which is
left out of both the lesion and the lung volume ("outside tumour"); the hand-drawn label is
tight, so the same share is also given outside the tumour grown by 5 and 10 mm (its partial
volume on 5 mm slices). Other cases (``--cases``, e.g. the registry CTs of
``registry_chest_cts.py``: ``--real DATA --cases rider cxr``) are read as ``NAME_image.nrrd``
with their tumour ``NAME_label.nrrd`` where there is one (lung1's 837-voxel nodule label is
not used: its lungs count as clear) and, where the folder has reference lung labels
``NAME_lungmask.nrrd``, the Dice of the lung mask against them. Also prints the lung
volumes and how much of the tumour the lung mask holds. Default `segment_lungs` and
`quantify`, as `covidct quantify` runs them; ``--hilum-off`` / ``--bands-off``: without the
hilar vessel test / the subpleural band seeds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _masks import dice
from _quant_flags import add_quant_flags, quant_options
from scipy import ndimage as ndi

from covidct.io import read_ct
from covidct.lesions import quantify
from covidct.lungs import LEFT, RIGHT, segment_lungs

DEFAULT_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-ct"


def false_share(lesion: np.ndarray, lung: np.ndarray, excluded: np.ndarray) -> float:
    """Lesion share of the lung outside ``excluded`` (0..1)."""
    keep = lung & ~excluded
    return float(np.count_nonzero(lesion & keep)) / float(np.count_nonzero(keep))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL)
    parser.add_argument("--cases", nargs="+", default=["lung1", "lung2"])
    add_quant_flags(parser)
    args = parser.parse_args()
    options = quant_options(args.hilum_off, args.bands_off)
    print(f"{'case':<6} {'right_ml':>8} {'left_ml':>8} {'lesion':>7} {'outside':>8} "
          f"{'out+5mm':>8} {'out+10mm':>9} {'tumour_in_lung':>15} {'seconds':>8} {'dice_ref':>8}")
    for name in args.cases:
        volume = read_ct(args.real / f"{name}_image.nrrd")
        t0 = time.perf_counter()
        labels = segment_lungs(volume)
        result = quantify(volume, labels, options=options)
        seconds = time.perf_counter() - t0
        lung, lesion = labels > 0, result.lesion_mask > 0
        label_path = args.real / f"{name}_label.nrrd"
        tumour = np.zeros(lung.shape, bool)
        if name != "lung1" and label_path.is_file():
            tumour = read_ct(label_path).array > 0
        ref_path = args.real / f"{name}_lungmask.nrrd"
        dice_ref = float("nan")
        if ref_path.is_file():
            dice_ref = dice(read_ct(ref_path).array > 0, lung)
        shares = []
        for grow_mm in (0.0, 5.0, 10.0):
            excluded = tumour
            if grow_mm and tumour.any():
                excluded = ndi.distance_transform_edt(~tumour, sampling=volume.spacing) <= grow_mm
            shares.append(false_share(lesion, lung, excluded))
        held = float((tumour & lung).sum()) / tumour.sum() if tumour.any() else float("nan")
        ml = volume.voxel_volume_ml
        print(f"{name:<6} {(labels == RIGHT).sum() * ml:8.0f} {(labels == LEFT).sum() * ml:8.0f} "
              f"{result.lesion_fraction:7.4f} {shares[0]:8.4f} {shares[1]:8.4f} {shares[2]:9.4f} "
              f"{held:15.3f} {seconds:8.1f} {dice_ref:8.4f}", flush=True)


if __name__ == "__main__":
    main()
