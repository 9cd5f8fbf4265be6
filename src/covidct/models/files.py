"""Reading covidct's own model files (``torch.save`` of a dict with a ``format`` key)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from covidct.errors import InvalidInputError

__all__ = ["read_model_dict"]


def read_model_dict(path: str | Path, formats: str | tuple[str, ...], kind: str, *,
                    weights_only: bool = True) -> dict[str, Any]:
    """The dict saved in a covidct model file, on the CPU.

    Args:
        path: the ``.pt`` file.
        formats: the accepted value(s) of its ``format`` key.
        kind: what the file should be, for messages (e.g. "lung model").
        weights_only: torch's safe loading (tensors and plain containers only).
    Raises:
        InvalidInputError: unreadable (truncated, not a torch file) or of another format.
    """
    accepted = (formats,) if isinstance(formats, str) else formats
    try:
        raw = torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as exc:  # torch raises many types for damaged files
        why = (str(exc).strip() or type(exc).__name__).splitlines()[0].split(". ")[0]  # torch's are pages long
        raise InvalidInputError(f"{path}: not a readable {kind} file ({why})") from exc
    if not isinstance(raw, dict) or raw.get("format") not in accepted:
        raise InvalidInputError(f"{path}: not a covidct {kind} (format {' or '.join(accepted)})")
    return raw
