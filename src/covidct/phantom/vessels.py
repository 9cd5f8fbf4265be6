"""Pulmonary vessel and airway trees: recursive random branching drawn as tapered tubes.

Trees grow from the hila into each lung; every branch gets thinner (radius ratio 0.7-0.9),
shorter, and turns toward the pleura; growth stops at the lung edge or below a minimum
radius. Airways (air lumen with a soft-tissue wall) accompany the larger arterial branches.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from covidct.phantom.geometry import Grid, tube_patch

__all__ = ["Segment", "grow_tree", "render_segments"]


@dataclass(frozen=True)
class Segment:
    """One tube: end points (X, Y, Z) mm and radii (mm) at both ends."""

    p0: np.ndarray
    p1: np.ndarray
    r0: float
    r1: float


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _rotate_away(d: np.ndarray, angle: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at ``angle`` from ``d`` in a random direction."""
    perp = _unit(np.cross(d, _unit(rng.standard_normal(3))))
    return _unit(np.cos(angle) * d + np.sin(angle) * perp)


def grow_tree(rng: np.random.Generator, root: np.ndarray, directions: list[np.ndarray],
              radius: float, lung: np.ndarray, label: int, grid: Grid, *,
              min_radius: float, max_segments: int = 700) -> list[Segment]:
    """Grow a branching tree inside ``lung == label`` from ``root`` (X, Y, Z mm).

    Each initial direction starts a trunk of ``radius`` mm; branches stop below
    ``min_radius`` mm, when they leave the lung, or when ``max_segments`` is reached.
    """
    centre = _lung_centre(lung, label, grid)
    root = _snap_inside(np.asarray(root, float), lung, label, grid)
    segs: list[Segment] = []
    # breadth first, so a segment budget trims the finest branches of every trunk alike
    stack = deque((root, _unit(np.asarray(d, float)), radius, 0) for d in directions)
    while stack and len(segs) < max_segments:
        p, d, r, gen = stack.popleft()
        if r < min_radius:
            continue
        length = float(np.clip(r * rng.uniform(5.0, 8.0), 5.0, 25.0))
        # bend toward the pleura: away from the lung centre, with a random wobble
        outward = _unit(p - centre)
        d = _unit(d + 0.25 * outward + 0.2 * rng.standard_normal(3))
        q = p + length * d
        if gen > 0 and not _inside(q, lung, label, grid):
            d = _unit(d - 0.8 * outward)  # turn back along the pleura, shorter
            q = p + 0.6 * length * d
            if not _inside(q, lung, label, grid):
                continue
        r_end = r * rng.uniform(0.94, 0.99)
        segs.append(Segment(p, q, r, r_end))
        # asymmetric branching: a main continuation and one or two thinner side branches
        stack.append((q, _rotate_away(d, rng.uniform(0.1, 0.35), rng),
                      r_end * rng.uniform(0.86, 0.95), gen + 1))
        for _ in range(1 + int(rng.random() < 0.4)):
            stack.append((q, _rotate_away(d, rng.uniform(0.6, 1.2), rng),
                          r_end * rng.uniform(0.55, 0.8), gen + 1))
    return segs


def _inside(q: np.ndarray, lung: np.ndarray, label: int, grid: Grid) -> bool:
    k, j, i = grid.index_of(q[None])[0]
    inside_grid = (
        0 <= (q[2] - grid.origin[2]) / grid.spacing[0] <= grid.shape[0] - 1
        and 0 <= (q[1] - grid.origin[1]) / grid.spacing[1] <= grid.shape[1] - 1
        and 0 <= (q[0] - grid.origin[0]) / grid.spacing[2] <= grid.shape[2] - 1
    )
    return inside_grid and lung[k, j, i] == label


def _snap_inside(p: np.ndarray, lung: np.ndarray, label: int, grid: Grid) -> np.ndarray:
    """``p`` moved to the nearest voxel of the lung (plus 3 mm inward) when it lies outside."""
    if _inside(p, lung, label, grid):
        return p
    idx = np.argwhere(lung == label)
    if idx.size == 0:
        return p
    pts = np.stack([grid.origin[0] + idx[:, 2] * grid.spacing[2],
                    grid.origin[1] + idx[:, 1] * grid.spacing[1],
                    grid.origin[2] + idx[:, 0] * grid.spacing[0]], axis=1)
    q = pts[int(np.argmin(((pts - p) ** 2).sum(axis=1)))]
    return q + 3.0 * _unit(q - p)


def _lung_centre(lung: np.ndarray, label: int, grid: Grid) -> np.ndarray:
    idx = np.argwhere(lung[:, ::2, ::2] == label)
    if idx.size == 0:
        return np.zeros(3)
    k, j, i = idx.mean(axis=0)
    return np.array([grid.origin[0] + 2 * i * grid.spacing[2],
                     grid.origin[1] + 2 * j * grid.spacing[1],
                     grid.origin[2] + k * grid.spacing[0]])


def render_segments(segments: list[Segment], grid: Grid, *, scale: float = 1.0,
                    add: float = 0.0) -> np.ndarray:
    """Occupancy (z, y, x) float32 in [0, 1] of the union of tubes of radius ``r*scale+add``."""
    occ = np.zeros(grid.shape, dtype=np.float32)
    for s in segments:
        patch = tube_patch(grid, s.p0, s.p1, s.r0 * scale + add, s.r1 * scale + add)
        if patch is None:
            continue
        sl, o = patch
        np.maximum(occ[sl], o, out=occ[sl])
    return occ
