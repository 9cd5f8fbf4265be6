"""Pictures: axial overlay montages of CT with lung and lesion masks."""

from __future__ import annotations

from covidct.viz.overlays import montage_slices, save_montage, save_overlay_slice

__all__ = ["montage_slices", "save_montage", "save_overlay_slice"]
