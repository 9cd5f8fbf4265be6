"""The COVID-MTL multi-task model: shared 3D backbone + radiomics branch (AFNN) + task heads.

Per task k (reference-systems.md section 1): CNN branch Dropout 0.3 -> Conv3d(512 -> 32, 1^3)
-> ReLU -> global average pool = a 32-vector; AFNN on the F radiomic features
F -> 256 -> 128 -> 64 -> 32 (ReLU between layers), shared by the tasks; then
concat [CNN 32, AFNN 32] -> ReLU -> Linear(64 -> n_classes_k). With the AFNN off the task
classifier is ReLU -> Linear(32 -> n_classes_k).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from covidct.errors import InvalidInputError
from covidct.models.backbones import build_backbone
from covidct.models.heads import ConvPoolHead, check_volume_batch, init_weights
from covidct.tasks import task_classes

__all__ = ["AFNN", "COVIDMTL", "PAPER_N_FEATURES", "PAPER_TASKS"]

#: The paper's three tasks: CT diagnosis (2), NAT diagnosis (2), severity (3).
PAPER_TASKS: dict[str, int] = task_classes()
#: Radiomic features in the paper's table (378 under full pyradiomics names).
PAPER_N_FEATURES = 375


class AFNN(nn.Sequential):
    """Auxiliary feed-forward branch: Linear layers ``n_features -> hidden... -> out``, ReLU
    between them (none after the last). Input (N, n_features) float, output (N, out)."""

    def __init__(self, n_features: int, hidden: tuple[int, ...] = (256, 128, 64, 32)) -> None:
        layers: list[nn.Module] = []
        widths = (n_features, *hidden)
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.Linear(a, b))
            if i < len(hidden) - 1:
                layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)
        self.n_features = n_features
        self.out_features = hidden[-1]


class COVIDMTL(nn.Module):
    """COVID-MTL: one shared backbone, one CNN branch + classifier per task, optional AFNN.

    Args:
        tasks: task name -> number of classes (default :data:`PAPER_TASKS`), any subset.
        backbone: a backbone name (see :data:`covidct.models.backbones.BACKBONES`, default
            "shiftnet3d") or an ``nn.Module`` with an ``out_channels`` attribute.
        backbone_options: keyword options for :func:`build_backbone` (``p``, ``layers``...).
        n_features: radiomic features F fed to the AFNN (375 in the paper, 378 in full).
        use_afnn: include the radiomics branch (forward then needs ``features``).
        branch_channels: width of the CNN and AFNN task vectors (32).
        dropout: dropout of the CNN task branches (0.3).
        in_channels: input channels of a backbone built by name.

    forward(volume (N, in_channels, D, H, W) float, features (N, F) float or None)
    -> dict task -> (N, n_classes) logits, in the order of ``tasks``.
    """

    def __init__(
        self,
        tasks: Mapping[str, int] | None = None,
        *,
        backbone: str | nn.Module = "shiftnet3d",
        backbone_options: Mapping[str, object] | None = None,
        n_features: int = PAPER_N_FEATURES,
        use_afnn: bool = True,
        branch_channels: int = 32,
        dropout: float = 0.3,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        tasks = dict(PAPER_TASKS if tasks is None else tasks)
        if not tasks:
            raise InvalidInputError("COVIDMTL needs at least one task, got none")
        for name, n in tasks.items():
            if not isinstance(name, str) or not name or int(n) < 2:
                raise InvalidInputError(
                    f"COVIDMTL task {name!r}: expected a name and >= 2 classes, got {n}"
                )
        if use_afnn and n_features < 1:
            raise InvalidInputError(f"COVIDMTL n_features must be >= 1, got {n_features}")
        self.tasks: dict[str, int] = {k: int(v) for k, v in tasks.items()}
        if isinstance(backbone, str):
            self.backbone_name = backbone
            self.backbone = build_backbone(
                backbone, in_channels=in_channels, **dict(backbone_options or {})
            )
        else:
            if not hasattr(backbone, "out_channels"):
                raise InvalidInputError("COVIDMTL backbone module needs an out_channels attribute")
            self.backbone_name = type(backbone).__name__
            self.backbone = backbone
        self.in_channels = int(getattr(self.backbone, "in_channels", in_channels))
        feat = int(self.backbone.out_channels)  # type: ignore[arg-type]
        self.cnn_heads = nn.ModuleDict(
            {k: ConvPoolHead(feat, branch_channels, dropout=dropout, relu=True) for k in self.tasks}
        )
        self.use_afnn = use_afnn
        self.n_features = n_features if use_afnn else 0
        self.afnn: AFNN | None = AFNN(n_features) if use_afnn else None
        joint = branch_channels + (self.afnn.out_features if self.afnn is not None else 0)
        self.classifiers = nn.ModuleDict(
            {k: nn.Sequential(nn.ReLU(), nn.Linear(joint, n)) for k, n in self.tasks.items()}
        )
        init_weights(self)

    def forward(self, volume: Tensor, features: Tensor | None = None) -> dict[str, Tensor]:
        check_volume_batch(volume, in_channels=self.in_channels, name="COVIDMTL")
        aux: Tensor | None = None
        if self.afnn is not None:
            if features is None:
                raise InvalidInputError(
                    "COVIDMTL with the AFNN needs radiomic features (N, "
                    f"{self.n_features}); got none (build with use_afnn=False to omit them)"
                )
            if features.ndim != 2 or features.shape != (volume.shape[0], self.n_features):
                raise InvalidInputError(
                    f"COVIDMTL features: expected shape ({volume.shape[0]}, {self.n_features}), "
                    f"got {tuple(features.shape)}"
                )
            aux = self.afnn(features.to(volume.dtype))
        shared = self.backbone(volume)
        out: dict[str, Tensor] = {}
        for name in self.tasks:
            vec = self.cnn_heads[name](shared)
            if aux is not None:
                vec = torch.cat([vec, aux], dim=1)
            out[name] = self.classifiers[name](vec)
        return out
