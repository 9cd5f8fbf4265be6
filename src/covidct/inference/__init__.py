"""Running trained models on one CT study (3D volume models; later slice and lesion models)."""

from covidct.inference.volume import (
    PreparedVolume,
    VolumeModel,
    load_volume_model,
    predict_volume,
    prepare_volume,
    save_volume_model,
    to_ct_grid,
)

__all__ = [
    "PreparedVolume",
    "VolumeModel",
    "load_volume_model",
    "predict_volume",
    "prepare_volume",
    "save_volume_model",
    "to_ct_grid",
]
