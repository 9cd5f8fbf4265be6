"""Options of the unsupervised lung segmentation (one frozen dataclass, named presets).

All lengths are in mm and converted to voxels at the working resolution, so the same
options behave the same whatever the input spacing. The paper (COVID-MTL, Bao et al. 2021)
worked at 1 mm and gave its disks in pixels: ``disk(10)`` there is ``close_mm=10`` here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from covidct.errors import InvalidInputError

__all__ = ["LungOptions"]


@dataclass(frozen=True, kw_only=True)
class LungOptions:
    """Settings of :func:`covidct.lungs.segment_lungs`.

    Attributes:
        threshold_hu: air threshold; voxels below it inside the body are lung candidates
            (the paper: -420 HU; the Kaggle original: -320 HU).
        body_hu: voxels above this belong to the patient's body (its outline, holes filled).
        working_inplane_mm: in-plane pixel size of the internal working grid (never finer
            than the input: the input is only ever down-sampled).
        working_slice_mm: slice spacing of the working grid (thin slices are merged up to it).
        min_lung_ml: a connected air region smaller than this is not lung (gas in the bowel,
            the oesophagus...); also the least total volume for "lungs found".
        min_view_ml: the least lung volume (both lungs, after refinement) of a scan with
            lungs in view; below it the scan is refused (an abdominal CT shows the lung
            recesses and bowel gas at its top edge: 220 mL on the real one).
        airway_hu: the lumen threshold used to track the trachea and main bronchi.
        airway_dilation_mm: the tracked airway is grown by this much before removal (its wall).
        airway_max_area_mm2: an airway cross-section larger than this has joined the lung.
        close_mm: radius of the per-slice closing disk of each lung (paper: disk(10)).
        small_close_mm: closing radius for slices with little lung (paper: disk(5)).
        small_slice_mm2: a slice with less lung than this gets only the small closing
            (paper: 15000 px at 1 mm).
        final_erode_mm: erosion after the union (paper: disk(2)); 0 disables it.
        use_snake: run the paper's active contour on each lung in each slice.
        snake_alpha, snake_beta, snake_iterations: active-contour parameters (paper: 0.02,
            20, 20); ``snake_points`` caps the contour length (speed: the solver is O(n^3)).
        contour_level: iso-level of the contour of the closed mask (paper: 0.8).
        use_pockets: fill concavities of each lung's convex hull that face the chest wall
            and hold lesion-like tissue (subpleural consolidation / ground glass).
        pocket_max_fraction: a pocket larger than this fraction of the lung's area in
            the slice is rejected (an organ dome under a basal crescent).
        pocket_max_bone_fraction: a pocket with more bone (> ``bone_hu``) than this is rejected.
        pocket_max_fat_fraction: a pocket with more fat (``fat_hu`` range) than this is rejected.
        bone_hu: bone threshold.
        fat_hu: (low, high) HU range of fat.
        dense_max_hu: lesion-like tissue is below this (consolidation, not bone or contrast).
        use_mirror_prior: when one lung is far smaller than the other ("white lung"), add
            the lesion-like tissue inside the mirror image of the healthy lung.
        mirror_trigger_ratio: the mirror prior runs when small / large lung volume is below it
            (0.35: a clear left lung is often 0.6 of the right one; mirroring the right lung
            then covers the heart, measured on a real CT with painted disease).
        smooth_z: number of neighbouring slices (each side) voting for the final mask; 0 off.
        use_cavity: grow each lung into the dense tissue between it and the rib line
            (bilateral subpleural disease; :mod:`covidct.lungs.cavity`).
        cavity_bone_hu: bone threshold of the rib line (on a 3 x 3 in-plane median; rib
            marrow is 180-300 HU).
        rib_slab_mm: the bone of the slices within this distance (z) makes the rib line.
        cavity_fat_hu: (low, high) smoothed HU of fat, which stops the growth (mediastinal,
            pericardial and sub-diaphragmatic fat).
        cavity_fat_min_ml: only fat layers at least 3 pixels thick forming 3D regions of at
            least this volume stop the growth; thinner lines and specks in the fat range are
            partial volume between aerated and consolidated lung.
        cavity_enclosed_share: an added part that does not reach the rib line is kept when
            at least this share of its outline is the lung's own (a consolidated pocket at
            the hilum, enclosed by lung; the mediastinum is bounded by other tissue).
        cavity_dense_max_hu: smoothed HU above which tissue is not lung (liver, contrast,
            heart wall); also the limit of the tissue the mirror prior adds.
        cavity_band_mm: only the cage's outer band of this depth (from the rib line) is grown
            into; the centre (mediastinum, heart, liver dome) is not.
        cavity_reach_mm: geodesic reach of the growth from the lung mask.
        cavity_base_margin_mm: below the widest lung slice, growth stays within the lung of
            the slice above grown by this much (the diaphragm domes).
        cavity_min_contact: a lung is grown only when at least this share of its border
            pixels touches the rib line. Off (0) by default: a lung with thick subpleural
            consolidation is exactly the one whose aerated part does not reach the ribs
            (0.10 on a phantom white lung); clear lungs are kept out by the disease gate.
        cavity_ggo_hu: (low, high) HU of ground glass, the lesion sign that gates the cavity
            step.
        cavity_min_ggo_share, cavity_min_dense_share: the cavity step runs only on diseased
            lungs: when, in at least one lung, this share of the lung's interior (the mask
            eroded in-plane by 2 pixels) is ground glass (``cavity_ggo_hu``), or the second
            share is denser (consolidation, white lung). Clear lungs (phantom controls and
            the real oncology CTs: ground glass 0.07-0.11, dense 0.02-0.10) are left to the
            per-slice refinement, so the growth never takes chest wall, spleen or stomach
            wall there; COVID-19 lungs measure 0.17-0.54 ground glass on the phantom. The
            same test tells :func:`~covidct.lungs.cavity.carve_domes` whether dense lung
            over the diaphragm may be consolidation. 0 and 0 make every lung diseased.
        cavity_min_lesion_share: the gate also opens when ground glass and dense tissue
            together are at least this share of one lung's interior (lobar pneumonia).
        cavity_grow_share: once the gate is open, a lung grows only when its own ground
            glass + dense share reaches this (clear real lungs: 0.07-0.12; a clear lung
            next to a sick one keeps its outline).
        dome_min_hu, dome_min_area_mm2: with ``use_cavity``, dense parts (above
            ``dome_min_hu``, smoothed) of a lung slice over non-lung in the slice below,
            larger than ``dome_min_area_mm2`` and away from the rib line, are organ domes
            (liver, stomach, spleen) and removed.
        dome_wall_area_mm2: in clear lungs, such a part at least this large in its slice
            is an organ dome even where it reaches the rib line (a basal tumour cut by one
            slice is smaller; the spleen top ringed by lung on lung2 is 62 cm2), once
            bridges thinner than twice ``dome_bridge_mm`` are opened away.
    """

    threshold_hu: float = -420.0
    body_hu: float = -500.0
    working_inplane_mm: float = 1.25
    working_slice_mm: float = 2.5
    min_lung_ml: float = 30.0
    min_view_ml: float = 300.0
    airway_hu: float = -900.0
    airway_dilation_mm: float = 2.0
    airway_max_area_mm2: float = 1000.0
    close_mm: float = 10.0
    small_close_mm: float = 5.0
    small_slice_mm2: float = 15000.0
    final_erode_mm: float = 0.0
    use_snake: bool = True
    snake_alpha: float = 0.02
    snake_beta: float = 20.0
    snake_iterations: int = 20
    snake_points: int = 120
    contour_level: float = 0.8
    use_pockets: bool = True
    pocket_max_fraction: float = 0.5
    pocket_max_bone_fraction: float = 0.05
    pocket_max_fat_fraction: float = 0.3
    bone_hu: float = 250.0
    fat_hu: tuple[float, float] = (-200.0, -40.0)
    dense_max_hu: float = 200.0
    use_mirror_prior: bool = True
    mirror_trigger_ratio: float = 0.35
    smooth_z: int = 1
    use_cavity: bool = True
    cavity_bone_hu: float = 150.0
    rib_slab_mm: float = 10.0
    cavity_fat_hu: tuple[float, float] = (-190.0, -60.0)
    cavity_fat_min_ml: float = 5.0
    cavity_enclosed_share: float = 0.5
    cavity_dense_max_hu: float = 30.0
    cavity_band_mm: float = 90.0
    cavity_reach_mm: float = 150.0
    cavity_base_margin_mm: float = 3.0
    cavity_min_contact: float = 0.0
    cavity_ggo_hu: tuple[float, float] = (-700.0, -250.0)
    cavity_min_ggo_share: float = 0.15
    cavity_min_dense_share: float = 0.3
    cavity_min_lesion_share: float = 0.25
    cavity_grow_share: float = 0.19
    dome_min_hu: float = -300.0
    dome_min_area_mm2: float = 100.0
    dome_wall_area_mm2: float = 2500.0
    dome_bridge_mm: float = 5.0

    def __post_init__(self) -> None:
        for name in ("working_inplane_mm", "working_slice_mm", "close_mm", "small_close_mm"):
            value = getattr(self, name)
            if not value > 0:
                raise InvalidInputError(f"LungOptions.{name} must be > 0 mm; got {value}")
        for name in ("min_lung_ml", "min_view_ml", "airway_dilation_mm", "final_erode_mm", "airway_max_area_mm2"):
            if getattr(self, name) < 0:
                raise InvalidInputError(f"LungOptions.{name} must be >= 0; got {getattr(self, name)}")
        if not -1000.0 < self.threshold_hu < 0.0:
            raise InvalidInputError(
                f"LungOptions.threshold_hu must lie in (-1000, 0) HU; got {self.threshold_hu}"
            )
        if self.snake_iterations < 0 or self.snake_points < 8:
            raise InvalidInputError("LungOptions.snake_iterations >= 0 and snake_points >= 8 required")

    @classmethod
    def paper(cls) -> LungOptions:
        """The COVID-MTL settings: 1 mm isotropic grid, -420 HU, the paper's disks and snake.

        The robust additions (pockets, mirror prior) stay on; switch them off with
        ``dataclasses.replace`` to reproduce the paper's refinement alone.
        """
        return cls(
            working_inplane_mm=1.0,
            working_slice_mm=1.0,
            final_erode_mm=2.0,
            snake_points=300,
            smooth_z=0,
        )

    @classmethod
    def fast(cls) -> LungOptions:
        """The default: 1.25 mm in-plane, slices merged to 2.5 mm (a few seconds a study)."""
        return cls()

    def as_dict(self) -> dict[str, object]:
        """Plain dict of the settings (for reports and run folders)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
