"""Slice-classifier training runs: patient-level splits, Lightning fit, test predictions.

A run folder holds ``config.yaml``, ``splits.csv`` (case, patient, fold, part), per fold
``fold<k>/`` (``model.pt`` = the best epoch by validation accuracy as a portable slice model,
``policy.json`` = the plateau policy's epoch history, TensorBoard logs), ``predictions.csv``
(test-slice class probabilities) and the evaluation (:func:`covidct.slices.evaluate.evaluate_slice_run`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from covidct.datasets.detect import read_dataset
from covidct.errors import InvalidInputError
from covidct.provenance import provenance
from covidct.slices.config import SliceConfig
from covidct.slices.data import FoldParts, SliceDataset, slice_folds
from covidct.slices.model_file import SliceModel, save_slice_model
from covidct.slices.models import build_slice_model
from covidct.slices.module import SliceClassifier
from covidct.slices.policy import PolicyOptions, TutorialPolicy
from covidct.slices.transforms import NOT_HU, get_transform
from covidct.training.hardware import resolve_precision, used_hardware

__all__ = ["dataset_classes", "predict_dataset", "train_slices"]

log = logging.getLogger(__name__)

#: layout -> class names in class_id order.
LAYOUT_CLASSES: dict[str, tuple[str, ...]] = {
    "ucsd": ("non-COVID", "COVID"),
    "covidx-ct": ("Normal", "Pneumonia", "COVID-19"),
}


def dataset_classes(table: pd.DataFrame) -> tuple[str, ...]:
    """Class names of a slice dataset's case table (UCSD: 2, COVIDx-CT: 3)."""
    layouts = set(table["layout"])
    if len(layouts) != 1 or next(iter(layouts)) not in LAYOUT_CLASSES:
        raise InvalidInputError(f"slice training needs a UCSD or COVIDx-CT dataset; got layouts {sorted(layouts)}")
    return LAYOUT_CLASSES[next(iter(layouts))]


def _loader(ds: SliceDataset, config: SliceConfig, *, shuffle: bool) -> DataLoader:
    return DataLoader(ds, batch_size=config.batch_size, shuffle=shuffle,
                      num_workers=config.num_workers, persistent_workers=config.num_workers > 0)


@torch.no_grad()
def predict_dataset(network: torch.nn.Module, ds: SliceDataset, *, batch_size: int = 32) -> np.ndarray:
    """Class probabilities (n, n_classes) of every slice of ``ds`` (evaluation transform)."""
    network.eval()
    device = next(network.parameters()).device
    out = []
    for batch in DataLoader(ds, batch_size=batch_size):
        out.append(torch.softmax(network(batch["image"].to(device)).float(), dim=1).cpu())
    return torch.cat(out).numpy()


def _train_fold(config: SliceConfig, parts: FoldParts, root: Path, classes: tuple[str, ...],
                run: Path) -> pd.DataFrame:
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger

    L.seed_everything(config.seed + parts.fold, workers=True, verbose=False)
    fold_dir = run / f"fold{parts.fold}"
    tf = get_transform(config.transform)
    train_ds = SliceDataset(parts.train, root, tf.build(train=True), box_crop=config.box_crop)
    val_ds = SliceDataset(parts.val, root, tf.build(train=False), box_crop=config.box_crop)
    test_ds = SliceDataset(parts.test, root, tf.build(train=False), box_crop=config.box_crop)
    network, weights_used = build_slice_model(config.arch, len(classes), weights=config.weights)
    module = SliceClassifier(network, lr=config.lr, momentum=config.momentum,
                             weight_decay=config.weight_decay, optimizer=config.optimizer)
    policy = TutorialPolicy(PolicyOptions(factor=config.ema_factor, patience=config.patience,
                                          lr_factor=config.lr_factor))
    best = ModelCheckpoint(dirpath=fold_dir / "checkpoints", filename="best", monitor="val_acc",
                           mode="max", save_weights_only=True)
    trainer = L.Trainer(
        max_epochs=config.epochs, accumulate_grad_batches=config.accumulate,
        precision=resolve_precision(config.precision, config.accelerator),
        accelerator=config.accelerator, devices=config.devices,
        callbacks=[policy, best], logger=TensorBoardLogger(str(fold_dir), name="tensorboard", version=""),
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1,
        num_sanity_val_steps=0, deterministic=False,
    )
    trainer.fit(module, _loader(train_ds, config, shuffle=True), _loader(val_ds, config, shuffle=False))
    state = torch.load(best.best_model_path, map_location="cpu", weights_only=False)["state_dict"]
    module.load_state_dict(state)
    network = module.network.cpu().eval()
    save_slice_model(SliceModel(network=network, arch=config.arch, class_names=classes,
                                transform=tf, box_crop=config.box_crop),
                     fold_dir / "model.pt",
                     card={"run": config.name, "fold": parts.fold, "weights": weights_used,
                           "best_val_acc": float(best.best_model_score or np.nan),
                           "epochs_run": int(trainer.current_epoch), "input": NOT_HU,
                           "hardware": used_hardware(trainer)})
    (fold_dir / "policy.json").write_text(json.dumps({"weights": weights_used,
                                                       "history": policy.history}, indent=2))
    probs = predict_dataset(network, test_ds)
    rows = parts.test[["case_id", "patient_id", "image"]].copy()
    rows["fold"] = parts.fold
    rows["true"] = test_ds.labels
    for c in range(len(classes)):
        rows[f"p{c}"] = probs[:, c]
    return rows


def _splits_table(folds: list[FoldParts]) -> pd.DataFrame:
    rows = []
    for parts in folds:
        for name in ("train", "val", "test"):
            df = getattr(parts, name)
            rows.append(pd.DataFrame({"case_id": df["case_id"], "patient_id": df["patient_id"],
                                      "fold": parts.fold, "part": name}))
    return pd.concat(rows, ignore_index=True)


def train_slices(config: SliceConfig, run_dir: str | Path, *,
                 progress: Callable[[str], None] | None = None, evaluate: bool = True) -> Path:
    """Train ``config`` on its dataset into a new ``run_dir``; evaluate on the test slices.

    Raises:
        InvalidInputError: no dataset, an unsupported layout, or an existing non-empty run folder.
    """
    if not config.data:
        raise InvalidInputError("no training data: give --data (a UCSD or COVIDx-CT folder)")
    run = Path(run_dir)
    if run.exists() and any(run.iterdir()):
        raise InvalidInputError(f"run folder {run} exists and is not empty")
    table = read_dataset(config.data)
    classes = dataset_classes(table)
    folds = slice_folds(table, folds=config.folds, val_size=config.val_size, seed=config.seed)
    run.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    config.save(run / "config.yaml")
    (run / "run.json").write_text(json.dumps({
        "classes": list(classes), "input": NOT_HU, "layout": str(table["layout"].iloc[0]),
        "provenance": provenance(options={"slices": config}, seed=config.seed, inputs=[config.data]),
    }, indent=2, default=str))
    _splits_table(folds).to_csv(run / "splits.csv", index=False)
    preds = []
    for parts in folds:
        if progress:
            progress(f"fold {parts.fold + 1}/{len(folds)}: training {config.name} on "
                     f"{len(parts.train)} slices ({parts.train['patient_id'].nunique()} patients)")
        preds.append(_train_fold(config, parts, Path(config.data), classes, run))
    pd.concat(preds, ignore_index=True).to_csv(run / "predictions.csv", index=False)
    (run / "timing.json").write_text(json.dumps({"seconds": time.perf_counter() - t0}))
    if evaluate:
        from covidct.slices.evaluate import evaluate_slice_run

        evaluate_slice_run(run)
    return run
