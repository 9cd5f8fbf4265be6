"""Do heat maps point at the lesions? Heat share inside known lesions vs their volume share.

For one case (2D slice or 3D volume, any grid): within a region (the lungs, or everything),
``heat_share`` = heat inside the lesions / all heat, ``volume_share`` = lesion voxels / region
voxels, ``ratio`` = heat_share / volume_share (1 = no better than uniform heat) and ``hit`` =
the hottest voxel lies in a lesion (the pointing game). :func:`pointing_summary` averages per
patient, then over patients, with percentile bootstrap CIs over patients (scipy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from covidct.errors import InvalidInputError

__all__ = ["lesion_pointing", "pointing_summary"]

_COLUMNS = ("heat_share", "volume_share", "ratio", "hit")


def lesion_pointing(heat: np.ndarray, lesions: np.ndarray, region: np.ndarray | None = None) -> dict[str, float]:
    """Heat share in lesions, their volume share, the ratio, and the pointing-game hit (0/1).

    Args:
        heat: non-negative heat map (any shape).
        lesions: lesion mask on the same grid (non-zero = lesion).
        region: where to count (e.g. the lungs); None = everywhere.
    Raises:
        InvalidInputError: shapes differ, no lesion or no heat in the region.
    """
    heat = np.asarray(heat, dtype=np.float64)
    les = np.asarray(lesions) > 0
    reg = np.ones(heat.shape, bool) if region is None else np.asarray(region) > 0
    if heat.shape != les.shape or heat.shape != reg.shape:
        raise InvalidInputError(f"heat {heat.shape}, lesions {les.shape} and region {reg.shape} must match")
    if np.any(heat < 0):
        raise InvalidInputError("heat must be non-negative")
    les &= reg
    total = heat[reg].sum()
    if not les.any() or total <= 0:
        raise InvalidInputError("need at least one lesion voxel and some heat inside the region")
    heat_share = float(heat[les].sum() / total)
    volume_share = float(les.sum() / reg.sum())
    masked = np.where(reg, heat, -np.inf)
    hit = float(les.flat[int(np.argmax(masked))])
    return {"heat_share": heat_share, "volume_share": volume_share,
            "ratio": heat_share / volume_share, "hit": hit}


def pointing_summary(records: pd.DataFrame, *, bootstrap: int = 1000, seed: int = 0,
                     ci: float = 0.95) -> dict[str, Any]:
    """Mean of each pointing number over patients (cases of a patient averaged first), with CIs.

    ``records``: one row per case with ``patient_id`` and the columns of :func:`lesion_pointing`.
    """
    from scipy.stats import bootstrap as sp_bootstrap

    missing = [c for c in ("patient_id", *_COLUMNS) if c not in records.columns]
    if missing or records.empty:
        raise InvalidInputError(f"pointing records need rows with columns {missing or list(_COLUMNS)}")
    per_patient = records.groupby("patient_id")[list(_COLUMNS)].mean()
    out: dict[str, Any] = {"n_cases": len(records), "n_patients": len(per_patient),
                           "bootstrap": bootstrap, "ci": ci, "resampling": "patients"}
    rng = np.random.default_rng(seed)
    for col in _COLUMNS:
        values = per_patient[col].to_numpy()
        lo = hi = np.nan
        if bootstrap > 0 and np.ptp(values) == 0:
            lo = hi = values[0]
        elif bootstrap > 0 and len(values) > 1:
            res = sp_bootstrap((values,), np.mean, n_resamples=bootstrap, confidence_level=ci,
                               method="percentile", random_state=rng)
            lo, hi = res.confidence_interval
        out[col] = {"value": float(values.mean()), "ci_low": float(lo), "ci_high": float(hi)}
    return out
