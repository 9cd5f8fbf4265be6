"""A learned choice between the rules' and the network's lung masks where they disagree, held out.

Usage:
  # 1. disagreement voxels of painted cases of a training CT, with the network that is held out from the test CT
  .venv/bin/python benchmarks/lung_combiner_heldout.py features --real DIR --ct rider \\
      --model RUN_WITHOUT_LUNG1/lung-unet.pt --cases standard fresh third fourth fifth x1 x2 --out rider-nl1.npz
  # 2. fit on them, score the test CT's painted cases with the same network
  .venv/bin/python benchmarks/lung_combiner_heldout.py score --real DIR --ct lung1 \\
      --model RUN_WITHOUT_LUNG1/lung-unet.pt --train rider-nl1.npz --cases standard fresh third fourth fifth --json OUT

``hybrid_error_budget.py`` shows that a voxel-by-voxel choice between the rules' mask R and the
network's mask M (``"model"``) could reach lung Dice >= 0.95 on 68 of 72 painted cases where
``"hybrid"`` reaches it on 31, and that most of ``"hybrid"``'s wrong voxels (76-79 %) read
>= -120 HU, where consolidation and soft tissue look alike: HU alone cannot make the choice.
Here a LightGBM classifier makes it from shape and context (working grid, 1.25 mm in-plane): the network's probability (raw and smoothed), HU (raw, smoothed over 2
and 5 mm, local SD), signed depth in R, in M and in the body (mm), height above the lungs'
base and below their apex (mm), and two per-scan values (share of R at > -300 HU, |R| / |M|).
Each voxel where R and M agree keeps their answer. The classifier is fitted on painted cases of
other CTs (``--train``; up to 60 000 voxels drawn from each case) scored by the
network held out from the test CT, so neither the test CT's anatomy nor its painted cases
are seen. Extra training sets ``x1`` / ``x2`` (seeds 50-53, 60-63) add severe cases.
``--lung-weight 2`` weights the lung voxels twice in the fit, which keeps the involvement
error as ``"hybrid"``'s (docs/validation.md).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from hybrid_error_budget import budget, masks, painted, write_rows
from hybrid_validation import CASE_SETS, DEFAULT_REAL
from lungs_in_view import dice
from scipy import ndimage as ndi

from covidct.errors import CovidCTError
from covidct.lesions import quantify
from covidct.lungs.grid import labels_to_input, to_working
from covidct.lungs.learned import load_lung_model
from covidct.lungs.options import LungOptions

#: painted training sets beyond the evaluation sets of hybrid_validation: (findings, first seed)
TRAIN_SETS = {
    "x1": ([("covid", 0.35, 0.6), ("covid", 0.6, 0.8), ("pneumonia", 0.45, 0.9), ("covid", 0.85, 0.7)], 50),
    "x2": ([("covid", 0.5, 0.7), ("covid", 0.75, 0.9), ("pneumonia", 0.3, 1.0), ("covid", 0.9, 0.8)], 60),
}
SETS = {**CASE_SETS, **TRAIN_SETS}
FEATURES = ("prob", "hu", "hu_2mm", "hu_5mm", "hu_sd_2mm", "depth_rules_mm", "depth_net_mm", "depth_body_mm",
            "above_base_mm", "below_apex_mm", "dense_share", "rules_over_net", "prob_2mm")
VOXELS_PER_CASE = 60000
SHOWN = ("rules", "model", "hybrid", "bound", "learned choice", "error hybrid", "error learned choice", "choice_s")


def _working(mask: np.ndarray, grid) -> np.ndarray:
    return to_working((mask > 0).astype(np.float32), grid) >= 0.5


def _depth(mask: np.ndarray, spacing) -> np.ndarray:
    """Signed distance to the mask's border (mm), positive inside."""
    return ndi.distance_transform_edt(mask, sampling=spacing) - ndi.distance_transform_edt(~mask, sampling=spacing)


def case_features(sick, model, opts: LungOptions) -> dict:
    """The masks of one scan (input grid) and the features of R xor M (working grid)."""
    net, rules_in, model_in, hybrid_in = masks(sick, model, opts, "ct")
    t = time.perf_counter()
    grid, hu, sp = net.grid, net.hu, net.grid.spacing
    rules, nets = _working(rules_in, grid), _working(model_in, grid)
    sigma2, sigma5 = [0.5, 2 / sp[1], 2 / sp[2]], [1.0, 5 / sp[1], 5 / sp[2]]
    hu_2 = ndi.gaussian_filter(hu, sigma2)
    sd_2 = np.sqrt(np.maximum(ndi.gaussian_filter(hu * hu, sigma2) - hu_2 ** 2, 0))
    zs = np.nonzero((rules | nets).any(axis=(1, 2)))[0]
    z = np.broadcast_to(np.arange(hu.shape[0])[:, None, None] * sp[0], hu.shape)
    idx = np.nonzero(rules ^ nets)
    n = len(idx[0])
    columns = [net.prob, hu, hu_2, ndi.gaussian_filter(hu, sigma5), sd_2, _depth(rules, sp), _depth(nets, sp),
               ndi.distance_transform_edt(net.body, sampling=sp), z - zs.min() * sp[0], zs.max() * sp[0] - z]
    per_scan = [float(((hu > -300) & rules).sum()) / max(float(rules.sum()), 1.0),
                float(rules.sum()) / max(float(nets.sum()), 1.0)]
    X = np.stack([c[idx] for c in columns] + [np.full(n, v) for v in per_scan]
                 + [ndi.gaussian_filter(net.prob, sigma2)[idx]], axis=1).astype(np.float32)
    return {"grid": grid, "rules": rules, "net": nets, "idx": idx, "X": X, "seconds": time.perf_counter() - t,
            "rules_in": rules_in, "model_in": model_in, "hybrid_in": hybrid_in}


def mean_ci(diff: np.ndarray, bootstrap: int = 2000, seed: int = 0) -> str:
    """The mean of paired differences with a 95 % bootstrap interval over cases, as text."""
    draws = np.random.default_rng(seed).integers(0, len(diff), (bootstrap, len(diff)))
    lo, hi = np.quantile(diff[draws].mean(axis=1), [0.025, 0.975])
    return f"{diff.mean():+.4f} ({lo:+.4f}..{hi:+.4f})"


def _sides(lungs: np.ndarray, rules: np.ndarray) -> np.ndarray:
    """``lungs`` (bool) labelled 1 / 2 as the rules' nearest lung voxel."""
    nearest = ndi.distance_transform_edt(rules == 0, return_distances=False, return_indices=True)
    return np.where(lungs, rules[tuple(nearest)], 0).astype(np.uint8)


def features(args: argparse.Namespace) -> None:
    model, opts, rng = load_lung_model(args.model), LungOptions.fast(), np.random.default_rng(0)
    Xs, ys = [], []
    for _, name, sick, truth, _ in painted(args.real, args.ct, args.cases, SETS):
        t = time.perf_counter()
        f = case_features(sick, model, opts)
        y = _working(truth, f["grid"])[f["idx"]]
        keep = rng.random(len(y)) < min(1.0, VOXELS_PER_CASE / max(len(y), 1))
        Xs.append(f["X"][keep])
        ys.append(y[keep])
        print(f"{name}: {len(y)} disagreement voxels, {y.mean():.2f} lung, {time.perf_counter() - t:.0f} s", flush=True)
    tmp = args.out.with_name(args.out.name + ".part")
    with tmp.open("wb") as fh:
        np.savez_compressed(fh, X=np.concatenate(Xs), y=np.concatenate(ys))
    tmp.replace(args.out)


def score(args: argparse.Namespace) -> None:
    import lightgbm as lgb

    X = np.concatenate([np.load(f)["X"] for f in args.train])
    y = np.concatenate([np.load(f)["y"] for f in args.train])
    clf = lgb.LGBMClassifier(n_estimators=300, learning_rate=0.05, num_leaves=31, min_child_samples=200,
                             subsample=0.8, subsample_freq=1, colsample_bytree=0.8, verbose=-1, n_jobs=1)
    clf.fit(X, y, sample_weight=np.where(y, args.lung_weight, 1.0))
    print("split counts:", dict(zip(FEATURES, clf.feature_importances_.tolist())), flush=True)
    model, opts, rows = load_lung_model(args.model), LungOptions.fast(), []
    for _, name, sick, truth, lesions in painted(args.real, args.ct, args.cases, SETS):
        f = case_features(sick, model, opts)
        lung = f["rules"] & f["net"]
        t = time.perf_counter()
        lung[f["idx"]] = clf.predict_proba(f["X"])[:, 1] > 0.5
        chosen = labels_to_input(lung.astype(np.uint8), f["grid"], n_labels=1) > 0
        seconds = f["seconds"] + time.perf_counter() - t
        true_fraction = float(lesions.sum()) / float(truth.sum())
        errors = {k: quantify(sick, lungs).lesion_fraction - true_fraction
                  for k, lungs in (("error hybrid", f["hybrid_in"]), ("error learned choice", _sides(chosen, f["rules_in"])))}
        row = {"case": name, **budget(truth, f["rules_in"] > 0, f["model_in"] > 0, f["hybrid_in"] > 0, sick.array),
               "learned choice": dice(truth, chosen), **errors, "choice_s": seconds,
               "model_file": args.model, "train": [str(t) for t in args.train]}
        rows.append(row)
        print(f"{name:<30} " + " ".join(f"{k} {row[k]:.4f}" for k in SHOWN), flush=True)
    h, c, eh, ec = (np.array([r[k] for r in rows])
                    for k in ("hybrid", "learned choice", "error hybrid", "error learned choice"))
    print(f"{len(rows)} cases: Dice >= 0.95 hybrid {(h >= 0.95).sum()}, learned choice {(c >= 0.95).sum()}, "
          f"bound {sum(r['bound'] >= 0.95 for r in rows)}; "
          f"paired difference {mean_ci(c - h)} (higher on {(c > h).sum()}); involvement within 0.05 "
          f"hybrid {(np.abs(eh) <= 0.05).sum()}, learned choice {(np.abs(ec) <= 0.05).sum()}")
    if args.json:
        write_rows(args.json, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["features", "score"])
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL)
    parser.add_argument("--ct", required=True, help="the CT's name in --real (NAME_image.nrrd)")
    parser.add_argument("--model", required=True, help="lung network file, held out from the test CT")
    parser.add_argument("--cases", nargs="+", choices=list(SETS), default=["standard"])
    parser.add_argument("--out", type=Path, help="features: where the voxels go (.npz)")
    parser.add_argument("--train", nargs="+", type=Path, default=[], help="score: the features files to fit on")
    parser.add_argument("--json", type=Path, help="score: write the rows as JSON")
    parser.add_argument("--lung-weight", type=float, default=1.0,
                        help="score: weight of the lung voxels in the fit (> 1 leans to lung where unsure)")
    args = parser.parse_args()
    if args.step == "features" and args.out is None or args.step == "score" and not args.train:
        parser.error("features needs --out, score needs --train")
    missing = [str(p) for p in [args.real / f"{args.ct}_image.nrrd", *args.train] if not p.is_file()]
    if missing:
        parser.exit(2, f"error: not found: {', '.join(missing)}\n")
    try:
        (features if args.step == "features" else score)(args)
    except CovidCTError as exc:
        parser.exit(2, f"error: {str(exc).splitlines()[0]}\n")


if __name__ == "__main__":
    main()
