"""How a result was made: package versions, options, seeds and input fingerprints.

Every result the project writes (quantification JSON, reports, preprocess folders, feature
sidecars, training and ML runs) carries :func:`provenance` under the key ``"provenance"``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from covidct.errors import DataUnavailableError, InvalidInputError

__all__ = ["card_path", "checked_card", "existing_model_file", "fingerprint", "options_dict", "package_versions", "provenance", "read_card",
           "sha256_file", "write_card"]

#: distributions whose versions change results.
TRACKED_PACKAGES: tuple[str, ...] = (
    "covidct", "numpy", "scipy", "scikit-image", "SimpleITK", "pydicom", "nibabel", "pandas",
    "scikit-learn", "lightgbm", "pyradiomics-bhklab", "torch", "torchvision", "lightning",
    "monai", "grad-cam", "highdicom", "pycocotools",
)


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed version of each named distribution (absent ones are left out), and Python."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def sha256_file(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of one file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def existing_model_file(path: str | Path | None, shipped: Path, kind: str, written_by: str) -> Path:
    """``path`` (default ``shipped``, the file inside the package) as a Path, if it is a file.

    Raises:
        DataUnavailableError: it is missing (``kind``: what the file is, ``written_by``: what
            writes one, for the message).
    """
    file = Path(path) if path is not None else shipped
    if not file.is_file():
        raise DataUnavailableError(f"{kind} {file} is missing; expected the file shipped with covidct "
                                   f"(reinstall) or one written by {written_by}")
    return file


def card_path(file: Path) -> Path:
    """The model card beside a model file: ``<stem>.card.json``."""
    return file.with_name(file.stem + ".card.json")


def read_card(file: Path) -> dict[str, Any]:
    """The card beside a model file ({} when there is none)."""
    card = card_path(file)
    return json.loads(card.read_text()) if card.is_file() else {}


def checked_card(file: Path, kind: str, remedy: str, *, key: str = "sha256") -> tuple[dict[str, Any], str]:
    """The card beside a model file (``<stem>.card.json``; {} when there is none) and the
    file's sha256, checked against the card's ``key`` (``"onnx_sha256"``: the ONNX export
    of the card's ``.pt``).

    Raises:
        InvalidInputError: the card names another sha256 (``kind``: what the file is, and
            ``remedy``: what to do, for the message).
    """
    card = read_card(file)
    digest = sha256_file(file)
    if card.get(key) and card[key] != digest:
        raise InvalidInputError(f"{file}: {kind} is corrupt: sha256 {digest[:12]}... does not match its card "
                                f"({card[key][:12]}...); {remedy}")
    return card, digest


def model_version(file: Path) -> tuple[str, int, int]:
    """A key for a cache of loaded model files: the resolved path and the modification times
    (ns) of the file and of its card (0 when there is none): a rewritten card (an export's
    sha256 added) is read again."""
    card = card_path(file)
    return str(file.resolve()), file.stat().st_mtime_ns, card.stat().st_mtime_ns if card.is_file() else 0


def write_card(file: Path, card: dict[str, Any]) -> Path:
    """Write ``<stem>.card.json`` beside a model file: ``card`` plus the file's sha256 (what
    :func:`checked_card` checks), through a temporary name. Returns the card's path."""
    out = card_path(file)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(json.dumps({**card, "sha256": sha256_file(file)}, indent=2, default=str))
    tmp.replace(out)
    return out


def fingerprint(path: str | Path) -> dict[str, Any]:
    """sha256 of a file, or of a folder's files (sorted relative names and their hashes).

    Returns ``{"path", "sha256", "n_files"}``; a folder's hash covers every regular file below it.
    """
    path = Path(path)
    if path.is_file():
        return {"path": str(path), "sha256": sha256_file(path), "n_files": 1}
    files = sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(path)).encode() + b"\0" + sha256_file(f).encode() + b"\n")
    return {"path": str(path), "sha256": h.hexdigest(), "n_files": len(files)}


def options_dict(options: Any) -> Any:
    """A JSON-ready copy of an options object (dataclasses, mappings, tuples, paths)."""
    if dataclasses.is_dataclass(options) and not isinstance(options, type):
        return {f.name: options_dict(getattr(options, f.name)) for f in dataclasses.fields(options)}
    if isinstance(options, Mapping):
        return {str(k): options_dict(v) for k, v in options.items()}
    if isinstance(options, (list, tuple)):
        return [options_dict(v) for v in options]
    if isinstance(options, Path):
        return str(options)
    if hasattr(options, "item") and callable(options.item):  # numpy scalars
        return options.item()
    return options


def provenance(
    *,
    options: Mapping[str, Any] | None = None,
    seed: int | None = None,
    inputs: Iterable[str | Path] = (),
) -> dict[str, Any]:
    """The provenance block of a result: versions, command line, time, options, seed, inputs.

    Args:
        options: step name -> options object (dataclass or mapping), e.g. ``{"lungs": LungOptions()}``.
        seed: the seed of the run, when it has one.
        inputs: files or folders read; each is fingerprinted with sha256.
    """
    return {
        "versions": package_versions(),
        "command": list(sys.argv),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "options": options_dict(dict(options or {})),
        "seed": seed,
        "inputs": [fingerprint(p) for p in inputs],
    }
