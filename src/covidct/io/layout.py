"""A volume laid as a DICOM axial series, whatever order its file stores it in.

The standard layout is the LPS identity direction: array axes (z, y, x) run feet to head,
front to back and patient right to left. A NIfTI in RAS has y and x flipped; a coronal or
sagittal reformat has its axes permuted too. :class:`Layout` is the transpose and the flips
that lay such an array the standard way (no resampling: axes are only reordered), and back.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

import numpy as np

from covidct.io.volume import CTVolume

__all__ = ["Layout", "display_view"]

#: LPS component (0 x left, 1 y posterior, 2 z superior) that array axis z, y, x follows
_LPS_OF_AXIS = (2, 1, 0)


@dataclass(frozen=True)
class Layout:
    """Transpose, then flip: how a file's ``(z, y, x)`` array lies as a DICOM axial series.

    Attributes:
        order: the file's array axis that becomes axis z, y and x (``np.transpose`` order).
        flips: axes of the transposed array to reverse.
    """

    order: tuple[int, int, int] = (0, 1, 2)
    flips: tuple[int, ...] = ()

    @classmethod
    def of(cls, direction: tuple[float, ...]) -> Layout:
        """The layout of an ITK direction (row-major, columns = index axes x, y, z, in LPS):
        each standard axis takes the array axis closest to it (the assignment with the
        largest total cosine), flipped where it points the other way."""
        d = np.asarray(direction, dtype=float).reshape(3, 3)
        cos = np.array([[d[_LPS_OF_AXIS[b], 2 - a] for a in range(3)] for b in range(3)])
        order = max(itertools.permutations(range(3)),
                    key=lambda p: sum(abs(cos[b, p[b]]) for b in range(3)))
        flips = tuple(b for b in range(3) if cos[b, order[b]] < 0)
        return cls(order=tuple(order), flips=flips)  # type: ignore[arg-type]

    @property
    def is_standard(self) -> bool:
        """True when the file already lies as a DICOM axial series."""
        return self.order == (0, 1, 2) and not self.flips

    @property
    def axial(self) -> bool:
        """True when the file's axes are the standard ones up to flips: axial slices, rows
        front-back (a NIfTI in RAS, a series head first); False for a reformat."""
        return self.order == (0, 1, 2)

    @property
    def display(self) -> Layout:
        """The layout pictures and slice-wise models use: axial slices shown front up, the
        patient's right on the viewer's left. An axial file keeps its slices in its own
        order (its slice indices stay the file's); a reformat is laid the standard way."""
        return Layout(flips=tuple(b for b in self.flips if b > 0)) if self.axial else self

    def lay(self, array: np.ndarray) -> np.ndarray:
        """A ``(z, y, x)`` array of the file laid the standard way (contiguous)."""
        return np.ascontiguousarray(np.flip(np.transpose(array, self.order), self.flips))

    def unlay(self, array: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`lay`: a standard-layout array back on the file's grid."""
        return np.ascontiguousarray(np.transpose(np.flip(array, self.flips), np.argsort(self.order)))

    def lay_spacing(self, spacing: tuple[float, float, float]) -> tuple[float, float, float]:
        """Voxel size ``(sz, sy, sx)`` mm of the laid array."""
        return tuple(float(spacing[a]) for a in self.order)  # type: ignore[return-value]

    def lay_direction(self, direction: tuple[float, ...]) -> tuple[float, ...]:
        """ITK direction (row-major, columns = index axes x, y, z) of the laid array."""
        d = np.asarray(direction, dtype=float).reshape(3, 3)
        columns = [d[:, 2 - a] * (-1.0 if b in self.flips else 1.0) for b, a in enumerate(self.order)]
        return tuple(np.stack(columns[::-1], axis=1).ravel())  # new axes z, y, x -> ITK x, y, z

    def lay_volume(self, volume: CTVolume) -> CTVolume:
        """``volume`` laid the standard way, its spacing, origin and direction with it (the
        same voxels at the same physical positions)."""
        d = np.asarray(volume.direction, dtype=float).reshape(3, 3)
        origin = np.asarray(volume.origin, dtype=float)
        for b, a in enumerate(self.order):  # new axis b is the file's axis a
            if b in self.flips:  # the new first voxel is the file's last along a
                origin = origin + (volume.array.shape[a] - 1) * volume.spacing[a] * d[:, 2 - a]
        return dataclasses.replace(
            volume, array=self.lay(volume.array), spacing=self.lay_spacing(volume.spacing),
            origin=tuple(origin), direction=self.lay_direction(volume.direction))


def display_view(volume: CTVolume, *masks: np.ndarray | None
                 ) -> tuple[np.ndarray, list[np.ndarray | None], tuple[float, float, float]]:
    """``volume``'s array and ``masks`` (its grid; ``None`` stays ``None``) laid as pictures
    and slice-wise models see them (:attr:`Layout.display`: axial slices front up, the
    patient's right on the left), and their voxel size ``(sz, sy, sx)`` mm."""
    view = Layout.of(volume.direction).display
    laid = [None if m is None else view.lay(np.asarray(m)) for m in masks]
    return view.lay(volume.array), laid, view.lay_spacing(volume.spacing)
