"""Training configuration: one frozen dataclass, YAML in and out, the paper's settings as presets.

A run folder always holds the exact ``config.yaml`` it was made with, so a result says how it
was made. Presets:

* ``covid-mtl-paper`` — the paper: ShiftNet3D + AFNN, random-weighted loss, 1 mm grid with a
  200 x 250 x 250 crop, SGD Nesterov (lr 0.005, momentum 0.9, wd 5e-5), cosine schedule, 80
  epochs, batch 10, fp16 on GPU.
* ``covid-mtl-cpu`` — the same model and loss on a coarse grid that trains in minutes here.
* one preset per comparison (``shiftnet3d-<task>``, ``squeezenet3d-<task>``,
  ``resnet3d-<task>``, ``decovnet-<task>`` single-task models; ``covid-mtl-equal``,
  ``covid-mtl-uncertainty``, ``covid-mtl-nofeatures``), all at the CPU settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from covidct.errors import InvalidInputError
from covidct.tasks import task_classes, task_columns
from covidct.training.families import RunConfig

__all__ = [
    "TrainConfig", "TASK_COLUMNS", "TASK_CLASSES", "PRESETS", "get_preset", "load_config",
    "preset_rows", "train_from_cli",
]

#: task name -> label column of the case table / manifest (from :mod:`covidct.tasks`).
TASK_COLUMNS: dict[str, str] = task_columns()
#: task name -> number of classes (from :mod:`covidct.tasks`).
TASK_CLASSES: dict[str, int] = task_classes()

MULTITASK_MODELS = ("covid-mtl",)


@dataclass(frozen=True)
class TrainConfig(RunConfig):
    """Everything a training run needs; written as ``config.yaml`` into the run folder.

    Attributes:
        name: run/preset name.
        data: preprocessed folder (``covidct preprocess`` output).
        features: features table (Parquet/CSV with ``case_id``) for the AFNN, or "".
        model: model name for :func:`covidct.models.build_model`.
        model_options: extra keyword options for the model builder.
        tasks: tasks to learn (subset of ct, nat, severity); single-task models take one.
        loss: multi-task weighting: "random" (Dirichlet), "equal" or "uncertainty".
        loss_options: options of the loss (``alpha``, ``n_draws``).
        use_features: feed radiomic features to the AFNN (COVID-MTL only).
        crop: network input (D, H, W) voxels; empty = the grid preset's crop.
        folds: k of the patient-level stratified k-fold CV; 0 = one fixed split.
        folds_file: a saved fold file (``case_id, patient_id, fold``, see
            :func:`covidct.datasets.splits.save_folds`) used instead of making folds, so that
            every network and baseline of a study is tested on the same patients; "" = none.
        test_size: test share of the fixed split (the paper's 70/30) when ``folds`` is 0.
        run_folds: which folds to train (empty = all).
        val_size: share of each training fold held out (by patient) for early stopping and
            checkpoint selection on the unweighted mean of the per-task validation losses;
            0 = none (the paper), the last epoch is kept.
        epochs, batch_size, accumulate: epochs, batch size, gradient accumulation steps.
        lr, momentum, weight_decay, nesterov: SGD settings.
        schedule: "cosine" or "none".
        early_stopping_patience: epochs without val-loss improvement before stopping (0 = off).
        precision: Lightning precision ("32-true"; "16-mixed" is used on GPU when "auto").
        noise_p, flip_rot: augmentation: Gaussian noise probability, in-plane rot90/flip.
        hu_clip: HU window clipped before normalising by the training-fold mean/std.
        balanced_sampling: draw training cases inversely to the first task's class frequency.
        num_workers: DataLoader workers.
        seed: the seed of everything (splits, initialisation, augmentation, loader workers).
        deterministic: ask Lightning/PyTorch for deterministic algorithms (slower; some 3D
            operations on GPU have none and then raise).
        bootstrap: bootstrap replicates for the metrics' confidence intervals.
        accelerator, devices, strategy: Lightning hardware settings ("auto" by default;
            several GPUs or nodes use strategy "ddp").
    """

    name: str = "covid-mtl-cpu"
    data: str = ""
    features: str = ""
    model: str = "covid-mtl"
    model_options: dict[str, Any] = field(default_factory=lambda: {"backbone": "shiftnet3d"})
    tasks: tuple[str, ...] = ("ct", "nat", "severity")
    loss: str = "random"
    loss_options: dict[str, Any] = field(default_factory=lambda: {"alpha": 1.0, "n_draws": 2})
    use_features: bool = True
    crop: tuple[int, ...] = ()
    folds: int = 5
    folds_file: str = ""
    test_size: float = 0.3
    run_folds: tuple[int, ...] = ()
    val_size: float = 0.0
    epochs: int = 20
    batch_size: int = 8
    accumulate: int = 1
    lr: float = 0.005
    momentum: float = 0.9
    weight_decay: float = 5e-5
    nesterov: bool = True
    schedule: str = "cosine"
    early_stopping_patience: int = 0
    precision: str = "auto"
    noise_p: float = 0.2
    flip_rot: bool = True
    hu_clip: tuple[float, float] = (-1024.0, 600.0)
    balanced_sampling: bool = False
    num_workers: int = 0
    seed: int = 0
    deterministic: bool = False
    bootstrap: int = 1000
    accelerator: str = "auto"
    devices: str = "auto"
    strategy: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "crop", tuple(int(c) for c in self.crop))
        object.__setattr__(self, "run_folds", tuple(int(f) for f in self.run_folds))
        object.__setattr__(self, "hu_clip", tuple(float(v) for v in self.hu_clip))
        unknown = [t for t in self.tasks if t not in TASK_COLUMNS]
        if not self.tasks or unknown:
            raise InvalidInputError(
                f"tasks must be a non-empty subset of {list(TASK_COLUMNS)}; got {list(self.tasks)}"
            )
        if self.loss not in ("random", "equal", "uncertainty"):
            raise InvalidInputError(f"loss must be random, equal or uncertainty; got {self.loss!r}")
        if not self.multitask and len(self.tasks) != 1:
            raise InvalidInputError(
                f"model {self.model!r} is single-task: give exactly one task, got {list(self.tasks)}"
            )
        if self.crop and len(self.crop) != 3:
            raise InvalidInputError(f"crop must be (D, H, W); got {self.crop}")
        if self.folds == 1 or self.folds < 0:
            raise InvalidInputError(f"folds must be 0 (fixed split) or >= 2; got {self.folds}")
        if self.schedule not in ("cosine", "none"):
            raise InvalidInputError(f"schedule must be cosine or none; got {self.schedule!r}")

    @property
    def multitask(self) -> bool:
        """True for models that return one output per task (COVID-MTL)."""
        return self.model.startswith(MULTITASK_MODELS)


def _single(model: str, task: str, **kw: Any) -> TrainConfig:
    return TrainConfig(name=f"{model}-{task}", model=model, model_options={}, tasks=(task,),
                       use_features=False, **kw)


def _presets() -> dict[str, TrainConfig]:
    cpu = TrainConfig()
    presets = {
        "covid-mtl-paper": TrainConfig(
            name="covid-mtl-paper", crop=(200, 250, 250), folds=0, test_size=0.3, epochs=80,
            batch_size=10, precision="auto", bootstrap=1000,
        ),
        "covid-mtl-cpu": cpu,
        "covid-mtl-equal": replace(cpu, name="covid-mtl-equal", loss="equal", loss_options={}),
        "covid-mtl-uncertainty": replace(
            cpu, name="covid-mtl-uncertainty", loss="uncertainty", loss_options={}
        ),
        "covid-mtl-nofeatures": replace(cpu, name="covid-mtl-nofeatures", use_features=False),
        "covid-mtl-squeezenet3d": replace(
            cpu, name="covid-mtl-squeezenet3d", model_options={"backbone": "squeezenet3d"}
        ),
    }
    for model in ("shiftnet3d", "squeezenet3d", "resnet3d", "resnet3d-shift", "decovnet"):
        for task in TASK_COLUMNS:
            cfg = _single(model, task)
            presets[cfg.name] = cfg
    return presets


PRESETS: dict[str, TrainConfig] = _presets()


def get_preset(name: str) -> TrainConfig:
    """The preset called ``name`` (see :data:`PRESETS`)."""
    if name not in PRESETS:
        raise InvalidInputError(f"unknown training preset {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name]


def load_config(source: str | Path) -> TrainConfig:
    """A config from a YAML file, or a preset name; a YAML may name ``preset:`` to start from.

    Example YAML::

        preset: covid-mtl-cpu
        data: prep/
        features: features.parquet
        epochs: 10
    """
    from covidct.training.families import load_preset_config

    return load_preset_config(source, PRESETS, what="training", default=TrainConfig())


def preset_rows() -> list[Any]:
    """One :class:`~covidct.training.families.PresetRow` per 3D preset (``covidct train --list``)."""
    from covidct.models import build_model, count_parameters
    from covidct.training.families import PresetRow

    rows = []
    for name, cfg in PRESETS.items():
        options = dict(cfg.model_options)
        if cfg.multitask:
            options.update(tasks={t: TASK_CLASSES[t] for t in cfg.tasks},
                           use_afnn=cfg.use_features)
        else:
            options.setdefault("num_classes", TASK_CLASSES[cfg.tasks[0]])
        try:
            n = count_parameters(build_model(cfg.model, **options))
        except InvalidInputError:
            n = None
        rows.append(PresetRow(name=name, family="volume", model=cfg.model,
                              task="+".join(cfg.tasks), parameters=n))
    return rows


def train_from_cli(
    source: str, out: Path, overrides: dict[str, Any], progress: Any = None
) -> Path:
    """Train the 3D preset or YAML ``source`` into ``out`` (the family interface of ``train``)."""
    from covidct.training.run import train

    cfg = load_config(source).with_overrides(**overrides)
    return train(cfg, out, progress=progress)
