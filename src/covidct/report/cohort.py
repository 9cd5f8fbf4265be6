"""``covidct analyze DATASET --cohort``: a report per case and one summary table (Dask, resumable).

Each case is analysed in a Dask worker process (:func:`covidct.parallel.map_cases`) and its
report written to ``OUT/cases/<case_id>/``; ``OUT/summary.csv`` gets one row per case
(status, error, key numbers) and is rewritten as results arrive, so an interrupted run
resumes: finished cases (status ok, report present) are skipped, failed ones too unless
``retry_failed``. A case that cannot be read fails alone; the others go on.
"""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from covidct.errors import CovidCTError, InvalidInputError
from covidct.report.options import AnalyzeOptions

__all__ = ["SUMMARY_NAME", "CohortSummary", "analyze_case", "analyze_cohort"]

log = logging.getLogger(__name__)

SUMMARY_NAME = "summary.csv"
SUMMARY_COLUMNS = ("case_id", "patient_id", "status", "error", "lesion_fraction",
                   "ggo_fraction", "consolidation_fraction", "lung_volume_ml", "ct_category",
                   "covid_ct_probability", "outline_consolidated", "warnings", "seconds", "report")


@dataclass(frozen=True)
class CohortSummary:
    """Outcome of :func:`analyze_cohort`."""

    out: Path
    summary: Path
    n_cases: int
    n_ok: int
    n_failed: int
    n_skipped: int
    seconds: float


def analyze_case(row: dict[str, Any], root: str, out: str, options: AnalyzeOptions) -> dict[str, Any]:
    """Analyse one case of a case table into ``out/cases/<case_id>``; never raises."""
    from covidct.report.write import analyze_to_folder

    cid = str(row["case_id"])
    rec: dict[str, Any] = {"case_id": cid, "patient_id": str(row.get("patient_id", cid)),
                           "status": "failed", "error": ""}
    t0 = time.perf_counter()
    try:
        image = row.get("image")
        if image is None or str(image) in ("", "nan"):
            raise InvalidInputError(f"case {cid}: no image path in the case table")
        path = Path(str(image))
        path = path if path.is_absolute() else Path(root) / path
        case_dir = Path(out) / "cases" / cid
        if case_dir.is_dir() and not (case_dir / "report.json").is_file():
            shutil.rmtree(case_dir)  # our own case folder, left without its report: redo it
        files = analyze_to_folder(path, case_dir, options=options, name=cid)
        s = files.record["summary"]
        rec.update(status="ok", report=str(files.html.relative_to(Path(out))),
                   warnings="; ".join(files.record["warnings"]),
                   **{k: s[k] for k in ("lesion_fraction", "ggo_fraction", "consolidation_fraction",
                                        "lung_volume_ml", "ct_category", "covid_ct_probability",
                                        "outline_consolidated")})
    except CovidCTError as exc:
        rec["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - a broken file can raise anything; keep going
        rec["error"] = f"{type(exc).__name__}: {exc}"
        log.debug("case %s failed:\n%s", cid, traceback.format_exc())
    rec["seconds"] = round(time.perf_counter() - t0, 3)
    return rec


def _read_summary(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    frame = pd.read_csv(path, dtype={"case_id": str, "patient_id": str})
    return {str(r["case_id"]): r for r in frame.to_dict("records")}


def _write_summary(path: Path, table: pd.DataFrame, records: dict[str, dict[str, Any]]) -> None:
    rows = [records.get(str(cid), {"case_id": str(cid), "status": "pending"})
            for cid in table["case_id"].astype(str)]
    frame = pd.DataFrame(rows).reindex(columns=list(SUMMARY_COLUMNS))
    tmp = path.with_name(path.name + ".part")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)


def analyze_cohort(
    dataset: str | Path,
    out: str | Path,
    *,
    options: AnalyzeOptions | None = None,
    layout: str | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    retry_failed: bool = False,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> CohortSummary:
    """Analyse every case of a volumetric dataset (any layout :func:`read_dataset` knows).

    Args:
        dataset: the dataset root.
        out: output folder: ``summary.csv`` and ``cases/<case_id>/`` reports.
        options: analysis settings (default :class:`AnalyzeOptions`).
        layout: force a layout instead of detecting it.
        workers: Dask worker processes (one thread each); ``scheduler``: a running cluster.
        retry_failed: analyse again the cases that failed before.
        progress: called with (done, total, record) as each case ends.
    """
    from covidct.datasets import read_dataset
    from covidct.parallel import map_cases

    t_start = time.perf_counter()
    opts = options or AnalyzeOptions()
    dataset, out = Path(dataset), Path(out)
    table = read_dataset(dataset, layout=layout)
    if table.empty:
        raise InvalidInputError(f"dataset {dataset} has no cases")
    if "image" not in table:
        raise InvalidInputError(f"{dataset}: a cohort analysis needs volume cases (an image per case)")
    out.mkdir(parents=True, exist_ok=True)
    summary = out / SUMMARY_NAME
    records = _read_summary(summary)
    todo, skipped = [], 0
    for row in table.to_dict("records"):
        cid = str(row["case_id"])
        prev = records.get(cid, {})
        done = prev.get("status") == "ok" and (out / "cases" / cid / "report.json").is_file()
        if done or (prev.get("status") == "failed" and not retry_failed):
            skipped += 1
            continue
        todo.append(row)
    rows = {str(r["case_id"]): r for r in todo}
    total = len(rows)

    def handle(n_done: int, rec: dict[str, Any]) -> None:
        records[str(rec["case_id"])] = rec
        _write_summary(summary, table, records)
        if progress is not None:
            progress(n_done, total, rec)

    map_cases(analyze_case, list(rows), lambda cid: (rows[cid], str(dataset), str(out), opts),
              name="analyze", on_result=handle, workers=workers, scheduler=scheduler,
              memory_limit="6GiB")
    _write_summary(summary, table, records)
    statuses = [records.get(str(c), {}).get("status") for c in table["case_id"].astype(str)]
    return CohortSummary(out=out, summary=summary, n_cases=len(table),
                         n_ok=statuses.count("ok"), n_failed=statuses.count("failed"),
                         n_skipped=skipped, seconds=time.perf_counter() - t_start)
