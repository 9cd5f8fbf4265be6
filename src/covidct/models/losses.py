"""Multi-task losses for COVID-MTL: random, equal and uncertainty weighting of per-task CE.

Every loss is an ``nn.Module`` called as ``loss(logits, targets)`` with two mappings
task -> tensor (logits (N, C_k) float, targets (N,) int64 class indices, ``ignore_index``
for a missing label) and returns ``(total, per_task, weights)``: the scalar total loss, a
dict task -> scalar cross-entropy L_k (with graph), and a dict task -> float weight used.
A task whose labels are all missing in the batch contributes a zero loss (with graph).

* :class:`RandomWeightedLoss` -- COVID-MTL: w = mean of ``n_draws`` Dirichlet(alpha) draws,
  new each call, L = sum_k w_k L_k, no gradient through w.
* :class:`EqualWeightLoss` -- w_k = 1/K.
* :class:`UncertaintyWeightedLoss` -- Kendall et al. 2018: learnable log-variances s_k,
  L = sum_k L_k exp(-s_k) + s_k / 2 (remember to give ``loss.parameters()`` to the optimiser).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from covidct.errors import InvalidInputError

__all__ = [
    "EqualWeightLoss",
    "LossOutput",
    "MultiTaskLoss",
    "RandomWeightedLoss",
    "UncertaintyWeightedLoss",
]

LossOutput = tuple[Tensor, dict[str, Tensor], dict[str, float]]


class MultiTaskLoss(nn.Module):
    """Base class: per-task cross-entropy; subclasses choose the weights.

    Args:
        tasks: task names (or a mapping name -> n_classes, whose keys are used).
        ignore_index: target value meaning "label missing" (-100).
    """

    def __init__(self, tasks: Sequence[str] | Mapping[str, int], *, ignore_index: int = -100):
        super().__init__()
        names = list(tasks.keys()) if isinstance(tasks, Mapping) else list(tasks)
        if not names or len(set(names)) != len(names):
            raise InvalidInputError(f"multi-task loss needs distinct task names, got {names}")
        self.tasks: list[str] = names
        self.ignore_index = ignore_index

    def task_losses(
        self, logits: Mapping[str, Tensor], targets: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        """Cross-entropy per task (mean over the labelled samples of the batch)."""
        out: dict[str, Tensor] = {}
        for name in self.tasks:
            if name not in logits or name not in targets:
                raise InvalidInputError(
                    f"task {name!r} missing: logits have {sorted(logits)}, "
                    f"targets have {sorted(targets)}"
                )
            z, y = logits[name], targets[name].to(device=logits[name].device, dtype=torch.long)
            if z.ndim != 2 or y.shape != z.shape[:1]:
                raise InvalidInputError(
                    f"task {name!r}: expected logits (N, C) and targets (N,), "
                    f"got {tuple(z.shape)} and {tuple(y.shape)}"
                )
            if bool((y != self.ignore_index).any()):
                out[name] = F.cross_entropy(z, y, ignore_index=self.ignore_index)
            else:
                out[name] = z.sum() * 0.0
        return out

    def weights(self, device: torch.device) -> Tensor:  # pragma: no cover - abstract
        """The (K,) task weights for this call, in the order of ``tasks``."""
        raise NotImplementedError

    def forward(self, logits: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> LossOutput:
        per_task = self.task_losses(logits, targets)
        losses = torch.stack([per_task[k] for k in self.tasks])
        w = self.weights(losses.device).to(losses.dtype)
        total = (w * losses).sum()
        return total, per_task, {k: float(v) for k, v in zip(self.tasks, w.detach().cpu())}


class EqualWeightLoss(MultiTaskLoss):
    """L = (1/K) sum_k L_k."""

    def weights(self, device: torch.device) -> Tensor:
        k = len(self.tasks)
        return torch.full((k,), 1.0 / k, device=device)


class RandomWeightedLoss(MultiTaskLoss):
    """COVID-MTL random-weighted loss: w = mean of ``n_draws`` Dirichlet(alpha) draws per call.

    Args:
        tasks: task names or mapping name -> n_classes.
        alpha: Dirichlet concentration, a scalar (same for all tasks) or one per task
            (1.0 in the paper; larger -> weights closer to 1/K).
        n_draws: draws averaged per call (2 in the paper; more -> less spread).
        generator: a ``numpy.random.Generator`` or an int seed for reproducible weights;
            None uses torch's global generator (``torch.manual_seed`` applies).
        ignore_index: target value meaning "label missing".
    """

    def __init__(
        self,
        tasks: Sequence[str] | Mapping[str, int],
        alpha: float | Sequence[float] = 1.0,
        n_draws: int = 2,
        *,
        generator: np.random.Generator | int | None = None,
        ignore_index: int = -100,
    ) -> None:
        super().__init__(tasks, ignore_index=ignore_index)
        k = len(self.tasks)
        alphas = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (k,)).copy()
        if not np.all(alphas > 0):
            raise InvalidInputError(f"Dirichlet alpha must be > 0 for every task, got {alpha}")
        if int(n_draws) < 1:
            raise InvalidInputError(f"n_draws must be >= 1, got {n_draws}")
        self.alpha = alphas
        self.n_draws = int(n_draws)
        self._rng = np.random.default_rng(generator) if generator is not None else None
        self.last_weights: np.ndarray | None = None

    def draw_weights(self) -> np.ndarray:
        """One weight vector (K,) float64: the mean of ``n_draws`` Dirichlet draws."""
        if self._rng is not None:
            draws = self._rng.dirichlet(self.alpha, size=self.n_draws)
        else:
            dist = torch.distributions.Dirichlet(torch.as_tensor(self.alpha))
            draws = dist.sample((self.n_draws,)).numpy()
        w = draws.mean(axis=0)
        return w / w.sum()

    def weights(self, device: torch.device) -> Tensor:
        w = self.draw_weights()
        self.last_weights = w
        return torch.as_tensor(w, dtype=torch.float32, device=device)

    def extra_repr(self) -> str:
        return f"tasks={self.tasks}, alpha={self.alpha.tolist()}, n_draws={self.n_draws}"


class UncertaintyWeightedLoss(MultiTaskLoss):
    """Kendall et al. uncertainty weighting: L = sum_k L_k exp(-s_k) + s_k / 2.

    ``log_vars`` (K,) is an ``nn.Parameter`` (initialised to ``init``); optimise it with
    the model. The returned weights are exp(-s_k).
    """

    def __init__(
        self,
        tasks: Sequence[str] | Mapping[str, int],
        *,
        init: float = 0.0,
        ignore_index: int = -100,
    ) -> None:
        super().__init__(tasks, ignore_index=ignore_index)
        self.log_vars = nn.Parameter(torch.full((len(self.tasks),), float(init)))

    def forward(self, logits: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> LossOutput:
        per_task = self.task_losses(logits, targets)
        losses = torch.stack([per_task[k] for k in self.tasks])
        s = self.log_vars.to(losses.device, losses.dtype)
        total = (losses * torch.exp(-s) + 0.5 * s).sum()
        w = torch.exp(-s).detach().cpu()
        return total, per_task, {k: float(v) for k, v in zip(self.tasks, w)}
