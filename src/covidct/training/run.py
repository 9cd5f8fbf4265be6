"""Training runs: patient-level k-fold CV (or a fixed split) with Lightning; evaluation; comparison.

A run folder holds ``config.yaml``, ``provenance.json`` (versions, options, seed, split
attributes, input sha256), ``splits.csv`` (case, patient, fold), per fold
``fold<k>/`` (checkpoints, TensorBoard logs, ``fit_state.json`` with the normalisation and
feature scaling fit on that fold's training cases), ``predictions.csv`` (out-of-fold class
probabilities of every case) and, after evaluation, ``metrics.json``, ``metrics.md``,
``roc_<task>.png`` and ``confusion_<task>.png``.

Multi-GPU / multi-node: set ``devices`` and ``strategy: ddp`` in the config; launch one process
per GPU with ``torchrun --nproc_per_node=4 -m covidct.cli.app train cfg.yaml`` or under SLURM
with ``srun covidct train cfg.yaml`` (Lightning reads the SLURM environment). Every process
trains on its shard of the training cases; test predictions are gathered from all processes
and the distributed sampler's padding duplicates dropped, so each test case counts once; only
rank 0 writes the run folder. The same runs on CPUs (gloo), as the slow test does.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import yaml

from covidct.datasets.splits import (
    assign_folds,
    load_folds,
    patient_folds,
    split_patients,
    train_test_split_patients,
)
from covidct.errors import InvalidInputError
from covidct.evaluation.metrics import classification_metrics
from covidct.evaluation.plots import save_confusion_matrix, save_roc_curves
from covidct.io.atomic import read_json_object
from covidct.tasks import TASKS
from covidct.training.config import TASK_CLASSES, TASK_COLUMNS, TrainConfig
from covidct.training.data import CohortDataModule, FoldData, load_cohort
from covidct.training.hardware import resolve_precision, used_hardware
from covidct.training.module import VAL_MONITOR, CovidCTModule

__all__ = ["train", "evaluate_run", "compare_runs", "CLASS_NAMES"]

log = logging.getLogger(__name__)

#: task name -> class names (from :mod:`covidct.tasks`).
CLASS_NAMES: dict[str, list[str]] = {name: list(spec.class_names) for name, spec in TASKS.items()}


def _grid_crop(config: TrainConfig) -> tuple[int, int, int]:
    if config.crop:
        return config.crop  # type: ignore[return-value]
    grid_file = Path(config.data) / "grid.json"
    if grid_file.is_file():
        return tuple(json.loads(grid_file.read_text())["crop"])  # type: ignore[return-value]
    raise InvalidInputError(f"no crop in the config and no grid.json in {config.data}")


def _assign_folds(cases: pd.DataFrame, config: TrainConfig) -> pd.DataFrame:
    """Fold per case: from ``config.folds_file`` when given, else made by patient."""
    if config.folds_file:
        table = assign_folds(cases, load_folds(config.folds_file))
        table.attrs["folds"] = {**table.attrs.get("folds", {}), "file": str(config.folds_file)}
        return table
    strat = TASK_COLUMNS[config.tasks[0]]
    stratify = strat if cases[strat].notna().all() else None
    if config.folds >= 2:
        return patient_folds(cases, config.folds, seed=config.seed, stratify=stratify)
    split = train_test_split_patients(cases, config.test_size, seed=config.seed, stratify=stratify)
    split["fold"] = np.where(split["split"] == "test", 0, -1)
    split.attrs["folds"] = {**split.attrs.get("split", {}), "fixed_split": True}
    return split


def _fold_data(table: pd.DataFrame, fold: int, config: TrainConfig) -> FoldData:
    """Train/test rows of ``fold``; with ``val_size``, a validation split carved (by patient)
    from the training rows only."""
    test = table[table["fold"] == fold]
    train = table[table["fold"] != fold]
    val = train.iloc[0:0]
    if config.val_size > 0:
        strat = TASK_COLUMNS[config.tasks[0]]
        parts = split_patients(train, val_size=config.val_size, test_size=0.0,
                               seed=config.seed + fold,
                               stratify=strat if train[strat].notna().all() else None)
        val = train[parts["split"].to_numpy() == "val"]
        train = train[parts["split"].to_numpy() == "train"]
    return FoldData(fold=fold, train=train.reset_index(drop=True), val=val.reset_index(drop=True),
                    test=test.reset_index(drop=True))


def _train_fold(
    config: TrainConfig, fold: FoldData, feature_cols: list[str], crop: tuple[int, int, int],
    run_dir: Path, cache: dict[str, np.ndarray],
) -> pd.DataFrame:
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger

    L.seed_everything(config.seed + fold.fold, workers=True, verbose=False)
    fold_dir = run_dir / f"fold{fold.fold}"
    dm = CohortDataModule(config, fold, feature_cols, crop, cache=cache)
    dm.setup()
    module = CovidCTModule(config, n_features=len(feature_cols))
    has_val = len(fold.val) > 0
    checkpoint = ModelCheckpoint(dirpath=fold_dir / "checkpoints", filename="best",
                                 monitor=VAL_MONITOR if has_val else None, save_last=True)
    callbacks: list[Any] = [checkpoint]
    stopper = None
    if has_val and config.early_stopping_patience > 0:
        stopper = EarlyStopping(monitor=VAL_MONITOR, patience=config.early_stopping_patience)
        callbacks.append(stopper)
    trainer = L.Trainer(
        max_epochs=config.epochs, accumulate_grad_batches=config.accumulate,
        precision=resolve_precision(config.precision, config.accelerator),
        accelerator=config.accelerator, devices=config.devices,
        strategy=config.strategy, callbacks=callbacks, deterministic=config.deterministic,
        logger=TensorBoardLogger(str(fold_dir), name="tensorboard", version=""),
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1,
        num_sanity_val_steps=0, limit_val_batches=1.0 if has_val else 0,
    )
    trainer.fit(module, datamodule=dm)
    ckpt = "best" if has_val else None
    trainer.test(module, datamodule=dm, ckpt_path=ckpt, verbose=False)
    if not trainer.is_global_zero:  # the run folder is written once, by rank 0
        return pd.DataFrame()
    train_ids = dm.datasets["train"].case_ids
    state = dm.state()
    state["training"] = {
        "epochs_run": int(trainer.current_epoch),
        "stopped_early": bool(stopper is not None and trainer.current_epoch < config.epochs),
        "monitor": VAL_MONITOR if has_val else None,
        "val_history": module.val_history,
        "best_score": (float(checkpoint.best_model_score)
                       if checkpoint.best_model_score is not None else None),
        "tested_checkpoint": "best" if has_val else "last epoch",
        "patients": {part: int(getattr(fold, part)["patient_id"].nunique())
                     for part in ("train", "val", "test")},
        "world_size": int(trainer.world_size),
        "hardware": used_hardware(trainer),
        "train_cases_per_process": [[train_ids[i] for i in shard]
                                    for shard in module.train_shards],
    }
    (fold_dir / "fit_state.json").write_text(json.dumps(state, indent=2))

    rows = []
    test = dm.datasets["test"]
    for out in module.test_outputs:
        for j, idx in enumerate(out["index"].tolist()):
            row = {"case_id": test.case_ids[idx], "patient_id": test.patient_ids[idx],
                   "fold": fold.fold}
            for k, task in enumerate(config.tasks):
                row[f"{task}_true"] = int(test.targets[idx, k])
                for c in range(TASK_CLASSES[task]):
                    row[f"{task}_p{c}"] = float(out["probs"][task][j, c])
            rows.append(row)
    return pd.DataFrame(rows)


def train(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    progress: Callable[[str], None] | None = None,
    evaluate: bool = True,
) -> Path:
    """Train ``config`` with patient-level CV (or its fixed split) into ``run_dir``; evaluate.

    Returns the run folder. Raises InvalidInputError for an unusable config or data.
    """
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    run = Path(run_dir)
    lead = rank_zero_only.rank == 0  # under DDP every process runs this; rank 0 writes
    run.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cases, feature_cols = load_cohort(config)
    crop = _grid_crop(config)
    table = _assign_folds(cases, config)
    if lead:
        config.save(run / "config.yaml")
        table[["case_id", "patient_id", "fold"]].to_csv(run / "splits.csv", index=False)
        _write_provenance(run / "provenance.json", config, table)
    folds = sorted(int(f) for f in table["fold"].unique() if f >= 0)
    if config.run_folds:
        folds = [f for f in folds if f in config.run_folds]
    cache: dict[str, np.ndarray] = {}
    preds = []
    for f in folds:
        if progress:
            progress(f"fold {f + 1}/{len(folds)}: training {config.name}")
        preds.append(_train_fold(config, _fold_data(table, f, config), feature_cols, crop, run,
                                 cache))
    if rank_zero_only.rank != 0:
        return run
    predictions = pd.concat(preds, ignore_index=True)
    predictions.to_csv(run / "predictions.csv", index=False)
    (run / "timing.json").write_text(json.dumps({"seconds": time.perf_counter() - t0}))
    if evaluate:
        evaluate_run(run)
    return run


def _write_provenance(path: Path, config: TrainConfig, table: pd.DataFrame) -> None:
    """Versions, config, seeds, determinism, split attributes and input fingerprints."""
    from covidct.provenance import provenance

    data = Path(config.data)
    inputs = [p for p in (data / "manifest.parquet", data / "grid.json") if p.is_file()]
    if config.use_features and config.features:
        inputs.append(Path(config.features))
    if config.folds_file:
        inputs.append(Path(config.folds_file))
    record = provenance(options={"train": config.to_dict(), "folds": dict(table.attrs.get("folds", {}))},
                        seed=config.seed, inputs=inputs)
    record["determinism"] = {
        "deterministic": config.deterministic,
        "seed_everything": "config.seed + fold (workers=True)",
        "loader_workers": "one augmentation generator per worker and epoch (seed_worker)",
    }
    path.write_text(json.dumps({"provenance": record}, indent=2, default=str))


def evaluate_run(run_dir: str | Path, *, bootstrap: int | None = None) -> dict[str, Any]:
    """Metrics with bootstrap CIs (resampling patients), ROC curves and confusion matrices."""
    run = Path(run_dir)
    pred_file, cfg_file = run / "predictions.csv", run / "config.yaml"
    if not pred_file.is_file() or not cfg_file.is_file():
        raise InvalidInputError(f"{run} is not a finished training run (no predictions.csv/config.yaml)")
    config = TrainConfig(**yaml.safe_load(cfg_file.read_text()))
    preds = pd.read_csv(pred_file)
    n_boot = config.bootstrap if bootstrap is None else bootstrap
    results: dict[str, Any] = {"run": config.name, "model": config.model, "tasks": {}}
    for task in config.tasks:
        sub = preds[preds[f"{task}_true"] >= 0]
        n_cls = TASK_CLASSES[task]
        scores = sub[[f"{task}_p{c}" for c in range(n_cls)]].to_numpy()
        y = sub[f"{task}_true"].to_numpy(int)
        m = classification_metrics(y, scores if n_cls > 2 else scores[:, 1], n_classes=n_cls,
                                   bootstrap=n_boot, seed=config.seed,
                                   groups=sub["patient_id"].astype(str).to_numpy(),
                                   class_names=CLASS_NAMES[task])
        results["tasks"][task] = m
        save_roc_curves(run / f"roc_{task}.png",
                        {config.name: (y, scores if n_cls > 2 else scores[:, 1])},
                        n_classes=n_cls, class_names=CLASS_NAMES[task],
                        title=f"{config.name}: {task}")
        save_confusion_matrix(run / f"confusion_{task}.png", m["confusion_matrix"],
                              class_names=CLASS_NAMES[task], title=f"{config.name}: {task}")
    (run / "metrics.json").write_text(json.dumps(results, indent=2, default=float))
    (run / "metrics.md").write_text(_markdown([results]))
    return results


def _fmt(metric: dict[str, Any] | None) -> str:
    if not metric or metric.get("value") is None or np.isnan(metric["value"]):
        return "n/a"
    lo, hi = metric.get("ci_low"), metric.get("ci_high")
    if lo is None or hi is None or np.isnan(lo):
        return f"{metric['value']:.3f}"
    return f"{metric['value']:.3f} [{lo:.3f}, {hi:.3f}]"


def _markdown(all_results: list[dict[str, Any]]) -> str:
    lines = ["| run | task | n | accuracy | AUC | sensitivity | specificity | F1 (weighted) |",
             "|---|---|---|---|---|---|---|---|"]
    for res in all_results:
        for task, m in res["tasks"].items():
            mm = m["metrics"]
            lines.append(
                f"| {res['run']} | {task} | {m['n']} | {_fmt(mm.get('accuracy'))} | "
                f"{_fmt(mm.get('auc'))} | {_fmt(mm.get('sensitivity'))} | "
                f"{_fmt(mm.get('specificity'))} | {_fmt(mm.get('f1_weighted'))} |"
            )
    return "\n".join(lines) + "\n"


def _run_results(run_dir: str | Path) -> list[dict[str, Any]]:
    """The metrics of a network run (one entry) or of an ``ml run`` folder (one per model),
    each labelled by its folder (``folder`` or ``folder / model``)."""
    run = Path(run_dir)
    ml_file = run / "results.json"
    if ml_file.is_file() and not (run / "config.yaml").is_file():
        report = read_json_object(ml_file)
        entries: dict[str, dict[str, Any]] = {}
        for summary in report.get("results", []):
            entry = entries.setdefault(summary["model"], {
                "run": f"{run.name} / {summary['model']}", "model": summary["model"], "tasks": {}})
            entry["tasks"][summary["task"]] = summary
        if not entries:
            raise InvalidInputError(f"{ml_file} holds no results")
        return list(entries.values())
    mfile = run / "metrics.json"
    if not mfile.is_file():
        evaluate_run(run)
    results = read_json_object(mfile)
    if "tasks" not in results and results.get("task") == "classification":  # COVID-CT-Mask-Net
        results["tasks"] = {f"3-class ({level})": m for level, m in results["metrics"].items()}
    if "tasks" not in results:
        raise InvalidInputError(f"{run} is not a classification run (compare reads class metrics; "
                                f"a {results.get('task', 'run')} run's numbers are in its metrics.md)")
    return [{**results, "run": run.name}]


def compare_runs(run_dirs: list[str | Path], out: str | Path | None = None) -> str:
    """One Markdown table across runs (metrics with CIs); with ``out``, also a PNG chart.

    Runs are network training runs and ``covidct ml run`` folders (one row per model), each
    labelled by its folder name.
    """
    results = [entry for d in run_dirs for entry in _run_results(d)]
    table = _markdown(results)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.md").write_text(table)
        _comparison_chart(results, out / "comparison.png")
    return table


def _comparison_chart(results: list[dict[str, Any]], path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tasks = sorted({t for r in results for t in r["tasks"]})
    fig = Figure(figsize=(4 + 1.2 * len(results), 3.2 * len(tasks)))
    FigureCanvasAgg(fig)
    for i, task in enumerate(tasks):
        ax = fig.add_subplot(len(tasks), 1, i + 1)
        names, vals, errs = [], [], []
        for r in results:
            m = r["tasks"].get(task, {}).get("metrics", {}).get("auc")
            if m is None or m.get("value") is None:
                continue
            names.append(r["run"])
            vals.append(m["value"])
            lo, hi = m.get("ci_low", m["value"]), m.get("ci_high", m["value"])
            errs.append([m["value"] - lo, hi - m["value"]])
        x = np.arange(len(names))
        ax.bar(x, vals, yerr=np.array(errs).T if errs else None, capsize=4, color="tab:blue")
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0.0, 1.0)
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_ylabel("ROC AUC (95% CI)")
        ax.set_title(task)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
