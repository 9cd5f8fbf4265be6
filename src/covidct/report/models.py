"""The 3D model of an analysis: a given file or run, or the demo model shipped in the package."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any

from covidct.report.options import DEMO_MODEL

__all__ = ["DEMO_MODEL_FILE", "demo_model_path", "model_summary", "resolve_model"]

#: file name of the demo model inside ``covidct/data/models`` (card: ``<stem>.card.json``).
DEMO_MODEL_FILE = "covid-mtl-demo.pt"


def demo_model_path() -> Path | None:
    """Path of the shipped demo model, or None when this installation lacks it."""
    path = Path(str(resources.files("covidct") / "data" / "models" / DEMO_MODEL_FILE))
    return path if path.is_file() else None


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int) -> Any:
    from covidct.inference.volume import load_volume_model

    return load_volume_model(path)


def resolve_model(spec: str) -> tuple[Any, str]:
    """``(VolumeModel, "")`` for a model spec, or ``(None, why not)``.

    ``spec``: "" (none), ``"demo"`` (the shipped demo model, when installed) or a path to a
    portable ``.pt`` or a training run. Raises InvalidInputError for a bad path or file.
    """
    if not spec:
        return None, "no 3D model asked for"
    if spec == DEMO_MODEL:
        path = demo_model_path()
        if path is None:
            return None, "the demo model is not installed"
    else:
        path = Path(spec)
    mtime = path.stat().st_mtime_ns if path.exists() else 0
    return _load(str(path), mtime), ""


def model_summary(model: Any) -> dict[str, Any]:
    """What a report says about a 3D model: name, file, sha256, tasks, grid, its card."""
    return {
        "name": model.card.get("name", model.source.name),
        "source": str(model.source),
        "sha256": model.sha256,
        "architecture": model.config.model,
        "tasks": list(model.tasks),
        "grid": model.grid.name,
        "crop": list(model.crop),
        "trained_on": model.card.get("trained_on", "unknown (no model card)"),
        "card": model.card,
    }
