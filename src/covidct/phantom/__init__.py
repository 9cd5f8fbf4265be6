"""Chest-CT phantom with exact ground truth: anatomy, vessel trees, COVID-19 / pneumonia
findings, scanner effects, clinical labels (iCTCF-like proportions).

Main entry points: :func:`simulate_case`, :func:`simulate_cohort`, :class:`PhantomOptions`,
:data:`SIZE_PRESETS`; :func:`paint_into` paints the findings into a real CT (:func:`painted_cases`: the
named sets of :data:`PAINTED_SETS`).
"""

from covidct.phantom.cohort import SimulatedCase, simulate_case, simulate_cohort
from covidct.phantom.hybrid import PAINTED_SETS, paint_into, painted_cases
from covidct.phantom.labels import MORBIDITIES, ct_category
from covidct.phantom.options import DIAGNOSES, SIZE_PRESETS, PhantomOptions, SizePreset

__all__ = [
    "DIAGNOSES",
    "MORBIDITIES",
    "PAINTED_SETS",
    "SIZE_PRESETS",
    "PhantomOptions",
    "SimulatedCase",
    "SizePreset",
    "ct_category",
    "paint_into",
    "painted_cases",
    "simulate_case",
    "simulate_cohort",
]
