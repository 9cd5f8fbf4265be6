"""Sampling grid of a phantom and small shape helpers (soft occupancy, tubes, ellipsoids).

Physical coordinates are LPS in mm: X grows toward the patient's left, Y toward posterior,
Z toward superior. Arrays are ``(z, y, x)``; slice 0 is the most inferior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Grid", "ellipsoid_sd", "soft", "tube_patch"]


@dataclass(frozen=True)
class Grid:
    """A regular ``(z, y, x)`` grid: ``shape``, ``spacing`` (sz, sy, sx) mm, ``origin`` (x, y, z) mm."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]

    @property
    def x(self) -> np.ndarray:
        """X (mm) of the voxel centres, shape (1, 1, nx)."""
        nx = self.shape[2]
        return (self.origin[0] + np.arange(nx) * self.spacing[2]).astype(np.float32)[None, None, :]

    @property
    def y(self) -> np.ndarray:
        """Y (mm) of the voxel centres, shape (1, ny, 1)."""
        ny = self.shape[1]
        return (self.origin[1] + np.arange(ny) * self.spacing[1]).astype(np.float32)[None, :, None]

    @property
    def z(self) -> np.ndarray:
        """Z (mm) of the voxel centres, shape (nz, 1, 1)."""
        nz = self.shape[0]
        return (self.origin[2] + np.arange(nz) * self.spacing[0]).astype(np.float32)[:, None, None]

    @property
    def pixel_mm(self) -> float:
        """In-plane pixel size (mm)."""
        return float(self.spacing[2])

    def index_of(self, points: np.ndarray) -> np.ndarray:
        """Nearest voxel indices ``(k, j, i)`` of (N, 3) points given as (X, Y, Z) mm, clipped."""
        pts = np.atleast_2d(points)
        k = np.rint((pts[:, 2] - self.origin[2]) / self.spacing[0])
        j = np.rint((pts[:, 1] - self.origin[1]) / self.spacing[1])
        i = np.rint((pts[:, 0] - self.origin[0]) / self.spacing[2])
        idx = np.stack([k, j, i], axis=1).astype(int)
        return np.clip(idx, 0, np.array(self.shape) - 1)


def soft(signed_distance_mm: np.ndarray, pixel_mm: float) -> np.ndarray:
    """Anti-aliased occupancy in [0, 1] from a signed distance (negative inside), float32."""
    return np.clip(0.5 - signed_distance_mm / pixel_mm, 0.0, 1.0).astype(np.float32)


def ellipsoid_sd(grid: Grid, centre: tuple[float, float, float],
                 semi_axes: tuple[float, float, float], angle_rad: float = 0.0) -> np.ndarray:
    """Approximate signed distance (mm) to an ellipsoid rotated by ``angle_rad`` in the axial plane.

    ``centre`` and ``semi_axes`` are (X, Y, Z) mm. Returns a (z, y, x) float32 array.
    """
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    dx = grid.x - centre[0]
    dy = grid.y - centre[1]
    dz = grid.z - centre[2]
    u = c * dx + s * dy
    v = -s * dx + c * dy
    r = np.sqrt((u / semi_axes[0]) ** 2 + (v / semi_axes[1]) ** 2 + (dz / semi_axes[2]) ** 2)
    rho = np.sqrt(u**2 + v**2 + dz**2)
    return (rho * (1.0 - 1.0 / np.maximum(r, 1e-6))).astype(np.float32)


def tube_patch(grid: Grid, p0: np.ndarray, p1: np.ndarray, r0: float, r1: float,
               ) -> tuple[tuple[slice, slice, slice], np.ndarray] | None:
    """Soft occupancy of a tapered tube from ``p0`` to ``p1`` ((X, Y, Z) mm, radii mm).

    Returns ``(slices, occupancy)`` covering the tube's bounding box, or None when the tube
    lies outside the grid. Thin tubes (radius below half a voxel) keep their partial volume
    as a reduced occupancy so that they fade instead of vanishing.
    """
    p0 = np.asarray(p0, dtype=np.float64)
    p1 = np.asarray(p1, dtype=np.float64)
    sz, sy, sx = grid.spacing
    rmax = max(r0, r1) + max(sx, sy)
    lo = np.minimum(p0, p1) - rmax
    hi = np.maximum(p0, p1) + rmax
    lo[2] -= sz
    hi[2] += sz
    org = np.array([grid.origin[0], grid.origin[1], grid.origin[2]])
    step = np.array([sx, sy, sz])
    nmax = np.array([grid.shape[2], grid.shape[1], grid.shape[0]])
    ilo = np.clip(np.floor((lo - org) / step).astype(int), 0, nmax)
    ihi = np.clip(np.ceil((hi - org) / step).astype(int) + 1, 0, nmax)
    if np.any(ihi <= ilo):
        return None
    xs = (org[0] + np.arange(ilo[0], ihi[0]) * sx)[None, None, :] - p0[0]
    ys = (org[1] + np.arange(ilo[1], ihi[1]) * sy)[None, :, None] - p0[1]
    zs = (org[2] + np.arange(ilo[2], ihi[2]) * sz)[:, None, None] - p0[2]
    d = p1 - p0
    dd = float(d @ d) or 1e-9
    t = np.clip((xs * d[0] + ys * d[1] + zs * d[2]) / dd, 0.0, 1.0)
    ex = xs - t * d[0]
    ey = ys - t * d[1]
    ez = zs - t * d[2]
    # a thick slice sees the tube if it passes anywhere inside the slab
    ez = np.maximum(np.abs(ez) - 0.5 * sz, 0.0)
    dist = np.sqrt(ex**2 + ey**2 + ez**2)
    r = r0 + t * (r1 - r0)
    h = 0.5 * sx
    r_eff = np.maximum(r, h)
    occ = np.clip((r_eff - dist) / sx + 0.5, 0.0, 1.0) * np.minimum(1.0, (r / r_eff) ** 2)
    # thin tubes crossing a thick slice fill only part of it
    frac_z = np.minimum(1.0, (2.0 * r + abs(d[2]) / np.sqrt(dd) * sz) / sz)
    occ = (occ * frac_z).astype(np.float32)
    sl = (slice(ilo[2], ihi[2]), slice(ilo[1], ihi[1]), slice(ilo[0], ihi[0]))
    return sl, occ
