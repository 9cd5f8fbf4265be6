"""Options of the unsupervised lung segmentation: one frozen group per step, named presets.

:class:`LungOptions` nests one small keyword-only frozen dataclass per step of
:func:`covidct.lungs.segment_lungs` (``grid``, ``threshold``, ``select``, ``airways``,
``refine``, ``snake``, ``pockets``, ``mirror``, ``gate``, ``cavity``, ``domes``; ``hybrid``
for the rules corrected by the lung model). All
lengths are in mm, areas in mm², volumes in mL; they are converted to working-grid pixels
in one place (:func:`covidct.lungs.grid.mm_to_px`), so the same options behave the same
whatever the input spacing. The paper (COVID-MTL, Bao et al. 2021) worked at 1 mm and gave
its disks in pixels: ``disk(10)`` there is ``refine.close_mm=10`` here.

Two kinds of HU thresholds appear: ``threshold`` holds those read on the working HU
(``bone_hu``, ``fat_hu``, ``lesion_max_hu``); the cavity and dome steps read an in-plane
3 x 3 median of it (noise removed), with their own thresholds (``cavity.rib_hu``,
``cavity.fat_hu``, ``cavity.max_hu``, ``domes.min_hu``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from covidct.errors import InvalidInputError

__all__ = [
    "AirwayOptions",
    "CavityOptions",
    "DomeOptions",
    "GateOptions",
    "GridOptions",
    "HybridOptions",
    "LungOptions",
    "MirrorOptions",
    "PocketOptions",
    "RefineOptions",
    "SelectOptions",
    "SnakeOptions",
    "ThresholdOptions",
]


def _check(group: str, values: dict[str, float], *, positive: bool) -> None:
    """Raise InvalidInputError unless every value is > 0 (``positive``) or >= 0."""
    for name, value in values.items():
        if not (value > 0 if positive else value >= 0):
            bound = "> 0" if positive else ">= 0"
            raise InvalidInputError(f"LungOptions.{group}.{name} must be {bound}; got {value}")


@dataclass(frozen=True, kw_only=True)
class GridOptions:
    """The internal working grid (the input is only ever down-sampled to it).

    Attributes:
        inplane_mm: in-plane pixel size (never finer than the input's).
        slice_mm: slice spacing (thin slices are merged up to it).
    """

    inplane_mm: float = 1.25
    slice_mm: float = 2.5

    def __post_init__(self) -> None:
        _check("grid", {"inplane_mm": self.inplane_mm, "slice_mm": self.slice_mm}, positive=True)


@dataclass(frozen=True, kw_only=True)
class ThresholdOptions:
    """Tissue classes on the working HU, shared by several steps.

    Attributes:
        air_hu: voxels below it inside the body are lung candidates (the paper: -420 HU;
            the Kaggle original: -320 HU); also the low end of the partial-volume rim.
        body_hu: voxels above this belong to the patient's body (its outline, holes filled).
        bone_hu: bone: never lung; pockets holding bone are rejected; the upper end of
            "dense" lung in the disease gate.
        fat_hu: (low, high) HU of fat: pockets holding fat are rejected, the mirror prior
            does not add it.
        lesion_max_hu: the per-slice refinement and the mirror prior add no tissue above
            this (consolidation yes, bone and contrast no).
    """

    air_hu: float = -420.0
    body_hu: float = -500.0
    bone_hu: float = 250.0
    fat_hu: tuple[float, float] = (-200.0, -40.0)
    lesion_max_hu: float = 200.0

    def __post_init__(self) -> None:
        if not -1000.0 < self.air_hu < 0.0:
            raise InvalidInputError(
                f"LungOptions.threshold.air_hu must lie in (-1000, 0) HU; got {self.air_hu}"
            )


@dataclass(frozen=True, kw_only=True)
class SelectOptions:
    """Which air is lung, and whether lungs are in view at all.

    Attributes:
        min_lung_ml: a connected air region smaller than this is not lung (gas in the
            bowel, the oesophagus...); also the least total volume for "lungs found".
        min_view_ml: the least lung volume (both lungs, after refinement) of a scan with
            lungs in view; below it the scan is refused (an abdominal CT shows the lung
            recesses and bowel gas at its top edge: 220 mL on the real one).
    """

    min_lung_ml: float = 30.0
    min_view_ml: float = 300.0

    def __post_init__(self) -> None:
        _check("select", {"min_lung_ml": self.min_lung_ml, "min_view_ml": self.min_view_ml},
               positive=False)


@dataclass(frozen=True, kw_only=True)
class AirwayOptions:
    """Tracking and removal of the trachea and main bronchi.

    Attributes:
        lumen_hu: the lumen threshold used to track the trachea and main bronchi.
        dilation_mm: the airway wall: the tracked lumen grown by this much is removed and
            never becomes lung.
        max_area_mm2: an airway cross-section larger than this has joined the lung.
    """

    lumen_hu: float = -900.0
    dilation_mm: float = 2.0
    max_area_mm2: float = 1000.0

    def __post_init__(self) -> None:
        _check("airways", {"dilation_mm": self.dilation_mm, "max_area_mm2": self.max_area_mm2},
               positive=False)


@dataclass(frozen=True, kw_only=True)
class RefineOptions:
    """The paper's per-slice refinement of each lung (closing, union, z smoothing).

    Attributes:
        close_mm: radius of the per-slice closing disk of each lung (paper: disk(10)).
        small_close_mm: closing radius for slices with little lung (paper: disk(5)).
        small_slice_mm2: a slice with less lung than this gets only the small closing
            (paper: 15000 px at 1 mm).
        final_erode_mm: erosion after the union (paper: disk(2)); 0 disables it.
        smooth_z: number of neighbouring slices (each side) voting for the final mask; 0 off.
    """

    close_mm: float = 10.0
    small_close_mm: float = 5.0
    small_slice_mm2: float = 15000.0
    final_erode_mm: float = 0.0
    smooth_z: int = 1

    def __post_init__(self) -> None:
        _check("refine", {"close_mm": self.close_mm, "small_close_mm": self.small_close_mm},
               positive=True)
        _check("refine", {"final_erode_mm": self.final_erode_mm, "smooth_z": self.smooth_z},
               positive=False)


@dataclass(frozen=True, kw_only=True)
class SnakeOptions:
    """The paper's active contour on each lung in each slice.

    Attributes:
        enabled: run it.
        alpha, beta, iterations: active-contour parameters (paper: 0.02, 20, 20).
        points: cap on the contour length (speed: the solver is O(n^3)).
        contour_level: iso-level of the contour of the closed mask (paper: 0.8).
    """

    enabled: bool = True
    alpha: float = 0.02
    beta: float = 20.0
    iterations: int = 20
    points: int = 120
    contour_level: float = 0.8

    def __post_init__(self) -> None:
        if self.iterations < 0 or self.points < 8:
            raise InvalidInputError(
                "LungOptions.snake: iterations >= 0 and points >= 8 required; "
                f"got {self.iterations} and {self.points}"
            )


@dataclass(frozen=True, kw_only=True)
class PocketOptions:
    """Pleural pockets: concavities of each lung's convex hull that face the chest wall and
    hold lesion-like tissue (subpleural consolidation, ground glass) are filled.

    Attributes:
        enabled: fill them.
        max_fraction: a pocket larger than this fraction of the lung's area in the slice is
            rejected (an organ dome under a basal crescent).
        max_bone_fraction: a pocket with more bone (``threshold.bone_hu``) is rejected.
        max_fat_fraction: a pocket with more fat (``threshold.fat_hu``) is rejected.
    """

    enabled: bool = True
    max_fraction: float = 0.5
    max_bone_fraction: float = 0.05
    max_fat_fraction: float = 0.3


@dataclass(frozen=True, kw_only=True)
class MirrorOptions:
    """The contralateral prior for a white lung.

    Attributes:
        enabled: when one lung is far smaller than the other, add the lesion-like tissue
            inside the mirror image of the healthy lung.
        trigger_ratio: it runs when small / large lung volume is below this (0.35: a clear
            left lung is often 0.6 of the right one; mirroring the right lung then covers
            the heart, measured on a real CT with painted disease).
    """

    enabled: bool = True
    trigger_ratio: float = 0.35


@dataclass(frozen=True, kw_only=True)
class GateOptions:
    """The disease gate (:mod:`covidct.lungs.gate`): which lungs are diseased.

    It decides whether the cavity step runs and which lungs grow, how organ domes are
    carved and which of the partial-volume rim is trimmed. Clear lungs (phantom controls and
    the real oncology CTs: ground glass 0.07-0.11, dense 0.02-0.10) stay closed; COVID-19
    lungs measure 0.17-0.54 ground glass on the phantom.

    Attributes:
        interior_mm: a lung's interior is its mask eroded in-plane by this, and by at
            least two pixels (partial volume at the pleura is neither ground glass nor dense).
        ggo_hu: (low, high) HU of ground glass; dense is from ``high`` to
            ``threshold.bone_hu``.
        min_ggo_share, min_dense_share: a lung is diseased when this share of its interior
            is ground glass, or the second share is dense (consolidation, white lung).
            0 and 0 make every lung diseased.
        min_lesion_share: ... or ground glass and dense together reach this (lobar pneumonia).
        grow_share: once one lung is diseased, the other grows too when its ground glass +
            dense share reaches this (clear real lungs: 0.07-0.12; a clear lung next to a
            sick one keeps its outline).
    """

    interior_mm: float = 2.5
    ggo_hu: tuple[float, float] = (-700.0, -250.0)
    min_ggo_share: float = 0.15
    min_dense_share: float = 0.3
    min_lesion_share: float = 0.25
    grow_share: float = 0.19

    def __post_init__(self) -> None:
        _check("gate", {"interior_mm": self.interior_mm}, positive=False)


@dataclass(frozen=True, kw_only=True)
class CavityOptions:
    """Growth of diseased lungs into the dense tissue of the thoracic cavity
    (:mod:`covidct.lungs.cavity`). HU thresholds here are on the smoothed HU.

    Attributes:
        enabled: run the step (bilateral subpleural disease).
        rib_hu: bone of the rib line (rib marrow is 180-300 HU); also the limit of the
            dense holes filled at the end.
        rib_slab_mm: the bone of the slices within this distance (z) makes the rib line.
        min_cage_mm2: a slice whose slab holds less bone than this has no visible cage and
            is left unchanged (also by the dome carving).
        wall_mm: the rib line is the slab bone grown by this (ribs and intercostal muscle).
        wall_reach_mm: an added part "reaches the rib line" within this of it.
        fat_hu: (low, high) HU of fat, which stops the growth (mediastinal, pericardial and
            sub-diaphragmatic fat).
        fat_line_mm: fat-range lines thinner than about twice this, away from dense tissue,
            are partial volume between aerated and consolidated lung and do not stop it.
        fat_min_ml: only fat in 3D regions of at least this volume stops the growth.
        max_hu: tissue above this is not lung (liver, contrast, heart wall); also the limit
            of the tissue the mirror prior adds.
        enclosed_share: an added part that does not reach the rib line is kept when at least
            this share of its outline is the lung's own (a consolidated pocket at the hilum).
        band_mm: only the cage's outer band of this depth (from the rib line) is grown into;
            the centre (mediastinum, heart, liver dome) is not.
        reach_mm: geodesic reach of the growth from the lung mask.
        base_margin_mm: below the widest lung slice, growth stays within the lung of the
            slice above grown by this much (the diaphragm domes).
        midline_mm: growth never comes closer than this to the body midline (mediastinum).
        max_hole_mm2: dense holes enclosed by a grown lung slice up to this area are lung.
        min_contact: a lung grows only when at least this share of its border pixels
            touches the rib line. Off (0) by default: a lung with thick subpleural
            consolidation is exactly the one whose aerated part does not reach the ribs.
    """

    enabled: bool = True
    rib_hu: float = 150.0
    rib_slab_mm: float = 10.0
    min_cage_mm2: float = 47.0
    wall_mm: float = 1.25
    wall_reach_mm: float = 2.5
    fat_hu: tuple[float, float] = (-190.0, -60.0)
    fat_line_mm: float = 1.5
    fat_min_ml: float = 5.0
    max_hu: float = 30.0
    enclosed_share: float = 0.5
    band_mm: float = 90.0
    reach_mm: float = 150.0
    base_margin_mm: float = 3.0
    midline_mm: float = 8.0
    max_hole_mm2: float = 600.0
    min_contact: float = 0.0


@dataclass(frozen=True, kw_only=True)
class DomeOptions:
    """Carving of organ domes (liver, stomach, spleen tops) out of the lung bases
    (:mod:`covidct.lungs.domes`; runs with the cavity step).

    Attributes:
        min_hu: dense (smoothed HU above this) parts of a lung slice over non-lung in the
            slice below are dome candidates.
        min_area_mm2: candidates larger than this, away from the rib line, are removed.
        wall_reach_mm: a candidate within this of the slab bone reaches the rib line.
        wall_area_mm2: in clear lungs, a candidate at least this large in its slice is an
            organ dome even where it reaches the rib line (a basal tumour cut by one slice
            is smaller; the spleen top ringed by lung on lung2 is 62 cm2), once bridges
            thinner than twice ``bridge_mm`` are opened away.
    """

    min_hu: float = -300.0
    min_area_mm2: float = 100.0
    wall_reach_mm: float = 3.75
    wall_area_mm2: float = 2500.0
    bridge_mm: float = 5.0


@dataclass(frozen=True, kw_only=True)
class HybridOptions:
    """How ``method="hybrid"`` corrects the rules' mask with the lung model
    (:func:`covidct.lungs.learned_segment.corrected_rules`).

    Attributes:
        learned_choice: where the correction runs, each voxel where the rules' and the
            network's masks disagree is chosen by the shipped classifier of
            :mod:`covidct.lungs.choice` (the checks of ``collapse_ratio`` and ``lost_ml``
            open it too); False: the fixed thresholds below (``add_above`` ... ``min_ml``) and, on
            collapse, the network's mask.
        diseased_only: correct only scans whose disease gate (:mod:`covidct.lungs.gate`,
            read on the rules' mask) opens; clear lungs keep the rules' mask (the collapse
            and lost-lung checks below still run).
        add_above: lung the rules missed is added where the model's probability is above this
            (where the model is fairly sure: its 2 mm outline is not, so the rules keep their
            HU edges elsewhere; 0.98 gave 0.001-0.005 more Dice on mild cases of lung1 but
            missed more subpleural consolidation).
        remove_below: the rules' lung is removed where the probability is below this
            (mediastinal fat, pericardium, upper abdomen taken by the cavity growth).
        open_mm: a disagreement counts where it survives an in-plane opening of this (mm;
            0: no opening, every disagreement counts).
        min_ml: and where its 3D part holds at least this (mL).
        collapse_ratio: when the rules' lungs hold less than this share of the network's lung
            volume, the network's mask (as ``method="model"``) replaces the rules' (0: never).
        lost_ml: the correction also runs where the gate stays closed when the network's
            lung outside the rules' holds a part of at least this much (mL) of
            consolidation-range tissue (median HU in ``lost_hu``) that survives an in-plane
            opening of ``lost_open_mm`` and touches the rules' lungs: a dense lobe or
            segment the rules left out of mildly diseased lungs (0: off). Set on the "mild"
            painted cases (clear real CTs: parts of 14 mL at most), checked on "mild2".
        lost_hu: (low, high) median HU of such a part (fat and contrast are outside it).
        lost_open_mm: the in-plane opening of that test (mm): the network's 2 mm outline
            and thin strips along the mediastinum do not count.
        model: the lung network file (``.onnx``, or a ``.pt`` written by ``covidct train
            lungs-unet-2mm``; several joined by "+" are averaged) instead of the shipped
            one, for ``"model"`` and ``"hybrid"`` (None: the shipped network).
        choice: the lung choice classifier file (``.txt`` or ``.onnx``, fitted with that
            network by ``covidct train lung-choice``) instead of the shipped one
            (None: the shipped classifier, with a warning when it was fitted with another
            network: :mod:`covidct.lungs.weights`).

    The thresholds were chosen on the standard painted cases of
    ``benchmarks/lung_model_validation.py`` with held-out models, ``collapse_ratio`` on two
    of its "fresh" cases; the other case sets check them (docs/validation.md).
    """

    learned_choice: bool = True
    diseased_only: bool = True
    add_above: float = 0.9
    remove_below: float = 0.1
    open_mm: float = 0.0
    min_ml: float = 0.0
    collapse_ratio: float = 0.9
    lost_ml: float = 25.0
    lost_hu: tuple[float, float] = (-60.0, 60.0)
    lost_open_mm: float = 5.0
    model: str | None = None
    choice: str | None = None

    def __post_init__(self) -> None:
        for name in ("model", "choice"):
            value = getattr(self, name)
            if value is not None:
                if not str(value).strip():
                    raise InvalidInputError(f"LungOptions.hybrid.{name} must be a file path or None; got {value!r}")
                object.__setattr__(self, name, str(value))
        if not 0.0 <= self.remove_below <= self.add_above <= 1.0:
            raise InvalidInputError(
                "LungOptions.hybrid needs 0 <= remove_below <= add_above <= 1; got "
                f"{self.remove_below}, {self.add_above}")
        _check("hybrid", {"open_mm": self.open_mm, "min_ml": self.min_ml, "lost_ml": self.lost_ml,
                          "lost_open_mm": self.lost_open_mm}, positive=False)
        if not 0.0 <= self.collapse_ratio <= 1.0:
            raise InvalidInputError(f"LungOptions.hybrid.collapse_ratio must be in [0, 1]; got {self.collapse_ratio}")
        low, high = (float(v) for v in self.lost_hu)
        if not low < high:
            raise InvalidInputError(f"LungOptions.hybrid.lost_hu must be (low, high) HU with low < high; got {self.lost_hu}")
        object.__setattr__(self, "lost_hu", (low, high))


@dataclass(frozen=True, kw_only=True)
class LungOptions:
    """Settings of :func:`covidct.lungs.segment_lungs`, one group per step."""

    grid: GridOptions = field(default_factory=GridOptions)
    threshold: ThresholdOptions = field(default_factory=ThresholdOptions)
    select: SelectOptions = field(default_factory=SelectOptions)
    airways: AirwayOptions = field(default_factory=AirwayOptions)
    refine: RefineOptions = field(default_factory=RefineOptions)
    snake: SnakeOptions = field(default_factory=SnakeOptions)
    pockets: PocketOptions = field(default_factory=PocketOptions)
    mirror: MirrorOptions = field(default_factory=MirrorOptions)
    gate: GateOptions = field(default_factory=GateOptions)
    cavity: CavityOptions = field(default_factory=CavityOptions)
    domes: DomeOptions = field(default_factory=DomeOptions)
    hybrid: HybridOptions = field(default_factory=HybridOptions)

    @classmethod
    def fast(cls) -> LungOptions:
        """The default: 1.25 mm in-plane, slices merged to 2.5 mm (a few seconds a study)."""
        return cls()

    @classmethod
    def bases(cls) -> LungOptions:
        """The default for a scan that shows only the lung bases (an upper-abdominal or a
        cardiac CT): any plausible lung (``select.min_lung_ml``) is analysed. The default
        refuses less than ``select.min_view_ml`` (300 mL), which the lowest 60 mm of a small
        lung may hold (166-238 mL), and the recesses and bowel gas of an abdominal CT reach
        (216 mL on the real one): with this preset the user says which the scan is."""
        return cls(select=SelectOptions(min_view_ml=SelectOptions().min_lung_ml))

    @classmethod
    def paper(cls) -> LungOptions:
        """The COVID-MTL settings: 1 mm isotropic grid, -420 HU, the paper's disks and snake.

        The robust additions (pockets, mirror prior, cavity growth) stay on;
        :meth:`paper_only` switches them off.
        """
        return cls(
            grid=GridOptions(inplane_mm=1.0, slice_mm=1.0),
            refine=RefineOptions(final_erode_mm=2.0, smooth_z=0),
            snake=SnakeOptions(points=300),
        )

    @classmethod
    def paper_only(cls) -> LungOptions:
        """The paper's refinement alone: :meth:`paper` without the pockets, the mirror
        prior and the cavity growth added here."""
        return dataclasses.replace(
            cls.paper(),
            pockets=PocketOptions(enabled=False),
            mirror=MirrorOptions(enabled=False),
            cavity=CavityOptions(enabled=False),
        )

    def as_dict(self) -> dict[str, dict[str, object]]:
        """Nested plain dict of the settings, ``{group: {field: value}}`` (for reports)."""
        return dataclasses.asdict(self)
