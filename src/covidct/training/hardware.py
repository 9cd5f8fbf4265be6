"""The hardware a Lightning run uses: the precision that ``"auto"`` means, and what was used.

One home for the rule shared by the volume, slice and Mask R-CNN families: ``precision:
auto`` is Lightning's ``"16-mixed"`` when the run will be on CUDA (accelerator ``auto``,
``gpu`` or ``cuda`` with a GPU present; the papers trained in fp16) and ``"32-true"`` on the
CPU. :func:`used_hardware` is written into every run's results, so a reader can tell a GPU
run from a CPU one.
"""

from __future__ import annotations

from typing import Any

import torch

_GPU_ACCELERATORS = ("auto", "gpu", "cuda")


def resolve_precision(precision: str, accelerator: str) -> str:
    """Lightning precision for a config's ``precision`` and ``accelerator`` settings."""
    if precision != "auto":
        return precision
    on_gpu = accelerator in _GPU_ACCELERATORS and torch.cuda.is_available()
    return "16-mixed" if on_gpu else "32-true"


def used_hardware(trainer: Any) -> dict[str, Any]:
    """What a fitted Lightning ``trainer`` ran on: device type and name, precision, processes."""
    device = trainer.strategy.root_device
    return {"device": device.type,
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "precision": str(trainer.precision), "world_size": int(trainer.world_size)}
