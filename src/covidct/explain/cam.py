"""Grad-CAM heat maps for 2D slice models and 3D volume models, with pytorch-grad-cam.

The maps come from the ``grad-cam`` library (``pytorch_grad_cam``): :data:`METHODS` lists the
CAM variants exposed here; both handle 4-D (slices) and 5-D (volumes) activations at the
pinned version and are tested on both. Maps are scaled to [0, 1] per image by the library
(min-max after the ReLU) and resized to the input (bilinear in 2D, spline zoom in 3D, then
clipped to [0, 1]).

* :func:`slice_heatmaps` — (N, H, W) maps of a :class:`~covidct.slices.SliceModel`.
* :func:`volume_heatmap` — the (z, y, x) map of a 3D model on the CT's own grid: computed on
  the network's crop and mapped back with :func:`covidct.inference.volume.to_ct_grid`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from covidct.errors import InvalidInputError
from covidct.io import CTVolume

__all__ = ["METHODS", "cam_maps", "last_conv3d", "slice_heatmaps", "volume_heatmap"]


def _methods() -> dict[str, type]:
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus

    return {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus}


#: CAM variants exposed (name -> pytorch_grad_cam class name).
METHODS: tuple[str, ...] = ("gradcam", "gradcam++")


def cam_maps(network: nn.Module, layer: nn.Module, inputs: Tensor, *,
             targets: Sequence[int] | None = None, method: str = "gradcam") -> tuple[np.ndarray, np.ndarray]:
    """CAM of ``network`` at ``layer`` for a batch; returns (maps in [0, 1], target classes).

    Args:
        network: a classifier, (N, C, *spatial) -> (N, n_classes) logits.
        layer: a module of ``network`` with spatial activations.
        inputs: (N, C, H, W) or (N, C, D, H, W) float tensor.
        targets: class per input; None = the predicted class.
        method: one of :data:`METHODS`.
    Returns:
        float32 maps of shape (N, *spatial) and the int target classes (N,).
    """
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    if method not in METHODS:
        raise InvalidInputError(f"unknown CAM method {method!r}; expected one of {METHODS}")
    if inputs.ndim not in (4, 5):
        raise InvalidInputError(f"inputs must be (N, C, H, W) or (N, C, D, H, W); got {tuple(inputs.shape)}")
    was_training = network.training
    network.eval()
    if targets is None:
        with torch.no_grad():
            targets = network(inputs).argmax(dim=1).tolist()
    if len(targets) != inputs.shape[0]:
        raise InvalidInputError(f"give one target per input: {len(targets)} for {inputs.shape[0]}")
    with _methods()[method](model=network, target_layers=[layer]) as cam:
        maps = cam(input_tensor=inputs, targets=[ClassifierOutputTarget(int(t)) for t in targets])
    network.train(was_training)
    return np.clip(np.asarray(maps, dtype=np.float32), 0.0, 1.0), np.asarray(targets, dtype=int)


def slice_heatmaps(model, images: list[np.ndarray], *, targets: Sequence[int] | None = None,
                   method: str = "gradcam", layer: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM maps (N, S, S) in [0, 1] of a slice model on 2D uint8 images, and the targets.

    Maps are on the model's input grid (the image resized to S x S after any body-box crop);
    ``layer`` names another module than the backbone's default (:func:`covidct.slices.models.cam_layer`).
    """
    from covidct.slices.models import cam_layer

    target_layer = model.network.get_submodule(layer) if layer else cam_layer(model.network, model.arch)
    return cam_maps(model.network, target_layer, model.tensor(images), targets=targets, method=method)


class _TaskLogits(nn.Module):
    """A 3D model's logits for one task (Grad-CAM needs one tensor out)."""

    def __init__(self, module: nn.Module, task: str) -> None:
        super().__init__()
        self.module = module
        self.task = task

    def forward(self, x: Tensor) -> Tensor:
        return self.module(x)[self.task]


def last_conv3d(network: nn.Module) -> nn.Conv3d:
    """The last 3D convolution of ``network``'s feature extractor (its ``backbone`` if any)."""
    convs = [m for m in getattr(network, "backbone", network).modules() if isinstance(m, nn.Conv3d)]
    if not convs:
        raise InvalidInputError(f"{type(network).__name__} has no 3D convolution for Grad-CAM")
    return convs[-1]


def volume_heatmap(model, prepared, ct: CTVolume, *, task: str = "ct", target: int | None = None,
                   method: str = "gradcam") -> np.ndarray:
    """3D Grad-CAM of a volume model, as float32 (z, y, x) in [0, 1] on ``ct``'s grid.

    Args:
        model: a :class:`covidct.inference.volume.VolumeModel`.
        prepared: ``ct`` made ready by :func:`covidct.inference.volume.prepare_volume`.
        ct: the CT the map is returned on.
        task: which task's output to explain.
        target: class to explain; None = the predicted class.
    """
    from covidct.inference.volume import to_ct_grid

    if task not in model.tasks:
        raise InvalidInputError(f"task {task!r} is not an output of this model; it has {list(model.tasks)}")
    # a new Module starts in training mode: match the model's, or cam_maps would leave the
    # model in training mode (dropout, Shift3D and batch statistics on) when it restores it
    wrapper = _TaskLogits(model.module, task).train(model.module.training)
    device = next(model.module.parameters()).device
    maps, _ = cam_maps(wrapper, last_conv3d(model.network), prepared.tensor.to(device),
                       targets=None if target is None else [target], method=method)
    heat = to_ct_grid(maps[0], prepared, ct)
    return np.clip(heat, 0.0, 1.0).astype(np.float32)
