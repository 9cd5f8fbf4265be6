"""Classical, training-free quantification of COVID-19 lesions (GGO, consolidation) in CT.

Main entry point: :func:`quantify` (CT + lung labels -> volumes, fractions, zones, MosMed
CT-0..CT-4 category and a lesion mask). See :mod:`covidct.lesions.detect` for the method.
"""

from __future__ import annotations

from covidct.lesions.detect import (
    LESION_CONSOLIDATION,
    LESION_GGO,
    LESION_NONE,
    detect_lesions,
)
from covidct.lesions.options import QuantOptions
from covidct.lesions.quantify import (
    LesionQuantification,
    LungQuantification,
    ct_category,
    quantify,
)
from covidct.lesions.zones import zone_fractions

__all__ = [
    "LESION_CONSOLIDATION",
    "LESION_GGO",
    "LESION_NONE",
    "LesionQuantification",
    "LungQuantification",
    "QuantOptions",
    "ct_category",
    "detect_lesions",
    "quantify",
    "zone_fractions",
]
