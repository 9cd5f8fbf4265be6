"""Unsupervised lung segmentation (COVID-MTL method, made robust).

``segment_lungs`` returns a ``(z, y, x)`` uint8 mask on the input grid: 0 background,
1 right lung, 2 left lung, trachea and main bronchi excluded. ``LungOptions`` holds the
settings, one group per step (``LungOptions().cavity.reach_mm``...; ``LungOptions.paper()``
the paper's, ``LungOptions.fast()`` the default).
"""

from __future__ import annotations

from covidct.errors import NoLungsFoundError
from covidct.lungs.options import LungOptions
from covidct.lungs.segment import segment_lungs
from covidct.lungs.split import LEFT, RIGHT

__all__ = ["LEFT", "RIGHT", "LungOptions", "NoLungsFoundError", "segment_lungs"]
