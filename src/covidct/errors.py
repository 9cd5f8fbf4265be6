"""Exception hierarchy of covidct.

Every error the library raises on purpose derives from :class:`CovidCTError`; the CLI
turns these into one line on stderr and exit code 2. Messages say what was wrong,
what was expected, what was found, and in which file.
"""

from __future__ import annotations

__all__ = [
    "CovidCTError",
    "InvalidInputError",
    "GeometryMismatchError",
    "NoLungsFoundError",
    "DataUnavailableError",
    "OutputError",
]


class CovidCTError(Exception):
    """Base class of all covidct errors."""


class InvalidInputError(CovidCTError, ValueError):
    """The input is missing, unreadable, of the wrong kind, or inconsistent."""


class GeometryMismatchError(InvalidInputError):
    """Two images that must share a grid (e.g. a CT and its mask) do not."""


class NoLungsFoundError(CovidCTError):
    """Lung segmentation found no plausible lungs in the volume."""


class DataUnavailableError(CovidCTError):
    """Optional data (sample CTs, pretrained weights) cannot be found or fetched."""


class OutputError(CovidCTError):
    """An output could not be written completely (full disk, size limit, permissions)."""
