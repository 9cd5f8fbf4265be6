"""``covidct serve``: run the web app (upload a study, follow its analysis, look at it)."""

from __future__ import annotations

from pathlib import Path

import typer

from covidct.cli._common import err_console, handle_errors

__all__ = ["serve"]

_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@handle_errors
def serve(
    data: Path = typer.Option(..., "--data", help="Folder for the studies (created if needed)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (default: this machine only)."
    ),
    preset: str = typer.Option("default", "--preset", help="default (1 analysis at a time) "
                               "or group (2 at once)."),
    workers: int = typer.Option(0, "--workers", help="Analyses at once (0: the preset's)."),
    max_upload_gb: float = typer.Option(0.0, "--max-upload-gb",
                                        help="Upload size limit in GB (0: the preset's, 2 GB)."),
) -> None:
    """Serve the web app: study list, upload page, viewer, and the JSON API (/openapi.json).

    Example: covidct serve --data studies/ --port 8000   (then open http://127.0.0.1:8000)
    """
    import dataclasses

    import uvicorn

    from covidct.serve import create_app, get_serve_preset

    options = get_serve_preset(preset)
    changes = {}
    if workers:
        changes["workers"] = workers
    if max_upload_gb:
        changes["max_upload_bytes"] = int(max_upload_gb * 1024**3)
    options = dataclasses.replace(options, **changes)
    if host not in _LOCAL_HOSTS:
        err_console.print(
            f"[bold yellow]warning:[/] listening on {host}: anyone who can reach this machine "
            "can upload and see studies (there is no login); use 127.0.0.1 unless you mean it",
            highlight=False, soft_wrap=True)
    app = create_app(data, options)
    uvicorn.run(app, host=host, port=port, log_level="info")
