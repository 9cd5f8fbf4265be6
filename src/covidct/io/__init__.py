"""Reading and writing CT: :func:`read_ct`, :func:`write_image`, :func:`describe`...

Volumes are :class:`CTVolume` objects: ``(z, y, x)`` arrays with spacing ``(sz, sy, sx)``
in mm and ITK/LPS origin and direction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from covidct.io.describe import describe
from covidct.io.read import read_ct, read_mask
from covidct.io.volume import CTVolume, check_same_grid
from covidct.io.write import write_image, write_volume

__all__ = [
    "CTVolume",
    "check_same_grid",
    "describe",
    "read_ct",
    "read_mask",
    "write_dicom_series",
    "write_image",
    "write_volume",
]

if TYPE_CHECKING:
    from covidct.io.dicom_write import write_dicom_series


def __getattr__(name: str) -> Any:
    """``write_dicom_series`` on first use: pydicom is not needed to read or segment a CT."""
    if name == "write_dicom_series":
        from covidct.io.dicom_write import write_dicom_series

        return write_dicom_series
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
