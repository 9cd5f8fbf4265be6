"""``covidct serve``: a web app to upload a chest CT study, follow its analysis and look at it.

:func:`create_app` builds the FastAPI app (pages, static assets, JSON API) on a data folder;
studies are analysed by a bounded pool of ``covidct`` subprocesses (see
:func:`analysis_command`) and kept on disk per random id, so a restart lists them again.
"""

from __future__ import annotations

from covidct.serve.analysis import analysis_command, read_results
from covidct.serve.app import create_app
from covidct.serve.options import SERVE_PRESETS, ServeOptions, get_serve_preset

__all__ = [
    "SERVE_PRESETS",
    "ServeOptions",
    "analysis_command",
    "create_app",
    "get_serve_preset",
    "read_results",
]
