"""Grad-CAM explanations (pytorch-grad-cam) of 2D slice models and 3D volume models, their
pictures, and how well heat maps point at known lesions.
"""

from covidct.explain.cam import METHODS, cam_maps, slice_heatmaps, volume_heatmap
from covidct.explain.pointing import lesion_pointing, pointing_summary

__all__ = ["METHODS", "cam_maps", "lesion_pointing", "pointing_summary", "slice_heatmaps",
           "volume_heatmap"]
