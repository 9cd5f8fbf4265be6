"""Feature tables of whole preprocessed folders, on Dask, resumable.

:func:`extract_dataset_features` reads a preprocessed folder (``manifest.parquet`` and
``cases/<id>_ct.nrrd`` + ``cases/<id>_lungs.nrrd``, see :mod:`covidct.preprocess`), computes
radiomics (and HOG) for every ``ok`` case on a Dask cluster (a ``LocalCluster`` of worker
processes, or a running scheduler by address) and writes one row per case: ``case_id``,
``patient_id``, the label columns, ``status``/``error``/``seconds``, then the features.
Cases already ``ok`` in the output are skipped; a failing case is recorded, never fatal.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from covidct.errors import CovidCTError, InvalidInputError
from covidct.parallel import map_cases

__all__ = ["LABEL_COLUMNS", "FeatureRunSummary", "case_features", "extract_dataset_features"]

log = logging.getLogger(__name__)

#: Case-table columns copied into the feature table when the manifest has them.
LABEL_COLUMNS = ("patient_id", "scan_id", "diagnosis", "ct_positive", "nat_positive", "severity",
                 "morbidity", "mortality", "ct_category", "covid", "class_id", "age", "sex", "split")


@dataclass(frozen=True)
class FeatureRunSummary:
    """What a feature run did."""

    out_file: Path
    n_cases: int
    n_ok: int
    n_failed: int
    n_skipped: int
    n_features: int
    seconds: float
    spacing_mm_xyz: tuple[float, float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def case_features(root: str, case_id: str, preset: str, params: str | None, hog: bool,
                  spacing_mm_xyz: tuple[float, float, float] | None = None) -> dict[str, Any]:
    """Features of one stored case; never raises (failures come back as ``status='failed'``).

    ``spacing_mm_xyz`` replaces the preset's ``resampledPixelSpacing`` (mm, x, y, z).
    """
    from dataclasses import replace

    from covidct.features.hog import hog_features
    from covidct.features.presets import resolve_preset
    from covidct.features.radiomics import extract_radiomics
    from covidct.preprocess.store import load_case

    t0 = time.perf_counter()
    record: dict[str, Any] = {"case_id": case_id, "status": "failed", "error": ""}
    try:
        case = load_case(Path(root) / "cases", case_id)
        spec = resolve_preset(preset, params)
        if spacing_mm_xyz is not None:
            spec = replace(spec, settings={**spec.settings,
                                           "resampledPixelSpacing": list(spacing_mm_xyz)})
        feats = extract_radiomics(case.volume, case.lungs, preset=spec)
        record.update(feats.to_dict())
        if hog:
            vec = hog_features(case.volume, case.lungs)
            record.update({f"hog_{i:04d}": float(v) for i, v in enumerate(vec)})
        record["status"] = "ok"
    except CovidCTError as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # one bad case must never stop a cohort run
        record["error"] = f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=2)[-300:]}"
    record["seconds"] = round(time.perf_counter() - t0, 3)
    return record


def _read_existing(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame()
    return pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)


def _write(path: Path, frame: pd.DataFrame) -> None:
    from covidct.io.atomic import write_table

    write_table(frame, path, what="feature table")


def _grid_spacing(root: Path, preset: str, params: str | Path | None) -> tuple[float, ...] | None:
    """The stored grid's spacing (mm, x, y, z) when it is coarser than the preset's resampling."""
    import json

    from covidct.features.presets import resolve_preset

    grid = root / "grid.json"
    if not grid.is_file():
        return None
    try:
        zyx = [float(v) for v in json.loads(grid.read_text())["spacing_mm"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"{grid} is damaged: {exc}; preprocess the folder again") from exc
    wanted = resolve_preset(preset, params).settings.get("resampledPixelSpacing")
    xyz = tuple(zyx[::-1])
    if wanted is None or min(float(w) for w in wanted) >= min(xyz):
        return None
    return xyz


def _assemble(manifest: pd.DataFrame, records: dict[str, dict[str, Any]]) -> pd.DataFrame:
    labels = ["case_id"] + [c for c in LABEL_COLUMNS if c in manifest.columns]
    base = manifest[labels].drop_duplicates("case_id")
    res = pd.DataFrame(list(records.values()))
    res = res.drop(columns=[c for c in labels if c != "case_id" and c in res.columns])
    frame = base.merge(res, on="case_id", how="inner")
    meta = [c for c in ("status", "error", "seconds") if c in frame.columns]
    rest = [c for c in frame.columns if c not in labels and c not in meta]
    return frame[labels + meta + rest]


def extract_dataset_features(
    preprocessed_dir: str | Path,
    out_file: str | Path,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    hog: bool = True,
    preset: str = "covid-mtl",
    params: str | Path | None = None,
    retry_failed: bool = False,
    memory_limit: str = "4GiB",
    preset_spacing: bool = False,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> FeatureRunSummary:
    """Radiomics (+ HOG) of every preprocessed case into one table (Parquet, or CSV by suffix).

    Args:
        preprocessed_dir: folder written by ``covidct preprocess`` (manifest + cases/).
        out_file: ``.parquet`` (default) or ``.csv`` output; its rows are kept on a rerun.
        workers: local Dask worker processes (one thread each; one case per task).
        scheduler: address of a running Dask scheduler to use instead (``tcp://host:8786``).
        hog: add the 8192 HOG values (``hog_0000`` ...) of the largest-lung slice.
        preset, params: radiomics preset and optional pyradiomics YAML file.
        retry_failed: compute cases that failed before again.
        memory_limit: memory per local worker.
        preset_spacing: resample to the preset's voxel size even when the stored grid is
            coarser (by default, features of stored cases are computed at the grid's
            spacing: resampling a 6 mm grid to 1 mm adds nothing and takes a minute a case;
            with ``params``, the parameter file's settings apply as given).
        progress: called after each case as ``progress(done, total, record)``.
    """
    from covidct.features.presets import resolve_preset
    from covidct.io.atomic import check_output
    from covidct.preprocess.run import read_manifest

    t_start = time.perf_counter()
    root, out = Path(preprocessed_dir), Path(out_file)
    check_output(out, [root / n for n in ("manifest.parquet", "manifest.csv", "grid.json", "cases")],
                 suffixes=(".parquet", ".csv"), what="feature table")
    resolve_preset(preset, params)  # fail early on a bad preset or parameter file
    # a parameter file's own resampling is the user's explicit choice: kept as it is
    spacing = None if preset_spacing or params is not None else _grid_spacing(root, preset, None)
    if spacing is not None:
        log.info("radiomics at the stored grid's spacing %s mm (x, y, z)", spacing)
    manifest = read_manifest(root)
    if manifest.empty or "case_id" not in manifest.columns:
        raise InvalidInputError(f"{root} is not a preprocessed folder: no manifest.parquet with case_id")
    manifest = manifest.assign(case_id=manifest["case_id"].astype(str))
    if "status" in manifest.columns:
        manifest = manifest[manifest["status"] == "ok"]
    if manifest.empty:
        raise InvalidInputError(f"{root}: the manifest has no successfully preprocessed case")
    out.parent.mkdir(parents=True, exist_ok=True)

    records: dict[str, dict[str, Any]] = {}
    previous = _read_existing(out)
    if not previous.empty and "case_id" in previous.columns:
        for rec in previous.to_dict("records"):
            records[str(rec["case_id"])] = {k: v for k, v in rec.items()
                                            if not (isinstance(v, float) and np.isnan(v) and k.startswith("hog_"))}
    todo, skipped = [], 0
    for cid in manifest["case_id"]:
        status = records.get(cid, {}).get("status")
        if status == "ok" or (status == "failed" and not retry_failed):
            skipped += 1
        else:
            todo.append(cid)
    total = len(todo)
    log.info("features for %d cases (%d skipped)", total, skipped)
    params_arg = None if params is None else str(params)

    def handle(done: int, rec: dict[str, Any]) -> None:
        records[str(rec["case_id"])] = rec
        if done % 20 == 0 or done == total:
            _write(out, _assemble(manifest, records))
        if progress is not None:
            progress(done, total, rec)

    try:
        map_cases(case_features, todo,
                  lambda cid: (str(root), cid, preset, params_arg, hog, spacing),
                  name="features", on_result=handle, workers=workers, scheduler=scheduler,
                  memory_limit=memory_limit)
    finally:  # also on Ctrl-C / SIGTERM: every finished case is kept for the rerun
        frame = _assemble(manifest, records)
        if records:
            _write(out, frame)
    n_features = sum(1 for c in frame.columns if c not in LABEL_COLUMNS
                     and c not in ("case_id", "status", "error", "seconds"))
    return FeatureRunSummary(
        out_file=out, n_cases=len(manifest), n_ok=int((frame["status"] == "ok").sum()),
        n_failed=int((frame["status"] == "failed").sum()), n_skipped=skipped,
        n_features=n_features, seconds=time.perf_counter() - t_start, spacing_mm_xyz=spacing)
