"""Options of the classical lesion quantification (one small frozen dataclass)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from covidct.errors import InvalidInputError

__all__ = ["QuantOptions"]


@dataclass(frozen=True)
class QuantOptions:
    """Settings of :func:`covidct.lesions.quantify` (HU, mm, ml).

    Attributes:
        ggo_hu: ``[low, high)`` HU range of ground-glass opacity (after denoising).
        consolidation_hu: ``[low, high]`` HU range of consolidation; denser voxels
            (calcification, bone, contrast) are not lesion. ``consolidation_hu[0]`` must
            equal ``ggo_hu[1]`` so the two classes tile one contiguous range.
        median_mm: width of the 3D median filter used for denoising, in mm; on each axis the
            footprint is ``2 * round(median_mm / (2 * spacing)) + 1`` voxels (1 = no filter).
            A median keeps edges sharp, so it adds no blur halo around dense structures.
        opening_radius_mm: radius of the ball used for the morphological opening that removes
            thin structures (vessels, airway walls, fissures): tubes thinner than about twice
            this radius disappear, blobs wider than it survive.
        rim_mm: dense voxels closer than this to the lung boundary are not used as lesion
            seeds (partial volume with the chest wall and mediastinum fakes density);
            lesions found further in grow back into that rim.
        opening_min_voxels: lower bound of the opening radius in in-plane voxels, so that on
            coarse grids (pixels of 2.5-3.5 mm) vessels a few voxels thick are still removed.
        density_sigma_mm: Gaussian width (mm) of the local density test: the share of the
            lung around a voxel (excluding the rim) that is dense (in the candidate range).
        seed_density: seeds need at least this local density; tubes (vessels, even thick
            hilar ones) fill well under half of the window, lesions fill most of it.
        shell_density: partial-volume GGO shells around dense structures are dropped only
            where the local density is below this (vessels in aerated lung), not inside
            confluent disease.
        fringe_hu: faint GGO fringe: voxels in ``[fringe_hu, ggo_hu[0])`` touching a lesion
            are added where the local density is at least ``fringe_density`` (None = off).
        fringe_density: minimal local density of fringe voxels.
        band_open_mm: subpleural bands: candidate voxels within ``band_depth_mm`` (in-plane)
            of the lung boundary that survive an in-plane opening by a disk of this radius
            (mm), in parts of at least ``band_min_ml`` reaching the boundary, are lesion seeds
            where the rim and the ball opening leave none (thin subpleural GGO, the typical
            COVID finding; the partial-volume rim of clear lungs is about one voxel thin).
            Not searched within ``band_end_mm`` of the ends of a lung column (partial volume
            with the domes and apex) nor within ``hilum_mm`` of the mediastinum (vessels and
            bronchial walls meet the pleura there). None = off.
        band_depth_mm: depth (mm, in-plane) of the subpleural zone searched for bands.
        band_min_ml: minimal volume (ml) of a band part (vessel stubs at the pleura are smaller).
        band_end_mm: bands are not searched within this distance (mm, and at least one
            slice) of the first or last lung voxel of each (z) column: on thin slices the
            partial volume over the domes spans several slices.
        band_min_voxels: lower bound of the band opening radius in in-plane voxels: on coarse
            grids (1.5 mm pixels and more) blurred peripheral vessel clusters are a few
            voxels thick.
        hilum_mm: hilar vessel test: lesion voxels within this distance (in-plane) of the
            mediastinum that are bright tubes or thin sheets surrounded by aerated lung are
            vessels and bronchial walls, not lesion (None = off).
        vessel_sigma_mm: scale (mm) of the Hessian objectness of that test.
        vessel_tube: minimal tube objectness (scale-normalised, see
            :func:`covidct.lesions.vessels.objectness`) of a vessel voxel.
        vessel_sheet: minimal sheet objectness of a bronchial-wall voxel.
        vessel_aerated: minimal aerated share (lung below ``ggo_hu[0]``) around a vessel voxel,
            Gaussian-weighted with ``aerated_sigma_mm``; lesion edges have less.
        aerated_sigma_mm: Gaussian width (mm) of that aerated share.
        vessel_share: vessel voxels are removed only from the lesion parts (connected within
            ``hilum_mm`` of the mediastinum) of which at least this share is vessel voxels: a
            hilar vessel tree, not the edge of confluent disease reaching the hilum.
        vessel_min_ml: ... and of at least this volume (ml): smaller parts are left whole.
        min_component_ml: connected lesion components smaller than this are removed (specks).
        ct0_max_fraction: lesion fractions below this give category ``CT-0`` (no involvement),
            so a few stray voxels do not turn a normal scan into ``CT-1``.
    """

    ggo_hu: tuple[float, float] = (-750.0, -300.0)
    consolidation_hu: tuple[float, float] = (-300.0, 100.0)
    median_mm: float = 1.5
    opening_radius_mm: float = 4.0
    rim_mm: float = 3.0
    opening_min_voxels: float = 1.5
    density_sigma_mm: float = 5.0
    seed_density: float = 0.6
    shell_density: float = 0.65
    fringe_hu: float | None = -825.0
    fringe_density: float = 0.5
    band_open_mm: float | None = 2.5
    band_depth_mm: float = 10.0
    band_min_ml: float = 0.5
    band_min_voxels: float = 2.5
    band_end_mm: float = 5.0
    hilum_mm: float | None = 30.0
    vessel_sigma_mm: float = 1.5
    vessel_tube: float = 2.0
    vessel_sheet: float = 10.0
    vessel_aerated: float = 0.35
    aerated_sigma_mm: float = 8.0
    vessel_share: float = 0.1
    vessel_min_ml: float = 5.0
    min_component_ml: float = 0.1
    ct0_max_fraction: float = 0.001

    def __post_init__(self) -> None:
        ggo = tuple(float(v) for v in self.ggo_hu)
        cons = tuple(float(v) for v in self.consolidation_hu)
        if len(ggo) != 2 or len(cons) != 2 or not all(math.isfinite(v) for v in ggo + cons):
            raise InvalidInputError(
                f"ggo_hu and consolidation_hu must be (low, high) HU pairs; got {self.ggo_hu}, "
                f"{self.consolidation_hu}"
            )
        if not (ggo[0] < ggo[1] == cons[0] < cons[1]):
            raise InvalidInputError(
                "expected ggo_hu low < high == consolidation_hu low < high (contiguous ranges); "
                f"got ggo_hu={ggo}, consolidation_hu={cons}"
            )
        for name in (
            "median_mm",
            "opening_radius_mm",
            "rim_mm",
            "min_component_ml",
            "opening_min_voxels",
            "density_sigma_mm",
            "vessel_tube",
            "vessel_sheet",
            "vessel_min_ml",
            "band_depth_mm",
            "band_min_ml",
            "band_min_voxels",
            "band_end_mm",
        ):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value >= 0):
                raise InvalidInputError(f"{name} must be a finite number >= 0; got {value}")
            object.__setattr__(self, name, value)
        for name in ("vessel_sigma_mm", "aerated_sigma_mm"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value > 0):
                raise InvalidInputError(f"{name} must be a finite number > 0; got {value}")
            object.__setattr__(self, name, value)
        if self.band_open_mm is not None:
            band = float(self.band_open_mm)
            if not (math.isfinite(band) and band > 0):
                raise InvalidInputError(f"band_open_mm must be None or a radius > 0 mm; got {band}")
            object.__setattr__(self, "band_open_mm", band)
        if self.hilum_mm is not None:
            hilum = float(self.hilum_mm)
            if not (math.isfinite(hilum) and hilum > 0):
                raise InvalidInputError(f"hilum_mm must be None or a distance > 0 mm; got {hilum}")
            object.__setattr__(self, "hilum_mm", hilum)
        for name in ("seed_density", "shell_density", "fringe_density", "vessel_aerated",
                     "vessel_share"):
            value = float(getattr(self, name))
            if not (0.0 <= value <= 1.0):
                raise InvalidInputError(f"{name} must be a share in [0, 1]; got {value}")
            object.__setattr__(self, name, value)
        if self.fringe_hu is not None:
            fringe = float(self.fringe_hu)
            if not (math.isfinite(fringe) and fringe < ggo[0]):
                raise InvalidInputError(
                    f"fringe_hu must be None or a HU value below ggo_hu[0]={ggo[0]}; got {fringe}"
                )
            object.__setattr__(self, "fringe_hu", fringe)
        frac = float(self.ct0_max_fraction)
        if not (0.0 <= frac < 0.25):
            raise InvalidInputError(f"ct0_max_fraction must be in [0, 0.25); got {frac}")
        object.__setattr__(self, "ct0_max_fraction", frac)
        object.__setattr__(self, "ggo_hu", ggo)
        object.__setattr__(self, "consolidation_hu", cons)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
