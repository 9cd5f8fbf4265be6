"""Simulated cases and cohorts: one call draws labels, anatomy, trees, findings and scanner.

Every case is a pure function of its seed (a :class:`numpy.random.SeedSequence`); the
components draw from independent child streams, and case ``i`` of a cohort uses the
``i``-th child of ``SeedSequence(seed)``, so results do not depend on the worker count.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from covidct.errors import InvalidInputError
from covidct.io.volume import CTVolume
from covidct.phantom.anatomy import draw_chest, render_anatomy
from covidct.phantom.findings import paint_findings, paint_nodules
from covidct.phantom.labels import draw_case, involvement_labels
from covidct.phantom.options import PhantomOptions, get_size_preset
from covidct.phantom.scanner import acquire, draw_scanner
from covidct.phantom.vessels import grow_tree, render_segments

__all__ = ["SimulatedCase", "simulate_case", "simulate_cohort"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class SimulatedCase:
    """One simulated chest CT with exact ground truth.

    Attributes:
        case_id: e.g. 'sim-000042'; patient_id: e.g. 'P000042'.
        volume: HU int16 (z, y, x), LPS identity direction, slice 0 most inferior.
        lungs: uint8 (z, y, x): 0 background, 1 right lung (-x side), 2 left lung.
        lesions: uint8 (z, y, x): 0 none, 1 GGO, 2 consolidation (always inside the lungs).
        labels: diagnosis, ct_positive, nat_positive, severity, morbidity, age, sex,
            lesion_fraction, ct_category.
    """

    case_id: str
    patient_id: str
    volume: CTVolume
    lungs: np.ndarray
    lesions: np.ndarray
    labels: Mapping[str, Any]


def simulate_case(seed: int, *, diagnosis: str | None = None, size: str = "small",
                  options: PhantomOptions | None = None) -> SimulatedCase:
    """Simulate one chest CT from an integer ``seed`` (same seed -> identical arrays).

    ``diagnosis`` ('control', 'pneumonia', 'covid') forces the class; otherwise it is drawn
    from ``options``. ``size`` names a :data:`SIZE_PRESETS` grid.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer; got {seed!r}")
    return _simulate(np.random.SeedSequence(int(seed)), int(seed), diagnosis, size,
                     options or PhantomOptions())


def simulate_cohort(n: int, seed: int, *, size: str = "small",
                    options: PhantomOptions | None = None,
                    workers: int = 1) -> Iterator[SimulatedCase]:
    """Yield ``n`` cases in order; case ``i`` depends only on ``(seed, i)``.

    ``workers`` > 1 simulates in that many processes (results are identical).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise InvalidInputError(f"cohort size n must be a non-negative integer; got {n!r}")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise InvalidInputError(f"workers must be a positive integer; got {workers!r}")
    get_size_preset(size)
    opts = options or PhantomOptions()
    children = np.random.SeedSequence(int(seed)).spawn(int(n))
    jobs = [(children[i], i, None, size, opts) for i in range(n)]
    if workers == 1 or n <= 1:
        for job in jobs:
            yield _simulate(*job)
        return
    with ProcessPoolExecutor(max_workers=int(workers)) as pool:
        for parts in pool.map(_simulate_job, jobs, chunksize=1):
            yield _from_parts(parts)


def _simulate_job(job: tuple) -> tuple:
    """Run in a worker process; returns picklable parts (CTVolume metadata is a mappingproxy)."""
    c = _simulate(*job)
    v = c.volume
    return (c.case_id, c.patient_id, v.array, v.spacing, v.origin, dict(v.metadata),
            c.lungs, c.lesions, dict(c.labels))


def _from_parts(parts: tuple) -> SimulatedCase:
    case_id, patient_id, array, spacing, origin, meta, lungs, lesions, labels = parts
    volume = CTVolume(array=array, spacing=spacing, origin=origin, metadata=meta)
    return SimulatedCase(case_id=case_id, patient_id=patient_id, volume=volume, lungs=lungs,
                         lesions=lesions, labels=MappingProxyType(labels))


def _simulate(ss: np.random.SeedSequence, index: int, diagnosis: str | None, size: str,
              options: PhantomOptions) -> SimulatedCase:
    preset = get_size_preset(size)
    s_lab, s_anat, s_tree, s_find, s_scan = (np.random.default_rng(c) for c in ss.spawn(5))
    draw = draw_case(s_lab, options, diagnosis)
    params, grid = draw_chest(s_anat, preset, draw.sex, draw.age)
    anat = render_anatomy(params, grid, s_anat)
    hu, lungs = anat.hu, anat.lungs
    if not ((lungs == 1).any() and (lungs == 2).any()):
        raise InvalidInputError(f"phantom case {index}: a lung came out empty (internal error)")

    # vessel and airway trees
    px = grid.pixel_mm
    min_r = max(0.4, 0.15 * px)
    budget = int(np.clip(1200 / px, 80, 700))
    arteries, veins = [], []
    for lab, hil, vein, sgn in ((1, anat.hila[0], anat.veins[0], -1.0),
                                (2, anat.hila[1], anat.veins[1], 1.0)):
        dirs = [np.array(d, float) for d in ((sgn * 0.4, -0.2, 1.0), (sgn * 1.0, -0.6, 0.0),
                                             (sgn * 0.5, 0.6, -1.0), (sgn * 0.6, -0.5, -0.8),
                                             (sgn * 0.8, 0.4, 0.3))]
        arteries += grow_tree(s_tree, hil, dirs, 5.5, lungs, lab, grid, min_radius=min_r,
                              max_segments=budget)
        vdirs = [np.array(d, float) for d in ((sgn * 0.8, 0.3, 0.6), (sgn * 0.7, 0.5, -0.7),
                                              (sgn * 1.0, -0.4, -0.2))]
        veins += grow_tree(s_tree, vein, vdirs, 5.0, lungs, lab, grid, min_radius=min_r,
                           max_segments=budget // 2)
    lung = lungs > 0
    vessel_occ = render_segments(arteries + veins, grid) * lung
    blood = params.blood_hu
    hu += vessel_occ * (blood - hu)

    lesions = paint_findings(s_find, draw, hu, lungs, grid)

    big = [s for s in arteries if s.r0 >= max(1.6, 0.5 * px)]
    offset = [type(s)(s.p0 + _perp(s) * (s.r0 * 1.9 + 0.5), s.p1 + _perp(s) * (s.r1 * 1.9 + 0.5),
                      s.r0 * 0.8, s.r1 * 0.8) for s in big]
    wall = render_segments(offset, grid, add=0.6 + 0.1 * px) * lung * (lesions != 2)
    hu += wall * (-60.0 - hu) * 0.8
    lumen = render_segments(offset, grid) * lung
    hu += lumen * (-990.0 - hu)

    if draw.diagnosis == "control" and s_find.random() < options.p_control_nodules:
        paint_nodules(s_find, hu, lungs, grid, int(s_find.integers(1, 4)))

    scanner = draw_scanner(s_scan, options, preset, grid.spacing)
    ct = acquire(s_scan, hu, grid.spacing, scanner, physics=options.physics)
    labels = involvement_labels(draw, lungs, lesions)
    case_id, patient_id = f"sim-{index:06d}", f"P{index:06d}"
    meta = {
        "source": "covidct.phantom", "case_id": case_id, "patient_id": patient_id,
        "modality": "CT", "size_preset": size, "slice_thickness_mm": scanner.thickness_mm,
        "kernel_blur_mm": scanner.blur_mm, "noise_hu": scanner.noise_hu,
        "physics": bool(options.physics), "fbp_filter": scanner.kernel if options.physics else "",
        "contrast": bool(params.blood_hu > 100),
    }
    volume = CTVolume(array=ct, spacing=grid.spacing, origin=grid.origin, metadata=meta)
    log.debug("simulated %s: %s", case_id, labels)
    return SimulatedCase(case_id=case_id, patient_id=patient_id, volume=volume,
                         lungs=lungs, lesions=lesions, labels=MappingProxyType(labels))


def _perp(s) -> np.ndarray:
    """A unit vector perpendicular to the segment, roughly in the axial plane."""
    d = s.p1 - s.p0
    v = np.cross(d, np.array([0.0, 0.0, 1.0]))
    if np.linalg.norm(v) < 1e-6:
        v = np.array([1.0, 0.0, 0.0])
    return v / np.linalg.norm(v)
