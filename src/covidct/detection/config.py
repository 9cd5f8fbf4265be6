"""Training configs of the Mask R-CNN family (``covidct train maskrcnn-* / ct-mask-net``).

Presets (the seed's settings; ``--set`` overrides any field):

* ``maskrcnn-r18-t1``, ``maskrcnn-r34-t1``, ``maskrcnn-r50``: lesion segmentation on a CNCB
  layout folder, Adam lr 1e-5, weight decay 1e-3, batch 1, 100 epochs, 512 px slices;
* ``maskrcnn-r18-t1-cpu``: the same model trained from scratch on 256 px slices, lr 1e-3,
  5 epochs of 60 training slices, 64 sampled RoIs per image: a scaled-down run for a CPU;
* ``maskrcnn-r18-t2-cpu``: the recipe that learns from scratch on a CPU (docs/maskrcnn.md):
  ResNet18 truncation 2 (stride 8), 384 px, anchors 6..96 px (the seed's 2..32 px are for
  512 px), RoI IoU 0.5/0.5 with 25 % positives among 128 sampled RoIs, learnt batch norm,
  AdamW lr 1e-3 (wd 1e-4) with 50 warm-up steps and cosine decay, left-right flips, batch 2,
  6 epochs of every training slice;
* ``ct-mask-net``: the classifier (module S, K = 128 RoIs, s = 512) on a COVIDx-CT folder from
  a segmentation run (``segmentation``), Adam lr 1e-5, wd 1e-3, batch 8, 50 epochs of 3000
  training slices (1000 per class);
* ``ct-mask-net-cpu``: the same with K = 32, s = 128, lr 1e-3 on 384 px slices (the size of
  ``maskrcnn-r18-t2-cpu``), 6 epochs of 240 training slices (80 per class), drawn class-balanced
  (the simulated COVIDx-CT export has few pneumonia patients).

Splits are by patient: the COVIDx-CT split files when the data has them, otherwise
``val_size`` / ``test_size`` shares of patients (:func:`covidct.datasets.split_patients`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

from covidct.detection.model import MaskRCNNOptions
from covidct.errors import InvalidInputError
from covidct.training.families import RunConfig

__all__ = ["PRESETS", "DetectionTrainConfig", "load_detection_config"]

TASKS = ("segmentation", "classification")
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("none", "cosine")


@dataclass(frozen=True, kw_only=True)
class DetectionTrainConfig(RunConfig):
    """One Mask R-CNN or COVID-CT-Mask-Net training run; written as ``config.yaml``.

    Attributes:
        name: preset / run name.
        task: "segmentation" (Mask R-CNN on CNCB slices) or "classification" (module S).
        data: dataset folder (CNCB layout for segmentation, COVIDx-CT for classification).
        segmentation: segmentation run folder or ``model.pt`` the classifier starts from.
        backbone, truncation, mask_type, pretrained, min_size, max_size: see
            :class:`~covidct.detection.model.MaskRCNNOptions`.
        norm: backbone batch norm, "frozen-stats" (ImageNet start) or "batch" (from scratch).
        anchor_sizes: anchor sizes in px of the resized image (the seed: 2..32 at 512 px).
        box_batch_size: RoIs sampled per image for the box / mask losses (the seed: 256).
        box_positive_fraction: share of foreground RoIs in that sample (the seed: 0.75).
        box_fg_iou, box_bg_iou: IoU above which an RoI is foreground / below which it is
            background (the seed: 0.75 / 0.5).
        roi_batch_size, s_features: module S (classification).
        epochs, batch_size, lr, weight_decay: training (the seed: Adam, lr 1e-5, wd 1e-3).
        optimizer: "adam" (the seed's; weight decay as an L2 term in the gradient) or "adamw"
            (decoupled weight decay).
        schedule: "none" (the seed's constant rate) or "cosine": linear warm-up over
            ``warmup_steps`` optimiser steps, then cosine decay to 0 at the last step.
        hflip: probability of a left-right flip of a training slice (and its masks).
        val_size, test_size: patient shares of the split when the data has none.
        max_train_slices: train on at most this many slices (drawn with ``seed``; 0 = all);
            for classification an equal share is drawn from each class (the seed's 1000
            training slices per class), all of a class that has fewer.
        balanced_sampling: classification: draw training slices with replacement, each class
            equally often on average (for classes left short by the data).
        max_val_slices: validate (model selection) on at most this many slices (0 = all);
            the test split is evaluated whole unless ``max_test_slices`` is set.
        max_test_slices: evaluate on a random subset of this many slices of the held-out
            test patients (0 = all; for CPU-limited runs, stated with the results).
        eval_score_threshold: score threshold of the seed's per-image mAP.
        precision: "auto" = 16-mixed on CUDA, 32-true on CPU; or any Lightning precision.
        accelerator, devices, num_workers, seed, bootstrap: as in the volume family.
    """

    name: str
    task: str = "segmentation"
    data: str = ""
    segmentation: str = ""
    backbone: str = "resnet18"
    truncation: int = 1
    mask_type: str = "merge"
    pretrained: str = "imagenet"
    min_size: int = 512
    max_size: int = 1024
    norm: str = "frozen-stats"
    anchor_sizes: tuple[int, ...] = (2, 4, 8, 16, 32)
    box_batch_size: int = 256
    box_positive_fraction: float = 0.75
    box_fg_iou: float = 0.75
    box_bg_iou: float = 0.5
    roi_batch_size: int = 128
    s_features: int = 512
    epochs: int = 100
    batch_size: int = 1
    lr: float = 1e-5
    weight_decay: float = 1e-3
    optimizer: str = "adam"
    schedule: str = "none"
    warmup_steps: int = 0
    hflip: float = 0.0
    val_size: float = 0.15
    test_size: float = 0.2
    max_train_slices: int = 0
    balanced_sampling: bool = False
    max_val_slices: int = 0
    max_test_slices: int = 0
    eval_score_threshold: float = 0.75
    precision: str = "auto"
    accelerator: str = "auto"
    devices: str = "auto"
    num_workers: int = 0
    seed: int = 0
    bootstrap: int = 200

    def __post_init__(self) -> None:
        for f in fields(self):  # YAML / --set give "2e-3" as text: coerce numbers
            kind = {"int": int, "float": float}.get(str(f.type))
            value = getattr(self, f.name)
            if kind is not None and not isinstance(value, kind):
                try:
                    object.__setattr__(self, f.name, kind(value))
                except (TypeError, ValueError) as exc:
                    raise InvalidInputError(f"{f.name} must be a number; got {value!r}") from exc
        if isinstance(self.anchor_sizes, (int, str)) or not self.anchor_sizes:
            raise InvalidInputError(f"anchor_sizes must be a list of sizes in px; got {self.anchor_sizes!r}")
        object.__setattr__(self, "anchor_sizes", tuple(int(a) for a in self.anchor_sizes))
        if self.optimizer not in OPTIMIZERS:
            raise InvalidInputError(f"optimizer must be one of {OPTIMIZERS}; got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise InvalidInputError(f"schedule must be one of {SCHEDULES}; got {self.schedule!r}")
        if not 0.0 <= self.hflip <= 1.0:
            raise InvalidInputError(f"hflip is a probability in 0..1; got {self.hflip}")
        if self.task not in TASKS:
            raise InvalidInputError(f"task must be one of {TASKS}; got {self.task!r}")
        if not isinstance(self.balanced_sampling, bool):
            raise InvalidInputError(f"balanced_sampling must be true or false; got {self.balanced_sampling!r}")
        if self.balanced_sampling and self.task != "classification":
            raise InvalidInputError("balanced_sampling applies to classification runs only")
        self.model_options()
        if self.epochs < 1 or self.batch_size < 1:
            raise InvalidInputError(f"epochs and batch_size must be >= 1; got {self.epochs}, {self.batch_size}")

    def model_options(self) -> MaskRCNNOptions:
        """The Mask R-CNN options of this run."""
        return MaskRCNNOptions(backbone=self.backbone, truncation=int(self.truncation),
                               mask_type=self.mask_type, pretrained=str(self.pretrained),
                               min_size=int(self.min_size), max_size=int(self.max_size),
                               box_batch_size=int(self.box_batch_size), norm=self.norm,
                               anchor_sizes=self.anchor_sizes,
                               box_positive_fraction=self.box_positive_fraction,
                               box_fg_iou=self.box_fg_iou, box_bg_iou=self.box_bg_iou)


def _presets() -> dict[str, DetectionTrainConfig]:
    r18 = DetectionTrainConfig(name="maskrcnn-r18-t1")
    clf = DetectionTrainConfig(name="ct-mask-net", task="classification", batch_size=8, epochs=50,
                               max_train_slices=3000)
    return {
        "maskrcnn-r18-t1": r18,
        "maskrcnn-r34-t1": replace(r18, name="maskrcnn-r34-t1", backbone="resnet34"),
        "maskrcnn-r50": replace(r18, name="maskrcnn-r50", backbone="resnet50", truncation=0),
        "maskrcnn-r18-t1-cpu": replace(
            r18, name="maskrcnn-r18-t1-cpu", min_size=256, max_size=256, lr=1e-3, epochs=5,
            batch_size=2, max_train_slices=60, max_val_slices=40, box_batch_size=64, pretrained="none", norm="batch",
            bootstrap=100,
        ),
        "maskrcnn-r18-t2-cpu": replace(
            r18, name="maskrcnn-r18-t2-cpu", truncation=2, min_size=384, max_size=384,
            anchor_sizes=(6, 12, 24, 48, 96), box_batch_size=128, box_positive_fraction=0.25,
            box_fg_iou=0.5, box_bg_iou=0.5, optimizer="adamw", lr=1e-3, weight_decay=1e-4,
            schedule="cosine", warmup_steps=50, hflip=0.5, epochs=6, batch_size=2,
            max_val_slices=20, pretrained="none", norm="batch", bootstrap=200,
        ),
        "ct-mask-net": clf,
        "ct-mask-net-cpu": replace(
            clf, name="ct-mask-net-cpu", roi_batch_size=32, s_features=128, lr=1e-3, epochs=6,
            min_size=384, max_size=384, max_train_slices=240, max_val_slices=48, bootstrap=200,
            balanced_sampling=True,
        ),
    }


PRESETS: dict[str, DetectionTrainConfig] = _presets()


def load_detection_config(source: str | Path) -> DetectionTrainConfig:
    """A preset by name, or a YAML whose ``preset:`` key names one (other keys override it)."""
    from covidct.training.families import load_preset_config

    return load_preset_config(source, PRESETS, what="Mask R-CNN")
