"""Lung masks with the learned model: ``segment_lungs(method="model" | "hybrid")``.

* ``"model"``: the network's lung probability above 0.5 on the working grid, inside the
  body, airways removed and right / left labelled by the rules' steps
  (:func:`covidct.lungs.airways.find_airways`, :func:`covidct.lungs.split.label_sides`).
* ``"hybrid"``: the ``"refined"`` rules' mask, plus the lung the model finds where the
  rules found none (dense lung at the mediastinum and the diaphragm). What is added is
  opened in-plane by ``_ADD_OPEN_MM`` (the model's outline is about a pixel of 3 mm wide of
  the true edge; thin shells along the chest wall are not added), must touch the rules'
  lungs and hold at least ``_ADD_MIN_ML``; it takes the side of the nearer lung.

Both refuse non-axial volumes (the network sees axial slices).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from covidct.errors import InvalidInputError, NoLungsFoundError
from covidct.lungs.airways import find_airways, remove_airways
from covidct.lungs.classical import body_mask, large_components
from covidct.lungs.grid import Orientation, WorkingGrid, labels_to_input, to_working
from covidct.lungs.learned import predict_lung_probability
from covidct.lungs.options import LungOptions
from covidct.lungs.split import LEFT, RIGHT, label_sides

__all__ = ["hybrid_lungs", "model_lungs"]

_THRESHOLD = 0.5
_ADD_OPEN_MM = 4.0
_ADD_MIN_ML = 1.0


def _working(arr: np.ndarray, sp: tuple[float, float, float], direction: tuple[float, ...],
             opts: LungOptions, name: str) -> tuple[WorkingGrid, Orientation, np.ndarray, np.ndarray]:
    orient = Orientation.from_direction(direction, sp)
    if not orient.axial:
        raise InvalidInputError(f"{name}: the lung model needs axial slices (z the cranio-caudal axis)")
    grid = WorkingGrid.choose(arr.shape, sp, opts.working_inplane_mm, opts.working_slice_mm)
    hu = to_working(arr, grid)
    body = body_mask(hu, opts.body_hu)
    if not body.any():
        raise NoLungsFoundError(f"{name}: no body found (nothing above {opts.body_hu:.0f} HU)")
    return grid, orient, hu, body


def model_lungs(arr: np.ndarray, sp: tuple[float, float, float], direction: tuple[float, ...],
                opts: LungOptions, name: str, *, model: Any = None) -> np.ndarray:
    """uint8 (z, y, x) labels on the input grid (1 right, 2 left) from the model alone."""
    from covidct.lungs.segment import _check_in_view, _largest_parts, _midline

    grid, orient, hu, body = _working(arr, sp, direction, opts, name)
    lungs = (predict_lung_probability(hu, grid.spacing, model=model) > _THRESHOLD) & body
    airway, trachea_x = find_airways(hu, body, grid.spacing, orient, opts)
    lungs = remove_airways(lungs, airway, grid.spacing, opts)
    lungs, _ = large_components(lungs, max(1, int(opts.min_lung_ml / grid.voxel_ml)))
    if not lungs.any():
        raise NoLungsFoundError(f"{name}: no plausible lungs found: the lung model finds no lung of "
                                f"at least {opts.min_lung_ml:.0f} mL")
    midline = _midline(lungs, body, orient, trachea_x)
    labels = _largest_parts(label_sides(lungs, orient, midline, grid.spacing,
                                        max(1, int(1.0 / grid.voxel_ml))))
    _check_in_view(labels, grid, opts, name)
    return labels_to_input(labels, grid)


def _nearer_side(added: np.ndarray, rules: np.ndarray, lr_axis: int) -> np.ndarray:
    """Labels for ``added`` voxels: the side (RIGHT / LEFT) whose lung centre along the
    left-right axis is nearer, per slice where both lungs are present, else over the volume."""
    out = np.zeros(added.shape, np.uint8)
    coord = np.indices(added.shape[1:])[lr_axis - 1] if lr_axis else None
    centre = {k: np.nonzero(rules == k)[lr_axis].mean() for k in (RIGHT, LEFT)}
    for z in np.nonzero(added.any(axis=(1, 2)))[0]:
        if coord is None:
            out[z][added[z]] = RIGHT if abs(z - centre[RIGHT]) < abs(z - centre[LEFT]) else LEFT
            continue
        cz = {k: (coord[rules[z] == k].mean() if (rules[z] == k).any() else centre[k]) for k in centre}
        near_right = np.abs(coord - cz[RIGHT]) <= np.abs(coord - cz[LEFT])
        out[z][added[z] & near_right] = RIGHT
        out[z][added[z] & ~near_right] = LEFT
    return out


def hybrid_lungs(arr: np.ndarray, sp: tuple[float, float, float], direction: tuple[float, ...],
                 rules_input: np.ndarray, opts: LungOptions, name: str, *, model: Any = None) -> np.ndarray:
    """The rules' labels ``rules_input`` (input grid) plus the model's lung they missed."""
    grid, orient, hu, body = _working(arr, sp, direction, opts, name)
    rules = np.zeros(grid.shape, np.uint8)
    for k in (RIGHT, LEFT):  # the rules' labels on the working grid (linear, >= 0.5)
        frac = to_working((rules_input == k).astype(np.float32), grid) if not grid.identity \
            else (rules_input == k).astype(np.float32)
        rules[frac >= 0.5] = k
    prob = predict_lung_probability(hu, grid.spacing, model=model)
    added = (prob > _THRESHOLD) & body & (rules == 0)
    steps = max(1, int(round(_ADD_OPEN_MM / (2 * grid.spacing[1]))))
    added = ndi.binary_opening(added, structure=np.ones((1, 3, 3), bool), iterations=steps)
    lab, n = ndi.label(added)
    if n == 0 or not ((rules == RIGHT).any() and (rules == LEFT).any()):
        return rules_input.copy()
    touching = np.unique(lab[ndi.binary_dilation(rules > 0) & (lab > 0)])
    sizes = np.bincount(lab.ravel()) * grid.voxel_ml
    keep = [i for i in touching if sizes[i] >= _ADD_MIN_ML]
    added = np.isin(lab, keep)
    if not added.any():
        return rules_input.copy()
    extra = labels_to_input(_nearer_side(added, rules, orient.lr_axis), grid)
    out = rules_input.copy()
    free = out == 0
    out[free] = extra[free]
    return out
