"""Pictures: axial overlay montages of CT with lung and lesion masks."""

from __future__ import annotations

from covidct.viz.overlays import (
    coronal_view,
    montage_slices,
    save_coronal,
    save_montage,
    save_overlay_slice,
)
from covidct.viz.profile import save_lesion_profile

__all__ = [
    "coronal_view", "montage_slices", "save_coronal", "save_lesion_profile", "save_montage",
    "save_overlay_slice",
]
