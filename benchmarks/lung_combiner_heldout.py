"""Fit the lung choice classifier of ``covidct.lungs.choice`` on painted cases of a training CT,
from features files that can be mixed (painted cases, lung-base cuts). ``covidct train
lung-choice`` (:mod:`covidct.lungs.train_choice`) fits one from a folder of CTs in one step.

Usage:
  # 1. disagreement voxels of painted cases of a training CT, scored by a lung network
  .venv/bin/python benchmarks/lung_combiner_heldout.py features --real DIR --ct rider \\
      --model src/covidct/data/models/lung-unet.pt --cases standard fresh third fourth fifth x1 x2 --out rider.npz
  # 2. fit on them, write the classifier (LightGBM text) and its card
  .venv/bin/python benchmarks/lung_combiner_heldout.py fit --train rider.npz --out lung-choice.txt
  # 3. score it through segment_lungs, held out
  .venv/bin/python benchmarks/lung_model_validation.py --heldout lung1=NET --choice lung1=lung-choice.txt ...

``hybrid_error_budget.py`` shows that a voxel-by-voxel choice between the rules' mask R and the
network's mask M (``"model"``) could reach lung Dice >= 0.95 on 68 of 72 painted cases where the
fixed thresholds reach it on 31, and that most of their wrong voxels (76-79 %) read >= -120 HU,
where consolidation and soft tissue look alike. ``covidct.lungs.choice`` makes that choice with
a LightGBM classifier on shape and context; this script makes its training data and fits it.

``features``: for each painted case of ``--cases`` on ``--ct``, R (``"refined"``) and M
(``network_labels`` of ``--model``) on the working grid, the features of R xor M
(``disagreement_features``, what ``segment_lungs`` computes) and their label (lung in the
clear CT's mask), up to 60 000 voxels drawn per case (seed 0). Extra training sets ``x1`` /
``x2`` (seeds 50-53, 60-63) add severe cases. To score a CT held out, the network must be one
that did not see it, and the training CT another CT.
``--cuts 60 80 100``: instead, the clear CT and the painted cases each cut to the lowest 60, 80
and 100 mm of their lungs (the scans of ``lung_bases_heldout.py``), for a second features file.
``fit``: ``fit_lung_choice`` (300 trees, lung voxels weighted ``--lung-weight``, default 2,
which keeps the involvement error as the thresholds' on lung1 / lung2), written with a card
(training files, their CT, cases and network, command, seed, versions, sha256).
"""

from __future__ import annotations

import argparse
import json
import time
import zipfile
from pathlib import Path

import numpy as np
from hybrid_error_budget import painted
from hybrid_validation import CASE_SETS as SETS
from hybrid_validation import DEFAULT_REAL
from lung_bases_heldout import cut
from lung_bases_heldout import scans as bases_scans

from covidct.errors import CovidCTError, NoLungsFoundError
from covidct.lungs.choice import FEATURES
from covidct.lungs.network import load_lung_models
from covidct.lungs.options import LungOptions
from covidct.lungs.train_choice import case_features, fit_choice_file
from covidct.lungs.weights import network_id

VOXELS_PER_CASE = 60000


def scans(args: argparse.Namespace):
    """(name, scan, reference lungs) of the painted cases, or with ``--cuts`` of the clear CT
    and the painted cases cut to the lowest MM of their lungs (a scan of the lung bases)."""
    if not args.cuts:
        for _, name, sick, truth, _ in painted(args.real, args.ct, args.cases, SETS):
            yield name, sick, truth
        return
    for name, volume, truth in bases_scans(args.real, args.ct, args.cases, SETS):
        for mm in args.cuts:
            yield (f"{name} {mm:.0f} mm", *cut(volume, truth, mm))


def features(args: argparse.Namespace) -> None:
    model, opts, rng = load_lung_models(args.model), LungOptions.fast(), np.random.default_rng(0)
    Xs, ys = [], []
    for name, sick, truth in scans(args):
        t = time.perf_counter()
        try:
            X, y = case_features(sick, truth, model, opts)
        except NoLungsFoundError:  # a cut refused as no lungs in view
            print(f"{name}: refused", flush=True)
            continue
        keep = rng.random(len(y)) < min(1.0, VOXELS_PER_CASE / max(len(y), 1))
        Xs.append(X[keep])
        ys.append(y[keep])
        print(f"{name}: {len(y)} disagreement voxels, {y.mean():.2f} lung, {time.perf_counter() - t:.0f} s", flush=True)
    meta = {"ct": args.ct, "cases": args.cases, "cuts_mm": args.cuts, "model": str(args.model),
            "model_sha256": network_id(model), "voxels_per_case": VOXELS_PER_CASE, "seed": 0}
    tmp = args.out.with_name(args.out.name + ".part")
    with tmp.open("wb") as fh:
        np.savez_compressed(fh, X=np.concatenate(Xs), y=np.concatenate(ys), meta=json.dumps(meta))
    tmp.replace(args.out)


def fit(args: argparse.Namespace) -> None:
    try:
        data = [dict(np.load(f)) for f in args.train]
        X, y = np.concatenate([d["X"] for d in data]), np.concatenate([d["y"] for d in data])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise CovidCTError(f"{' '.join(map(str, args.train))}: not features written by the features step "
                           f"({str(exc).splitlines()[0]})") from exc
    if X.ndim != 2 or X.shape[1] != len(FEATURES):
        raise CovidCTError(f"{args.train[0]}: features of another version ({X.shape[1]} columns, "
                           f"expected {len(FEATURES)}); rerun the features step")
    fit_choice_file(X, y, args.out, name="lung-choice", lung_weight=args.lung_weight, seed=0,
                    trained_on=[{"file": f.name, **json.loads(str(d["meta"]))} for f, d in zip(args.train, data)])
    print(f"{args.out}: {len(y)} voxels ({y.mean():.2f} lung)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["features", "fit"])
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL)
    parser.add_argument("--ct", help="features: the training CT's name in --real (NAME_image.nrrd)")
    parser.add_argument("--model", help="features: the lung network file (A.pt+B.pt: their mean)")
    parser.add_argument("--cases", nargs="+", choices=list(SETS), default=["standard"])
    parser.add_argument("--cuts", nargs="+", type=float, default=[], metavar="MM",
                        help="features: scans of the lung bases instead: the clear CT and the cases cut "
                             "to the lowest MM of their lungs (lung_bases_heldout.py)")
    parser.add_argument("--out", type=Path, required=True, help="features: .npz; fit: the classifier (.txt)")
    parser.add_argument("--train", nargs="+", type=Path, default=[], help="fit: the features files")
    parser.add_argument("--lung-weight", type=float, default=2.0,
                        help="fit: weight of the lung voxels (> 1 leans to lung where unsure)")
    args = parser.parse_args()
    if args.step == "features" and (args.ct is None or args.model is None) or args.step == "fit" and not args.train:
        parser.error("features needs --ct and --model, fit needs --train")
    inputs = [args.real / f"{args.ct}_image.nrrd", *map(Path, args.model.split("+"))] if args.step == "features" else args.train
    missing = [str(p) for p in inputs if not p.is_file()]
    if missing:
        parser.exit(2, f"error: not found: {', '.join(missing)}\n")
    try:
        (features if args.step == "features" else fit)(args)
    except CovidCTError as exc:
        parser.exit(2, f"error: {str(exc).splitlines()[0]}\n")


if __name__ == "__main__":
    main()
