"""Training and evaluating Mask R-CNN lesion models and COVID-CT-Mask-Net (a ``covidct train`` family).

A run folder holds ``config.yaml``, ``splits.csv`` (slice, patient, split), ``checkpoints/``,
``tensorboard/``, the selected ``model.pt`` (:mod:`~covidct.detection.checkpoint`),
``metrics.json`` (with provenance) and ``metrics.md``; classifier runs add
``predictions.csv`` and confusion matrices (PNG). Test metrics are on held-out patients:

* segmentation: COCO box / mask AP@0.5, AP@0.75, mAP@[0.5:0.95] and the seed's per-image
  variant, 95 % CIs by bootstrap over patients;
* classification: accuracy, per-class sensitivity (recall), macro AUC, confusion matrix, per
  slice and per patient (mean and max of slice probabilities), CIs by patient bootstrap.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from covidct.detection.config import PRESETS, DetectionTrainConfig, load_detection_config
from covidct.errors import InvalidInputError

__all__ = ["PRESETS", "preset_rows", "train_detection", "train_from_cli"]

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


def preset_rows() -> list[Any]:
    """One row per preset for ``covidct train --list`` (parameters of the whole model)."""
    from covidct.detection.classifier import CTMaskNet, CTMaskNetOptions
    from covidct.detection.model import build_maskrcnn
    from covidct.training.families import PresetRow

    rows = []
    for name, cfg in PRESETS.items():
        model = build_maskrcnn(replace(cfg, pretrained="none").model_options())
        if cfg.task == "classification":
            model = CTMaskNet(model, CTMaskNetOptions(roi_batch_size=cfg.roi_batch_size,
                                                      s_features=cfg.s_features))
        n = sum(p.numel() for p in model.parameters())
        task = f"lesions:{cfg.mask_type}" if cfg.task == "segmentation" else "3-class"
        label = f"maskrcnn-{cfg.backbone}-t{cfg.truncation}"
        rows.append(PresetRow(name=name, family="maskrcnn",
                              model=label if cfg.task == "segmentation" else f"ctmasknet-{label[9:]}",
                              task=task, parameters=n))
    return rows


def _read_table(cfg: DetectionTrainConfig) -> pd.DataFrame:
    from covidct.datasets.cncb import read_cncb_seg
    from covidct.datasets.covidx import read_covidx_ct

    if not cfg.data:
        raise InvalidInputError(f"preset {cfg.name} needs --data (a {'CNCB' if cfg.task == 'segmentation' else 'COVIDx-CT'} folder)")
    reader = read_cncb_seg if cfg.task == "segmentation" else read_covidx_ct
    table = reader(cfg.data)
    if table.empty:
        raise InvalidInputError(f"dataset {cfg.data} holds no slices")
    return table


def _split(table: pd.DataFrame, cfg: DetectionTrainConfig) -> pd.DataFrame:
    from covidct.datasets.splits import split_patients

    given = set(table["split"].unique())
    if {"train", "test"} <= given:
        return table
    return split_patients(table, val_size=cfg.val_size, test_size=cfg.test_size, seed=cfg.seed)


def _limit(table: pd.DataFrame, n: int, seed: int, *, by_class: bool = False) -> pd.DataFrame:
    """At most ``n`` slices (0 = all); ``by_class``: n / classes from each class, all of a short one."""
    if not n or len(table) <= n:
        return table
    if not by_class:
        return table.sample(n=n, random_state=seed).sort_index()
    share = n // table["class_id"].nunique()
    drawn = [g.sample(n=min(share, len(g)), random_state=seed) for _, g in table.groupby("class_id")]
    return pd.concat(drawn).sort_index()


def _loaders(cfg: DetectionTrainConfig, parts: dict[str, pd.DataFrame]) -> dict[str, Any]:
    import torch
    from torch.utils.data import DataLoader

    from covidct.detection.slices import ClassSliceDataset, LesionSliceDataset, collate_detection
    from covidct.training.data import balanced_sampler

    def collate_cls(batch):
        images, labels = zip(*batch, strict=True)
        return list(images), torch.tensor(labels)

    out = {}
    for split, table in parts.items():
        if table.empty:
            continue
        if cfg.task == "segmentation":
            ds = LesionSliceDataset(table, cfg.data, mask_type=cfg.mask_type,
                                    hflip=cfg.hflip if split == "train" else 0.0)
            collate = collate_detection
        else:
            ds, collate = ClassSliceDataset(table, cfg.data), collate_cls
        sampler = None
        if split == "train" and cfg.balanced_sampling:
            sampler = balanced_sampler(table["class_id"].to_numpy(), seed=cfg.seed)
        out[split] = DataLoader(ds, batch_size=cfg.batch_size, shuffle=split == "train" and sampler is None,
                                sampler=sampler, collate_fn=collate, num_workers=cfg.num_workers,
                                generator=torch.Generator().manual_seed(cfg.seed))
    return out


def _build(cfg: DetectionTrainConfig) -> tuple[Any, Any, Any]:
    """(model, Lightning module, the Mask R-CNN options to store with the model)."""
    from covidct.detection.checkpoint import load_model_file
    from covidct.detection.classifier import CTMaskNet, CTMaskNetOptions
    from covidct.detection.lightning import ClassifierModule, SegmentationModule
    from covidct.detection.model import build_maskrcnn, num_classes

    if cfg.task == "segmentation":
        model = build_maskrcnn(cfg.model_options())
        module = SegmentationModule(model, n_classes=num_classes(cfg.mask_type), lr=cfg.lr,
                                    weight_decay=cfg.weight_decay, optimizer=cfg.optimizer,
                                    schedule=cfg.schedule, warmup_steps=cfg.warmup_steps)
        return model, module, cfg.model_options()
    if not cfg.segmentation:
        raise InvalidInputError("ct-mask-net needs a segmentation run: --set segmentation=RUN_DIR")
    detector, meta = load_model_file(cfg.segmentation)
    if hasattr(detector, "s"):
        raise InvalidInputError(f"{cfg.segmentation} is a classifier, not a segmentation model")
    detector.transform.min_size = (cfg.min_size,)
    detector.transform.max_size = cfg.max_size
    model = CTMaskNet(detector, CTMaskNetOptions(roi_batch_size=cfg.roi_batch_size, s_features=cfg.s_features))
    options = replace(meta["options"], min_size=cfg.min_size, max_size=cfg.max_size)
    return model, ClassifierModule(model, lr=cfg.lr, weight_decay=cfg.weight_decay), options


def _fit(cfg: DetectionTrainConfig, module: Any, loaders: dict[str, Any],
         run: Path) -> tuple[Path | None, dict[str, Any]]:
    """Fit ``module``; (the best checkpoint or None for the last weights, the hardware used)."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger

    from covidct.training.hardware import resolve_precision, used_hardware

    has_val = "val" in loaders
    monitor, mode = ("val_ap50", "max") if cfg.task == "segmentation" else ("val_loss", "min")
    ckpt = ModelCheckpoint(dirpath=run / "checkpoints", filename="best", save_last=True,
                           monitor=monitor if has_val else None, mode=mode)
    trainer = L.Trainer(
        max_epochs=cfg.epochs, precision=resolve_precision(cfg.precision, cfg.accelerator),
        accelerator=cfg.accelerator,
        devices=cfg.devices, callbacks=[ckpt], deterministic=False,
        logger=TensorBoardLogger(str(run), name="tensorboard", version=""),
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=5,
        num_sanity_val_steps=0, limit_val_batches=1.0 if has_val else 0,
    )
    trainer.fit(module, train_dataloaders=loaders["train"], val_dataloaders=loaders.get("val"))
    hardware = used_hardware(trainer)
    if not (has_val and ckpt.best_model_path):
        return None, hardware
    if cfg.task == "segmentation" and not float(ckpt.best_model_score or 0.0) > 0.0:
        log.warning("validation AP@0.5 stayed 0 in every epoch: keeping the last weights, not the first")
        return None, hardware
    return Path(ckpt.best_model_path), hardware


def train_detection(cfg: DetectionTrainConfig, run_dir: str | Path, *,
                    progress: Progress | None = None) -> Path:
    """Train ``cfg`` with a patient-level split into ``run_dir``, evaluate on the test patients."""
    import lightning as L
    import torch

    from covidct.detection.checkpoint import save_model_file

    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    table = _split(_read_table(cfg), cfg)
    parts = {s: table[table["split"] == s] for s in ("train", "val", "test")}
    parts["train"] = _limit(parts["train"], cfg.max_train_slices, cfg.seed,
                            by_class=cfg.task == "classification")
    parts["val"] = _limit(parts["val"], cfg.max_val_slices, cfg.seed)
    parts["test"] = _limit(parts["test"], cfg.max_test_slices, cfg.seed)
    if parts["train"].empty or parts["test"].empty:
        raise InvalidInputError(f"the split of {cfg.data} leaves no training or no test patients")
    cfg.save(run / "config.yaml")
    used = pd.concat(parts.values())
    used[["case_id", "patient_id", "split"]].to_csv(run / "splits.csv", index=False)
    model, module, options = _build(cfg)
    if progress:
        progress(f"training {cfg.name}: {len(parts['train'])} slices of "
                 f"{parts['train']['patient_id'].nunique()} patients, {cfg.epochs} epochs")
    loaders = _loaders(cfg, parts)
    best, hardware = _fit(cfg, module, loaders, run)
    if best is not None:
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    model.cpu().eval()
    seconds = time.perf_counter() - t0
    save_model_file(model, options, run / "model.pt", extra={"config": cfg.to_dict()})
    if progress:
        progress(f"evaluating on {len(parts['test'])} test slices")
    evaluate_detection(model, cfg, parts["test"], run, train_seconds=seconds, hardware=hardware)
    return run


def evaluate_detection(model: Any, cfg: DetectionTrainConfig, test: pd.DataFrame, run: Path, *,
                       train_seconds: float | None = None,
                       hardware: dict[str, Any] | None = None) -> dict[str, Any]:
    """Test metrics of a trained model on ``test`` slices; writes metrics.json / metrics.md."""
    from covidct.provenance import provenance

    if cfg.task == "segmentation":
        metrics = _evaluate_segmentation(model, cfg, test)
        md = _segmentation_md(cfg, metrics)
    else:
        metrics = _evaluate_classifier(model, cfg, test, run)
        md = _classifier_md(cfg, metrics)
    result = {"name": cfg.name, "task": cfg.task, "metrics": metrics,
              "train_seconds": train_seconds, "hardware": hardware,
              "provenance": provenance(options={"config": cfg}, seed=cfg.seed)}
    (run / "metrics.json").write_text(json.dumps(result, indent=2, default=float))
    (run / "metrics.md").write_text(md)
    return result


def _evaluate_segmentation(model: Any, cfg: DetectionTrainConfig, test: pd.DataFrame) -> dict[str, Any]:
    from covidct.detection.coco import detection_metrics
    from covidct.detection.infer import predict_slices
    from covidct.detection.model import num_classes
    from covidct.detection.slices import LesionSliceDataset

    ds = LesionSliceDataset(test, cfg.data, mask_type=cfg.mask_type)
    preds = predict_slices(model, (ds[i][0] for i in range(len(ds))))
    gts = [{k: ds[i][1][k].numpy() for k in ("boxes", "labels", "masks")} for i in range(len(ds))]
    return detection_metrics(gts, preds, n_classes=num_classes(cfg.mask_type) - 1,
                             patients=test["patient_id"].to_numpy(), bootstrap=cfg.bootstrap,
                             seed=cfg.seed, score_threshold=cfg.eval_score_threshold)


def _classifier_probs(model: Any, cfg: DetectionTrainConfig, test: pd.DataFrame) -> np.ndarray:
    import torch

    from covidct.detection.slices import ClassSliceDataset

    ds = ClassSliceDataset(test, cfg.data)
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(ds), 8):
            images = [ds[i][0] for i in range(start, min(start + 8, len(ds)))]
            out.append(torch.sigmoid(model(images)).numpy())
    return np.concatenate(out)


def _evaluate_classifier(model: Any, cfg: DetectionTrainConfig, test: pd.DataFrame, run: Path) -> dict[str, Any]:
    from covidct.detection.classifier import CLASSIFIER_CLASSES
    from covidct.evaluation.metrics import classification_metrics
    from covidct.evaluation.plots import save_confusion_matrix

    scores = _classifier_probs(model, cfg, test)
    probs = scores / scores.sum(axis=1, keepdims=True)
    y = test["class_id"].to_numpy().astype(int)
    patients = test["patient_id"].to_numpy()
    pred = pd.DataFrame({"case_id": test["case_id"].to_numpy(), "patient_id": patients, "true": y})
    for k in range(3):
        pred[f"p{k}"] = probs[:, k]
    pred.to_csv(run / "predictions.csv", index=False)
    kw = {"n_classes": 3, "bootstrap": cfg.bootstrap, "seed": cfg.seed, "class_names": CLASSIFIER_CLASSES}
    results = {"slice": classification_metrics(y, probs, groups=patients, **kw)}
    grouped = pred.groupby("patient_id")
    for how in ("mean", "max"):
        agg = grouped[["p0", "p1", "p2"]].agg(how).to_numpy()
        agg = agg / agg.sum(axis=1, keepdims=True)
        truth = grouped["true"].first().to_numpy()
        results[f"patient_{how}"] = classification_metrics(truth, agg, **kw)
    for level, res in results.items():
        cm = np.asarray(res["confusion_matrix"])
        rows = cm.sum(axis=1)
        res["sensitivity"] = [float(d / r) if r else float("nan") for d, r in zip(np.diag(cm), rows, strict=True)]
        save_confusion_matrix(run / f"confusion_{level}.png", cm, class_names=CLASSIFIER_CLASSES,
                              title=f"{cfg.name}: {level.replace('_', ' ')}")
    return results


def _fmt(m: dict[str, float]) -> str:
    return f"{100 * m['value']:.1f} ({100 * m['ci_low']:.1f}-{100 * m['ci_high']:.1f})"


def _segmentation_md(cfg: DetectionTrainConfig, m: dict[str, Any]) -> str:
    lines = [f"# {cfg.name}: test patients ({m['n_images']} slices, {m['n_patients']} patients)", "",
             "| metric | AP@0.5 | AP@0.75 | mAP@[0.5:0.95] |", "|---|---|---|---|"]
    for label, block in (("COCO mask", m["coco"]["segm"]), ("COCO box", m["coco"]["bbox"]),
                         (f"per-image mask (score >= {cfg.eval_score_threshold})", m["per_image"])):
        lines.append(f"| {label} | {_fmt(block['ap50'])} | {_fmt(block['ap75'])} | {_fmt(block['map'])} |")
    lines.append("")
    lines.append(f"Percent, 95 % CI by bootstrap over patients ({m['bootstrap']} replicates).")
    return "\n".join(lines) + "\n"


def _classifier_md(cfg: DetectionTrainConfig, results: dict[str, Any]) -> str:
    lines = [f"# {cfg.name}: test patients", "",
             "| level | n | accuracy | macro AUC | sens. control | sens. pneumonia | sens. COVID |",
             "|---|---|---|---|---|---|---|"]
    for level, res in results.items():
        sens = " | ".join(f"{100 * s:.1f}" for s in res["sensitivity"])
        lines.append(f"| {level} | {res['n']} | {_fmt(res['metrics']['accuracy'])} | "
                     f"{_fmt(res['metrics']['auc'])} | {sens} |")
    lines.append("")
    lines.append("Percent, 95 % CI by bootstrap over patients.")
    return "\n".join(lines) + "\n"


def train_from_cli(source: str, out: Path, overrides: dict[str, Any], progress: Any = None) -> Path:
    """Family interface of ``covidct train``: preset or YAML ``source`` with ``overrides``."""
    cfg = load_detection_config(source).with_overrides(**overrides)
    return train_detection(cfg, out, progress=progress)
