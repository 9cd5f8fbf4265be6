"""SqueezeNet3D and ShiftNet3D (SqueezeNet3D with Shift3D), the COVID-MTL backbones.

Layout (reference-systems.md section 1): Conv3d 1->64 k3 s2 p1, BN, ReLU, [Shift3D],
MaxPool3d(3, 2, 1), then eight Fire modules with pools between
Fire(64->32->64+64), Fire(128->32->64+64, bypass), pool, Fire(128->64->128+128),
Fire(256->64->128+128, bypass), pool, Fire(256->96->192+192), Fire(384->96->192+192, bypass),
pool, Fire(384->128->256+256), Fire(512->128->256+256, bypass): 512 output channels, total
stride 32 in each axis. Single-task head: Dropout 0.3, Conv3d 512->C (1^3), global average
pool. Input (N, 1, D, H, W) of any size >= 1 voxel per axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from covidct.errors import InvalidInputError
from covidct.models.heads import SingleTaskNet
from covidct.models.shift3d import Shift3D

__all__ = [
    "FIRE_CONFIG",
    "Fire3D",
    "SqueezeNet3D",
    "SqueezeNet3DFeatures",
    "shiftnet3d",
    "squeezenet3d",
]

#: (in, squeeze, expand1x1, expand3x3, bypass) per Fire module; "M" is a MaxPool3d(3, 2, 1).
FIRE_CONFIG: tuple[tuple[int, int, int, int, bool] | str, ...] = (
    (64, 32, 64, 64, False),
    (128, 32, 64, 64, True),
    "M",
    (128, 64, 128, 128, False),
    (256, 64, 128, 128, True),
    "M",
    (256, 96, 192, 192, False),
    (384, 96, 192, 192, True),
    "M",
    (384, 128, 256, 256, False),
    (512, 128, 256, 256, True),
)


class Fire3D(nn.Module):
    """3D Fire module: squeeze 1^3 conv+BN+ReLU, expand 1^3 and 3^3 conv+BN, concat,
    optional residual bypass (needs in == expand1x1 + expand3x3), ReLU."""

    def __init__(
        self,
        in_channels: int,
        squeeze: int,
        expand1x1: int,
        expand3x3: int,
        *,
        bypass: bool = False,
    ) -> None:
        super().__init__()
        if bypass and in_channels != expand1x1 + expand3x3:
            raise InvalidInputError(
                f"Fire3D bypass needs in_channels == expand1x1 + expand3x3, "
                f"got {in_channels} != {expand1x1 + expand3x3}"
            )
        self.bypass = bypass
        self.out_channels = expand1x1 + expand3x3
        self.squeeze = nn.Sequential(
            nn.Conv3d(in_channels, squeeze, kernel_size=1),
            nn.BatchNorm3d(squeeze),
            nn.ReLU(inplace=True),
        )
        self.expand1x1 = nn.Sequential(
            nn.Conv3d(squeeze, expand1x1, kernel_size=1), nn.BatchNorm3d(expand1x1)
        )
        self.expand3x3 = nn.Sequential(
            nn.Conv3d(squeeze, expand3x3, kernel_size=3, padding=1), nn.BatchNorm3d(expand3x3)
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        s = self.squeeze(x)
        out = torch.cat([self.expand1x1(s), self.expand3x3(s)], dim=1)
        if self.bypass:
            out = out + x
        return self.relu(out)


class SqueezeNet3DFeatures(nn.Module):
    """The SqueezeNet3D backbone: (N, in_channels, D, H, W) -> (N, 512, ~D/32, ~H/32, ~W/32).

    Args:
        in_channels: input channels (1 for CT).
        shift: a :class:`Shift3D` to insert after the stem (ShiftNet3D), or None.
        config: Fire layout (default :data:`FIRE_CONFIG`).
    """

    def __init__(
        self,
        in_channels: int = 1,
        *,
        shift: Shift3D | None = None,
        config: Sequence[tuple[int, int, int, int, bool] | str] = FIRE_CONFIG,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        stem_out = 64
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, stem_out, kernel_size=3, stride=2, padding=1),
            nn.BatchNorm3d(stem_out),
            nn.ReLU(inplace=True),
        )
        self.shift: nn.Module = shift if shift is not None else nn.Identity()
        self.pool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)
        layers: list[nn.Module] = []
        channels = stem_out
        for item in config:
            if item == "M":
                layers.append(nn.MaxPool3d(kernel_size=3, stride=2, padding=1))
                continue
            cin, sq, e1, e3, bypass = item  # type: ignore[misc]
            if cin != channels:
                raise InvalidInputError(f"Fire config mismatch: expected {channels} inputs, got {cin}")
            fire = Fire3D(cin, sq, e1, e3, bypass=bypass)
            layers.append(fire)
            channels = fire.out_channels
        self.fires = nn.Sequential(*layers)
        self.out_channels = channels

    def forward(self, x: Tensor) -> Tensor:
        return self.fires(self.pool(self.shift(self.stem(x))))


class SqueezeNet3D(SingleTaskNet):
    """SqueezeNet3D classifier: backbone ``features`` + single-task ``classifier`` head.

    Args:
        num_classes: output classes C.
        in_channels: input channels (1).
        shift: a :class:`Shift3D` module for ShiftNet3D, or None for plain SqueezeNet3D.
        dropout: head dropout (0.3).

    forward: (N, in_channels, D, H, W) float -> (N, C) logits.
    """

    def __init__(
        self,
        num_classes: int = 2,
        *,
        in_channels: int = 1,
        shift: Shift3D | None = None,
        dropout: float = 0.3,
    ) -> None:
        features = SqueezeNet3DFeatures(in_channels, shift=shift)
        super().__init__(features, num_classes, dropout=dropout)


def squeezenet3d(
    num_classes: int = 2, *, in_channels: int = 1, dropout: float = 0.3
) -> SqueezeNet3D:
    """SqueezeNet3D without Shift3D."""
    return SqueezeNet3D(num_classes, in_channels=in_channels, dropout=dropout)


def shiftnet3d(
    num_classes: int = 2,
    *,
    p: float = 0.25,
    max_fraction: float = 0.2,
    per_batch: bool = False,
    generator: torch.Generator | None = None,
    in_channels: int = 1,
    dropout: float = 0.3,
) -> SqueezeNet3D:
    """ShiftNet3D: SqueezeNet3D with a :class:`Shift3D` (p, max_fraction, per_batch) after the stem."""
    shift = Shift3D(p, max_fraction, per_batch=per_batch, generator=generator)
    return SqueezeNet3D(num_classes, in_channels=in_channels, shift=shift, dropout=dropout)
