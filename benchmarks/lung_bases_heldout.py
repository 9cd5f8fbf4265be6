"""Scans that show only the lung bases, with and without disease, held out: ``"hybrid"``
(learned choice) beside ``"hybrid-thresholds"`` (and ``"model"``, the network alone).

Usage:
  .venv/bin/python benchmarks/lung_bases_heldout.py --real ../chest-cts \\
      --heldout lung1=NET1 --choice lung1=CHOICE1 --heldout lung2=NET2 --choice lung2=CHOICE2 \\
      --choice rider=CHOICE_CXR [--cts lung1 lung2 rider cxr] [--methods hybrid] [--json rows.json]
      [--heights 60 80 100] [--lung-preset default|bases]

Each CT (``--real DIR / CT_image.nrrd``, its lung labels as in training: a ``CT_lungmask``
file, else the rules' mask) is cut to the lowest 60, 80 and 100 mm (``--heights``) of those
labels (the apex out of view, as a scan of the upper abdomen or of the lung bases shows
them): the clear scan and its four "standard" painted cases (``hybrid_validation.CASE_SETS``). Each cut is
segmented by each method with the network and classifier given for that CT (``--heldout`` /
``--choice CT=FILE``; default the shipped ones) and scored by Dice against the labels over
the same slices. A cut refused as "no lungs in view" is reported as such.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
from _masks import dice
from hybrid_error_budget import painted
from hybrid_validation import CASE_SETS
from lung_model_validation import _segment

from covidct.errors import NoLungsFoundError
from covidct.io import read_ct
from covidct.lungs.choice import load_lung_choice
from covidct.lungs.network import load_lung_models
from covidct.lungs.options import LungOptions
from covidct.lungs.train_data import read_labelled_ct
from covidct.pipeline import lung_options
from covidct.provenance import provenance

HEIGHTS_MM = (60.0, 80.0, 100.0)
METHODS = ("hybrid", "hybrid-thresholds", "model")


def scans(real: Path, ct: str, sets: tuple[str, ...] = ("standard",), case_sets: dict = CASE_SETS):
    """(case name, scan, reference lungs) of the clear CT and its painted cases of ``sets``."""
    path = real / f"{ct}_image.nrrd"
    yield f"{ct} clear", read_ct(path), read_labelled_ct(path)[1] > 0
    for _, name, sick, truth, _ in painted(real, ct, list(sets), case_sets):
        yield name, sick, truth


def cut(volume, reference: np.ndarray, mm: float):
    """The scan and reference cut to the lowest ``mm`` of the reference lungs."""
    zs = np.nonzero(reference.any(axis=(1, 2)))[0]
    n = round(mm / volume.spacing[0])
    up = volume.direction[8] > 0  # superior at high z: the bases are the low slices
    keep = slice(0, int(zs.min()) + n) if up else slice(int(zs.max()) + 1 - n, volume.shape[0])
    return dataclasses.replace(volume, array=np.ascontiguousarray(volume.array[keep])), reference[keep]


def run_ct(real: Path, ct: str, model, choice, methods: tuple[str, ...] = METHODS,
           heights: tuple[float, ...] = HEIGHTS_MM, opts: LungOptions | None = None) -> list[dict]:
    rows = []
    for case, volume, reference in scans(real, ct):
        for mm in heights:
            part, ref = cut(volume, reference, mm)
            row = {"ct": ct, "case": case, "mm": mm}
            for method in methods:
                try:
                    row[method] = dice(ref, _segment(part, method, model, choice, opts) > 0)
                except NoLungsFoundError:
                    row[method] = None
            rows.append(row)
            print(f"{case:<30} {mm:4.0f} mm  " + "  ".join(
                f"{m} {'refused' if row[m] is None else format(row[m], '.4f')}" for m in methods), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, required=True)
    parser.add_argument("--cts", nargs="+", default=["lung1", "lung2", "rider", "cxr"])
    parser.add_argument("--heldout", action="append", default=[], metavar="CT=NET")
    parser.add_argument("--choice", action="append", default=[], metavar="CT=FILE")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS[:2]))
    parser.add_argument("--heights", nargs="+", type=float, default=list(HEIGHTS_MM), metavar="MM")
    parser.add_argument("--lung-preset", default="default", help="lung options (covidct.pipeline.LUNG_PRESETS)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    opts = lung_options(args.lung_preset)
    nets = dict(item.split("=", 1) for item in args.heldout)
    choices = dict(item.split("=", 1) for item in args.choice)
    rows = []
    for ct in args.cts:
        model = load_lung_models(nets[ct]) if ct in nets else None
        choice = load_lung_choice(choices[ct]) if ct in choices else None
        rows += [{**r, "network": nets.get(ct, "shipped"), "choice": choices.get(ct, "shipped")}
                 for r in run_ct(args.real, ct, model, choice, tuple(args.methods), tuple(args.heights), opts)]
    if {"hybrid", "hybrid-thresholds"} <= set(args.methods):
        both = [r for r in rows if None not in (r["hybrid"], r["hybrid-thresholds"])]
        diff = np.array([r["hybrid"] - r["hybrid-thresholds"] for r in both])
        print(f"{len(both)} cuts scored by both: choice higher on {(diff > 0).sum()}, lower on {(diff < 0).sum()}, "
              f"mean difference {diff.mean():+.4f}")
    if args.json:
        settings = {"heights_mm": args.heights, "lung_preset": args.lung_preset, "lungs": opts}
        args.json.write_text(json.dumps({"rows": rows, "provenance": provenance(options=settings)}, indent=1))


if __name__ == "__main__":
    main()
