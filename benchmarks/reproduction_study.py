"""The COVID-MTL reproduction study on a simulated iCTCF-like cohort (CPU-sized, resumable).

Usage:
    .venv/bin/python benchmarks/reproduction_study.py [--out study/] [--n 180] [--folds 3]
        [--epochs 8] [--only NAME ...] [--skip-ml]

Steps (each skipped when its output exists, so an interrupted study resumes):
1. simulate ``--n`` "tiny" phantom cases (iCTCF label proportions) into the plain layout;
2. preprocess them onto the ``tiny-6mm`` grid (crop 34 x 42 x 42) with their true lung masks;
3. radiomics (the covid-mtl classes at the grid's 6 mm spacing) for the AFNN and baselines;
4. ML baselines (LightGBM, random forest, logistic regression) per task, same folds;
5. every network setting below with patient-level k-fold CV, then one comparison table.

What is scaled down from the paper (1329 patients, 1 mm grid, 200 x 250 x 250 input, 80
epochs, one 70/30 split): a few hundred simulated patients, a 6 mm grid, 8 epochs, 3-fold CV.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SETTINGS: dict[str, dict] = {
    # COVID-MTL and its ablations
    "covid-mtl": {"preset": "covid-mtl-cpu"},
    "covid-mtl-equal": {"preset": "covid-mtl-equal"},
    "covid-mtl-uncertainty": {"preset": "covid-mtl-uncertainty"},
    "covid-mtl-nofeatures": {"preset": "covid-mtl-nofeatures"},
    # single-task ShiftNet3D per task
    "shiftnet3d-ct": {"preset": "shiftnet3d-ct"},
    "shiftnet3d-nat": {"preset": "shiftnet3d-nat"},
    "shiftnet3d-severity": {"preset": "shiftnet3d-severity"},
    # backbones on the NAT task (the paper's ShiftNet3D vs ResNet3D vs SqueezeNet3D claim)
    "squeezenet3d-nat": {"preset": "squeezenet3d-nat"},
    "decovnet-nat": {"preset": "decovnet-nat"},
    "resnet3d-nat": {"preset": "resnet3d-nat"},
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def build_cohort(out: Path, n: int, seed: int) -> tuple[Path, Path]:
    from covidct.datasets import write_dataset
    from covidct.phantom import simulate_cohort
    from covidct.preprocess import preprocess_dataset

    data, prep = out / "data", out / "prep"
    if not (data / "cases.csv").is_file():
        log(f"simulating {n} cases")
        write_dataset(simulate_cohort(n, seed=seed, size="tiny", workers=2), data, "plain")
    log("preprocessing (tiny-6mm grid)")
    s = preprocess_dataset(data, prep, grid="tiny-6mm", workers=2)
    log(f"preprocessed: {s.n_ok} ok, {s.n_failed} failed, {s.n_skipped} skipped")
    return data, prep


def build_features(out: Path, prep: Path) -> Path:
    from covidct.features.batch import extract_dataset_features

    params = out / "radiomics_6mm.yaml"
    params.write_text("setting:\n  resampledPixelSpacing: [6.0, 6.0, 6.0]\n  binWidth: 25\n")
    feats = out / "features.parquet"
    log("radiomics")
    s = extract_dataset_features(prep, feats, workers=2, hog=False, params=params)
    log(f"features: {s}")
    return feats


def run_ml(out: Path, feats: Path, folds: int, seed: int) -> None:
    from covidct.ml import BaselineOptions, run_baselines

    ml_out = out / "ml"
    if (ml_out / "results.json").is_file():
        return
    log("ML baselines")
    run_baselines(feats, ml_out, tasks=("ct", "nat", "severity"),
                  models=("lightgbm", "rf", "logreg"),
                  options=BaselineOptions(folds=folds, seed=seed, n_jobs=2))


def run_networks(out: Path, prep: Path, feats: Path, names: list[str], folds: int,
                 epochs: int, seed: int) -> list[Path]:
    from covidct.training import load_config, train

    runs = []
    for name in names:
        run = out / "runs" / name
        runs.append(run)
        if (run / "metrics.json").is_file():
            continue
        cfg = load_config(SETTINGS[name]["preset"]).with_overrides(
            name=name, data=str(prep), features=str(feats), folds=folds, epochs=epochs,
            seed=seed, batch_size=8,
        )
        t0 = time.perf_counter()
        log(f"training {name}")
        train(cfg, run)
        log(f"{name} done in {time.perf_counter() - t0:.0f} s")
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("study"))
    ap.add_argument("--n", type=int, default=180)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--only", nargs="*", default=None, help="network settings to run")
    ap.add_argument("--skip-ml", action="store_true")
    args = ap.parse_args()

    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "study.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items()}))
    _, prep = build_cohort(args.out, args.n, args.seed)
    feats = build_features(args.out, prep)
    if not args.skip_ml:
        try:
            run_ml(args.out, feats, args.folds, args.seed)
        except ImportError as exc:
            log(f"ML baselines unavailable: {exc}")
    names = args.only or list(SETTINGS)
    runs = run_networks(args.out, prep, feats, names, args.folds, args.epochs, args.seed)

    from covidct.training import compare_runs

    table = compare_runs(runs, args.out / "comparison")
    print(table)


if __name__ == "__main__":
    main()
