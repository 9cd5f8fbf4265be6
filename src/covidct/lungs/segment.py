"""``segment_lungs``: unsupervised 3D lung segmentation (COVID-MTL method, made robust).

A :class:`CTVolume` stored otherwise than a DICOM axial series (a NIfTI in RAS, a coronal
reformat) is laid as one first (:class:`~covidct.io.layout.Layout`) and its labels are laid
back. Pipeline (all on a coarser working grid, see :class:`~covidct.lungs.options.LungOptions`):

1. body outline (tissue above ``threshold.body_hu``, holes filled per slice);
2. air below ``threshold.air_hu`` inside the body (``"refined"``) or the Kaggle/DSB-2017 air
   mask (``"classical"``, the paper's baseline);
3. trachea and main bronchi found and tracked from the superior slices, removed;
4. lung components kept: at least ``select.min_lung_ml``, deep inside the body (not skin folds,
   not air between arm and chest) and not pure gas (median above ``GAS_MEDIAN_HU``,
   which rejects bowel and stomach gas: lung has vessels and partial volume);
5. right / left labels from the direction matrix, touching lungs split;
6. ``"refined"`` only: large pure-gas pockets (stomach, bowel) are not lung (step 2), and
   those floating on soft tissue (abdominal gas) never become lung later; the
   dense-lung recovery of :mod:`covidct.lungs.refine` (the paper's snake, pockets, mirror
   prior), the disease gate (:mod:`covidct.lungs.gate`, evaluated once), then
   (``cavity.enabled``) the thoracic-cavity growth of :mod:`covidct.lungs.cavity` and
   the organ-dome carving of :mod:`covidct.lungs.domes` for bilateral subpleural disease;
   the outer rim voxels that are mostly not lung (partial volume) are trimmed: all of them
   in clear lungs, in diseased lungs those beside aerated lung;
7. lungs in view: less than ``select.min_view_ml`` of lung in all (an abdominal CT that
   shows the posterior lung recesses and bowel gas at its top edge) raises ``NoLungsFoundError``
   (a scan of the lung bases alone: :meth:`LungOptions.bases`);
   ``"classical"`` keeps its mask but counts it without the abdominal gas;
8. labels brought back to the input grid (resampled on the box around them only).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
from scipy import ndimage as ndi

from covidct.errors import InvalidInputError, NoLungsFoundError
from covidct.io.layout import Layout
from covidct.io.volume import CTVolume
from covidct.lungs.airways import find_airways, remove_airways
from covidct.lungs.cavity import cavity_fill, rib_slab
from covidct.lungs.classical import body_mask, classical_air, dilated, fill_slices
from covidct.lungs.domes import carve_domes
from covidct.lungs.gas import GAS_MEDIAN_HU, abdominal_gas_of, gas_pockets
from covidct.lungs.gate import DiseaseGate, disease_gate
from covidct.lungs.grid import Orientation, WorkingGrid, labels_to_input, mm_to_px, to_working
from covidct.lungs.options import LungOptions
from covidct.lungs.refine import mirror_prior, refine_labels
from covidct.lungs.split import LEFT, RIGHT, label_sides
from covidct.lungs.threads import cores, thread_map

if TYPE_CHECKING:
    from covidct.lungs.choice import LungChoice

__all__ = ["DEFAULT_METHOD", "METHODS", "segment_lungs"]

#: the lung segmentation methods of :func:`segment_lungs`.
METHODS = ("refined", "classical", "model", "hybrid")
#: the method used when none is named: the best on real CTs with painted disease, held out
#: (docs/validation.md); on scans whose disease gate stays closed it is "refined".
DEFAULT_METHOD: Literal["hybrid"] = "hybrid"

log = logging.getLogger(__name__)

_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
_SPACING_RANGE_MM = (0.05, 20.0)
_RIM_MAX_HU = -100.0  # a rim voxel above this is consolidation / soft tissue, not a mix
_MIN_DEPTH_MM = 8.0  # lung lies at least this deep inside the body outline (median voxel)


def _inputs(
    image: CTVolume | np.ndarray, spacing: tuple[float, float, float] | None
) -> tuple[np.ndarray, tuple[float, float, float], tuple[float, ...], str]:
    """Validate the input; returns (hu array view, spacing, direction, name for messages)."""
    if isinstance(image, CTVolume):
        name = str(image.metadata.get("source_path", image.metadata.get("path", "CT volume")))
        if not image.is_hu:
            raise InvalidInputError(
                f"{name}: lung segmentation needs Hounsfield units; this volume is not HU "
                "(is_hu=False, e.g. an 8-bit PNG stack)"
            )
        arr, sp, direction = image.array, image.spacing, image.direction
        if spacing is not None and not np.allclose(spacing, sp):
            raise InvalidInputError(
                f"{name}: spacing {spacing} given with a CTVolume of spacing {sp}; pass one"
            )
    else:
        name = "array"
        arr = np.asarray(image)
        if arr.ndim != 3:
            raise InvalidInputError(
                f"lung segmentation needs a 3D (z, y, x) HU volume; got shape {arr.shape}"
            )
        if spacing is None:
            raise InvalidInputError("an array input needs spacing=(sz, sy, sx) in mm")
        try:
            sp = tuple(float(s) for s in spacing)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"spacing must be 3 numbers in mm; got {spacing!r}") from exc
        direction = _IDENTITY
    if arr.ndim != 3:
        raise InvalidInputError(f"{name}: expected a 3D (z, y, x) volume; got shape {arr.shape}")
    if len(sp) != 3 or not all(np.isfinite(s) and _SPACING_RANGE_MM[0] <= s <= _SPACING_RANGE_MM[1] for s in sp):
        raise InvalidInputError(
            f"{name}: spacing (sz, sy, sx) must be 3 values in "
            f"[{_SPACING_RANGE_MM[0]}, {_SPACING_RANGE_MM[1]}] mm; got {sp}"
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InvalidInputError(f"{name}: expected real HU values; got dtype {arr.dtype}")
    if min(arr.shape) < 3:
        raise InvalidInputError(f"{name}: volume too small for lung segmentation: {arr.shape}")
    return arr, sp, direction, name  # type: ignore[return-value]


def _select_lungs(
    air: np.ndarray, hu: np.ndarray, depth_mm: np.ndarray, grid: WorkingGrid, opts: LungOptions
) -> np.ndarray:
    """Keep the air components that look like lung; boolean mask."""
    lab, n = ndi.label(air)
    if n == 0:
        return np.zeros(air.shape, bool)
    idx = np.arange(1, n + 1)
    sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
    min_vox = opts.select.min_lung_ml / grid.voxel_ml
    keep = []
    for i, size in zip(idx, sizes):
        if size < min_vox:
            continue
        vals = lab == i
        med_hu = float(np.median(hu[vals]))
        med_depth = float(np.median(depth_mm[vals]))
        if med_hu < GAS_MEDIAN_HU or med_depth < _MIN_DEPTH_MM:
            log.debug("air component of %d voxels dropped (median %.0f HU, depth %.0f mm)",
                      size, med_hu, med_depth)
            continue
        keep.append(i)
    return np.isin(lab, keep)


def _partial_volume_rim(labels: np.ndarray, hu: np.ndarray, opts: LungOptions) -> np.ndarray:
    """Outer-rim voxels of the lungs that are mostly not lung (boolean mask).

    The closings and the snake push the outline one voxel out, onto voxels that mix lung
    with the chest wall or the mediastinum. A voxel of the in-plane rim (next to non-lung)
    between ``threshold.air_hu`` and ``_RIM_MAX_HU`` holds less than about half lung; denser
    rim voxels (consolidation against muscle) are kept. In diseased lungs such a voxel may
    be ground glass at the pleura: there only those beside aerated lung are trimmed
    (:func:`_beside_aerated`).
    """
    lung = labels > 0
    cross = ndi.generate_binary_structure(2, 1)[None]
    rim = lung & ndi.binary_dilation(~lung, structure=cross)
    return rim & (hu > opts.threshold.air_hu) & (hu < _RIM_MAX_HU)


def _beside_aerated(labels: np.ndarray, rim: np.ndarray, smooth: np.ndarray,
                    opts: LungOptions) -> np.ndarray:
    """Voxels in-plane next to (8-neighbours) lung inside the rim that is aerated: its in-plane
    median HU below the ground-glass range (``gate.ggo_hu[0]``). A rim voxel there mixes clear
    lung with the wall; one beside ground glass or consolidation may be disease at the pleura."""
    aerated = (labels > 0) & ~rim & (smooth < opts.gate.ggo_hu[0])
    return ndi.binary_dilation(aerated, structure=np.ones((1, 3, 3), bool))


def _largest_parts(labels: np.ndarray) -> np.ndarray:
    """Each lung label reduced to its largest 3D (6-connected) part (a new array): the
    trims and carvings leave specks in the fat around the lungs."""
    out = np.zeros_like(labels)
    box = ndi.find_objects((labels > 0).astype(np.uint8))
    if not box:
        return out
    sub, part = labels[box[0]], out[box[0]]  # the box around the lungs (a view of ``out``)
    for k in (1, 2):
        lab, n = ndi.label(sub == k)
        if n:
            sizes = np.bincount(lab.ravel())
            sizes[0] = 0
            part[lab == int(np.argmax(sizes))] = k
    return out


#: the compare-exchange pairs of a 19-step sorting network whose fifth of nine values ends
#: up the median (``opt_med9`` of Devillard's "Fast median search", after Paeth)
_MEDIAN9 = ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8), (4, 7),
            (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2))


def _median_in_plane(hu: np.ndarray) -> np.ndarray:
    """The in-plane 3 x 3 median of ``hu`` (z, y, x): the values of
    ``scipy.ndimage.median_filter(hu, size=(1, 3, 3))`` (its mirrored border repeats the edge
    pixel), by a sorting network of minima and maxima over the nine shifted copies of each
    slice: exact (the median is one of the nine values), and slice by slice in the cache, a
    tenth of the CPU time of SimpleITK's filter."""
    h, w = hu.shape[1:]
    out = np.empty_like(hu)
    values = [np.empty((h, w), hu.dtype) for _ in range(9)]
    spare = np.empty((h, w), hu.dtype)
    for z in range(hu.shape[0]):
        padded = np.pad(hu[z], 1, mode="edge")
        for buffer, (dy, dx) in zip(values, np.ndindex(3, 3)):
            np.copyto(buffer, padded[dy:dy + h, dx:dx + w])
        for a, b in _MEDIAN9:
            np.minimum(values[a], values[b], out=spare)
            np.maximum(values[a], values[b], out=values[b])
            values[a], spare = spare, values[a]
        out[z] = values[4]
    return out


def _depth_mm(body: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """In-plane distance (mm) of each body voxel to the body outline."""
    out = np.zeros(body.shape, np.float32)
    zs = np.nonzero(body.any(axis=(1, 2)))[0]
    depths = thread_map(lambda z: ndi.distance_transform_edt(np.pad(body[z], 1), sampling=spacing[1:])[1:-1, 1:-1], zs)
    for z, depth in zip(zs, depths):
        out[z] = depth
    return out


def _midline(lungs: np.ndarray, body: np.ndarray, orient: Orientation, trachea_x: float | None) -> float:
    """Index position of the body midline along the left-right axis: the trachea axis when
    one was found, else the centre of the body in the slices holding lung."""
    axis = orient.lr_axis
    if trachea_x is not None and axis == 2:
        return trachea_x
    if axis == 0:
        return float(np.mean(np.nonzero(body)[0]))
    zs = np.nonzero(lungs.any(axis=(1, 2)))[0]
    return float(np.mean(np.nonzero(body[zs])[axis]))


def _candidate_air(
    hu: np.ndarray, smooth: np.ndarray | None, body: np.ndarray, airway: np.ndarray,
    grid: WorkingGrid, opts: LungOptions,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Steps 2-3: air inside the body without the airways (and, ``"refined"``, without
    large gas pockets); returns (air, gas pockets or None)."""
    if smooth is None:
        air = classical_air(hu, opts.threshold.air_hu) & body
    else:
        air = (hu < opts.threshold.air_hu) & body
    air = remove_airways(air, airway, grid.spacing, opts)
    if smooth is None:
        return air, None
    pockets = gas_pockets(smooth, grid.voxel_ml)
    return air & ~pockets, pockets


def _initial_labels(
    hu: np.ndarray, smooth: np.ndarray | None, body: np.ndarray, grid: WorkingGrid,
    orient: Orientation, opts: LungOptions, name: str,
) -> tuple[np.ndarray, Airways, float, np.ndarray | None]:
    """Steps 2-5: air, airways removed, lung components kept, right / left labels.

    ``smooth`` is None for ``"classical"`` (the Kaggle air mask, no gas-pocket rule).
    Returns (labels, airways, midline index, gas pockets or None).
    """
    wsp = grid.spacing
    airway, trachea_x = find_airways(hu, body, wsp, orient, opts)
    air, pockets = _candidate_air(hu, smooth, body, airway, grid, opts)
    lungs = _select_lungs(air, hu, _depth_mm(body, wsp), grid, opts)
    total_ml = lungs.sum() * grid.voxel_ml
    if total_ml < opts.select.min_lung_ml:
        raise NoLungsFoundError(
            f"{name}: no plausible lungs found: no air region of at least "
            f"{opts.select.min_lung_ml:.0f} mL below {opts.threshold.air_hu:.0f} HU deep "
            f"inside the body (found {total_ml:.0f} mL); is this a chest CT in HU?"
        )
    if smooth is not None:
        lungs = fill_slices(lungs)
    midline = _midline(lungs, body, orient, trachea_x)
    min_vox = max(1, int(1.0 / grid.voxel_ml))  # fragments under 1 mL dropped
    return label_sides(lungs, orient, midline, wsp, min_vox), Airways(airway, trachea_x), midline, pockets


def _never_lung(
    labels: np.ndarray, airway: np.ndarray, abdominal: np.ndarray, spacing: tuple[float, float, float],
    opts: LungOptions,
) -> np.ndarray:
    """The airway lumen with its wall (``airways.dilation_mm``) and the abdominal gas:
    never lung. The abdominal gas is taken out of ``labels`` (in place)."""
    wall_px = mm_to_px(opts.airways.dilation_mm, spacing[1])
    wall = dilated(airway, np.ones((1, 3, 3), bool), wall_px)
    labels[abdominal] = 0
    return wall | abdominal


def _mirror(
    labels: np.ndarray, hu: np.ndarray, smooth: np.ndarray, allowed: np.ndarray,
    midline: float, opts: LungOptions,
) -> np.ndarray:
    """The white-lung mirror prior, adding lesion-like tissue only: not fat
    (``threshold.fat_hu``), and below ``cavity.max_hu`` on the smoothed HU (the heart
    wall, which the mirrored right lung overlaps, is denser than most consolidation)."""
    fat = (hu > opts.threshold.fat_hu[0]) & (hu < opts.threshold.fat_hu[1])
    lesion_like = smooth < opts.cavity.max_hu
    return mirror_prior(labels, hu, allowed & ~fat & lesion_like, midline, opts)


def _cavity_and_domes(
    labels: np.ndarray, smooth: np.ndarray, body: np.ndarray, never: np.ndarray,
    gate: DiseaseGate, midline: float, spacing: tuple[float, float, float],
    orient: Orientation, opts: LungOptions,
) -> np.ndarray:
    """The thoracic-cavity growth, then the organ-dome carving (one rib slab for both)."""
    slab = rib_slab(smooth, spacing, opts)
    labels = cavity_fill(labels, smooth, slab, body, never, spacing, opts, gate,
                         midline_x=midline, superior_is_high=orient.superior_is_high)
    return carve_domes(labels, smooth, slab, body, spacing, opts, diseased=gate.open,
                       superior_is_high=orient.superior_is_high)


def _refine(
    labels: np.ndarray, hu: np.ndarray, smooth: np.ndarray, body: np.ndarray,
    airway: np.ndarray, abdominal: np.ndarray, midline: float,
    spacing: tuple[float, float, float], orient: Orientation, opts: LungOptions,
) -> np.ndarray:
    """Step 6 of ``"refined"``: gas, mirror prior, per-slice refinement, cavity, domes, rim."""
    never = _never_lung(labels, airway, abdominal, spacing, opts)
    forbidden = (hu > opts.threshold.bone_hu) | never
    if opts.mirror.enabled and orient.axial:
        labels = _mirror(labels, hu, smooth, body & ~forbidden, midline, opts)
    labels = refine_labels(labels, hu, body, forbidden, spacing, opts,
                           midline if orient.lr_axis == 2 else None)
    # the disease gate, once, on the refined outline: it decides the cavity growth, how
    # domes are carved and which of the partial-volume rim is trimmed
    gate = disease_gate(labels, hu, spacing, opts)
    if opts.cavity.enabled and orient.axial:
        labels = _cavity_and_domes(labels, smooth, body, never, gate, midline, spacing,
                                   orient, opts)
    labels[never] = 0  # hole filling put the main bronchi (and gas domes) back
    rim = _partial_volume_rim(labels, hu, opts)
    if gate.open:  # in diseased lungs the rim may be ground glass: only rim beside aerated lung
        rim &= _beside_aerated(labels, rim, smooth, opts)
    labels[rim] = 0
    return _largest_parts(labels)


def segment_lungs(
    image: CTVolume | np.ndarray,
    spacing: tuple[float, float, float] | None = None,
    *,
    method: Literal["refined", "classical", "model", "hybrid"] = DEFAULT_METHOD,
    options: LungOptions | None = None,
    model: Any = None,
    choice: LungChoice | None = None,
) -> np.ndarray:
    """Segment the lungs of a chest CT.

    Args:
        image: a :class:`CTVolume` in HU (its spacing and direction are used) or a
            ``(z, y, x)`` HU array (then ``spacing`` is required, LPS identity direction).
        spacing: ``(sz, sy, sx)`` voxel size in mm for an array input.
        method: ``"hybrid"`` (default: the rules of ``"refined"``, corrected with the shipped
            lung network where the disease gate opens, the rules lost whole regions or
            they left out a dense part the network reads as lung: a learned classifier
            chooses each voxel where the two masks disagree; clear lungs keep the rules'
            mask),
            ``"refined"`` (the rules alone: recovers dense, infected lung), ``"classical"``
            (the Kaggle/DSB-2017 threshold baseline of the paper) or ``"model"`` (the
            network alone, :mod:`covidct.lungs.learned_segment`).
        options: settings; default :meth:`LungOptions.fast`.
        model, choice: for "model" and "hybrid", a lung network
            (:func:`covidct.lungs.network.load_lung_models`) and a lung choice classifier
            (:func:`covidct.lungs.choice.load_lung_choice`) instead of those of the options
            (``options.hybrid.model`` / ``.choice``, files) or the shipped ones: a network
            retrained by ``covidct train lungs-unet-2mm``, or one held out
            (:mod:`covidct.lungs.weights`).
    Returns:
        uint8 ``(z, y, x)`` mask on the input grid: 0 background, 1 right lung,
        2 left lung; trachea and main bronchi are excluded.
    Raises:
        InvalidInputError: non-HU input, not 3D, or absurd spacing.
        NoLungsFoundError: no plausible lung in the volume.
        DataUnavailableError: "model" / "hybrid" without the shipped lung model (or, for
            "hybrid", its lung choice classifier).
    """
    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
    opts = options or LungOptions.fast()
    standard = _in_standard_layout(image, spacing)
    if standard is not None:  # stored otherwise than a DICOM series: segmented laid as one
        volume, layout = standard
        return layout.unlay(segment_lungs(volume, method=method, options=opts, model=model, choice=choice))
    if method in ("model", "hybrid"):
        return _learned(image, spacing, method, opts, model=model, choice=choice)
    hu, body, grid, orient, name = _working_scan(image, spacing, opts)
    return labels_to_input(_rules(hu, body, grid, orient, opts, name, method).labels, grid)


class Airways(NamedTuple):
    """The airway lumen found by :func:`~covidct.lungs.airways.find_airways` (working grid)
    and the trachea's left-right index (None when not found)."""

    lumen: np.ndarray
    trachea_x: float | None


class _Rules(NamedTuple):
    """Working-grid labels of the rules, and what the lung network's labels share with them:
    the airways and the abdominal gas (None for ``"classical"``)."""

    labels: np.ndarray
    airways: Airways
    abdominal: np.ndarray | None


def _rules(hu: np.ndarray, body: np.ndarray, grid: WorkingGrid, orient: Orientation, opts: LungOptions,
           name: str, method: str, *, shared: Callable[[Airways, np.ndarray], None] | None = None) -> _Rules:
    """Steps 2-7 of ``"refined"`` or ``"classical"`` on the working scan. ``shared``, for
    ``"refined"``: called with the airways and the abdominal gas as soon as they are found,
    before the refinement (the network's labels need them, and are found meanwhile)."""
    # the in-plane 3 x 3 median of the HU, computed once here and shared by the gas,
    # mirror, cavity and dome steps
    smooth = _median_in_plane(hu) if method == "refined" else None
    labels, airways, midline, pockets = _initial_labels(hu, smooth, body, grid, orient, opts, name)
    if method != "refined":  # the baseline keeps its mask, gas and all; bowel gas is not lung in view
        _check_in_view(_without_abdominal_gas(labels, hu, body, airways.lumen, grid, orient, opts),
                       grid, opts, name)
        return _Rules(labels, airways, None)
    abdominal = abdominal_gas_of(hu, body, airways.lumen, pockets, grid.spacing, orient, opts)
    if shared is not None:
        shared(airways, abdominal)
    labels = _refine(labels, hu, smooth, body, airways.lumen, abdominal, midline, grid.spacing,
                     orient, opts)
    _check_in_view(labels, grid, opts, name)
    return _Rules(labels, airways, abdominal)


def _learned(image: CTVolume | np.ndarray, spacing: tuple[float, float, float] | None,
             method: str, opts: LungOptions, *, model: Any = None, choice: LungChoice | None = None) -> np.ndarray:
    """``"model"`` and ``"hybrid"`` (the learned model, ONNX Runtime, is loaded only here).

    The rules run in both, and their errors come first: their no-lungs refusal is the one
    that holds on real scans (the model alone takes bowel gas for lung), and "hybrid"
    corrects their mask. The network needs the working scan only, so it runs beside them in
    a thread on the cores the rules leave it (its threads on the rules' core only contend),
    and loads the lung choice classifier there too; its labels, which reuse the rules' airways
    and abdominal gas, are found there too while the rules refine their outline.
    """
    from covidct.lungs import learned_segment

    arr, sp, direction, name = _inputs(image, spacing)
    hu, body, grid = to_working_scan(arr, sp, opts, name)
    orient = Orientation.from_direction(direction, sp)
    load_choice = method == "hybrid" and opts.hybrid.learned_choice and choice is None
    with ThreadPoolExecutor(max_workers=1) as pool:
        net = pool.submit(learned_segment.probability_and_choice, hu, grid.spacing, orient, name, opts,
                          model=model, threads=max(1, cores() - 1), choice=load_choice)
        labelled: list[Future] = []

        def label_network(airways: Airways, abdominal: np.ndarray) -> None:
            def run() -> learned_segment.NetworkPass:
                network = learned_segment.NetworkPass(grid, orient, hu, body, net.result()[0])
                return learned_segment.labelled(network, opts, name, shared=(airways, abdominal))
            labelled.append(pool.submit(run))

        rules = _rules(hu, body, grid, orient, opts, name, "refined", shared=label_network)
        network = labelled[0].result()
        if load_choice:
            _, choice, note = net.result()
            if note:  # after the rules' refusal of a scan without lungs, which comes first
                log.warning(note)
    if method == "model":
        return learned_segment.model_lungs(arr, sp, direction, opts, name, network=network)
    return labels_to_input(learned_segment.corrected_rules(rules.labels, network, opts, name, choice), grid)


def _without_abdominal_gas(
    labels: np.ndarray, hu: np.ndarray, body: np.ndarray, airway: np.ndarray,
    grid: WorkingGrid, orient: Orientation, opts: LungOptions,
) -> np.ndarray:
    """``labels`` (a new array) without the scan's abdominal gas (:func:`abdominal_gas_of`),
    for ``"classical"``'s in-view check only: its mask keeps the gas (the seed's method), but
    an abdominal CT's bowel gas must not pass for lung in view."""
    pockets = gas_pockets(_median_in_plane(hu), grid.voxel_ml)
    gas = abdominal_gas_of(hu, body, airway, pockets, grid.spacing, orient, opts)
    return np.where(gas, 0, labels).astype(labels.dtype)


def _in_standard_layout(
    image: CTVolume | np.ndarray, spacing: tuple[float, float, float] | None
) -> tuple[CTVolume, Layout] | None:
    """``image`` laid as a DICOM axial series (:class:`~covidct.io.layout.Layout`: a NIfTI
    in RAS is flipped, a series head first too, a coronal or sagittal reformat transposed)
    and its layout; None when it lies so already (an array has the identity direction).
    Every method then gives a scan the labels it gives it stored the standard way, to the
    voxel (the rules' steps are symmetric only up to round-off)."""
    _inputs(image, spacing)
    if not isinstance(image, CTVolume):
        return None
    layout = Layout.of(image.direction)
    return None if layout.is_standard else (layout.lay_volume(image), layout)


def _working_scan(
    image: CTVolume | np.ndarray, spacing: tuple[float, float, float] | None, opts: LungOptions
) -> tuple[np.ndarray, np.ndarray, WorkingGrid, Orientation, str]:
    """Step 1: the validated input on the working grid; returns (working HU, body mask,
    grid, orientation, name for messages)."""
    arr, sp, direction, name = _inputs(image, spacing)
    hu, body, grid = to_working_scan(arr, sp, opts, name)
    return hu, body, grid, Orientation.from_direction(direction, sp), name


def to_working_scan(arr: np.ndarray, sp: tuple[float, float, float], opts: LungOptions,
                    name: str) -> tuple[np.ndarray, np.ndarray, WorkingGrid]:
    """A validated HU array (z, y, x; spacing ``sp`` in mm) on the working grid: (working
    HU, body mask, grid). Shared by the rules and the lung network's pass.

    Raises:
        NoLungsFoundError: no body (nothing above ``threshold.body_hu``).
    """
    grid = WorkingGrid.choose(arr.shape, sp, opts.grid.inplane_mm, opts.grid.slice_mm)
    hu = to_working(arr, grid)
    body = body_mask(hu, opts.threshold.body_hu)
    if not body.any():
        raise NoLungsFoundError(
            f"{name}: no body found (nothing above {opts.threshold.body_hu:.0f} HU)"
        )
    return hu, body, grid


def _check_in_view(labels: np.ndarray, grid: WorkingGrid, opts: LungOptions, name: str) -> None:
    """Raise :class:`NoLungsFoundError` when no lung is left, or less than
    ``select.min_view_ml`` of it.

    An abdominal CT catches the posterior lung recesses at its top edge (216 mL with the
    gas of the colon next to them on a real one); the lowest 8 cm of lung hold more (0.4-1.3 L
    on the real CTs), the lowest 6 cm of a small lung no more (166-238 mL): such a scan of
    the lung bases needs :meth:`LungOptions.bases`, which the message names.
    """
    if not labels.any():
        raise NoLungsFoundError(f"{name}: no plausible lungs found after labelling")
    right = float(np.count_nonzero(labels == RIGHT)) * grid.voxel_ml
    left = float(np.count_nonzero(labels == LEFT)) * grid.voxel_ml
    if right + left < opts.select.min_view_ml:
        raise NoLungsFoundError(
            f"{name}: no lungs in view: only {right + left:.0f} mL of lung-like air "
            f"(right {right:.0f}, left {left:.0f}) where a lung analysis needs at least "
            f"{opts.select.min_view_ml:.0f} mL; is this an abdominal CT? For a scan of the lung "
            f"bases alone use the lung preset 'bases' (--lung-preset bases)"
        )
