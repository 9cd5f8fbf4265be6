"""The analysis a study runs, and how its output folder is read back.

This is the one place that knows the command (``covidct analyze``); the rest of the app finds
the numbers file (report.json), the masks and ``report.html`` by looking in the output folder.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from covidct.errors import InvalidInputError
from covidct.io.atomic import read_json_object

__all__ = [
    "StudyResults",
    "analysis_command",
    "error_line",
    "key_numbers",
    "progress_line",
    "read_results",
]

#: numbers files, first found wins (``analyze`` writes report.json; ``quantify`` the other).
NUMBERS_FILES: tuple[str, ...] = ("report.json", "quantification.json")
#: overlay layer -> words one of which a mask file name (``*.nii.gz``) starts with.
LAYER_PREFIXES: dict[str, tuple[str, ...]] = {
    "lungs": ("lungs", "lung_mask", "lung"),
    "lesions": ("lesions", "lesion_mask", "lesion"),
    "heatmap": ("heatmap", "heat_map", "heat"),
}


def analysis_command(input_path: Path, out_dir: Path, *, preset: str = "default") -> list[str]:
    """argv of the analysis of one study: read ``input_path``, write into ``out_dir``.

    Runs the ``covidct`` CLI of this interpreter in a subprocess (crash and memory isolation,
    killable). Its stdout lines are the progress; on bad input it exits with code 2 and one
    ``error: ...`` line on stderr.
    """
    return [sys.executable, "-m", "covidct.cli.app", "analyze", str(input_path),
            "-o", str(out_dir), "--preset", preset]


def progress_line(line: str) -> str | None:
    """The progress step an analysis stdout line announces, or None (blank, JSON body)."""
    text = line.rstrip()
    if not text.strip() or text[0] in " \t{}[]\"":
        return None
    return text.strip()[:300]


def error_line(stderr: str, returncode: int) -> str:
    """The one-line message of a failed analysis (the CLI's ``error: ...`` line)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.lower().startswith("error:"):
            return ln[len("error:"):].strip()
    if lines:
        return lines[-1][:500]
    return f"the analysis stopped with exit code {returncode} and no message"


@dataclass(frozen=True)
class StudyResults:
    """What an analysis wrote: numbers, masks per overlay layer and the report page."""

    numbers: dict[str, Any]
    numbers_file: Path
    masks: dict[str, Path]
    report_html: Path | None
    files: tuple[Path, ...]


def _layer(name: str) -> str | None:
    stem = name.lower()
    for layer, prefixes in LAYER_PREFIXES.items():
        if any(stem.startswith(p) for p in prefixes):
            return layer
    return None


def read_results(out_dir: Path) -> StudyResults:
    """Read an analysis output folder: its numbers file, masks (``*.nii.gz``), report.html.

    Raises:
        InvalidInputError: no numbers file, or one that is not a JSON object.
    """
    numbers_file = next((out_dir / n for n in NUMBERS_FILES if (out_dir / n).is_file()), None)
    if numbers_file is None:
        raise InvalidInputError(
            f"the analysis wrote no numbers file ({' or '.join(NUMBERS_FILES)}) in {out_dir}"
        )
    numbers = read_json_object(numbers_file)
    masks: dict[str, Path] = {}
    files = tuple(sorted(p for p in out_dir.iterdir() if p.is_file()))
    for path in files:
        if path.name.endswith(".nii.gz"):
            layer = _layer(path.name)
            if layer is not None and layer not in masks:
                masks[layer] = path
    report = out_dir / "report.html"
    return StudyResults(numbers=numbers, numbers_file=numbers_file, masks=masks,
                        report_html=report if report.is_file() else None, files=files)


#: the key numbers shown by the viewer, as (key in the numbers, label, unit).
KEY_NUMBERS: tuple[tuple[str, str, str], ...] = (
    ("lung_volume_ml", "lung volume", "ml"),
    ("lesion_volume_ml", "lesion volume", "ml"),
    ("lesion_fraction", "lung involved", "fraction"),
    ("ggo_fraction", "ground-glass opacity", "fraction"),
    ("consolidation_fraction", "consolidation", "fraction"),
    ("ct_category", "CT category (MosMed)", ""),
)


def key_numbers(numbers: dict[str, Any]) -> dict[str, Any]:
    """The viewer's summary of a numbers file: key numbers, per-lung numbers and zone table.

    Reads the quantification of a report.json (``lesions.quantification``), or the keys at the
    top level or under ``"quantification"`` (``covidct quantify --json``).
    """
    lesions = numbers.get("lesions")
    if isinstance(lesions, dict) and isinstance(lesions.get("quantification"), dict):
        q = lesions["quantification"]
    else:
        q = numbers.get("quantification", numbers)
    if not isinstance(q, dict) or "lesion_fraction" not in q:
        raise InvalidInputError("the numbers file holds no lesion quantification")
    return {
        "key": [{"key": k, "label": label, "unit": unit, "value": q.get(k)}
                for k, label, unit in KEY_NUMBERS],
        "lungs": {side: q[side] for side in ("right", "left") if isinstance(q.get(side), dict)},
        "zones": q.get("zones", {}),
    }
