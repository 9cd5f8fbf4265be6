"""ResNet3D: a ResNet-34 style 3D network (COVID-MTL comparator), optional Shift3D.

Layout (reference-systems.md section 1): Conv3d 1->64 k5 s2 p2, BN, ReLU, [Shift3D],
MaxPool3d(3, 2, 1), four stages of 3D BasicBlocks [3, 4, 6, 3] with 64, 128, 256, 512
channels (stride 2 at the start of stages 2-4, 1^3 conv + BN projection shortcuts), 512
output channels, total stride 32. Single-task head as SqueezeNet3D: Dropout 0.3, Conv3d
512->C (1^3), global average pool. Input (N, 1, D, H, W) of any size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from covidct.errors import InvalidInputError
from covidct.models.heads import SingleTaskNet
from covidct.models.shift3d import Shift3D

__all__ = ["BasicBlock3D", "ResNet3D", "ResNet3DFeatures", "resnet3d", "resnet3d_shift"]

RESNET34_LAYERS: tuple[int, int, int, int] = (3, 4, 6, 3)


class BasicBlock3D(nn.Module):
    """Two 3^3 conv + BN with an identity (or 1^3 conv + BN projection) shortcut, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(
            in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False
        )
        self.bn1 = nn.BatchNorm3d(out_channels)
        self.conv2 = nn.Conv3d(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm3d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.downsample(x))


class ResNet3DFeatures(nn.Module):
    """ResNet3D backbone: (N, in_channels, D, H, W) -> (N, 512, ~D/32, ~H/32, ~W/32).

    Args:
        in_channels: input channels (1 for CT).
        layers: BasicBlocks per stage ((3, 4, 6, 3) = ResNet-34; (2, 2, 2, 2) = ResNet-18).
        shift: a :class:`Shift3D` inserted after conv1+BN+ReLU, or None.
        widths: channels of the four stages.
    """

    def __init__(
        self,
        in_channels: int = 1,
        *,
        layers: Sequence[int] = RESNET34_LAYERS,
        shift: Shift3D | None = None,
        widths: Sequence[int] = (64, 128, 256, 512),
    ) -> None:
        super().__init__()
        if len(layers) != len(widths) or any(n < 1 for n in layers):
            raise InvalidInputError(f"layers {tuple(layers)} must be positive, one per width {widths}")
        self.in_channels = in_channels
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, widths[0], kernel_size=5, stride=2, padding=2, bias=False),
            nn.BatchNorm3d(widths[0]),
            nn.ReLU(inplace=True),
        )
        self.shift: nn.Module = shift if shift is not None else nn.Identity()
        self.pool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)
        stages: list[nn.Module] = []
        channels = widths[0]
        for i, (n_blocks, width) in enumerate(zip(layers, widths, strict=True)):
            stride = 1 if i == 0 else 2
            blocks = [BasicBlock3D(channels, width, stride)]
            blocks += [BasicBlock3D(width, width) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.out_channels = channels

    def forward(self, x: Tensor) -> Tensor:
        return self.stages(self.pool(self.shift(self.stem(x))))


class ResNet3D(SingleTaskNet):
    """ResNet3D classifier: ``features`` (:class:`ResNet3DFeatures`) + ``classifier`` head.

    forward: (N, in_channels, D, H, W) float -> (N, num_classes) logits.
    """

    def __init__(
        self,
        num_classes: int = 2,
        *,
        in_channels: int = 1,
        layers: Sequence[int] = RESNET34_LAYERS,
        shift: Shift3D | None = None,
        dropout: float = 0.3,
    ) -> None:
        features = ResNet3DFeatures(in_channels, layers=layers, shift=shift)
        super().__init__(features, num_classes, dropout=dropout)


def resnet3d(
    num_classes: int = 2,
    *,
    in_channels: int = 1,
    layers: Sequence[int] = RESNET34_LAYERS,
    dropout: float = 0.3,
) -> ResNet3D:
    """ResNet3D (ResNet-34 layers by default) without Shift3D."""
    return ResNet3D(num_classes, in_channels=in_channels, layers=layers, dropout=dropout)


def resnet3d_shift(
    num_classes: int = 2,
    *,
    p: float = 0.25,
    max_fraction: float = 0.2,
    per_batch: bool = False,
    generator: torch.Generator | None = None,
    in_channels: int = 1,
    layers: Sequence[int] = RESNET34_LAYERS,
    dropout: float = 0.3,
) -> ResNet3D:
    """ResNet3D-34 with a :class:`Shift3D` after conv1+BN+ReLU."""
    shift = Shift3D(p, max_fraction, per_batch=per_batch, generator=generator)
    return ResNet3D(
        num_classes, in_channels=in_channels, layers=layers, shift=shift, dropout=dropout
    )
