"""Time plain pyradiomics against ``extract_radiomics`` (workers 1 and 2) on a real CT.

Usage: .venv/bin/python benchmarks/bench_radiomics.py [--ct PATH] [--repeat 1]

The lung mask comes from :func:`covidct.lungs.segment_lungs` (a -400 HU threshold mask if
segmentation fails). Prints seconds, speedups and the largest absolute and relative
difference between the two sets of values.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from covidct.features.radiomics import extract_radiomics, extract_radiomics_reference
from covidct.io import read_ct

DEFAULT_CT = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-ct" / "lung1_image.nrrd"


def lung_mask(volume):
    try:
        from covidct.lungs import segment_lungs

        return segment_lungs(volume), "segment_lungs"
    except Exception as exc:  # fall back to a plain threshold mask
        air = volume.array < -400
        lab, _ = ndimage.label(air)
        border = np.unique(np.concatenate([lab[:, 0].ravel(), lab[:, -1].ravel(),
                                           lab[:, :, 0].ravel(), lab[:, :, -1].ravel()]))
        return (air & ~np.isin(lab, border)).astype(np.uint8), f"threshold ({exc})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ct", type=Path, default=DEFAULT_CT)
    parser.add_argument("--preset", default="covid-mtl")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    volume = read_ct(args.ct)
    mask, how = lung_mask(volume)
    print(f"{args.ct.name}: {volume!r}; mask from {how}, {np.count_nonzero(mask)} voxels")
    timings: dict[str, list[float]] = {"pyradiomics": [], "workers=1": [], "workers=2": []}
    results = {}
    for _ in range(args.repeat):
        t = time.perf_counter()
        results["pyradiomics"] = extract_radiomics_reference(volume, mask, preset=args.preset)
        timings["pyradiomics"].append(time.perf_counter() - t)
        for w in (1, 2):
            t = time.perf_counter()
            results[f"workers={w}"] = extract_radiomics(volume, mask, preset=args.preset, workers=w)
            timings[f"workers={w}"].append(time.perf_counter() - t)
    ref = results["pyradiomics"]
    base = min(timings["pyradiomics"])
    print(f"{'run':<12} {'seconds':>8} {'speedup':>8} {'n':>4} {'max |diff|':>11} {'max rel':>9}")
    for name, secs in timings.items():
        res = results[name]
        same = list(res.index) == list(ref.index)
        diff = np.abs(res.to_numpy() - ref.reindex(res.index).to_numpy())
        rel = diff / np.maximum(np.abs(ref.reindex(res.index).to_numpy()), 1e-300)
        print(f"{name:<12} {min(secs):8.1f} {base / min(secs):8.2f} {len(res):4d} "
              f"{np.nanmax(diff):11.3g} {np.nanmax(rel):9.3g}" + ("" if same else "  (order differs)"))


if __name__ == "__main__":
    main()
