"""How much lung Dice the lung network's grid alone costs: the clear CTs' reference masks
resampled to the network's in-plane grid and back (as its probabilities are), above 0.5,
against themselves.

Usage: .venv/bin/python benchmarks/lung_grid_ceiling.py [--real DIR] [--pixels 2.0 1.5 1.25 1.0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _masks import dice
from false_lesion_real import DEFAULT_REAL

from covidct.lungs.model_grid import from_model_grid, to_model_grid
from covidct.lungs.train_data import read_labelled_ct

#: the canvas of every grid covers this many mm (the shipped model's 192 px of 2 mm)
_FIELD_MM = 384.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL)
    parser.add_argument("--cases", nargs="+", default=["lung1", "lung2"])
    parser.add_argument("--pixels", nargs="+", type=float, default=[2.0, 1.5, 1.25, 1.0])
    args = parser.parse_args()
    for name in args.cases:
        volume, labels = read_labelled_ct(args.real / f"{name}_image.nrrd")
        ref = labels > 0
        for px in args.pixels:
            grid, geo = to_model_grid(ref.astype(np.float32), volume.spacing[1:], pixel_mm=px,
                                      canvas=round(_FIELD_MM / px), fill=0.0)
            back = from_model_grid(grid, geo) > 0.5
            print(f"{name:<6} {px:5.2f} mm  Dice {dice(back, ref):.4f}", flush=True)


if __name__ == "__main__":
    main()
