"""Training data: preprocessed volumes (+ radiomic features) as torch datasets, fold by fold.

Everything fit on data is fit on the training cases of a fold only: the intensity mean/std
used to normalise volumes and the MinMax scaler of the features. Crops are random in
training (the paper's random offsets) and centred at evaluation; augmentation follows the
paper (Gaussian noise with probability 0.2, in-plane rot90/rot180/flip).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import MinMaxScaler
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from covidct.errors import InvalidInputError
from covidct.ml.baselines import feature_columns
from covidct.preprocess import load_case, read_manifest
from covidct.training.config import TASK_COLUMNS, TrainConfig

__all__ = [
    "load_cohort",
    "VolumeDataset",
    "Normaliser",
    "FoldData",
    "CohortDataModule",
    "center_crop_offsets",
    "seed_worker",
    "balanced_sampler",
]

IGNORE = -100


def load_cohort(config: TrainConfig) -> tuple[pd.DataFrame, list[str]]:
    """The finished cases of a preprocessed folder with labels (and features when used).

    Returns the case table (one row per case, ``case_id``, ``patient_id``, task label columns,
    feature columns) and the list of feature column names (empty without features).
    """
    if not config.data:
        raise InvalidInputError("the training config names no data folder (data: ...)")
    manifest = read_manifest(config.data)
    if manifest.empty:
        raise InvalidInputError(f"{config.data} holds no manifest.parquet: run covidct preprocess")
    cases = manifest[manifest["status"] == "ok"].copy()
    if cases.empty:
        raise InvalidInputError(f"{config.data}: no successfully preprocessed case")
    for task in config.tasks:
        col = TASK_COLUMNS[task]
        if col not in cases:
            raise InvalidInputError(f"{config.data}: the manifest has no {col!r} labels for task {task}")
    labelled = cases[[TASK_COLUMNS[t] for t in config.tasks]].notna().any(axis=1)
    cases = cases[labelled].reset_index(drop=True)
    feature_cols: list[str] = []
    if config.multitask and config.use_features:
        if not config.features:
            raise InvalidInputError("use_features is on but the config names no features table")
        path = Path(config.features)
        if not path.is_file():
            raise InvalidInputError(f"features table {path} not found")
        feats = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        feats["case_id"] = feats["case_id"].astype(str)
        # the same explicit rule as the ML baselines: imaging features only, never timings,
        # ids, labels, paths or geometry
        try:
            feature_cols = feature_columns(feats)
        except InvalidInputError as exc:
            raise InvalidInputError(f"features table {path}: {exc}") from None
        if "status" in feats.columns:
            feats = feats[feats["status"].fillna("ok").eq("ok")]
        cases["case_id"] = cases["case_id"].astype(str)
        cases = cases.merge(feats[["case_id", *feature_cols]], on="case_id", how="inner")
        if cases.empty:
            raise InvalidInputError(f"no case of {config.data} has features in {path}")
    return cases, feature_cols


@dataclass(frozen=True)
class Normaliser:
    """Clip to a HU window, then standardise with a training-fold mean/std."""

    lo: float
    hi: float
    mean: float
    std: float

    @classmethod
    def fit(cls, volumes: list[np.ndarray], lo: float, hi: float, *, seed: int = 0) -> Normaliser:
        """Mean/std of the clipped voxels of the training volumes (subsampled)."""
        rng = np.random.default_rng(seed)
        samples = []
        for vol in volumes:
            flat = vol.reshape(-1)
            if flat.size > 20000:  # a random subsample is plenty for a mean and a std
                flat = flat[rng.integers(0, flat.size, size=20000)]
            samples.append(np.clip(flat, lo, hi))
        allv = np.concatenate(samples).astype(np.float64)
        return cls(lo, hi, float(allv.mean()), float(max(allv.std(), 1e-6)))

    def __call__(self, volume: np.ndarray) -> np.ndarray:
        return ((np.clip(volume, self.lo, self.hi) - self.mean) / self.std).astype(np.float32)


def center_crop_offsets(shape: tuple[int, ...], crop: tuple[int, ...]) -> tuple[int, ...]:
    """Offsets of a centred crop (the fixed test-time crop)."""
    return tuple(max(0, (s - c) // 2) for s, c in zip(shape, crop))


class VolumeDataset(Dataset):
    """Cases of a preprocessed store as ``(volume (1, D, H, W), features (F,), targets)``.

    Args:
        root: preprocessed folder.
        cases: case table rows to serve.
        tasks: task names; targets hold class indices, ``-100`` where a label is missing.
        crop: network input (D, H, W).
        normaliser: fitted on the training fold.
        features: (n_cases, F) scaled features or None.
        train: random crops and augmentation when True, centred crop otherwise.
        seed: base seed of the augmentation.
        cache: keep decoded volumes in memory.
    """

    def __init__(
        self,
        root: str | Path,
        cases: pd.DataFrame,
        tasks: tuple[str, ...],
        crop: tuple[int, int, int],
        normaliser: Normaliser,
        *,
        features: np.ndarray | None = None,
        train: bool = False,
        noise_p: float = 0.2,
        flip_rot: bool = True,
        seed: int = 0,
        cache: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.root = Path(root)
        self.case_ids = [str(c) for c in cases["case_id"]]
        self.patient_ids = [str(p) for p in cases["patient_id"]]
        self.targets = np.stack(
            [cases[TASK_COLUMNS[t]].astype("Float64").fillna(IGNORE).to_numpy(np.int64)
             for t in tasks], axis=1,
        )
        self.tasks = tasks
        self.crop = crop
        self.normaliser = normaliser
        self.features = features
        self.train = train
        self.noise_p = noise_p
        self.flip_rot = flip_rot
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.cache = cache if cache is not None else {}

    def __len__(self) -> int:
        return len(self.case_ids)

    def volume(self, i: int) -> np.ndarray:
        """The stored grid volume of case ``i`` (int16 HU), cached."""
        cid = self.case_ids[i]
        if cid not in self.cache:
            self.cache[cid] = load_case(self.root / "cases", cid).volume.array
        return self.cache[cid]

    def _crop(self, vol: np.ndarray) -> np.ndarray:
        shape = vol.shape
        if any(c > s for c, s in zip(self.crop, shape)):
            raise InvalidInputError(f"crop {self.crop} is larger than the stored grid {shape}")
        if self.train:
            offs = [int(self.rng.integers(0, s - c + 1)) for s, c in zip(shape, self.crop)]
        else:
            offs = list(center_crop_offsets(shape, self.crop))
        return vol[tuple(slice(o, o + c) for o, c in zip(offs, self.crop))]

    def _augment(self, x: np.ndarray) -> np.ndarray:
        if self.noise_p > 0 and self.rng.random() < self.noise_p:
            x = x + self.rng.normal(0.0, 0.1, size=x.shape).astype(np.float32)
        if self.flip_rot and x.shape[1] == x.shape[2]:
            k = int(self.rng.choice([0, 1, 2]))  # none, rot90, rot180 in the axial plane
            x = np.rot90(x, k=k, axes=(1, 2))
            if self.rng.random() < 0.5:
                x = x[:, :, ::-1]
        elif self.flip_rot and self.rng.random() < 0.5:
            x = x[:, :, ::-1]
        return np.ascontiguousarray(x)

    def __getitem__(self, i: int) -> dict[str, Any]:
        x = self.normaliser(self._crop(self.volume(i)))
        if self.train:
            x = self._augment(x)
        item: dict[str, Any] = {
            "volume": torch.from_numpy(np.ascontiguousarray(x))[None],
            "targets": torch.from_numpy(self.targets[i]),
            "index": i,
        }
        if self.features is not None:
            item["features"] = torch.from_numpy(self.features[i].astype(np.float32))
        return item


def balanced_sampler(labels: np.ndarray, *, seed: int) -> WeightedRandomSampler:
    """Draw ``len(labels)`` items with replacement, each class equally often on average.

    ``labels`` are class indices; items labelled < 0 (unknown) are never drawn.
    """
    y = np.asarray(labels, dtype=int)
    counts = np.bincount(y[y >= 0], minlength=2).astype(float)
    weights = np.where(y >= 0, 1.0 / np.maximum(counts[np.clip(y, 0, None)], 1), 0.0)
    return WeightedRandomSampler(weights.tolist(), num_samples=len(y),
                                 generator=torch.Generator().manual_seed(seed))


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: a distinct augmentation generator per worker and epoch.

    Without it every worker process gets a copy of the dataset's generator in the same state
    and draws the same crops and augmentations. The worker seed PyTorch hands each worker
    derives from the loader's seeded generator, so runs stay reproducible.
    """
    info = torch.utils.data.get_worker_info()
    if info is not None and isinstance(info.dataset, VolumeDataset):
        info.dataset.rng = np.random.default_rng([info.dataset.seed, info.seed % 2**32])


@dataclass(frozen=True, eq=False)
class FoldData:
    """The cases of one fold: train (and optional validation) and test rows."""

    fold: int
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame


class CohortDataModule(L.LightningDataModule):
    """Lightning DataModule for one fold: fits normalisation and feature scaling on its train part."""

    def __init__(
        self,
        config: TrainConfig,
        fold: FoldData,
        feature_cols: list[str],
        crop: tuple[int, int, int],
        *,
        cache: dict[str, np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.fold = fold
        self.feature_cols = feature_cols
        self.crop = crop
        self.cache = cache if cache is not None else {}
        self.datasets: dict[str, VolumeDataset] = {}
        self.normaliser: Normaliser | None = None
        self.scaler: MinMaxScaler | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        cfg = self.config
        probe = VolumeDataset(cfg.data, self.fold.train, cfg.tasks, self.crop,
                              Normaliser(0, 1, 0, 1), cache=self.cache)
        self.normaliser = Normaliser.fit(
            [probe.volume(i) for i in range(len(probe))], *cfg.hu_clip, seed=cfg.seed
        )
        feats: dict[str, np.ndarray | None] = {"train": None, "val": None, "test": None}
        if self.feature_cols:
            self.scaler = MinMaxScaler().fit(self.fold.train[self.feature_cols].to_numpy(float))
            for part in feats:
                frame = getattr(self.fold, part)
                if len(frame):
                    values = self.scaler.transform(frame[self.feature_cols].to_numpy(float))
                    feats[part] = np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0)
        for part in ("train", "val", "test"):
            frame = getattr(self.fold, part)
            self.datasets[part] = VolumeDataset(
                cfg.data, frame, cfg.tasks, self.crop, self.normaliser,
                features=feats[part], train=part == "train", noise_p=cfg.noise_p,
                flip_rot=cfg.flip_rot, seed=cfg.seed + 1000 * self.fold.fold, cache=self.cache,
            )

    def _loader(self, part: str, *, shuffle: bool = False) -> DataLoader:
        ds = self.datasets[part]
        sampler = None
        if part == "train" and self.config.balanced_sampling:
            sampler = balanced_sampler(ds.targets[:, 0], seed=self.config.seed + self.fold.fold)
            shuffle = False
        gen = torch.Generator().manual_seed(self.config.seed + self.fold.fold)
        return DataLoader(
            ds, batch_size=self.config.batch_size, shuffle=shuffle, sampler=sampler,
            num_workers=self.config.num_workers, generator=gen, worker_init_fn=seed_worker,
            drop_last=part == "train" and len(ds) > self.config.batch_size,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def state(self) -> dict[str, Any]:
        """What was fit on the training fold (written next to the checkpoints)."""
        out: dict[str, Any] = {"normaliser": self.normaliser.__dict__ if self.normaliser else None}
        if self.scaler is not None:
            out["feature_min"] = self.scaler.data_min_.tolist()
            out["feature_max"] = self.scaler.data_max_.tolist()
            out["feature_columns"] = self.feature_cols
        return json.loads(json.dumps(out))
