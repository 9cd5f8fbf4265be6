"""The one CT volume type used across covidct.

Axis convention: arrays are ``(z, y, x)`` (SimpleITK's array order) and ``spacing`` is
``(sz, sy, sx)`` in mm, in the same order as the array axes. ``origin`` and ``direction``
are kept exactly as SimpleITK/ITK gives them, in physical LPS space: ``origin`` is the
(x, y, z) position in mm of the centre of voxel ``[0, 0, 0]``, ``direction`` the 3 x 3
direction cosine matrix flattened row by row (ITK order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import SimpleITK as sitk

from covidct.errors import GeometryMismatchError, InvalidInputError

__all__ = ["CTVolume", "check_same_grid"]

_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class CTVolume:
    """A 3D image with its geometry.

    Attributes:
        array: ``(z, y, x)`` voxel values; HU (float32 or int16) when ``is_hu``.
        spacing: ``(sz, sy, sx)`` voxel size in mm.
        origin: physical (x, y, z) LPS position of voxel ``[0, 0, 0]`` in mm.
        direction: 3 x 3 direction cosines, row-major (ITK order).
        metadata: source facts (patient id, series uid, modality, kernel, source path...).
        is_hu: False for images whose values are not Hounsfield units (8-bit PNG stacks).
    """

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = _IDENTITY
    metadata: Mapping[str, Any] = field(default_factory=dict)
    is_hu: bool = True

    def __post_init__(self) -> None:
        arr = np.asarray(self.array)
        if arr.ndim != 3:
            raise InvalidInputError(
                f"a CT volume must be 3D (z, y, x); got an array of shape {arr.shape}"
            )
        spacing = tuple(float(s) for s in self.spacing)
        if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
            raise InvalidInputError(f"spacing must be 3 positive numbers in mm; got {self.spacing}")
        origin = tuple(float(o) for o in self.origin)
        direction = tuple(float(d) for d in self.direction)
        if len(origin) != 3 or len(direction) != 9:
            raise InvalidInputError("origin needs 3 values and direction 9 (a 3 x 3 matrix)")
        object.__setattr__(self, "array", arr)
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "direction", direction)
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    # ----------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape ``(z, y, x)``."""
        return tuple(int(n) for n in self.array.shape)  # type: ignore[return-value]

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres (cm^3)."""
        return float(np.prod(self.spacing)) / 1000.0

    @property
    def extent_mm(self) -> tuple[float, float, float]:
        """Physical size ``(z, y, x)`` in mm."""
        return tuple(n * s for n, s in zip(self.shape, self.spacing))  # type: ignore[return-value]

    # ------------------------------------------------------------------ helpers
    def with_array(self, array: np.ndarray, **metadata: Any) -> CTVolume:
        """A volume with the same geometry and a new array of the same shape."""
        array = np.asarray(array)
        if array.shape != self.array.shape:
            raise GeometryMismatchError(
                f"new array must have shape {self.shape}; got {array.shape}"
            )
        meta = {**self.metadata, **metadata}
        return replace(self, array=array, metadata=meta)

    def to_sitk(self, array: np.ndarray | None = None) -> sitk.Image:
        """This volume (or ``array`` on its grid) as a SimpleITK image with full geometry."""
        arr = self.array if array is None else np.asarray(array)
        if arr.shape != self.array.shape:
            raise GeometryMismatchError(
                f"array must have the volume's shape {self.shape}; got {arr.shape}"
            )
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing(self.spacing[::-1])
        img.SetOrigin(self.origin)
        img.SetDirection(self.direction)
        return img

    @classmethod
    def from_sitk(
        cls, image: sitk.Image, *, metadata: Mapping[str, Any] | None = None, is_hu: bool = True
    ) -> CTVolume:
        """Wrap a 3D SimpleITK image (its x, y, z geometry becomes z, y, x spacing)."""
        if image.GetDimension() != 3:
            raise InvalidInputError(
                f"expected a 3D image; got a {image.GetDimension()}D image of size {image.GetSize()}"
            )
        if image.GetNumberOfComponentsPerPixel() != 1:
            raise InvalidInputError(
                "expected a single-channel (grey) image; got "
                f"{image.GetNumberOfComponentsPerPixel()} components per voxel"
            )
        return cls(
            array=sitk.GetArrayFromImage(image),
            spacing=tuple(image.GetSpacing())[::-1],
            origin=tuple(image.GetOrigin()),
            direction=tuple(image.GetDirection()),
            metadata=dict(metadata or {}),
            is_hu=is_hu,
        )

    def same_grid(self, other: CTVolume, *, atol_mm: float = 1e-3) -> bool:
        """True when ``other`` has the same shape, spacing, origin and direction."""
        return (
            self.shape == other.shape
            and np.allclose(self.spacing, other.spacing, atol=atol_mm)
            and np.allclose(self.origin, other.origin, atol=atol_mm)
            and np.allclose(self.direction, other.direction, atol=1e-5)
        )

    def __repr__(self) -> str:
        sp = ", ".join(f"{s:.3g}" for s in self.spacing)
        return f"CTVolume(shape={self.shape}, spacing_mm=({sp}), dtype={self.array.dtype})"


def check_same_grid(volume: CTVolume, mask: np.ndarray, *, name: str = "mask") -> None:
    """Raise :class:`GeometryMismatchError` unless ``mask`` has the volume's (z, y, x) shape."""
    if np.shape(mask) != volume.shape:
        raise GeometryMismatchError(
            f"{name} shape {np.shape(mask)} does not match the CT volume shape {volume.shape} (z, y, x)"
        )
