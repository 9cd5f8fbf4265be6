"""covidct: COVID-19 analysis of chest CT.

Stages live in sub-packages: :mod:`covidct.io` (reading and writing CT),
:mod:`covidct.lungs` (lung segmentation), :mod:`covidct.lesions` (lesion quantification),
:mod:`covidct.viz` (pictures), :mod:`covidct.cli` (the ``covidct`` command).
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"
__all__ = ["__version__"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
