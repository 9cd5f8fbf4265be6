"""Train the demo COVID-MTL model shipped in ``covidct/data/models/`` (simulated data, CPU).

Usage:
    .venv/bin/python benchmarks/train_demo_model.py [--work demo_model_work/] [--n 160]
        [--epochs 12] [--seed 2026] [--out src/covidct/data/models/]

Steps (each skipped when its output exists, so an interrupted run resumes):
1. simulate ``--n`` "tiny" phantom cases (iCTCF label proportions) into the plain layout;
2. preprocess them onto the ``tiny-6mm`` grid (network input 34 x 42 x 42);
3. train the project's ``covid-mtl-nofeatures`` preset (no radiomic features, so analysis
   stays fast) on one fixed patient-level 70/30 split (the paper's), keeping the last epoch
   (no checkpoint selection, so the 30 % held-out patients are touched only once); metrics
   with 95 % patient-bootstrap CIs on those held-out patients;
4. write the portable model (``covid-mtl-demo.pt``, weights stored as float16 so that it is
   a few MB) and re-evaluate that shipped file through the inference path users get
   (:func:`covidct.inference.volume.prepare_volume` on each held-out CT with its lung mask);
   those held-out metrics with CIs go into its card (``covid-mtl-demo.card.json``: data,
   preset, overrides, seed, metrics, sha256).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

PRESET = "covid-mtl-nofeatures"
GRID = "tiny-6mm"
NAME = "covid-mtl-demo"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _metrics_summary(metrics: dict) -> dict:
    out = {}
    for task, m in metrics["tasks"].items():
        out[task] = {
            "n": m["n"],
            "class_names": m["class_names"],
            **{k: {"value": v["value"], "ci_low": v.get("ci_low"), "ci_high": v.get("ci_high")}
               for k, v in m["metrics"].items() if not k.startswith("auc_class_")},
        }
    return out


def evaluate_shipped(path: Path, data: Path, splits, seed: int, bootstrap: int) -> dict:
    """Held-out metrics of the model file at ``path`` through the user's inference path."""
    import numpy as np
    import pandas as pd

    from covidct.evaluation.metrics import classification_metrics
    from covidct.inference.volume import load_volume_model, predict_volume, prepare_volume
    from covidct.io import read_ct, read_mask
    from covidct.training.config import TASK_CLASSES, TASK_COLUMNS
    from covidct.training.run import CLASS_NAMES

    model = load_volume_model(path)
    cases = pd.read_csv(data / "cases.csv")
    test_ids = set(splits.loc[splits["fold"] == 0, "case_id"])
    test = cases[cases["case_id"].isin(test_ids)].reset_index(drop=True)
    probs = {t: [] for t in model.tasks}
    for row in test.to_dict("records"):
        ct = read_ct(data / row["image"])
        p = predict_volume(model, prepare_volume(model, ct, read_mask(data / row["lung_mask"], ct)))
        for t in model.tasks:
            probs[t].append(p[t])
    out = {"tasks": {}}
    for t in model.tasks:
        y = test[TASK_COLUMNS[t]].to_numpy(int)
        s = np.stack(probs[t])
        out["tasks"][t] = classification_metrics(
            y, s if TASK_CLASSES[t] > 2 else s[:, 1], n_classes=TASK_CLASSES[t],
            bootstrap=bootstrap, seed=seed, groups=test["patient_id"].astype(str).to_numpy(),
            class_names=CLASS_NAMES[t])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("demo_model_work"))
    ap.add_argument("--out", type=Path, default=Path("src/covidct/data/models"))
    ap.add_argument("--n", type=int, default=160)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()

    import logging

    import pandas as pd

    from covidct.datasets import write_dataset
    from covidct.inference.volume import load_volume_model, save_volume_model
    from covidct.phantom import simulate_cohort
    from covidct.preprocess import preprocess_dataset
    from covidct.provenance import package_versions
    from covidct.training import load_config, train

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    data, prep, run = args.work / "data", args.work / "prep", args.work / "run"
    args.work.mkdir(parents=True, exist_ok=True)
    if not (data / "cases.csv").is_file():
        log(f"simulating {args.n} cases")
        write_dataset(simulate_cohort(args.n, seed=args.seed, size="tiny", workers=1), data, "plain")
    log(f"preprocessing ({GRID})")
    s = preprocess_dataset(data, prep, grid=GRID, workers=1)
    log(f"preprocessed: {s.n_ok} ok, {s.n_failed} failed, {s.n_skipped} skipped")
    overrides = {"name": NAME, "data": str(prep), "folds": 0, "test_size": 0.3,
                 "val_size": 0.0, "epochs": args.epochs, "batch_size": 8, "seed": args.seed,
                 "num_workers": 0}
    cfg = load_config(PRESET).with_overrides(**overrides)
    if not (run / "metrics.json").is_file():
        log(f"training {PRESET} for {args.epochs} epochs")
        t0 = time.perf_counter()
        train(cfg, run)
        log(f"trained in {time.perf_counter() - t0:.0f} s")
    run_metrics = json.loads((run / "metrics.json").read_text())
    splits = pd.read_csv(run / "splits.csv")
    model = load_volume_model(run)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{NAME}.pt"
    model.module.half()  # float16 storage: half the size; loading casts back to float32
    save_volume_model(model, path)
    log("evaluating the shipped file on the held-out patients")
    metrics = evaluate_shipped(path, data, splits, args.seed, cfg.bootstrap)
    model = load_volume_model(path)
    model.module.half()
    card = {
        "name": NAME,
        "trained_on": "SIMULATED data only: covidct.phantom chest CTs (size 'tiny'), "
                      "not real patients",
        "intended_use": "demonstration of the covidct pipeline; research use, not for diagnosis",
        "architecture": "COVID-MTL (ShiftNet3D backbone, three task heads, random-weighted loss)",
        "preset": PRESET,
        "radiomic_features": False,
        "overrides": {k: v for k, v in overrides.items() if k != "data"},
        "grid": GRID,
        "crop": list(model.crop),
        "seed": args.seed,
        "data": {"simulator": "covidct.phantom.simulate_cohort", "n_cases": len(splits),
                 "n_patients": int(splits["patient_id"].nunique()),
                 "n_test_patients": int(splits.loc[splits["fold"] == 0, "patient_id"].nunique()),
                 "split": "patient-level stratified 70/30 (the paper's); last epoch kept"},
        "tasks": list(cfg.tasks),
        "metrics_held_out": _metrics_summary(metrics),
        "metrics_note": "the shipped float16 weights, applied through prepare_volume to the "
                        "held-out simulated patients' CTs with their true lung masks; 95 % CIs "
                        f"by patient bootstrap ({cfg.bootstrap} replicates)",
        "metrics_training_run": _metrics_summary(run_metrics),
        "weights_dtype": "float16 (cast to float32 when loaded)",
        "reproduce": f"python benchmarks/train_demo_model.py --n {args.n} --epochs {args.epochs} --seed {args.seed}",
        "versions": package_versions(("covidct", "torch", "lightning", "numpy")),
    }
    path = save_volume_model(model, path, card=card)
    log(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and its card")


if __name__ == "__main__":
    main()
