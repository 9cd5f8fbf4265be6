"""Heads shared by the 3D networks, and the input check of volume tensors.

* :class:`ConvPoolHead` -- Dropout, 1^3 Conv3d to ``out_channels``, optional ReLU, global
  average pool, flatten: the single-task classifier of SqueezeNet3D/ResNet3D (512 -> C, no
  ReLU) and the per-task CNN branch of COVID-MTL (512 -> 32, with ReLU).
"""

from __future__ import annotations

from torch import Tensor, nn

from covidct.errors import InvalidInputError

__all__ = ["ConvPoolHead", "SingleTaskNet", "check_volume_batch", "init_weights"]


def check_volume_batch(x: Tensor, *, in_channels: int = 1, name: str = "model") -> None:
    """Raise :class:`InvalidInputError` unless ``x`` is a float (N, in_channels, D, H, W) tensor."""
    if x.ndim != 5 or x.shape[1] != in_channels:
        raise InvalidInputError(
            f"{name} expects a (N, {in_channels}, D, H, W) tensor, got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise InvalidInputError(f"{name} expects a floating-point tensor, got {x.dtype}")
    if min(x.shape[2:]) < 1 or x.shape[0] < 1:
        raise InvalidInputError(f"{name} got an empty tensor of shape {tuple(x.shape)}")


class ConvPoolHead(nn.Module):
    """Dropout -> Conv3d(in, out, 1^3) -> [ReLU] -> global average pool -> (N, out).

    Args:
        in_channels: channels of the backbone feature map.
        out_channels: number of classes (single task) or of features (MTL branch).
        dropout: dropout probability (0.3 in COVID-MTL).
        relu: apply a ReLU after the convolution (COVID-MTL task branch).
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, dropout: float = 0.3, relu: bool = False
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size=1)
        self.act: nn.Module = nn.ReLU(inplace=True) if relu else nn.Identity()
        self.pool = nn.AdaptiveAvgPool3d(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.act(self.conv(self.dropout(x)))).flatten(1)


def init_weights(module: nn.Module) -> None:
    """Kaiming-normal (fan_out) conv weights, zero biases, BN weight 1 / bias 0, in place."""
    for m in module.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm3d | nn.BatchNorm1d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class SingleTaskNet(nn.Module):
    """A backbone ``features`` (with ``in_channels``/``out_channels``) + a :class:`ConvPoolHead`.

    forward: (N, in_channels, D, H, W) float -> (N, num_classes) logits.
    """

    def __init__(self, features: nn.Module, num_classes: int, *, dropout: float = 0.3) -> None:
        super().__init__()
        self.features = features
        self.out_channels = int(features.out_channels)  # type: ignore[arg-type]
        self.classifier = ConvPoolHead(self.out_channels, num_classes, dropout=dropout)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        check_volume_batch(x, in_channels=self.features.in_channels,  # type: ignore[arg-type]
                           name=type(self).__name__)
        return self.classifier(self.features(x))

