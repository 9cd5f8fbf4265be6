"""Patient-level splits of a case table: stratified k folds, train/test, train/val/test.

No patient ever has cases (scans or slices) on two sides of a split. Stratification uses
one label column (or several, combined); ``stratify="auto"`` picks the first complete
column of :data:`AUTO_STRATIFY_ORDER`, ``None`` splits without stratifying.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from covidct.errors import InvalidInputError

__all__ = [
    "AUTO_STRATIFY_ORDER",
    "Stratify",
    "assign_folds",
    "load_folds",
    "patient_folds",
    "save_folds",
    "split_patients",
    "stratify_columns",
    "train_test_split_patients",
]

log = logging.getLogger(__name__)

AUTO_STRATIFY_ORDER: tuple[str, ...] = (
    "class_id",
    "diagnosis",
    "covid",
    "severity",
    "ct_category",
    "ct_positive",
    "nat_positive",
)

Stratify = str | Sequence[str] | None


def stratify_columns(table: pd.DataFrame, stratify: Stratify = "auto") -> list[str]:
    """The label columns used for ``stratify`` (``[]`` = no stratification)."""
    if stratify is None:
        return []
    if isinstance(stratify, str) and stratify == "auto":
        for col in AUTO_STRATIFY_ORDER:
            if col in table.columns and len(table) and table[col].notna().all():
                return [col]
        return []
    cols = [stratify] if isinstance(stratify, str) else list(stratify)
    for col in cols:
        if col not in table.columns:
            raise InvalidInputError(f"cannot stratify on {col!r}: no such column in the case table")
        n_missing = int(table[col].isna().sum())
        if n_missing:
            raise InvalidInputError(f"cannot stratify on {col!r}: {n_missing} cases have no value")
    return cols


def _row_labels(table: pd.DataFrame, cols: list[str]) -> np.ndarray:
    if not cols:
        return np.zeros(len(table), dtype=np.int64)
    combined = table[cols].astype(str).agg("|".join, axis=1)
    return pd.factorize(combined, sort=True)[0]


def _patient_table(table: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """One row per patient with its (most frequent) stratification label."""
    if "patient_id" not in table.columns:
        raise InvalidInputError("the case table has no 'patient_id' column")
    labels = pd.Series(_row_labels(table, cols), index=table.index)
    per = labels.groupby(table["patient_id"]).agg(lambda s: s.value_counts().index[0])
    return pd.DataFrame({"patient_id": per.index, "label": per.to_numpy()})


def patient_folds(
    table: pd.DataFrame, k: int = 5, *, seed: int = 0, stratify: Stratify = "auto"
) -> pd.DataFrame:
    """A copy of ``table`` with ``fold`` in ``0..k-1``, stratified and grouped by patient.

    Folds are made on one row per patient (its most frequent label) with
    :class:`sklearn.model_selection.StratifiedKFold` (``KFold`` without stratification),
    shuffled with ``seed``, so class counts are counts of patients. ``df.attrs["folds"]``
    records k, seed, the stratification columns and the method. Raises InvalidInputError
    when ``k < 2``, k exceeds the number of patients, or no class has k patients; warns
    (UserWarning, with the counts) when some class has fewer than k patients.
    """
    if "patient_id" not in table.columns:
        raise InvalidInputError("the case table has no 'patient_id' column")
    n_patients = int(table["patient_id"].nunique())
    if k < 2 or k > n_patients:
        raise InvalidInputError(
            f"need 2 <= k <= number of patients; got k={k} for {n_patients} patients"
        )
    cols = stratify_columns(table, stratify)
    patients = _patient_table(table, cols)
    if cols:
        _check_patients_per_class(patients, k, cols)
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    else:
        splitter = KFold(n_splits=k, shuffle=True, random_state=seed)
    # one row per patient: stratification counts patients, not their scans or slices
    fold_of: dict[Any, int] = {}
    with warnings.catch_warnings():  # sklearn's own warning is replaced by ours above
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        parts = list(splitter.split(patients, patients["label"]))
    for fold, (_, test_idx) in enumerate(parts):
        fold_of.update(dict.fromkeys(patients["patient_id"].to_numpy()[test_idx], fold))
    out = table.copy()
    out["fold"] = table["patient_id"].map(fold_of).astype(np.int64)
    out.attrs["folds"] = {"k": int(k), "seed": int(seed), "stratify": cols,
                          "unit": "patient", "method": type(splitter).__name__}
    return out


def _check_patients_per_class(patients: pd.DataFrame, k: int, cols: list[str]) -> None:
    """Raise when no class has k patients, warn (with the counts) when some class has fewer."""
    counts = patients["label"].value_counts().sort_index()
    short = counts[counts < k]
    if short.empty:
        return
    detail = ", ".join(f"class {c}: {n} patients" for c, n in short.items())
    what = f"stratifying {k} folds on {'+'.join(cols)}"
    if len(short) == len(counts):
        raise InvalidInputError(
            f"{what}: every class has fewer patients than folds ({detail}); use fewer folds"
        )
    msg = (f"{what}: {detail} (fewer than {k}); some test folds will hold no patient of "
           "that class")
    log.warning(msg)
    warnings.warn(msg, UserWarning, stacklevel=3)


def _split_ids(
    patients: pd.DataFrame, size: float, seed: int, stratified: bool
) -> tuple[np.ndarray, np.ndarray]:
    try:
        keep, take = train_test_split(
            patients["patient_id"].to_numpy(),
            test_size=size,
            random_state=seed,
            stratify=patients["label"].to_numpy() if stratified else None,
        )
    except ValueError as exc:
        raise InvalidInputError(
            f"cannot split {len(patients)} patients with a share of {size}"
            f"{' stratified' if stratified else ''}: {exc}"
        ) from exc
    return keep, take


def train_test_split_patients(
    table: pd.DataFrame, test_size: float = 0.3, *, seed: int = 0, stratify: Stratify = "auto"
) -> pd.DataFrame:
    """A copy of ``table`` with ``split`` = ``train``/``test`` by patient (the paper's 70/30).

    Stratified on the patient's label (see :func:`stratify_columns`) with
    :func:`sklearn.model_selection.train_test_split`.
    """
    cols = stratify_columns(table, stratify)
    patients = _patient_table(table, cols)
    _, test = _split_ids(patients, test_size, seed, bool(cols))
    out = table.copy()
    out["split"] = np.where(out["patient_id"].isin(set(test)), "test", "train")
    out.attrs["split"] = {"test_size": test_size, "seed": int(seed), "stratify": cols}
    return out


def split_patients(
    table: pd.DataFrame,
    *,
    val_size: float = 0.15,
    test_size: float = 0.15,
    seed: int = 0,
    stratify: Stratify = "auto",
) -> pd.DataFrame:
    """A copy with ``split`` = ``train``/``val``/``test`` by patient (shares of patients).

    ``test_size=0`` carves only a validation split (e.g. from a training fold).
    """
    if not (0 <= val_size < 1 and 0 <= test_size < 1 and 0 < val_size + test_size < 1):
        raise InvalidInputError(
            "val_size and test_size must be shares in [0, 1) summing to more than 0 and "
            f"below 1; got {val_size}, {test_size}"
        )
    cols = stratify_columns(table, stratify)
    patients = _patient_table(table, cols)
    rest_ids, test = patients["patient_id"].to_numpy(), np.array([], dtype=object)
    if test_size > 0:
        rest_ids, test = _split_ids(patients, test_size, seed, bool(cols))
    val: np.ndarray = np.array([], dtype=object)
    if val_size > 0:
        rest = patients[patients["patient_id"].isin(set(rest_ids))]
        _, val = _split_ids(rest, val_size / (1.0 - test_size), seed, bool(cols))
    out = table.copy()
    out["split"] = np.select(
        [out["patient_id"].isin(set(test)), out["patient_id"].isin(set(val))],
        ["test", "val"],
        default="train",
    )
    out.attrs["split"] = {"val_size": val_size, "test_size": test_size, "seed": int(seed),
                          "stratify": cols, "unit": "patient"}
    return out


def save_folds(table: pd.DataFrame, path: str | Path) -> Path:
    """Write ``case_id, patient_id, fold`` (+ stratification labels) as CSV, and a JSON sidecar.

    The sidecar ``<path>.json`` records k, seed, the stratification columns and the
    number of cases per fold. Returns the CSV path.
    """
    path = Path(path)
    for col in ("case_id", "patient_id", "fold"):
        if col not in table.columns:
            raise InvalidInputError(f"cannot save folds: the table has no {col!r} column")
    meta: dict[str, Any] = dict(table.attrs.get("folds", {}))
    cols = ["case_id", "patient_id", "fold", *[c for c in meta.get("stratify", []) if c in table]]
    path.parent.mkdir(parents=True, exist_ok=True)
    table[cols].to_csv(path, index=False)
    meta["n_cases"] = len(table)
    meta["n_patients"] = int(table["patient_id"].nunique())
    meta["cases_per_fold"] = {
        str(k): int(v) for k, v in table["fold"].value_counts().sort_index().items()
    }
    meta["csv"] = path.name
    Path(f"{path}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return path


def load_folds(path: str | Path) -> pd.DataFrame:
    """Read a folds CSV written by :func:`save_folds` (its sidecar goes to ``attrs``)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"folds file {path} not found")
    df = pd.read_csv(path, dtype={"case_id": str, "patient_id": str})
    if not {"case_id", "patient_id", "fold"} <= set(df.columns):
        raise InvalidInputError(f"folds file {path} needs columns case_id, patient_id, fold")
    side = Path(f"{path}.json")
    if side.is_file():
        df.attrs["folds"] = json.loads(side.read_text(encoding="utf-8"))
    return df


def assign_folds(table: pd.DataFrame, folds: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` with ``fold`` taken from ``folds`` by ``case_id`` (all must match)."""
    mapping = dict(zip(folds["case_id"].astype(str), folds["fold"].astype(int), strict=True))
    missing = [c for c in table["case_id"].astype(str) if c not in mapping]
    if missing:
        raise InvalidInputError(
            f"{len(missing)} cases have no fold in the folds table, e.g. {missing[:5]}"
        )
    out = table.copy()
    out["fold"] = out["case_id"].astype(str).map(mapping).astype("int64")
    out.attrs["folds"] = dict(folds.attrs.get("folds", {}))
    return out
