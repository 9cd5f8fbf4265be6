"""DeCovNet (Wang et al., IEEE TMI 2020): the 3D weakly supervised COVID-19 classifier.

Layout (reference-systems.md section 1, after the paper): a stem Conv3d 1->16 of kernel
5x7x7, stride (1, 2, 2), BN, ReLU, MaxPool3d over (1, 3, 3) stride (1, 2, 2); two 3D residual
stages (64 channels at in-plane stride 2, 128 channels at stride 2), each a 3^3 conv + BN +
ReLU + 3^3 conv + BN main path with a 1^3 conv + BN projection shortcut; then the
progressive classifier: three 3^3 conv + BN + ReLU layers (128->64->64->128) with a max pool
between, adaptive max pooling to 1^3, Dropout, Linear -> classes (two in the paper).

As a COVID-MTL backbone (:class:`DeCovNetFeatures`), the network ends after the residual
stages (128 channels, stride (4, 8, 8) in (D, H, W)).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from covidct.models.heads import check_volume_batch, init_weights

__all__ = ["DeCovNet", "DeCovNetFeatures", "ProgressiveClassifier", "ResBlock3D", "decovnet"]


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [
        nn.Conv3d(cin, cout, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
    ]


class ResBlock3D(nn.Module):
    """3D residual block: 3^3 conv(stride) + BN + ReLU + 3^3 conv + BN, plus a 1^3 conv + BN
    projection shortcut, ReLU."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int | Sequence[int] = 1
    ) -> None:
        super().__init__()
        stride_t = tuple(stride) if isinstance(stride, Sequence) else (stride,) * 3
        self.main = nn.Sequential(
            nn.Conv3d(
                in_channels, out_channels, kernel_size=3, stride=stride_t, padding=1, bias=False
            ),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv3d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm3d(out_channels),
        )
        self.shortcut = nn.Sequential(
            nn.Conv3d(in_channels, out_channels, kernel_size=1, stride=stride_t, bias=False),
            nn.BatchNorm3d(out_channels),
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.main(x) + self.shortcut(x))


class DeCovNetFeatures(nn.Module):
    """DeCovNet stem + two residual stages: (N, in, D, H, W) -> (N, 128, ~D/2, ~H/8, ~W/8)."""

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.stem = nn.Sequential(
            nn.Conv3d(
                in_channels,
                16,
                kernel_size=(5, 7, 7),
                stride=(1, 2, 2),
                padding=(2, 3, 3),
                bias=False,
            ),
            nn.BatchNorm3d(16),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        )
        self.stage1 = ResBlock3D(16, 64, stride=(1, 2, 2))
        self.stage2 = ResBlock3D(64, 128, stride=2)
        self.out_channels = 128

    def forward(self, x: Tensor) -> Tensor:
        return self.stage2(self.stage1(self.stem(x)))


class ProgressiveClassifier(nn.Module):
    """DeCovNet's ProClf: three 3^3 conv+BN+ReLU layers with max pooling, adaptive max pool
    to 1^3, Dropout, Linear(128 -> num_classes)."""

    def __init__(self, in_channels: int = 128, num_classes: int = 2, dropout: float = 0.3) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            *_conv_bn_relu(in_channels, 64),
            nn.MaxPool3d(kernel_size=2, stride=2, ceil_mode=True),
            *_conv_bn_relu(64, 64),
            *_conv_bn_relu(64, 128),
        )
        self.pool = nn.AdaptiveMaxPool3d(1)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(self.pool(self.convs(x)).flatten(1)))


class DeCovNet(nn.Module):
    """DeCovNet: ``features`` (:class:`DeCovNetFeatures`) + ``classifier``
    (:class:`ProgressiveClassifier`). forward: (N, 1, D, H, W) -> (N, num_classes) logits."""

    def __init__(self, num_classes: int = 2, *, in_channels: int = 1, dropout: float = 0.3) -> None:
        super().__init__()
        self.features = DeCovNetFeatures(in_channels)
        self.out_channels = self.features.out_channels
        self.classifier = ProgressiveClassifier(self.out_channels, num_classes, dropout)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        check_volume_batch(x, in_channels=self.features.in_channels, name=type(self).__name__)
        return self.classifier(self.features(x))


def decovnet(num_classes: int = 2, *, in_channels: int = 1, dropout: float = 0.3) -> DeCovNet:
    """DeCovNet with ``num_classes`` outputs (2 in the paper)."""
    return DeCovNet(num_classes, in_channels=in_channels, dropout=dropout)
