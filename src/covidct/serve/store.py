"""Studies on disk: one folder per random id, holding the upload, the analysis output and a
``study.json`` record (status, progress, error). Restarting the server reads them back.

Layout under the data folder (nothing is ever written outside it)::

    incoming/<id>/          an upload in progress (removed on failure and at start-up)
    studies/<id>/study.json the record, written atomically (temporary name, then rename)
    studies/<id>/upload/    the uploaded file, under a fixed name ``input<suffix>``
    studies/<id>/input/     a zip's contents, once checked and extracted
    studies/<id>/out/       the analysis output (``out.partial/`` while it runs)
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from covidct.errors import InvalidInputError

__all__ = ["STATUSES", "StudyNotFoundError", "StudyStore", "new_study_id"]

log = logging.getLogger(__name__)

STATUSES: tuple[str, ...] = ("queued", "running", "done", "failed")
INTERRUPTED = "the server stopped while this study was {status}; press retry to run it again"
_ID_RE = re.compile(r"^[0-9a-f]{24}$")
_MAX_PROGRESS = 200


class StudyNotFoundError(InvalidInputError):
    """No study has this id (or the id is not one the server could have made)."""


def new_study_id() -> str:
    """A fresh random study id: 24 hex digits (96 bits), never derived from user input."""
    return secrets.token_hex(12)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    json.loads(tmp.read_text())  # checked before it replaces the record
    os.replace(tmp, path)


class StudyStore:
    """Study records in ``data_dir`` (thread-safe; one store per server process)."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir).resolve()
        self.studies_dir = self.root / "studies"
        self.incoming_dir = self.root / "incoming"
        self.studies_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.incoming_dir, ignore_errors=True)  # half-made uploads of a past run
        self.incoming_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ paths
    def folder(self, study_id: str) -> Path:
        """The folder of study ``study_id`` (checked to be a well-formed, existing id)."""
        if not isinstance(study_id, str) or not _ID_RE.match(study_id):
            raise StudyNotFoundError(f"no study {study_id!r}: ids are 24 hex digits")
        path = self.studies_dir / study_id
        if not (path / "study.json").is_file():
            raise StudyNotFoundError(f"no study {study_id!r}")
        return path

    def new_incoming(self) -> tuple[str, Path]:
        """A fresh id and an empty folder to stream its upload into."""
        study_id = new_study_id()
        path = self.incoming_dir / study_id
        path.mkdir()
        return study_id, path

    # ---------------------------------------------------------------- records
    def create(self, study_id: str, incoming: Path, *, filename: str, input_name: str,
               size_bytes: int, options: dict[str, Any]) -> dict[str, Any]:
        """Move a finished upload from ``incoming`` into the store as a queued study."""
        if incoming.parent != self.incoming_dir or not _ID_RE.match(study_id):
            raise InvalidInputError(f"{incoming} is not an upload folder of this store")
        record = {
            "id": study_id, "status": "queued", "filename": filename, "input": input_name,
            "size_bytes": int(size_bytes), "created": _now(), "updated": _now(),
            "progress": [{"at": _now(), "step": "uploaded"}], "error": None,
            "options": options,
        }
        _write_json(incoming / "study.json", record)
        os.replace(incoming, self.studies_dir / study_id)
        return record

    def get(self, study_id: str) -> dict[str, Any]:
        """The record of one study."""
        with self._lock:
            try:
                return json.loads((self.folder(study_id) / "study.json").read_text())
            except FileNotFoundError:  # deleted between the check and the read
                raise StudyNotFoundError(f"no study {study_id!r}") from None

    def all(self) -> list[dict[str, Any]]:
        """Every study's record, newest first (unreadable folders are skipped and logged)."""
        out = []
        with self._lock:
            for path in self.studies_dir.iterdir():
                try:
                    out.append(json.loads((path / "study.json").read_text()))
                except (OSError, json.JSONDecodeError):
                    log.warning("skipping study folder %s: no readable study.json", path)
        return sorted(out, key=lambda r: (r.get("created", ""), r["id"]), reverse=True)

    def update(self, study_id: str, *, step: str | None = None, **fields: Any) -> dict[str, Any]:
        """Change fields of a record and/or append a progress step; returns the new record."""
        if "status" in fields and fields["status"] not in STATUSES:
            raise InvalidInputError(f"status must be one of {STATUSES}; got {fields['status']!r}")
        with self._lock:
            path = self.folder(study_id) / "study.json"
            record = json.loads(path.read_text())
            record.update(fields)
            if step is not None:
                record["progress"] = (record["progress"] + [{"at": _now(), "step": step}])[
                    -_MAX_PROGRESS:]
            record["updated"] = _now()
            _write_json(path, record)
            return record

    def delete(self, study_id: str) -> None:
        """Remove a study's folder and everything in it."""
        with self._lock:
            path = self.folder(study_id)
            trash = self.incoming_dir / f"deleted-{study_id}"
            os.replace(path, trash)  # gone from the list at once; removed below
        shutil.rmtree(trash, ignore_errors=True)

    def mark_interrupted(self) -> list[str]:
        """At start-up: studies left ``queued`` or ``running`` by a stopped server -> failed."""
        ids = []
        for record in self.all():
            if record["status"] in ("queued", "running"):
                self.update(record["id"], status="failed",
                            error=INTERRUPTED.format(status=record["status"]),
                            step="interrupted by a server restart")
                ids.append(record["id"])
        return ids
