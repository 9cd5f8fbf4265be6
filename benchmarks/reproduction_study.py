"""The COVID-MTL reproduction study on a simulated iCTCF-like cohort (CPU-sized, resumable).

Usage:
    .venv/bin/python benchmarks/reproduction_study.py [--out study/] [--n 180] [--folds 3]
        [--epochs 8] [--only NAME ...] [--run-folds K ...] [--skip-ml]

Steps (each skipped when its output exists, so an interrupted study resumes):
1. simulate ``--n`` "tiny" phantom cases (iCTCF label proportions) into the plain layout;
2. preprocess them onto the ``tiny-6mm`` grid (crop 34 x 42 x 42) with their true lung masks;
3. radiomics (the covid-mtl classes at the grid's 6 mm spacing) for the AFNN and baselines;
4. one fold file (``folds.csv``: patient-level, stratified on NAT x severity) that every
   baseline and network below uses, so that all comparisons are paired;
5. ML baselines (LightGBM, random forest, logistic regression) per task on those folds;
6. every network setting below on those folds, then one comparison table and the paired
   claims table ``claims.md`` / ``claims.json`` (difference A - B with a patient-bootstrap
   CI; held / not shown / contradicted).

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
    "covid-mtl-squeezenet3d": {"preset": "covid-mtl-squeezenet3d"},  # no Shift3D
    # single-task ShiftNet3D per task
    "shiftnet3d-ct": {"preset": "shiftnet3d-ct"},
    "shiftnet3d-nat": {"preset": "shiftnet3d-nat"},
    "shiftnet3d-severity": {"preset": "shiftnet3d-severity"},
    # backbones on the NAT task (the paper's ShiftNet3D vs ResNet3D vs SqueezeNet3D claim)
    "squeezenet3d-nat": {"preset": "squeezenet3d-nat"},
    "decovnet-nat": {"preset": "decovnet-nat"},
    "resnet3d-nat": {"preset": "resnet3d-nat"},
}


#: the order the networks train in: the paper's three contributions (random-weighted loss,
#: multi-task learning, Shift3D) first, so that an interrupted study still tests them.
NETWORK_ORDER = ("covid-mtl", "covid-mtl-equal", "shiftnet3d-nat", "covid-mtl-squeezenet3d",
                 "covid-mtl-nofeatures", "covid-mtl-uncertainty", "shiftnet3d-severity",
                 "shiftnet3d-ct", "resnet3d-nat", "squeezenet3d-nat", "decovnet-nat")

#: the seed's claims as paired comparisons: (claim, A, B, tasks, metric), "A beats B".
#: ``ml:<model>`` names a baseline.
CLAIMS: tuple[tuple[str, str, str, tuple[str, ...], str], ...] = (
    ("MTL beats single-task models (accuracy, +1.5-6%)", "covid-mtl", "shiftnet3d-{task}",
     ("ct", "nat", "severity"), "accuracy"),
    ("MTL beats ResNet3D on NAT (accuracy, +7-9%)", "covid-mtl", "resnet3d-nat", ("nat",),
     "accuracy"),
    ("MTL beats SqueezeNet3D on NAT (accuracy, +7-9%)", "covid-mtl", "squeezenet3d-nat", ("nat",),
     "accuracy"),
    ("COVID-MTL with Shift3D beats it without (SqueezeNet3D backbone)", "covid-mtl",
     "covid-mtl-squeezenet3d", ("ct", "nat", "severity"), "auc"),
    ("ShiftNet3D beats ResNet3D on NAT (+4-5%)", "shiftnet3d-nat", "resnet3d-nat", ("nat",), "accuracy"),
    ("ShiftNet3D beats SqueezeNet3D on NAT (+4-5%)", "shiftnet3d-nat", "squeezenet3d-nat", ("nat",),
     "accuracy"),
    ("random-weighted loss beats equal weights", "covid-mtl", "covid-mtl-equal",
     ("ct", "nat", "severity"), "auc"),
    ("random-weighted loss beats uncertainty weights", "covid-mtl", "covid-mtl-uncertainty",
     ("ct", "nat", "severity"), "auc"),
    ("the radiomics branch (AFNN) helps", "covid-mtl", "covid-mtl-nofeatures",
     ("ct", "nat", "severity"), "auc"),
    ("COVID-MTL beats LightGBM on radiomics", "covid-mtl", "ml:lightgbm", ("ct", "nat", "severity"),
     "auc"),
    ("COVID-MTL beats a random forest on radiomics", "covid-mtl", "ml:rf", ("ct", "nat", "severity"),
     "auc"),
)


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


def make_folds(out: Path, prep: Path, folds: int, seed: int) -> Path:
    """One fold file for the whole study (every case of the preprocessed cohort)."""
    from covidct.datasets.splits import patient_folds, save_folds
    from covidct.preprocess import read_manifest

    path = out / "folds.csv"
    if path.is_file():
        return path
    cases = read_manifest(prep)
    cases = cases[cases["status"] == "ok"]
    return save_folds(patient_folds(cases, folds, seed=seed,
                                    stratify=["nat_positive", "severity"]), path)


def run_ml(out: Path, feats: Path, folds_file: Path, seed: int) -> None:
    from covidct.ml import BaselineOptions, run_baselines

    ml_out = out / "ml"
    if (ml_out / "results.json").is_file():
        return
    log("ML baselines")
    run_baselines(feats, ml_out, tasks=("ct", "nat", "severity"),
                  models=("lightgbm", "rf", "logreg"),
                  options=BaselineOptions(folds_file=str(folds_file), seed=seed, n_jobs=2))


def run_networks(out: Path, prep: Path, feats: Path, names: list[str], folds_file: Path,
                 epochs: int, seed: int, run_folds: tuple[int, ...] = ()) -> list[Path]:
    from covidct.training import load_config, train

    runs = []
    names = [n for n in NETWORK_ORDER if n in names] + [n for n in names if n not in NETWORK_ORDER]
    for name in names:
        run = out / "runs" / name
        runs.append(run)
        if (run / "metrics.json").is_file():
            continue
        cfg = load_config(SETTINGS[name]["preset"]).with_overrides(
            name=name, data=str(prep), features=str(feats), folds_file=str(folds_file), epochs=epochs,
            seed=seed, batch_size=8, run_folds=run_folds,
        )
        t0 = time.perf_counter()
        log(f"training {name}")
        train(cfg, run)
        log(f"{name} done in {time.perf_counter() - t0:.0f} s")
    return runs


def _scores(out: Path, name: str, task: str):
    """``(case_id, patient_id, y, scores (n, C))`` of a network run or an ML baseline."""
    import pandas as pd

    from covidct.tasks import get_task

    n_cls = get_task(task).n_classes
    if name.startswith("ml:"):
        pred = pd.read_parquet(out / "ml" / "predictions.parquet")
        pred = pred[(pred["task"] == task) & (pred["model"] == name[3:])]
        return pred.assign(y=pred["y_true"])[["case_id", "y", *[f"score_{c}" for c in range(n_cls)]]
                                             ].set_axis(["case_id", "y", *range(n_cls)], axis=1)
    pred = pd.read_csv(out / "runs" / name / "predictions.csv", dtype={"case_id": str})
    if f"{task}_true" not in pred:
        return None
    pred = pred[pred[f"{task}_true"] >= 0]
    return pred.assign(y=pred[f"{task}_true"])[["case_id", "y", *[f"{task}_p{c}" for c in range(n_cls)]]
                                               ].set_axis(["case_id", "y", *range(n_cls)], axis=1)


def claims_table(out: Path, seed: int, bootstrap: int = 2000) -> str:
    """Paired differences A - B per claim and task (same cases), verdicts; claims.md/.json."""
    import pandas as pd

    from covidct.evaluation import paired_difference, verdict
    from covidct.tasks import get_task

    folds = pd.read_csv(out / "folds.csv", dtype={"case_id": str, "patient_id": str})
    rows = []
    for claim, a_name, b_tmpl, tasks, metric in CLAIMS:
        for task in tasks:
            b_name = b_tmpl.format(task=task)
            paths = [out / "runs" / n / "predictions.csv" for n in (a_name, b_name)
                     if not n.startswith("ml:")]
            if any(not p.is_file() for p in paths) or (
                    b_name.startswith("ml:") and not (out / "ml" / "predictions.parquet").is_file()):
                rows.append({"claim": claim, "task": task, "a": a_name, "b": b_name,
                             "metric": metric, "verdict": "not run"})
                continue
            sa, sb = _scores(out, a_name, task), _scores(out, b_name, task)
            both = sa.merge(sb, on=["case_id", "y"], suffixes=("_a", "_b")).merge(
                folds[["case_id", "patient_id"]], on="case_id")
            n_cls = get_task(task).n_classes
            res = paired_difference(
                both["y"].to_numpy(int), both[[f"{c}_a" for c in range(n_cls)]].to_numpy(),
                both[[f"{c}_b" for c in range(n_cls)]].to_numpy(), n_classes=n_cls,
                metric=metric, groups=both["patient_id"].to_numpy(), bootstrap=bootstrap,
                seed=seed)
            rows.append({"claim": claim, "task": task, "a": a_name, "b": b_name, **res,
                         "verdict": verdict(res)})
    (out / "claims.json").write_text(json.dumps(rows, indent=2, default=float))
    lines = ["| claim | task | A vs B | metric | A | B | A - B [95% CI] | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["verdict"] == "not run":
            lines.append(f"| {r['claim']} | {r['task']} | {r['a']} vs {r['b']} | {r['metric']} "
                         "| - | - | - | not run |")
            continue
        lines.append(
            f"| {r['claim']} | {r['task']} | {r['a']} vs {r['b']} | {r['metric']} | "
            f"{r['value_a']:.3f} | {r['value_b']:.3f} | {r['difference']:+.3f} "
            f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] | {r['verdict']} |")
    table = "\n".join(lines) + "\n"
    (out / "claims.md").write_text(table)
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("study"))
    ap.add_argument("--n", type=int, default=180)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--only", nargs="*", default=None, help="network settings to run")
    ap.add_argument("--run-folds", nargs="*", type=int, default=[],
                    help="train the networks on these folds only (default: all); the paired "
                         "comparisons then use the cases of those test folds")
    ap.add_argument("--skip-ml", action="store_true")
    args = ap.parse_args()

    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "study.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items()}))
    _, prep = build_cohort(args.out, args.n, args.seed)
    feats = build_features(args.out, prep)
    folds_file = make_folds(args.out, prep, args.folds, args.seed)
    if not args.skip_ml:
        try:
            run_ml(args.out, feats, folds_file, args.seed)
        except ImportError as exc:
            log(f"ML baselines unavailable: {exc}")
    names = args.only or list(SETTINGS)
    runs = run_networks(args.out, prep, feats, names, folds_file, args.epochs, args.seed,
                        tuple(args.run_folds))

    from covidct.training import compare_runs

    print(compare_runs(runs, args.out / "comparison"))
    print(claims_table(args.out, args.seed))


if __name__ == "__main__":
    main()
