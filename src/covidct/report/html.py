"""report.html: one self-contained page (pictures embedded as data URIs, no network)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["TASK_NAMES", "data_uri", "render_html"]

#: task -> what it means, for the reader.
TASK_NAMES = {
    "ct": "COVID-19 by radiology (CT)",
    "nat": "COVID-19 by nucleic acid test",
    "severity": "severity class",
}


def data_uri(png: str | Path) -> str:
    """A PNG file as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(png).read_bytes()).decode("ascii")


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * float(v):.1f} %"


def _ml(v: float) -> str:
    return f"{float(v):.0f} ml"


def render_html(record: Mapping[str, Any], images: Mapping[str, str | Path | None]) -> str:
    """The report page for ``record`` (report.json) with ``images`` (kind -> PNG) embedded.

    Image kinds: ``montage``, ``coronal``, ``profile`` and optionally ``montage_heat``.
    """
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("covidct.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined)
    uris = {k: data_uri(v) if v else None for k, v in images.items()}
    uris.setdefault("montage_heat", None)
    return env.get_template("report.html.j2").render(
        r=record, images=uris, pct=_pct, ml=_ml, task_names=TASK_NAMES)
