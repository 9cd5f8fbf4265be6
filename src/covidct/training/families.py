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
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import yaml

from covidct.errors import InvalidInputError

__all__ = ["PresetRow", "FAMILY_MODULES", "family_of", "all_preset_rows", "load_family"]

#: family name -> module that implements it (see the module docstring for the interface).
FAMILY_MODULES: dict[str, str] = {
    "volume": "covidct.training.config",
    "slices": "covidct.slices.config",
    "maskrcnn": "covidct.detection.training",
}


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


def _preset_name(source: str) -> str:
    path = Path(source)
    if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"cannot parse {path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise InvalidInputError(f"{path} must hold a mapping of config fields")
        return str(raw.get("preset", ""))
    return source


def family_of(source: str) -> str:
    """The family whose presets include ``source`` (a preset name or a YAML naming one).

    A YAML file without a ``preset:`` key belongs to the "volume" family (the original
    3D training configs).
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
    """Every preset of every family, for ``covidct train --list``."""
    rows: list[PresetRow] = []
    for family in FAMILY_MODULES:
        rows.extend(load_family(family).preset_rows())
    return rows
