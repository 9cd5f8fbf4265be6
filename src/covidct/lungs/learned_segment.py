"""Lung masks with the learned model: ``segment_lungs(method="model" | "hybrid")``.

* ``"model"``: the network's lung probability above 0.5 on the working grid, inside the
  body, airways removed and right / left labelled by the rules' steps
  (:func:`covidct.lungs.airways.find_airways`, :func:`covidct.lungs.split.label_sides`).
* ``"hybrid"``: the ``"refined"`` rules' mask (its HU-based edges), corrected by the model
  (settings: ``LungOptions.hybrid``): what the rules took that the model calls not lung
  (probability below ``remove_below``: mediastinal fat, pericardium, upper abdomen taken by
  the cavity growth) is removed, and lung the rules missed where the model is sure
  (probability above ``add_above``: dense lung at the mediastinum and the diaphragm) is
  added when it touches the rules' lungs, with the side of the nearer lung. Optionally a
  disagreement counts only where it survives an in-plane opening of ``open_mm`` and holds
  ``min_ml``. With ``diseased_only`` (default) the scans whose disease gate stays closed
  keep the rules' mask. On every scan, where the rules' lungs hold less than
  ``collapse_ratio`` of the network's lung volume, the rules have lost whole regions (a
  consolidated lobe, white lung over the domes that the cavity growth could not reach) and
  the network's mask (as ``"model"``) is used instead.

``"model"`` refuses non-axial volumes (the network sees axial slices); ``"hybrid"`` keeps
the rules' mask on them, with a logged warning.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import numpy as np
from scipy import ndimage as ndi

from covidct.errors import InvalidInputError, NoLungsFoundError
from covidct.lungs.airways import find_airways, remove_airways
from covidct.lungs.classical import large_components
from covidct.lungs.gate import disease_gate
from covidct.lungs.grid import Orientation, WorkingGrid, labels_to_input, to_working
from covidct.lungs.options import LungOptions
from covidct.lungs.split import LEFT, RIGHT, label_sides

__all__ = ["NetworkPass", "hybrid_lungs", "model_lungs", "network_pass"]

log = logging.getLogger(__name__)

_THRESHOLD = 0.5


def _probability(hu: np.ndarray, spacing: tuple[float, float, float], model: Any) -> np.ndarray:
    """The lung model's probability on ``hu`` (torch is imported here, when a scan needs it)."""
    from covidct.lungs.learned import predict_lung_probability

    return predict_lung_probability(hu, spacing, model=model)


class NetworkPass(NamedTuple):
    """The scan on the working grid and the network's lung probability there (z, y, x)."""

    grid: WorkingGrid
    orient: Orientation
    hu: np.ndarray  # working-grid HU
    body: np.ndarray  # body mask
    prob: np.ndarray  # lung probability in [0, 1]


def network_pass(arr: np.ndarray, sp: tuple[float, float, float], direction: tuple[float, ...],
                 opts: LungOptions, name: str, *, model: Any = None) -> NetworkPass:
    """What the model's methods need from the scan alone (:class:`NetworkPass`). It does
    not depend on the rules' mask, so :func:`covidct.lungs.segment_lungs` runs it beside
    them (torch releases the GIL).

    Raises:
        InvalidInputError: not axial slices.
    """
    from covidct.lungs.segment import to_working_scan

    orient = Orientation.from_direction(direction, sp)
    if not orient.axial:
        raise InvalidInputError(f"{name}: the lung model needs axial slices (z the cranio-caudal axis)")
    hu, body, grid = to_working_scan(arr, sp, opts, name)
    return NetworkPass(grid, orient, hu, body, _probability(hu, grid.spacing, model))


def _model_labels(hu: np.ndarray, prob: np.ndarray, body: np.ndarray, grid: WorkingGrid,
                  orient: Orientation, opts: LungOptions, name: str) -> np.ndarray:
    """Working-grid labels (1 right, 2 left) of the network's lung (probability above 0.5 in
    the body), airways removed, parts below ``select.min_lung_ml`` dropped."""
    from covidct.lungs.segment import _largest_parts, _midline

    lungs = (prob > _THRESHOLD) & body
    airway, trachea_x = find_airways(hu, body, grid.spacing, orient, opts)
    lungs = remove_airways(lungs, airway, grid.spacing, opts)
    lungs, _ = large_components(lungs, max(1, int(opts.select.min_lung_ml / grid.voxel_ml)))
    if not lungs.any():
        raise NoLungsFoundError(f"{name}: no plausible lungs found: the lung model finds no lung of "
                                f"at least {opts.select.min_lung_ml:.0f} mL")
    midline = _midline(lungs, body, orient, trachea_x)
    return _largest_parts(label_sides(lungs, orient, midline, grid.spacing, max(1, int(1.0 / grid.voxel_ml))))


def model_lungs(arr: np.ndarray, sp: tuple[float, float, float], direction: tuple[float, ...],
                opts: LungOptions, name: str, *, model: Any = None,
                network: NetworkPass | None = None) -> np.ndarray:
    """uint8 (z, y, x) labels on the input grid (1 right, 2 left) from the model alone
    (``network``: this scan's :func:`network_pass`, when already run)."""
    from covidct.lungs.segment import _check_in_view

    grid, orient, hu, body, prob = network or network_pass(arr, sp, direction, opts, name, model=model)
    labels = _model_labels(hu, prob, body, grid, orient, opts, name)
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


def _thick(mask: np.ndarray, grid: WorkingGrid, opts: LungOptions) -> np.ndarray:
    """The parts of ``mask`` that survive an in-plane opening of ``hybrid.open_mm`` and hold
    at least ``hybrid.min_ml`` (3D components): a disagreement of substance, not an edge shell."""
    steps = int(round(opts.hybrid.open_mm / (2 * grid.spacing[1])))
    opened = ndi.binary_opening(mask, structure=np.ones((1, 3, 3), bool), iterations=steps) if steps else mask
    lab, n = ndi.label(opened)
    if n == 0:
        return opened
    sizes = np.bincount(lab.ravel()) * grid.voxel_ml
    sizes[0] = 0.0
    return np.isin(lab, np.nonzero(sizes >= opts.hybrid.min_ml)[0]) & (lab > 0)


def _collapse(rules: np.ndarray, prob: np.ndarray, hu: np.ndarray, body: np.ndarray, grid: WorkingGrid,
              orient: Orientation, opts: LungOptions, name: str) -> np.ndarray | None:
    """The network's labels when the rules' lungs hold less than ``hybrid.collapse_ratio`` of
    its lung volume (the rules lost whole regions: a consolidated lobe, white lung over the
    domes), else None. The disease gate reads disease inside the rules' lungs, so it cannot
    see a lobe they left out: this check runs on every scan."""
    ratio, n_rules = opts.hybrid.collapse_ratio, np.count_nonzero(rules)
    if n_rules >= ratio * np.count_nonzero((prob > _THRESHOLD) & body):
        return None  # the raw network mask only shrinks with the clean-up below
    try:
        labels = _model_labels(hu, prob, body, grid, orient, opts, name)
    except NoLungsFoundError:  # what the network took for lung was no plausible lung
        return None
    if n_rules >= ratio * np.count_nonzero(labels):
        return None
    log.info("%s: the rules' lungs hold %.0f %% of the network's: the network's mask is used",
             name, 100.0 * n_rules / np.count_nonzero(labels))
    return labels


def hybrid_lungs(arr: np.ndarray, sp: tuple[float, float, float], direction: tuple[float, ...],
                 rules_input: np.ndarray, opts: LungOptions, name: str, *, model: Any = None,
                 network: NetworkPass | None = None) -> np.ndarray:
    """The rules' labels ``rules_input`` (input grid), corrected by the model (module
    docstring): the model's mask where the rules collapsed; where the disease gate opens,
    lung the rules missed added (when it touches their lungs) and what the rules took that
    the model calls not lung removed. ``network``: this scan's :func:`network_pass`, when
    already run."""
    from covidct.lungs.segment import _check_in_view, _largest_parts

    if not Orientation.from_direction(direction, sp).axial:
        log.warning("%s: not axial slices: the lung network is not used, the rules' mask is kept", name)
        return rules_input.copy()
    grid, orient, hu, body, prob = network or network_pass(arr, sp, direction, opts, name, model=model)
    rules = np.zeros(grid.shape, np.uint8)
    for k in (RIGHT, LEFT):  # the rules' labels on the working grid (linear, >= 0.5)
        frac = to_working((rules_input == k).astype(np.float32), grid) if not grid.identity \
            else (rules_input == k).astype(np.float32)
        rules[frac >= 0.5] = k
    collapsed = _collapse(rules, prob, hu, body, grid, orient, opts, name)
    if collapsed is not None:
        _check_in_view(collapsed, grid, opts, name)
        return labels_to_input(collapsed, grid)
    if not ((rules == RIGHT).any() and (rules == LEFT).any()):
        return rules_input.copy()
    if opts.hybrid.diseased_only and not disease_gate(rules, hu, grid.spacing, opts).open:
        return rules_input.copy()
    added = _thick((prob > opts.hybrid.add_above) & body & (rules == 0), grid, opts)
    lab, _ = ndi.label(added)
    added = np.isin(lab, np.unique(lab[ndi.binary_dilation(rules > 0) & (lab > 0)])) & (lab > 0)
    removed = _thick((prob < opts.hybrid.remove_below) & (rules > 0), grid, opts)
    if not (added.any() or removed.any()):
        return rules_input.copy()
    labels = rules.copy()
    labels[removed] = 0
    side = _nearer_side(added, rules, orient.lr_axis)
    labels[added] = side[added]
    labels = _largest_parts(labels)
    _check_in_view(labels, grid, opts, name)
    out = rules_input.copy()
    out[labels_to_input(removed.astype(np.uint8), grid, n_labels=1) > 0] = 0
    extra = labels_to_input(np.where(added, labels, 0).astype(np.uint8), grid)
    free = out == 0
    out[free] = extra[free]
    return out
