"""Lesion quantification: volumes, fractions, zones and the MosMed CT category."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from covidct.errors import GeometryMismatchError, InvalidInputError
from covidct.io.layout import Layout
from covidct.io.volume import CTVolume
from covidct.lesions.detect import LESION_CONSOLIDATION, LESION_GGO, detect_lesions
from covidct.lesions.options import QuantOptions
from covidct.lesions.zones import LUNG_LABELS, zone_fractions

__all__ = ["LesionQuantification", "LungQuantification", "coverage_warnings", "ct_category", "outline_consolidated",
           "outline_warnings", "quantify"]

logger = logging.getLogger(__name__)

#: in-plane pixel (mm) up to which the detector is validated (docs/validation.md); on
#: coarser grids vessels two or three pixels thick pass as lesion.
VALIDATED_PIXEL_MM = 2.0
#: slice spacing (mm) up to which the detector is validated (phantoms at 3 mm, the real CTs
#: at 5 mm); thicker slices mix lesion, vessels and lung edge (benchmarks/robustness_numbers.py).
VALIDATED_SLICE_MM = 5.0
#: a CT in HU has air (lungs, outside the body) far below this; no voxel under it means the
#: values are not HU (grey levels, unrescaled stored values).
AIR_MAX_HU = -500.0

#: share of the lung outline in consolidation from which :func:`outline_warnings` warns: a
#: quarter of the lungs' edge has no contrast with the tissue beside it (docs/validation.md).
OUTLINE_WARN_SHARE = 0.25

_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def ct_category(fraction: float, *, ct0_max_fraction: float = 0.001) -> str:
    """MosMedData category from the share of lung involved.

    ``fraction < ct0_max_fraction`` -> ``CT-0``; ``< 0.25`` -> ``CT-1``; ``0.25 .. 0.50``
    (both included) -> ``CT-2``; ``(0.50, 0.75]`` -> ``CT-3``; ``> 0.75`` -> ``CT-4``
    (MosMed: CT-1 < 25 %, CT-2 25-50 %, CT-3 50-75 %, CT-4 > 75 %).

    Args:
        fraction: lesion volume / lung volume, in [0, 1].
        ct0_max_fraction: fractions below this count as no involvement (CT-0).
    """
    f = float(fraction)
    if not (math.isfinite(f) and 0.0 <= f <= 1.0):
        raise InvalidInputError(f"lesion fraction must be a number in [0, 1]; got {fraction!r}")
    if f < ct0_max_fraction:
        return "CT-0"
    if f < 0.25:
        return "CT-1"
    if f <= 0.50:
        return "CT-2"
    if f <= 0.75:
        return "CT-3"
    return "CT-4"


@dataclass(frozen=True)
class LungQuantification:
    """Volumes (ml) and fractions (0..1 of this lung's volume) for one lung or both."""

    lung_volume_ml: float
    lesion_volume_ml: float
    lesion_fraction: float
    ggo_volume_ml: float
    ggo_fraction: float
    consolidation_volume_ml: float
    consolidation_fraction: float

    @classmethod
    def from_counts(cls, lung: int, ggo: int, cons: int, voxel_ml: float) -> LungQuantification:
        """Build from voxel counts and the voxel volume in ml."""

        def frac(n: int) -> float:
            return float(n) / lung if lung else 0.0

        return cls(
            lung_volume_ml=lung * voxel_ml,
            lesion_volume_ml=(ggo + cons) * voxel_ml,
            lesion_fraction=frac(ggo + cons),
            ggo_volume_ml=ggo * voxel_ml,
            ggo_fraction=frac(ggo),
            consolidation_volume_ml=cons * voxel_ml,
            consolidation_fraction=frac(cons),
        )

    def to_dict(self) -> dict[str, float]:
        """Plain dict of the seven numbers."""
        return {k: float(getattr(self, k)) for k in self.__dataclass_fields__}


@dataclass(frozen=True, eq=False)
class LesionQuantification:
    """Result of :func:`quantify` for both lungs together.

    Attributes:
        lung_volume_ml, lesion_volume_ml, ggo_volume_ml, consolidation_volume_ml: volumes (ml).
        lesion_fraction, ggo_fraction, consolidation_fraction: shares of the lung volume (0..1).
        right, left: the same numbers per lung (label 1 right, 2 left).
        ct_category: MosMed ``CT-0`` .. ``CT-4`` (see :func:`ct_category`).
        zones: ``{"right": {"upper", "middle", "lower"}, "left": {...}}`` share of each zone
            (thirds of the lung's own superior-inferior extent) that is lesion.
        options: the :class:`QuantOptions` used.
        lesion_mask: ``(z, y, x)`` uint8 on the input grid: 0 none, 1 GGO, 2 consolidation.
        warnings: why the numbers may be off (pixels or slices coarser than validated, lungs
            out of view, an outline in consolidation).
        outline_consolidated: share (0..1) of the lungs' outline that is consolidation
            (:func:`outline_consolidated`).
    """

    lung_volume_ml: float
    lesion_volume_ml: float
    lesion_fraction: float
    ggo_volume_ml: float
    ggo_fraction: float
    consolidation_volume_ml: float
    consolidation_fraction: float
    right: LungQuantification
    left: LungQuantification
    ct_category: str
    zones: dict[str, dict[str, float]]
    options: QuantOptions
    lesion_mask: np.ndarray = field(repr=False)
    warnings: tuple[str, ...] = ()
    outline_consolidated: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (everything except ``lesion_mask``)."""
        base = {k: float(getattr(self, k)) for k in LungQuantification.__dataclass_fields__}
        return {
            **base,
            "right": self.right.to_dict(),
            "left": self.left.to_dict(),
            "ct_category": self.ct_category,
            "zones": {s: {z: float(v) for z, v in d.items()} for s, d in self.zones.items()},
            "options": self.options.to_dict(),
            "warnings": list(self.warnings),
            "outline_consolidated": float(self.outline_consolidated),
        }


def _check_hu(array: np.ndarray, source: object) -> None:
    """Refuse values that cannot be HU: 8-bit data, or no air anywhere in the volume."""
    lo, hi = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if array.dtype == np.uint8 or lo > AIR_MAX_HU:
        raise InvalidInputError(
            f"the CT {source} does not hold Hounsfield units ({array.dtype}, values {lo:g} to "
            f"{hi:g}; no voxel below {AIR_MAX_HU:g} HU, where lungs and outside air lie): "
            "grey levels or unrescaled scanner values cannot be quantified; give the CT in HU"
        )


def coverage_warnings(lungs: np.ndarray, direction: tuple[float, ...] | None = None) -> tuple[str, ...]:
    """A warning when the lungs run out of the scan: lung in its most inferior or most
    superior axial slice. ``lungs``: ``(z, y, x)`` labels; ``direction``: the scan's ITK
    direction (default identity: the slice index grows towards the head)."""
    laid = Layout.of(direction).lay(lungs) if direction is not None else lungs
    ends = [name for name, z in (("lowest", 0), ("highest", -1)) if laid[z].any()]
    if not ends:
        return ()
    out_of_view = {"lowest": "the lung below it", "highest": "the lung above it"}
    return ((f"the lungs reach the scan's {' and '.join(ends)} slice ({' and '.join(out_of_view[e] for e in ends)} "
             "out of view): volumes, shares, zones and the CT category are of the lung in view"),)


def outline_consolidated(lungs: np.ndarray, lesion_mask: np.ndarray,
                         direction: tuple[float, ...] | None = None) -> float:
    """Share (0..1) of the lungs' outline that is consolidation: of the lung voxels with a
    voxel outside the lungs beside them in their axial slice, those of lesion class 2.

    ``lungs``, ``lesion_mask``: ``(z, y, x)`` lung labels and lesion mask (0, 1 GGO, 2
    consolidation); ``direction``: the scan's ITK direction (default identity). Where the
    lung's edge is consolidation it reads as the chest wall, heart or liver beside it: the
    segmentation finds that edge from the lungs' shape alone."""
    layout = Layout.of(direction) if direction is not None else None
    lung, mask = ((layout.lay(a) if layout else np.asarray(a)) for a in (lungs, lesion_mask))
    lung = lung > 0
    if not lung.any():
        return 0.0
    # the lungs' box, one voxel wider in-plane (the array's border counts as outside too)
    box = tuple(slice(max(int(i[0]) - 1, 0), int(i[-1]) + 2) for i in
                (np.nonzero(lung.any(axis=axes))[0] for axes in ((1, 2), (0, 2), (0, 1))))
    lung, mask = lung[box], mask[box]
    cross = np.zeros((3, 3, 3), bool)
    cross[1, 1, :] = cross[1, :, 1] = True
    edge = lung & ~ndi.binary_erosion(lung, structure=cross, border_value=0)
    return float(np.count_nonzero(edge & (mask == LESION_CONSOLIDATION)) / np.count_nonzero(edge))


def outline_warnings(share: float) -> tuple[str, ...]:
    """A warning when at least :data:`OUTLINE_WARN_SHARE` of the lungs' outline is
    consolidation (``share``: :func:`outline_consolidated`)."""
    if share < OUTLINE_WARN_SHARE:
        return ()
    return ((f"{100 * share:.0f} % of the lung outline is consolidation, which reads as the tissue beside "
             "it: there the outline comes from the lungs' shape, so the lung volume and the involvement "
             "may be low (real CTs with painted disease warned so, held out: lung Dice 0.91-0.98, involvement "
             "7 points low to 4 high)"),)


def _slice_warnings(sp: tuple[float, float, float]) -> tuple[str, ...]:
    out = []
    if max(sp[1], sp[2]) > VALIDATED_PIXEL_MM:
        out.append(
            f"{max(sp[1], sp[2]):.1f} mm pixels: validated up to {VALIDATED_PIXEL_MM:.1f} mm; "
            "on coarser grids vessels count as lesion (about +13 points on clear lungs at 3 mm)"
        )
    if sp[0] > VALIDATED_SLICE_MM:
        out.append(
            f"{sp[0]:.1f} mm slices: validated up to {VALIDATED_SLICE_MM:.1f} mm; thicker slices "
            "mix lesion, vessels and lung edge (partial volume), so shares drift"
        )
    return tuple(out)


def _geometry(
    image: CTVolume | np.ndarray, spacing: tuple[float, float, float] | None
) -> tuple[np.ndarray, tuple[float, float, float], tuple[float, ...]]:
    if isinstance(image, CTVolume):
        if not image.is_hu:
            raise InvalidInputError(
                "lesion quantification needs a CT in Hounsfield units; got a volume with "
                f"is_hu=False (source: {image.metadata.get('source_path', 'unknown')})"
            )
        if spacing is not None and not np.allclose(spacing, image.spacing, atol=1e-3):
            raise InvalidInputError(
                f"spacing {tuple(spacing)} disagrees with the volume's spacing {image.spacing}"
            )
        source = image.metadata.get("source_path", "volume")
        if image.metadata.get("stored_dtype") == "8-bit unsigned integer":
            raise InvalidInputError(
                f"the CT {source} is stored as 8-bit unsigned integers (0..255): grey levels, "
                "not Hounsfield units, cannot be quantified; give the CT in HU"
            )
        _check_hu(image.array, source)
        return image.array, image.spacing, image.direction
    array = np.asarray(image)
    if array.ndim != 3:
        raise InvalidInputError(f"image must be a 3D (z, y, x) HU array; got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise InvalidInputError(f"image must hold real HU values; got dtype {array.dtype}")
    if spacing is None:
        raise InvalidInputError("an array image needs spacing=(sz, sy, sx) in mm; got None")
    _check_hu(array, "array")
    sp = tuple(float(s) for s in spacing)
    if len(sp) != 3 or not all(math.isfinite(s) and s > 0 for s in sp):
        raise InvalidInputError(
            f"spacing must be 3 positive numbers (sz, sy, sx) in mm; got {spacing}"
        )
    return array, sp, _IDENTITY  # type: ignore[return-value]


def _check_lungs(lungs: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    lungs = np.asarray(lungs)
    if lungs.shape != tuple(shape):
        raise GeometryMismatchError(
            f"lung mask shape {lungs.shape} does not match the CT shape {tuple(shape)} (z, y, x)"
        )
    if lungs.dtype == bool:
        lungs = lungs.astype(np.uint8)
    elif not (np.issubdtype(lungs.dtype, np.integer) or np.issubdtype(lungs.dtype, np.floating)):
        raise InvalidInputError(f"lung mask must be numeric labels 0/1/2; got dtype {lungs.dtype}")
    lo, hi = lungs.min(), lungs.max()
    integral = np.issubdtype(lungs.dtype, np.integer) or bool(np.all(np.mod(lungs, 1) == 0))
    if lo < 0 or hi > 2 or not integral:
        raise InvalidInputError(
            f"lung mask values must be 0 (background), 1 (right), 2 (left); got range "
            f"[{lo}, {hi}]{'' if integral else ' with non-integer values'}"
        )
    if hi == 0:
        raise InvalidInputError("no lung voxels in the lung mask (all zeros); nothing to quantify")
    return lungs.astype(np.uint8, copy=False)


def _mask_of(lesion_mask: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """A given lesion mask checked (the lungs' shape, values 0, 1, 2), kept inside the lungs."""
    mask = np.asarray(lesion_mask)
    if mask.shape != labels.shape or not np.isin(mask, (0, 1, 2)).all():
        raise InvalidInputError(
            f"lesion_mask must be {labels.shape} with values 0, 1, 2; got {mask.shape}"
        )
    return np.where(labels > 0, mask, 0).astype(np.uint8)


def quantify(
    image: CTVolume | np.ndarray,
    lungs: np.ndarray,
    spacing: tuple[float, float, float] | None = None,
    *,
    options: QuantOptions | None = None,
    lesion_mask: np.ndarray | None = None,
) -> LesionQuantification:
    """Quantify COVID-19 lesions (GGO, consolidation) inside the lungs, training-free.

    Args:
        image: CT in HU, a :class:`CTVolume` (gives spacing and direction) or a ``(z, y, x)``
            array (then ``spacing`` is required and the direction is taken as identity: the
            slice index grows towards the head).
        lungs: ``(z, y, x)`` labels of the image's shape: 0 background, 1 right, 2 left lung.
        spacing: ``(sz, sy, sx)`` in mm for array input.
        options: :class:`QuantOptions` (defaults when None).
        lesion_mask: a ``(z, y, x)`` lesion mask (0, 1 GGO, 2 consolidation) made elsewhere
            (e.g. :func:`covidct.detection.segment_lesions_model`) to quantify instead of
            the HU method's; voxels outside the lungs are ignored.

    Returns:
        A :class:`LesionQuantification` with volumes in ml, fractions of lung volume,
        per-lung numbers, zone shares, the MosMed category and the lesion mask.

    Raises:
        InvalidInputError: non-HU image (``is_hu=False``, 8-bit, or no voxel below
            :data:`AIR_MAX_HU`), missing/bad spacing, bad labels, empty lung mask.
        GeometryMismatchError: lung mask shape differs from the image shape.
    """
    opts = options or QuantOptions()
    array, sp, direction = _geometry(image, spacing)
    labels = _check_lungs(lungs, array.shape)
    layout = Layout.of(direction)
    if isinstance(image, CTVolume) and not layout.is_standard:
        # the detector runs on the order it was validated in (its hilar vessel test takes
        # the right lung at low x, its openings are in-plane); the mask is laid back
        laid = quantify(layout.lay_volume(image), layout.lay(labels), options=opts,
                        lesion_mask=None if lesion_mask is None else layout.lay(_mask_of(lesion_mask, labels)))
        return replace(laid, lesion_mask=layout.unlay(laid.lesion_mask))
    warnings = _slice_warnings(sp) + coverage_warnings(labels, direction)
    if lesion_mask is None:
        mask = detect_lesions(array, labels, sp, options=opts)
    else:
        mask = _mask_of(lesion_mask, labels)

    outline = outline_consolidated(labels, mask)
    warnings += outline_warnings(outline)
    for text in warnings:  # the result holds them; the commands print them
        logger.info("lesion quantification: %s", text)
    voxel_ml = float(np.prod(sp)) / 1000.0
    # counts[label, class]: label 0..2 x lesion class 0..2
    counts = np.bincount((labels * np.uint8(3) + mask).ravel(), minlength=9).reshape(3, 3)

    def lung_q(rows: list[int]) -> LungQuantification:
        c = counts[rows].sum(axis=0)
        return LungQuantification.from_counts(
            int(c.sum()), int(c[LESION_GGO]), int(c[LESION_CONSOLIDATION]), voxel_ml
        )

    total = lung_q([1, 2])
    result = LesionQuantification(
        **total.to_dict(),
        right=lung_q([LUNG_LABELS["right"]]),
        left=lung_q([LUNG_LABELS["left"]]),
        ct_category=ct_category(total.lesion_fraction, ct0_max_fraction=opts.ct0_max_fraction),
        zones=zone_fractions(labels, mask, sp, direction),
        options=opts,
        lesion_mask=mask,
        warnings=warnings,
        outline_consolidated=outline,
    )
    logger.info(
        "lesions: %.1f ml of %.1f ml lung (%.2f %%), %s",
        result.lesion_volume_ml,
        result.lung_volume_ml,
        100 * result.lesion_fraction,
        result.ct_category,
    )
    return result
