"""Multi-task losses: Dirichlet weight statistics, totals, no gradient through the weights,
Kendall log-variances learn, missing labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from covidct.errors import InvalidInputError
from covidct.models import EqualWeightLoss, RandomWeightedLoss, UncertaintyWeightedLoss

TASKS = {"ct": 2, "nat": 2, "severity": 3}


def _batch(seed: int = 0, requires_grad: bool = False) -> tuple[dict, dict]:
    g = torch.Generator().manual_seed(seed)
    logits = {
        k: torch.randn(5, n, generator=g).requires_grad_(requires_grad) for k, n in TASKS.items()
    }
    targets = {k: torch.randint(0, n, (5,), generator=g) for k, n in TASKS.items()}
    return logits, targets


def _dirichlet_var(alpha: float, k: int, n: int) -> float:
    a0 = alpha * k
    return alpha * (a0 - alpha) / (a0**2 * (a0 + 1)) / n


def test_random_weights_sum_to_one_and_match_dirichlet_moments() -> None:
    loss = RandomWeightedLoss(TASKS, generator=123)
    w = np.stack([loss.draw_weights() for _ in range(20_000)])
    assert np.allclose(w.sum(axis=1), 1.0) and (w >= 0).all()
    assert np.allclose(w.mean(axis=0), 1 / 3, atol=0.006)
    assert np.allclose(w.var(axis=0), _dirichlet_var(1.0, 3, 2), rtol=0.06)


@pytest.mark.parametrize(("alpha", "n_draws"), [(1.0, 1), (1.0, 5), (4.0, 2), (0.3, 2)])
def test_alpha_and_n_draws_change_the_spread(alpha: float, n_draws: int) -> None:
    loss = RandomWeightedLoss(list(TASKS), alpha=alpha, n_draws=n_draws, generator=7)
    w = np.stack([loss.draw_weights() for _ in range(20_000)])
    assert np.allclose(w.mean(axis=0), 1 / 3, atol=0.008)
    assert np.allclose(w.var(axis=0), _dirichlet_var(alpha, 3, n_draws), rtol=0.08)


def test_random_loss_total_and_no_gradient_through_weights() -> None:
    logits, targets = _batch(requires_grad=True)
    loss = RandomWeightedLoss(TASKS, generator=1)
    total, per_task, weights = loss(logits, targets)
    assert list(weights) == list(TASKS) and abs(sum(weights.values()) - 1) < 1e-6
    for k in TASKS:
        assert torch.allclose(per_task[k], F.cross_entropy(logits[k], targets[k]))
    expected = sum(weights[k] * per_task[k] for k in TASKS)
    assert torch.allclose(total, expected)
    total.backward()
    for k in TASKS:  # d total / d logits = w_k * d CE_k / d logits: the weights are constants
        z = logits[k].detach().requires_grad_(True)
        (weights[k] * F.cross_entropy(z, targets[k])).backward()
        assert torch.allclose(logits[k].grad, z.grad, atol=1e-6)
    assert not torch.allclose(
        torch.tensor(loss.draw_weights()), torch.tensor(list(weights.values()), dtype=torch.float64)
    )


def test_random_loss_is_reproducible() -> None:
    a = [RandomWeightedLoss(TASKS, generator=5).draw_weights() for _ in range(2)]
    assert np.array_equal(a[0], a[1])
    torch.manual_seed(11)
    b = RandomWeightedLoss(TASKS).draw_weights()
    torch.manual_seed(11)
    assert np.array_equal(b, RandomWeightedLoss(TASKS).draw_weights())


def test_equal_weight_loss() -> None:
    logits, targets = _batch(1)
    total, per_task, weights = EqualWeightLoss(TASKS)(logits, targets)
    assert weights == pytest.approx({k: 1 / 3 for k in TASKS})
    assert torch.allclose(total, torch.stack(list(per_task.values())).mean())


def test_uncertainty_log_variances_learn() -> None:
    logits, targets = _batch(2)
    loss = UncertaintyWeightedLoss(TASKS)
    total, per_task, weights = loss(logits, targets)
    assert torch.allclose(total, sum(per_task.values()))  # s = 0: plain sum
    assert weights == pytest.approx({k: 1.0 for k in TASKS})
    total.backward()
    # dL/ds_k = -L_k exp(-s_k) + 1/2
    expected = torch.stack([0.5 - per_task[k].detach() for k in TASKS])
    assert torch.allclose(loss.log_vars.grad, expected, atol=1e-6)
    before = loss.log_vars.detach().clone()
    torch.optim.SGD(loss.parameters(), lr=0.1).step()
    assert not torch.equal(loss.log_vars.detach(), before)
    assert torch.allclose(loss.log_vars.detach(), before - 0.1 * expected)
    _, _, w2 = loss(logits, targets)
    assert w2["ct"] == pytest.approx(float(torch.exp(-loss.log_vars.detach()[0])))


def test_missing_labels_and_missing_tasks() -> None:
    logits, targets = _batch(3, requires_grad=True)
    targets["nat"] = torch.full((5,), -100)
    targets["ct"][:2] = -100
    total, per_task, _ = RandomWeightedLoss(TASKS, generator=0)(logits, targets)
    assert per_task["nat"].item() == 0.0 and torch.isfinite(total)
    assert torch.allclose(per_task["ct"], F.cross_entropy(logits["ct"][2:], targets["ct"][2:]))
    total.backward()
    del targets["severity"]
    with pytest.raises(InvalidInputError, match="severity"):
        EqualWeightLoss(TASKS)(logits, targets)
    with pytest.raises(InvalidInputError):
        RandomWeightedLoss(TASKS, alpha=0.0)
    with pytest.raises(InvalidInputError):
        RandomWeightedLoss(TASKS, n_draws=0)
