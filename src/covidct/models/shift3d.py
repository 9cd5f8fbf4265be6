"""Shift3D: the random circular channel shift of ShiftNet3D (COVID-MTL).

A training-only augmentation that lives inside the network, after the first
conv + BN + ReLU. With probability ``p`` per sample, every channel of that sample is
circularly rolled (``torch.roll`` semantics: the value at index ``i`` moves to
``i + shift``) along one randomly chosen axis of (D, H, W), by a random integer amount in
``[0, floor(max_fraction * axis_size)]`` in a random direction, each channel drawing its own
axis, amount and direction. In eval mode the module is the identity.

The draw (:func:`draw_shifts`) and its application (:func:`apply_shifts`) are separate
functions so that tests and analyses can inspect exactly what was done. The application is
vectorised: one ``gather`` per axis over the channels that roll along it, with the source
indices computed by modular arithmetic (no Python loop over channels or samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from covidct.errors import InvalidInputError

__all__ = ["Shift3D", "ShiftDraw", "apply_shifts", "draw_shifts"]


@dataclass(frozen=True)
class ShiftDraw:
    """One random draw of Shift3D for a batch of shape (N, C, D, H, W).

    Attributes:
        shifted: (N,) bool, which samples are shifted.
        axis: (N, C) int64 in {0, 1, 2}: the rolled axis (0 = D, 1 = H, 2 = W) per channel.
        shift: (N, C) int64, the signed roll amount in voxels (``torch.roll`` ``shifts``);
            0 for every channel of an unshifted sample.
    """

    shifted: Tensor
    axis: Tensor
    shift: Tensor


def _check_5d(x: Tensor) -> None:
    if x.ndim != 5:
        raise InvalidInputError(
            f"Shift3D expects a (N, C, D, H, W) tensor, got shape {tuple(x.shape)}"
        )


def draw_shifts(
    shape: tuple[int, ...] | torch.Size,
    *,
    p: float = 0.25,
    max_fraction: float = 0.2,
    per_batch: bool = False,
    generator: torch.Generator | None = None,
) -> ShiftDraw:
    """Draw the random Shift3D parameters for a batch of the given 5-D shape.

    Args:
        shape: (N, C, D, H, W) of the activation tensor.
        p: probability that a sample (or, with ``per_batch``, the whole batch) is shifted.
        max_fraction: the largest roll as a fraction of the chosen axis length.
        per_batch: one draw shared by every sample of the batch (same decision, and the
            same per-channel axis, amount and direction for every sample).
        generator: a CPU ``torch.Generator`` for reproducible draws (default: torch's
            global CPU generator, i.e. ``torch.manual_seed`` applies).

    Returns:
        A :class:`ShiftDraw` of CPU tensors.
    """
    if len(shape) != 5:
        raise InvalidInputError(f"Shift3D expects a 5-D shape (N, C, D, H, W), got {tuple(shape)}")
    if not 0.0 <= p <= 1.0:
        raise InvalidInputError(f"Shift3D p must be in [0, 1], got {p}")
    if not 0.0 <= max_fraction <= 1.0:
        raise InvalidInputError(f"Shift3D max_fraction must be in [0, 1], got {max_fraction}")
    n, c = int(shape[0]), int(shape[1])
    sizes = torch.tensor([int(s) for s in shape[2:]], dtype=torch.int64)
    rows = 1 if per_batch else n
    shifted = torch.rand(rows, generator=generator) < p
    axis = torch.randint(0, 3, (rows, c), generator=generator)
    max_shift = torch.floor(sizes.to(torch.float64) * max_fraction).to(torch.int64)[axis]
    # integer uniform on {0, ..., max_shift}: floor(u * (max + 1)), u in [0, 1)
    u = torch.rand((rows, c), generator=generator, dtype=torch.float64)
    amount = torch.minimum(torch.floor(u * (max_shift + 1)).to(torch.int64), max_shift)
    sign = torch.randint(0, 2, (rows, c), generator=generator) * 2 - 1
    shift = amount * sign * shifted[:, None].to(torch.int64)
    if per_batch:
        shifted, axis, shift = shifted.expand(n), axis.expand(n, c), shift.expand(n, c)
    return ShiftDraw(shifted=shifted.clone(), axis=axis.clone(), shift=shift.clone())


def apply_shifts(x: Tensor, draw: ShiftDraw) -> Tensor:
    """Roll every channel of ``x`` by the draw, out of place (``x`` is not modified).

    Channel ``(n, c)`` of the result equals
    ``torch.roll(x[n, c], shifts=draw.shift[n, c], dims=draw.axis[n, c])``.
    Differentiable (the gradient is the inverse permutation).
    """
    _check_5d(x)
    n, c = x.shape[:2]
    if tuple(draw.shift.shape) != (n, c) or tuple(draw.axis.shape) != (n, c):
        raise InvalidInputError(
            f"Shift3D draw is for {tuple(draw.shift.shape)} channels, tensor has {(n, c)}"
        )
    if not bool((draw.shift != 0).any()):
        return x
    return _RollChannels.apply(x, draw.axis.reshape(-1), draw.shift.reshape(-1))


def _roll_channels(x: Tensor, axis: Tensor, shift: Tensor) -> Tensor:
    """Out-of-place per-channel roll of a (N, C, D, H, W) tensor; axis/shift (N*C,) CPU."""
    n, c, d, h, w = x.shape
    active = torch.nonzero(shift != 0).flatten()
    flat = x.reshape(n * c, d, h, w)
    out = flat.clone()
    dev = x.device
    for ax, length in enumerate((d, h, w)):
        rows = active[axis[active] == ax]
        if rows.numel() == 0:
            continue
        # torch.roll: out[i] = in[(i - s) mod L]
        pos = torch.arange(length, dtype=torch.int64)
        src = torch.remainder(pos[None, :] - shift[rows][:, None], length)  # (R, L)
        view = [rows.numel(), 1, 1, 1]
        view[ax + 1] = length
        index = src.reshape(view).to(dev).expand(rows.numel(), d, h, w)
        rows_dev = rows.to(dev)
        out[rows_dev] = torch.gather(flat[rows_dev], ax + 1, index)
    return out.reshape(n, c, d, h, w)


class _RollChannels(torch.autograd.Function):
    """Per-channel roll whose backward is the inverse roll (much cheaper than the
    scatter-add backward of ``gather``)."""

    @staticmethod
    def forward(ctx, x: Tensor, axis: Tensor, shift: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(axis, shift)
        return _roll_channels(x, axis, shift)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        axis, shift = ctx.saved_tensors
        return _roll_channels(grad.contiguous(), axis, -shift), None, None


class Shift3D(nn.Module):
    """Random per-channel circular shift (training only; identity in eval mode).

    Args:
        p: probability that a sample is shifted (0.25 in COVID-MTL).
        max_fraction: largest roll as a fraction of the axis length (0.2).
        per_batch: one draw for the whole batch instead of one per sample.
        generator: optional CPU ``torch.Generator`` for reproducible draws.

    Input and output: (N, C, D, H, W), same dtype and device.
    """

    def __init__(
        self,
        p: float = 0.25,
        max_fraction: float = 0.2,
        *,
        per_batch: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise InvalidInputError(f"Shift3D p must be in [0, 1], got {p}")
        if not 0.0 <= max_fraction <= 1.0:
            raise InvalidInputError(f"Shift3D max_fraction must be in [0, 1], got {max_fraction}")
        self.p = float(p)
        self.max_fraction = float(max_fraction)
        self.per_batch = bool(per_batch)
        self.generator = generator
        self.last_draw: ShiftDraw | None = None

    def forward(self, x: Tensor) -> Tensor:
        _check_5d(x)
        if not self.training or self.p == 0.0 or self.max_fraction == 0.0:
            self.last_draw = None
            return x
        draw = draw_shifts(
            x.shape,
            p=self.p,
            max_fraction=self.max_fraction,
            per_batch=self.per_batch,
            generator=self.generator,
        )
        self.last_draw = draw
        return apply_shifts(x, draw)

    def extra_repr(self) -> str:
        return f"p={self.p}, max_fraction={self.max_fraction}, per_batch={self.per_batch}"
