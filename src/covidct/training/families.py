"""One ``covidct train`` for every model of the project: training presets by family.

A *family* is a module that trains one kind of model (3D volume classifiers and COVID-MTL,
2D slice classifiers, Mask R-CNN lesion models, ...). Each family module defines:

* ``PRESETS``: a mapping of preset name -> its frozen config dataclass;
* ``preset_rows() -> list[PresetRow]``: one row per preset for ``covidct train --list``;
* ``train_from_cli(source, out, overrides, progress) -> Path``: train the preset called
  ``source`` (or a YAML file whose ``preset:`` key names one of its presets) into the run
  folder ``out`` with config fields replaced by ``overrides``; returns the run folder.

Families are imported lazily (by module path) so that the CLI starts fast.
"""

from __future__ import annotations

import importlib
import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Self

import yaml

from covidct.errors import InvalidInputError

__all__ = [
    "PresetRow", "RunConfig", "FAMILY_MODULES", "family_of", "all_preset_rows", "load_family", "train_preset",
    "FAILED_FILE", "load_preset_config", "read_config_yaml",
]

#: written into a run folder whose training raised (what failed, when); removed by a rerun.
FAILED_FILE = "FAILED.json"

#: family name -> module that implements it (see the module docstring for the interface).
FAMILY_MODULES: dict[str, str] = {
    "volume": "covidct.training.config",
    "slices": "covidct.slices.config",
    "maskrcnn": "covidct.detection.training",
    "lungs": "covidct.lungs.train",
    "lung-choice": "covidct.lungs.train_choice",
}


class RunConfig:
    """Base of a family's frozen config dataclass: :meth:`to_dict`, :meth:`save` and
    :meth:`with_overrides`."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists for tuples), as written to YAML."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}  # type: ignore[call-overload]

    def save(self, path: str | Path) -> Path:
        """Write the config as YAML; returns ``path``."""
        path = Path(path)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path

    def with_overrides(self, **changes: Any) -> Self:
        """A copy with some fields changed (unknown names are an error)."""
        names = [f.name for f in fields(self)]  # type: ignore[arg-type]
        bad = sorted(set(changes) - set(names))
        if bad:
            raise InvalidInputError(f"unknown config fields {bad} of {type(self).__name__}; known: {sorted(names)}")
        return replace(self, **changes)  # type: ignore[type-var]


@dataclass(frozen=True)
class PresetRow:
    """One line of ``covidct train --list``."""

    name: str
    family: str
    model: str
    task: str
    parameters: int | None = None


def load_family(family: str) -> ModuleType:
    """The module of ``family`` (see :data:`FAMILY_MODULES`)."""
    if family not in FAMILY_MODULES:
        raise InvalidInputError(f"unknown training family {family!r}; known: {sorted(FAMILY_MODULES)}")
    return importlib.import_module(FAMILY_MODULES[family])


def read_config_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping of config fields in a YAML file (a clear error when it is not one)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"cannot parse {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidInputError(f"{path} must hold a mapping of config fields")
    return raw


def load_preset_config(
    source: str | Path, presets: Mapping[str, Any], *, what: str, default: Any = None
) -> Any:
    """The config of a family: a preset by name, or a YAML whose ``preset:`` names one of
    ``presets`` (its other keys override the preset's fields); a run's own ``config.yaml``
    (``name:`` a preset, every field given) reads back as that run's config. With ``default``,
    a YAML naming no preset starts from it; otherwise it must name a preset."""
    text = str(source)
    if text in presets:
        return presets[text]
    path = Path(text)
    if not path.is_file():
        raise InvalidInputError(
            f"{what} config {text!r} is neither a YAML file nor a preset ({sorted(presets)})"
        )
    raw = read_config_yaml(path)
    name = raw.pop("preset", None) or _run_preset(raw, presets)
    if name is None and default is not None:
        base = default
    elif name in presets:
        base = presets[name]
    else:
        raise InvalidInputError(f"{path} must name a {what} preset with 'preset:' ({sorted(presets)})")
    try:
        return base.with_overrides(**raw)
    except TypeError as exc:
        raise InvalidInputError(f"bad config in {path}: {exc}") from exc


def _run_preset(raw: dict[str, Any], presets: Any) -> str | None:
    """The preset a run's saved config was made from (its ``name:``), if it is one."""
    name = raw.get("name")
    return name if isinstance(name, str) and name in presets else None


def _preset_name(source: str) -> str:
    path = Path(source)
    if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
        raw = read_config_yaml(path)
        if raw.get("preset"):
            return str(raw["preset"])
        every = {p for f in FAMILY_MODULES for p in load_family(f).PRESETS}
        return _run_preset(raw, every) or ""
    return source


def family_of(source: str) -> str:
    """The family whose presets include ``source`` (a preset name or a YAML naming one).

    A YAML file naming no preset (by ``preset:``, or a run's ``name:``) belongs to the
    "volume" family (the original 3D training configs).
    """
    name = _preset_name(source)
    if not name:
        return "volume"
    for family in FAMILY_MODULES:
        if name in load_family(family).PRESETS:
            return family
    known = sorted(p for f in FAMILY_MODULES for p in load_family(f).PRESETS)
    raise InvalidInputError(f"unknown training preset {name!r}; expected one of {known}")


def all_preset_rows() -> list[PresetRow]:
    """Every preset of every family, for ``covidct train --list``. The models whose parameters
    are counted are built on torch's "meta" device: shapes without memory or initialisation
    (the same counts, in a tenth of the time)."""
    import torch

    rows: list[PresetRow] = []
    with torch.device("meta"):
        for family in FAMILY_MODULES:
            rows.extend(load_family(family).preset_rows())
    return rows


def _clear_run_folder(out: Path, overwrite: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise InvalidInputError(f"run folder {out} is a file")
    if not any(out.iterdir()):
        return
    if (out / FAILED_FILE).is_file():  # a failed run is redone without asking
        shutil.rmtree(out)
        return
    if not overwrite:
        raise InvalidInputError(
            f"run folder {out} already holds a run; choose a new folder or pass --overwrite"
        )
    if not (out / "config.yaml").is_file():
        raise InvalidInputError(
            f"{out} holds files but no training run (no config.yaml): not replaced, even with "
            "--overwrite; choose a new folder"
        )
    shutil.rmtree(out)


def train_preset(
    source: str,
    out: str | Path,
    overrides: dict[str, Any],
    *,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Train the preset or YAML ``source`` (any family) into the new run folder ``out``.

    An existing run in ``out`` is replaced only with ``overwrite`` (a folder holding anything
    but a run is never removed); a failed run is replaced without asking. A training that raises leaves ``FAILED.json`` (the error, the
    time) in ``out`` and the error goes on to the caller.
    """
    out = Path(out)
    family = load_family(family_of(source))
    _clear_run_folder(out, overwrite)
    try:
        return family.train_from_cli(source, out, overrides, progress)
    except BaseException as exc:
        if out.is_dir():
            (out / FAILED_FILE).write_text(json.dumps({
                "error": f"{type(exc).__name__}: {exc}",
                "failed": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "source": source,
            }, indent=2))
        raise
