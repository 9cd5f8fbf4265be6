"""Cohort preprocessing on Dask: segment, resample, blank, grid, store; resumable.

``preprocess_dataset`` reads any volumetric dataset layout that :mod:`covidct.datasets` knows,
runs :func:`process_case` for each case on a Dask cluster (a ``LocalCluster`` of worker
processes by default, or a running scheduler given by address), and keeps a manifest
(``manifest.parquet``, with a CSV copy) that records, per case, the case table's columns,
the grid geometry, lung volume, timings, status and error. The manifest is rewritten after
every case and when the run is interrupted, so a rerun skips every finished case (one whose
files are all there, with the recorded sizes); failed ones are retried only when asked. One
bad case never stops the run. A folder holds one grid: a rerun with another grid is refused.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from covidct.errors import CovidCTError, InvalidInputError
from covidct.io.atomic import check_output, write_json, write_table
from covidct.parallel import map_cases
from covidct.preprocess.grid import GridPreset, get_grid, to_grid
from covidct.preprocess.store import case_complete, save_case

__all__ = [
    "MANIFEST_NAME",
    "PreprocessSummary",
    "preprocess_dataset",
    "process_case",
    "read_manifest",
]

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.parquet"
VOLUME_LAYOUTS = ("ictcf", "mosmed", "plain")


def _resolve(root: Path, value: Any) -> Path | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value) == "":
        return None
    path = Path(str(value))
    return path if path.is_absolute() else root / path


def process_case(row: dict[str, Any], root: str, out: str, grid: GridPreset) -> dict[str, Any]:
    """Preprocess one case; never raises: failures come back as ``status='failed'`` records.

    Steps: read the CT, read its lung mask (or segment the lungs), read the lesion mask if
    the dataset has one, put all on ``grid`` centred on the lungs, and store them.
    """
    from covidct.io import read_ct, read_mask
    from covidct.lungs import segment_lungs

    root_p, out_p = Path(root), Path(out)
    case_id = str(row["case_id"])
    record: dict[str, Any] = {"case_id": case_id, "status": "failed", "error": ""}
    times: dict[str, float] = {}
    t_all = time.perf_counter()
    try:
        t0 = time.perf_counter()
        image_path = _resolve(root_p, row.get("image"))
        if image_path is None:
            raise InvalidInputError(f"case {case_id}: no image path in the case table")
        volume = read_ct(image_path)
        times["read_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        lung_path = _resolve(root_p, row.get("lung_mask"))
        lungs = read_mask(lung_path, volume) if lung_path else segment_lungs(volume)
        times["lungs_s"] = time.perf_counter() - t0
        lesion_path = _resolve(root_p, row.get("lesion_mask"))
        lesions = read_mask(lesion_path, volume) if lesion_path else None
        t0 = time.perf_counter()
        case = to_grid(volume, lungs, grid, lesions=lesions)
        times["grid_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        paths = save_case(out_p / "cases", case_id, case.volume, case.lungs, case.lesions)
        times["store_s"] = time.perf_counter() - t0
        stored = sum(p.stat().st_size for p in paths.values())
        record.update(
            status="ok",
            source_shape_zyx=json.dumps(list(volume.shape)),
            source_spacing_mm_zyx=json.dumps([round(s, 4) for s in volume.spacing]),
            lung_volume_ml=float(np.count_nonzero(lungs)) * volume.voxel_volume_ml,
            grid_origin=json.dumps([round(o, 4) for o in case.volume.origin]),
            grid_offset_zyx=json.dumps(case.info["offset_voxels_zyx"]),
            fits=bool(case.info["fits"]),
            lost_lung_voxels=int(case.info["lost_lung_voxels"]),
            raw_bytes=int(case.volume.array.nbytes + case.lungs.nbytes
                          + (case.lesions.nbytes if case.lesions is not None else 0)),
            stored_bytes=int(stored),
            ct_file=str(paths["ct"].relative_to(out_p)),
            lungs_file=str(paths["lungs"].relative_to(out_p)),
            lesions_file=str(paths["lesions"].relative_to(out_p)) if "lesions" in paths else "",
        )
        if not case.info["fits"]:
            record["error"] = (
                f"lungs larger than the {grid.name} grid: {case.info['lost_lung_voxels']} lung "
                "voxels fall outside"
            )
    except CovidCTError as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # one bad case must never stop a cohort run
        record["error"] = f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3)[-300:]}"
    times["total_s"] = time.perf_counter() - t_all
    record.update({k: round(v, 3) for k, v in times.items()})
    record["worker_pid"] = os.getpid()
    # peak resident memory of this worker process so far (Linux reports KiB)
    record["worker_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return record


@dataclass(frozen=True)
class PreprocessSummary:
    """What a preprocessing run did: ``n_ok + n_failed + n_pending == n_cases`` (the folder's
    state); ``n_skipped`` of them were finished (ok, or failed and not retried) before."""

    out: Path
    manifest: Path
    n_cases: int
    n_ok: int
    n_failed: int
    n_skipped: int
    seconds: float
    n_pending: int = 0

    def line(self) -> str:
        """One line: the cases by status (they add up to the total) and this run's share."""
        return (
            f"{self.n_cases} cases: {self.n_ok} ok, {self.n_failed} failed, {self.n_pending} "
            f"not done ({self.n_skipped} done before this run, which took {self.seconds:.1f} s); "
            f"manifest: {self.manifest}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def read_manifest(out: str | Path) -> pd.DataFrame:
    """The manifest of a preprocessed folder (empty frame when there is none yet)."""
    path = Path(out) / MANIFEST_NAME
    if not path.is_file():
        return pd.DataFrame()
    return pd.read_parquet(path)


def _write_manifest(out: Path, frame: pd.DataFrame) -> Path:
    path = write_table(frame, out / MANIFEST_NAME, what="manifest")
    write_table(frame, out / "manifest.csv", what="manifest")
    return path


def _check_grid(out: Path, grid: GridPreset) -> None:
    """Write ``grid.json``, or refuse when the folder already holds another grid."""
    path = out / "grid.json"
    wanted = json.loads(json.dumps(grid.to_dict()))
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
        except ValueError as exc:
            raise InvalidInputError(
                f"{path} is damaged ({exc}); preprocess into a new folder"
            ) from exc
        if stored != wanted:
            raise InvalidInputError(
                f"{out} holds cases on grid {stored.get('name')!r} "
                f"({stored.get('spacing_mm')} mm, {stored.get('shape')}); this run asks for "
                f"{grid.name!r}: use a new output folder, or --grid {stored.get('name')}"
            )
        return
    write_json(wanted, path, what="grid description")


def _stored_bytes(record: dict[str, Any]) -> int | None:
    value = record.get("stored_bytes")
    try:
        return None if value is None or np.isnan(value) else int(value)
    except TypeError:
        return None


def _merge(table: pd.DataFrame, records: dict[str, dict[str, Any]]) -> pd.DataFrame:
    res = pd.DataFrame(list(records.values())) if records else pd.DataFrame({"case_id": []})
    base = table.drop(columns=[c for c in res.columns if c in table.columns and c != "case_id"])
    merged = base.merge(res, on="case_id", how="left")
    merged["status"] = merged["status"].fillna("pending")
    return merged


def preprocess_dataset(
    dataset: str | Path,
    out: str | Path,
    *,
    grid: str | GridPreset = "cpu-2mm",
    layout: str | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    retry_failed: bool = False,
    memory_limit: str = "6GiB",
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> PreprocessSummary:
    """Preprocess every case of a volumetric dataset into ``out`` (resumable).

    Args:
        dataset: dataset root in any volumetric layout (ictcf, mosmed, plain).
        out: output folder: ``cases/`` holds the NRRD files, ``manifest.parquet`` the records.
        grid: grid preset name or object (see :data:`covidct.preprocess.grid.GRID_PRESETS`).
        layout: force a layout instead of detecting it.
        workers: number of worker processes of the local Dask cluster (one thread each).
        scheduler: address of a running Dask scheduler (``tcp://host:8786``) to use instead.
        retry_failed: run cases that failed before again (finished cases are always skipped).
        memory_limit: memory per local worker; Dask restarts a worker that exceeds it.
        progress: called after each case as ``progress(done, total, record)``.
    """
    from covidct.datasets import read_dataset

    t_start = time.perf_counter()
    grid_preset = grid if isinstance(grid, GridPreset) else get_grid(grid)
    dataset, out = Path(dataset), Path(out)
    table = read_dataset(dataset, layout=layout)
    if table.empty:
        raise InvalidInputError(f"dataset {dataset} has no cases")
    layout_name = str(table["layout"].iloc[0]) if "layout" in table else (layout or "")
    if layout_name and layout_name not in VOLUME_LAYOUTS:
        raise InvalidInputError(
            f"{dataset} is a {layout_name!r} slice dataset; preprocessing needs volumes "
            f"(layouts {', '.join(VOLUME_LAYOUTS)})"
        )
    if table["case_id"].duplicated().any():
        dups = table.loc[table["case_id"].duplicated(), "case_id"].tolist()[:5]
        raise InvalidInputError(f"duplicate case ids in {dataset}: {dups}")
    check_output(out, [dataset], what="output folder")
    out.mkdir(parents=True, exist_ok=True)
    _check_grid(out, grid_preset)

    previous = read_manifest(out)
    records: dict[str, dict[str, Any]] = {}
    if not previous.empty and "status" in previous:
        keep = [c for c in previous.columns if c not in table.columns or c == "case_id"]
        for rec in previous[keep].to_dict("records"):
            records[str(rec["case_id"])] = rec
    todo: list[dict[str, Any]] = []
    skipped = 0
    for row in table.to_dict("records"):
        cid = str(row["case_id"])
        prev = records.get(cid, {})
        if prev.get("status") == "ok" and case_complete(out / "cases", cid,
                                                        _stored_bytes(prev)):
            skipped += 1
            continue
        if prev.get("status") == "failed" and not retry_failed:
            skipped += 1
            continue
        todo.append(row)

    total = len(todo)
    log.info("preprocessing %d cases (%d skipped) on grid %s", total, skipped, grid_preset.name)
    rows = {str(row["case_id"]): row for row in todo}

    for cid in rows:  # a case being redone is not ok until it is written again
        if records.get(cid, {}).get("status") == "ok":
            records[cid] = {**records[cid], "status": "pending"}

    def handle(done: int, rec: dict[str, Any]) -> None:
        records[str(rec["case_id"])] = rec
        _write_manifest(out, _merge(table, records))  # after every case: nothing finished is lost
        if progress is not None:
            progress(done, total, rec)

    try:
        map_cases(process_case, list(rows),
                  lambda cid: (rows[cid], str(dataset), str(out), grid_preset),
                  name="preprocess", on_result=handle, workers=workers, scheduler=scheduler,
                  memory_limit=memory_limit)
    finally:  # also on Ctrl-C / SIGTERM: the manifest holds every finished case
        merged = _merge(table, records)
        manifest = _write_manifest(out, merged)
    statuses = merged["status"]
    return PreprocessSummary(
        out=out,
        manifest=manifest,
        n_cases=len(table),
        n_ok=int((statuses == "ok").sum()),
        n_failed=int((statuses == "failed").sum()),
        n_pending=int((~statuses.isin(["ok", "failed"])).sum()),
        n_skipped=skipped,
        seconds=time.perf_counter() - t_start,
    )

