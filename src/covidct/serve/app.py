"""The FastAPI application of ``covidct serve``: pages, static assets and the JSON API.

``create_app(data_dir, options)`` builds a self-contained app: a :class:`StudyStore` on the
data folder (interrupted studies marked failed), a :class:`JobPool` and the volume cache.
Every asset is served by the app itself (no CDN), so it works offline.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from covidct import __version__
from covidct.errors import CovidCTError
from covidct.io import read_ct, read_mask
from covidct.serve.analysis import key_numbers, read_results
from covidct.serve.jobs import JobPool
from covidct.serve.options import ServeOptions
from covidct.serve.render import LAYERS, WINDOWS, StudyVolumes, VolumeCache, render_slice
from covidct.serve.store import StudyNotFoundError, StudyStore
from covidct.serve.upload import ACCEPTED_SUFFIXES, receive_upload

__all__ = ["create_app"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(str(resources.files("covidct.serve") / "static"))
_UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {"file": {
        "type": "string", "format": "binary",
        "description": "the study: " + ", ".join(ACCEPTED_SUFFIXES)}}}}}}}


class StudyCreated(BaseModel):
    """Answer to an upload: the new study's id and status."""

    id: str
    status: Literal["queued", "running", "done", "failed"]


def _input_path(folder: Path, record: dict[str, Any]) -> Path:
    """What the analysis read: the extracted zip folder, else the uploaded file."""
    extracted = folder / "input"
    return extracted if extracted.is_dir() else folder / "upload" / record["input"]


class _Studies:
    """Glue between the routes, the store, the job pool and the volume cache."""

    def __init__(self, data_dir: Path, options: ServeOptions) -> None:
        self.options = options
        self.store = StudyStore(data_dir)
        interrupted = self.store.mark_interrupted()
        if interrupted:
            log.warning("marked %d interrupted studies as failed", len(interrupted))
        self.pool = JobPool(self.store, options)
        self.cache = VolumeCache(self.load_volumes, options.volume_cache)

    def load_volumes(self, study_id: str) -> StudyVolumes:
        folder = self.store.folder(study_id)
        record = self.store.get(study_id)
        ct = read_ct(_input_path(folder, record))
        layers = {}
        for layer, path in read_results(folder / "out").masks.items():
            layers[layer] = read_ct(path).array if layer == "heatmap" else read_mask(path, ct)
        return StudyVolumes(ct=ct, layers=layers)

    def view(self, record: dict[str, Any], *, full: bool) -> dict[str, Any]:
        """What the API shows of a study record (with numbers and links when done)."""
        study_id = record["id"]
        out = {k: record[k] for k in ("id", "status", "filename", "size_bytes", "created",
                                      "updated", "error")}
        out["analysis_s"] = record.get("analysis_s")
        out["queue_position"] = self.pool.queue_position(study_id)
        out["step"] = record["progress"][-1]["step"] if record["progress"] else None
        if full:
            out["progress"] = record["progress"]
            out["options"] = record["options"]
        if record["status"] == "done":
            try:
                results = read_results(self.store.folder(study_id) / "out")
            except FileNotFoundError:  # deleted while we read it
                raise StudyNotFoundError(f"study {study_id} was just deleted") from None
            summary = key_numbers(results.numbers)
            out["lesion_fraction"] = next(
                r["value"] for r in summary["key"] if r["key"] == "lesion_fraction")
            if full:
                base = f"/api/studies/{study_id}/files/"
                out["numbers"] = summary
                out["numbers_file"] = results.numbers_file.name
                out["links"] = {p.name: base + p.name for p in results.files}
                out["report_html"] = base + "report.html" if results.report_html else None
                out["layers"] = sorted(results.masks)
        return out


def create_app(data_dir: str | Path, options: ServeOptions | None = None) -> FastAPI:
    """The web app on ``data_dir`` (created if needed); studies live in ``data_dir/studies``."""
    options = options or ServeOptions()
    studies = _Studies(Path(data_dir), options)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        studies.pool.shutdown()

    # no /docs or /redoc: FastAPI loads their scripts from a CDN; the schema is /openapi.json
    app = FastAPI(title="covidct serve", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None,
                  description="Upload a chest CT study, follow its analysis, look at it.")
    app.state.studies = studies
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(CovidCTError)
    async def _covidct_error(request: Request, exc: CovidCTError) -> JSONResponse:
        if isinstance(exc, StudyNotFoundError):
            code = 404
        else:
            code = getattr(exc, "status_code", 400)
        return JSONResponse({"detail": str(exc)}, status_code=code)

    # ------------------------------------------------------------------ pages
    @app.get("/", include_in_schema=False)
    def index_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/upload", include_in_schema=False)
    def upload_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "upload.html")

    @app.get("/studies/{study_id}", include_in_schema=False)
    def viewer_page(study_id: str) -> FileResponse:
        studies.store.folder(study_id)
        return FileResponse(STATIC_DIR / "viewer.html")

    # -------------------------------------------------------------------- API
    @app.post("/api/studies", status_code=201, response_model=StudyCreated,
              openapi_extra=_UPLOAD_BODY)
    async def upload_study(request: Request) -> StudyCreated:
        """Upload a study (multipart field ``file``): a zip of a DICOM series or folder,
        NIfTI, NRRD or MHA. The size limit is enforced while the body streams in."""
        study_id, incoming = studies.store.new_incoming()
        try:
            (incoming / "upload").mkdir()
            stored = await receive_upload(request, incoming / "upload",
                                          max_bytes=options.max_upload_bytes)
            record = studies.store.create(
                study_id, incoming, filename=stored.filename, input_name=stored.path.name,
                size_bytes=stored.size_bytes, options=dataclasses.asdict(options))
        except BaseException:
            shutil.rmtree(incoming, ignore_errors=True)
            raise
        studies.pool.submit(study_id)
        return StudyCreated(id=study_id, status=record["status"])

    @app.get("/api/studies")
    def list_studies() -> list[dict[str, Any]]:
        """Every study, newest first: id, file name, status, queue position, share involved."""
        rows = []
        for record in studies.store.all():
            try:
                rows.append(studies.view(record, full=False))
            except StudyNotFoundError:  # deleted while the list was made
                continue
        return rows

    @app.get("/api/studies/{study_id}")
    def get_study(study_id: str) -> dict[str, Any]:
        """One study: ``status`` (queued, running, done, failed), ``progress`` steps,
        ``queue_position``, ``error`` (the reader's message when failed), and when done the
        ``numbers`` (key numbers, per lung, zones) and ``links`` to the result files."""
        return studies.view(studies.store.get(study_id), full=True)

    @app.post("/api/studies/{study_id}/retry", response_model=StudyCreated)
    def retry_study(study_id: str) -> StudyCreated:
        """Run a failed study again (e.g. one interrupted by a server restart)."""
        record = studies.store.get(study_id)
        if record["status"] != "failed":
            raise HTTPException(409, f"study {study_id} is {record['status']}, not failed")
        studies.cache.drop(study_id)
        record = studies.store.update(study_id, status="queued", error=None, step="retry")
        studies.pool.submit(study_id)
        return StudyCreated(id=study_id, status=record["status"])

    @app.delete("/api/studies/{study_id}", status_code=204)
    def delete_study(study_id: str) -> Response:
        """Delete a study and its files (a running analysis is stopped first)."""
        studies.store.folder(study_id)
        studies.pool.cancel(study_id)
        studies.cache.drop(study_id)
        studies.store.delete(study_id)
        return Response(status_code=204)

    def _done(study_id: str) -> None:
        status = studies.store.get(study_id)["status"]
        if status != "done":
            raise HTTPException(409, f"study {study_id} is {status}; results exist once done")

    @app.get("/api/studies/{study_id}/volume")
    async def volume_info(study_id: str) -> dict[str, Any]:
        """Grid of a finished study for the viewer: shape (z, y, x), spacing mm, layers."""
        _done(study_id)
        vols = await run_in_threadpool(studies.cache.get, study_id)
        return {"shape_zyx": list(vols.ct.shape), "spacing_mm_zyx": list(vols.ct.spacing),
                "layers": [name for name in LAYERS if name in vols.layers],
                "windows": {k: {"centre_hu": c, "width_hu": w} for k, (c, w) in WINDOWS.items()}}

    @app.get("/api/studies/{study_id}/slices/{k}.png", response_class=Response,
             responses={200: {"content": {"image/png": {}}}})
    async def slice_png(
        study_id: str, k: int,
        overlay: str = Query("", description="comma-separated: " + ", ".join(LAYERS)),
        window: str = Query("lung", description="one of " + ", ".join(WINDOWS)),
        opacity: float = Query(0.4, ge=0.0, le=1.0, description="overlay opacity 0..1"),
    ) -> Response:
        """Axial slice ``k`` (0 = first slice of the stored volume) as PNG, one pixel per voxel."""
        _done(study_id)
        layers = [name for name in overlay.split(",") if name]
        vols = await run_in_threadpool(studies.cache.get, study_id)
        png = await run_in_threadpool(render_slice, vols, k, window=window, overlays=layers,
                                      opacity=opacity)
        return Response(png, media_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/api/studies/{study_id}/files/{name}")
    def result_file(study_id: str, name: str) -> FileResponse:
        """A file the analysis wrote (numbers JSON, masks, report.html, montage)."""
        _done(study_id)
        files = {p.name: p for p in read_results(studies.store.folder(study_id) / "out").files}
        if name not in files:
            raise HTTPException(404, f"study {study_id} has no result file {name!r}")
        return FileResponse(files[name], filename=None if name.endswith(".html") else name)

    return app
