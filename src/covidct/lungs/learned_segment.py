"""Lung masks with the learned model: ``segment_lungs(method="model" | "hybrid")``.

* ``"model"``: the network's lung probability above 0.5 on the working grid, inside the
  body, airways and the rules' abdominal gas removed and right / left labelled by the rules'
  steps (:func:`covidct.lungs.airways.find_airways`, :func:`covidct.lungs.split.label_sides`).
* ``"hybrid"``: the ``"refined"`` rules' mask (its HU edges), corrected by the model
  (settings: ``LungOptions.hybrid``) on the scans that need it: those whose disease gate
  opens (``diseased_only``, default), every scan where the rules' lungs hold less than
  ``collapse_ratio`` of the network's lung volume (the rules lost whole regions: a
  consolidated lobe, white lung over the domes), and every scan where the network's lung
  outside the rules' holds a thick part of ``lost_ml`` of consolidation-range tissue (a
  dense segment the rules left out of mildly diseased lungs, where the gate, reading inside
  their mask, stays closed). By default (``learned_choice``) each voxel
  where the rules' mask and the network's (as ``"model"``) disagree is decided by the
  classifier of :mod:`covidct.lungs.choice`; lung it adds takes the network's side label,
  and, unless the rules collapsed, is kept only in parts that touch the rules' lungs.
  With ``learned_choice=False``, fixed thresholds: what the rules took where the model's
  probability is below ``remove_below`` (mediastinal fat, pericardium, upper abdomen) is
  removed, lung the rules missed where it is above ``add_above`` (dense lung at the
  mediastinum and the diaphragm) is added when it touches the rules' lungs, with the side of
  the nearer lung (optionally only where a disagreement survives an in-plane opening of
  ``open_mm`` and holds ``min_ml``), and on collapse the network's mask is used instead.

The network sees axial slices: :func:`covidct.lungs.segment_lungs` lays a coronal or
sagittal reformat as an axial series first; :func:`network_pass` refuses one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from scipy import ndimage as ndi

from covidct.errors import InvalidInputError, NoLungsFoundError
from covidct.lungs.airways import find_airways, remove_airways
from covidct.lungs.classical import large_components
from covidct.lungs.gas import abdominal_gas_of, gas_pockets
from covidct.lungs.gate import disease_gate
from covidct.lungs.grid import Orientation, WorkingGrid, labels_to_input
from covidct.lungs.options import LungOptions
from covidct.lungs.split import LEFT, RIGHT, label_sides

if TYPE_CHECKING:
    from covidct.lungs.choice import LungChoice
    from covidct.lungs.segment import Airways

__all__ = ["NetworkPass", "corrected_rules", "labelled", "model_lungs", "network_labels", "network_pass",
           "probability_and_choice"]

log = logging.getLogger(__name__)

_THRESHOLD = 0.5


def _probability(hu: np.ndarray, spacing: tuple[float, float, float], orient: Orientation,
                 model: Any, threads: int | None) -> np.ndarray:
    """The lung model's probability on ``hu`` (torch is imported here, when a scan needs it).
    The network reads the scan as a DICOM axial series lies (slices feet to head, rows front
    to back, columns patient right to left), whatever the array's order: a scan stored
    otherwise (a NIfTI in RAS, a series head first) gets the same probabilities."""
    from covidct.lungs.network import predict_lung_probability

    lay = orient.layout  # an axial scan (network_pass): flips only, the spacing stays
    if lay.is_standard:
        return predict_lung_probability(hu, spacing, model=model, threads=threads)
    return lay.unlay(predict_lung_probability(lay.lay(hu), spacing, model=model, threads=threads))


class NetworkPass(NamedTuple):
    """The scan on the working grid, the network's lung probability there (z, y, x) and its
    labels (:func:`network_labels`; None when it finds no plausible lung)."""

    grid: WorkingGrid
    orient: Orientation
    hu: np.ndarray  # working-grid HU
    body: np.ndarray  # body mask
    prob: np.ndarray  # lung probability in [0, 1]
    labels: np.ndarray | None = None  # 1 right, 2 left


def network_pass(arr: np.ndarray, sp: tuple[float, float, float], direction: tuple[float, ...],
                 opts: LungOptions, name: str, *, model: Any = None,
                 threads: int | None = None) -> NetworkPass:
    """What the model's methods need from the scan alone (:class:`NetworkPass`: the working
    grid, the network's probability and its labels). It does not depend on the rules' mask,
    so :func:`covidct.lungs.segment_lungs` runs it beside them (torch releases the GIL) with
    ``threads`` CPU threads for the network (default torch's setting).

    Raises:
        InvalidInputError: not axial slices.
    """
    from covidct.lungs.segment import to_working_scan
    from covidct.lungs.weights import lung_networks

    orient = Orientation.from_direction(direction, sp)
    _check_axial(orient, name)
    hu, body, grid = to_working_scan(arr, sp, opts, name)
    prob = _probability(hu, grid.spacing, orient, lung_networks(opts, model), threads)
    return labelled(NetworkPass(grid, orient, hu, body, prob), opts, name)


def _check_axial(orient: Orientation, name: str) -> None:
    if not orient.axial:
        raise InvalidInputError(f"{name}: the lung model needs axial slices (z the cranio-caudal axis)")


def probability_and_choice(hu: np.ndarray, spacing: tuple[float, float, float], orient: Orientation, name: str,
                           opts: LungOptions, *, model: Any = None, threads: int | None = None,
                           choice: bool = False) -> tuple[np.ndarray, LungChoice | None, str | None]:
    """The network's probability on the working scan ``hu`` (spacing in mm; the networks of
    :func:`covidct.lungs.weights.lung_networks`) and, when ``choice``, its lung choice
    classifier (:func:`covidct.lungs.weights.lung_choice`) and the warning when it was
    fitted with another network: what :func:`covidct.lungs.segment_lungs` runs beside the
    rules (it gives the warning once the rules found lungs).

    Raises:
        InvalidInputError: not axial slices.
    """
    from covidct.lungs.weights import foreign_note, lung_choice, lung_networks

    _check_axial(orient, name)
    networks = lung_networks(opts, model)
    chosen = lung_choice(opts) if choice else None
    return (_probability(hu, spacing, orient, networks, threads), chosen,
            foreign_note(chosen, networks) if chosen is not None and opts.hybrid.choice is None else None)


def labelled(network: NetworkPass, opts: LungOptions, name: str, *,
             shared: tuple[Airways, np.ndarray] | None = None) -> NetworkPass:
    """``network`` with its :func:`network_labels` (None when it finds no plausible lung)."""
    try:
        return network._replace(labels=network_labels(network, opts, name, shared=shared))
    except NoLungsFoundError:  # what the network took for lung was no plausible lung
        return network


def network_labels(network: NetworkPass, opts: LungOptions, name: str, *,
                   shared: tuple[Airways, np.ndarray] | None = None) -> np.ndarray:
    """Working-grid labels (1 right, 2 left) of the network's lung (probability above 0.5 in
    the body), airways and the rules' abdominal gas removed (on a scan of the lung bases the
    network can read stomach or bowel gas as lung), parts below ``select.min_lung_ml`` dropped.
    ``shared``: the rules' airways and abdominal gas on this working scan, when they ran
    (else found here, the same way).

    Raises:
        NoLungsFoundError: nothing of that size is left.
    """
    from covidct.lungs.segment import Airways, _largest_parts, _median_in_plane, _midline

    grid, orient, hu, body, prob, _ = network
    if shared is None:
        airways = Airways(*find_airways(hu, body, grid.spacing, orient, opts))
        pockets = gas_pockets(_median_in_plane(hu), grid.voxel_ml)
        abdominal = abdominal_gas_of(hu, body, airways.lumen, pockets, grid.spacing, orient, opts)
    else:
        airways, abdominal = shared
    airway, trachea_x = airways
    lungs = (prob > _THRESHOLD) & body & ~abdominal
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

    network = network or network_pass(arr, sp, direction, opts, name, model=model)
    labels = network.labels if network.labels is not None else network_labels(network, opts, name)  # raises
    grid = network.grid
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
    return _thick_parts(mask, grid, opts.hybrid.open_mm, opts.hybrid.min_ml)


def _thick_parts(mask: np.ndarray, grid: WorkingGrid, open_mm: float, min_ml: float) -> np.ndarray:
    """The 3D parts of ``mask`` opened in-plane by ``open_mm`` (0: not opened) that hold at
    least ``min_ml`` mL."""
    steps = round(open_mm / (2 * grid.spacing[1]))
    opened = ndi.binary_opening(mask, structure=np.ones((1, 3, 3), bool), iterations=steps) if steps else mask
    lab, n = ndi.label(opened)
    if n == 0:
        return opened
    sizes = np.bincount(lab.ravel()) * grid.voxel_ml
    sizes[0] = 0.0
    return np.isin(lab, np.nonzero(sizes >= min_ml)[0]) & (lab > 0)


def _collapse(rules: np.ndarray, network: NetworkPass, opts: LungOptions, name: str) -> np.ndarray | None:
    """The network's labels when the rules' lungs hold less than ``hybrid.collapse_ratio`` of
    its lung volume (the rules lost whole regions: a consolidated lobe, white lung over the
    domes), else None. The disease gate reads disease inside the rules' lungs, so it cannot
    see a lobe they left out: this check runs on every scan."""
    if not _collapsed(rules, network, opts):
        return None
    log.info("%s: the rules' lungs hold %.0f %% of the network's: the network's mask is used",
             name, 100.0 * np.count_nonzero(rules) / np.count_nonzero(network.labels))
    return network.labels


def _collapsed(rules: np.ndarray, network: NetworkPass, opts: LungOptions) -> bool:
    """Whether the rules' lungs hold less than ``hybrid.collapse_ratio`` of the network's
    (False when the network found no plausible lung)."""
    labels = network.labels
    return labels is not None and np.count_nonzero(rules) < opts.hybrid.collapse_ratio * np.count_nonzero(labels)


def _lost_lung(rules: np.ndarray, network: NetworkPass, opts: LungOptions) -> bool:
    """Whether the network's lung outside the rules' holds a part of at least
    ``hybrid.lost_ml`` of consolidation-range tissue (median HU in ``hybrid.lost_hu``) that
    survives an in-plane opening of ``hybrid.lost_open_mm`` and touches the rules' lungs:
    dense lung the rules left out where the disease gate, reading inside their mask, stays
    closed (False when the test is off or the network found no plausible lung)."""
    h = opts.hybrid
    if h.lost_ml <= 0 or network.labels is None:
        return False
    outside = (network.labels > 0) & (rules == 0)
    parts, n = ndi.label(_touching(_thick_parts(outside, network.grid, h.lost_open_mm, h.lost_ml), rules > 0))
    for i in range(1, n + 1):
        part = parts == i
        median = float(np.median(network.hu[part]))
        if h.lost_hu[0] <= median <= h.lost_hu[1]:
            log.info("%.0f mL of dense lung outside the rules' mask (median %.0f HU): corrected",
                     np.count_nonzero(part) * network.grid.voxel_ml, median)
            return True
    return False


def corrected_rules(rules: np.ndarray, network: NetworkPass, opts: LungOptions, name: str,
                    choice: LungChoice | None = None) -> np.ndarray:
    """``"hybrid"`` on the working grid: the rules' labels ``rules`` corrected by the model
    (module docstring), their largest parts, checked to be in view; ``rules`` itself (the
    same array) where no correction runs.

    Raises:
        NoLungsFoundError: the corrected lungs hold less than ``select.min_view_ml``.
    """
    grid, orient, hu, body, prob, _ = network
    if opts.hybrid.learned_choice:
        return _learned_choice(rules, network, opts, name, choice)
    collapsed = _collapse(rules, network, opts, name)
    if collapsed is not None:
        return _checked(collapsed, grid, opts, name)
    if not ((rules == RIGHT).any() and (rules == LEFT).any()):
        return rules
    if (opts.hybrid.diseased_only and not disease_gate(rules, hu, grid.spacing, opts).open
            and not _lost_lung(rules, network, opts)):
        return rules
    added = _touching(_thick((prob > opts.hybrid.add_above) & body & (rules == 0), grid, opts), rules > 0)
    removed = _thick((prob < opts.hybrid.remove_below) & (rules > 0), grid, opts)
    if not (added.any() or removed.any()):
        return rules
    labels = rules.copy()
    labels[removed] = 0
    side = _nearer_side(added, rules, orient.lr_axis)
    labels[added] = side[added]
    return _checked(labels, grid, opts, name)


def _checked(labels: np.ndarray, grid: WorkingGrid, opts: LungOptions, name: str) -> np.ndarray:
    """Each lung label's largest part, checked to hold lungs in view (raises as the rules' check)."""
    from covidct.lungs.segment import _check_in_view, _largest_parts

    labels = _largest_parts(labels)
    _check_in_view(labels, grid, opts, name)
    return labels


def _touching(added: np.ndarray, rules: np.ndarray) -> np.ndarray:
    """The 3D parts of ``added`` that touch ``rules`` (face neighbours)."""
    lab, _ = ndi.label(added)
    return np.isin(lab, np.unique(lab[ndi.binary_dilation(rules) & (lab > 0)])) & (lab > 0)


def _learned_choice(rules: np.ndarray, network: NetworkPass, opts: LungOptions, name: str,
                    choice: LungChoice | None) -> np.ndarray:
    """``"hybrid"`` with ``hybrid.learned_choice``: where the disease gate opens, the rules'
    lungs hold less than ``hybrid.collapse_ratio`` of the network's or they left out a dense
    part of it (:func:`_lost_lung`), each voxel where the
    rules' and the network's masks disagree is chosen by the classifier of
    :mod:`covidct.lungs.choice` (added lung takes the network's side label). Unless the rules
    collapsed, lung added where the rules have none is kept only in parts that touch the
    rules' lungs (as the fixed thresholds add it): on a scan of the lung bases the network can
    take bowel for lung."""
    from covidct.lungs.choice import choose_lung
    from covidct.lungs.weights import lung_choice

    grid, _, hu, body, prob, net = network
    if net is None:  # the network found no plausible lung
        return rules
    collapsed = _collapsed(rules, network, opts)
    sick = not opts.hybrid.diseased_only or collapsed or (
        (rules == RIGHT).any() and (rules == LEFT).any() and disease_gate(rules, hu, grid.spacing, opts).open
    ) or _lost_lung(rules, network, opts)
    if not sick:
        return rules
    lung = choose_lung(hu, prob, body, rules > 0, net > 0, grid.spacing, lung_choice(opts, choice),
                       superior_is_high=network.orient.superior_is_high)
    if not collapsed:
        lung = (lung & (rules > 0)) | _touching(lung & (rules == 0), rules > 0)
    labels = np.where(lung, np.where(rules > 0, rules, net), 0).astype(np.uint8)
    return _checked(labels, grid, opts, name)
