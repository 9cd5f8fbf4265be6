"""Shift3D: statistics of the draw, exact circular rolls, invariants, eval identity."""

from __future__ import annotations

import math

import pytest
import torch

from covidct.errors import InvalidInputError
from covidct.models import Shift3D, apply_shifts, draw_shifts


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_fraction_of_shifted_samples_is_p() -> None:
    n = 40_000
    for p in (0.25, 0.6):
        draw = draw_shifts((n, 2, 10, 10, 10), p=p, generator=_gen(1))
        frac = draw.shifted.double().mean().item()
        sigma = math.sqrt(p * (1 - p) / n)
        assert abs(frac - p) < 5 * sigma
        # unshifted samples have no shift at all
        assert torch.all(draw.shift[~draw.shifted] == 0)


def test_shift_amounts_axes_and_directions() -> None:
    shape = (4000, 8, 20, 31, 47)  # max shifts floor(0.2 * size) = 4, 6, 9
    draw = draw_shifts(shape, p=1.0, generator=_gen(2))
    assert bool(draw.shifted.all())
    limits = torch.tensor([4, 6, 9])
    amount = draw.shift.abs()
    assert torch.all(amount <= limits[draw.axis])
    # every value in [-max, max] occurs for every axis (uniform amount, both directions)
    for ax in range(3):
        vals = set(draw.shift[draw.axis == ax].tolist())
        assert vals == set(range(-int(limits[ax]), int(limits[ax]) + 1))
    # axes equally likely, directions balanced
    counts = torch.bincount(draw.axis.flatten(), minlength=3).double() / draw.axis.numel()
    assert torch.allclose(counts, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.01)
    nonzero = draw.shift[draw.shift != 0]
    assert abs((nonzero > 0).double().mean().item() - 0.5) < 0.01
    # amount uniform on {0..max}: mean max/2
    for ax in range(3):
        mean = amount[draw.axis == ax].double().mean().item()
        assert abs(mean - int(limits[ax]) / 2) < 0.05 * int(limits[ax])


def test_each_channel_is_an_exact_torch_roll() -> None:
    x = torch.randn(6, 12, 9, 11, 13, generator=_gen(3))
    x_before = x.clone()
    draw = draw_shifts(x.shape, p=0.7, max_fraction=0.4, generator=_gen(4))
    y = apply_shifts(x, draw)
    assert torch.equal(x, x_before)  # input not modified
    assert int((draw.shift != 0).sum()) > 20
    for n in range(6):
        for c in range(12):
            expected = torch.roll(x[n, c], int(draw.shift[n, c]), dims=int(draw.axis[n, c]))
            assert torch.equal(y[n, c], expected)
            # multiset of values preserved
            assert torch.equal(
                torch.sort(y[n, c].flatten()).values, torch.sort(x[n, c].flatten()).values
            )


def test_gradient_is_the_inverse_roll() -> None:
    x = torch.randn(3, 4, 6, 7, 8, requires_grad=True)
    w = torch.randn(3, 4, 6, 7, 8)
    draw = draw_shifts(x.shape, p=1.0, max_fraction=0.5, generator=_gen(5))
    (apply_shifts(x, draw) * w).sum().backward()
    assert x.grad is not None
    for n in range(3):
        for c in range(4):
            back = torch.roll(w[n, c], -int(draw.shift[n, c]), dims=int(draw.axis[n, c]))
            assert torch.equal(x.grad[n, c], back)
    xd = torch.randn(2, 3, 5, 6, 7, dtype=torch.float64, requires_grad=True)
    dd = draw_shifts(xd.shape, p=1.0, max_fraction=0.5, generator=_gen(8))
    assert torch.autograd.gradcheck(lambda t: apply_shifts(t, dd), (xd,))


def test_module_identity_in_eval_and_deterministic_with_generator() -> None:
    x = torch.randn(8, 5, 10, 10, 10)
    mod = Shift3D(p=1.0, generator=_gen(6)).eval()
    assert torch.equal(mod(x), x)
    mod.train()
    y = mod(x)
    assert not torch.equal(y, x)
    assert mod.last_draw is not None
    assert torch.equal(y, apply_shifts(x, mod.last_draw))
    y2 = Shift3D(p=1.0, generator=_gen(6)).train()(x)
    assert torch.equal(y, y2)
    # p = 0 never shifts
    assert torch.equal(Shift3D(p=0.0).train()(x), x)


def test_per_batch_draw_is_shared() -> None:
    draw = draw_shifts((16, 7, 10, 10, 10), p=1.0, per_batch=True, generator=_gen(7))
    assert torch.all(draw.shift == draw.shift[0]) and torch.all(draw.axis == draw.axis[0])
    decisions = [
        bool(
            draw_shifts((5, 2, 8, 8, 8), p=0.5, per_batch=True, generator=_gen(s))
            .shifted.unique()
            .numel()
            == 1
        )
        for s in range(20)
    ]
    assert all(decisions)


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInputError):
        Shift3D(p=1.5)
    with pytest.raises(InvalidInputError):
        Shift3D(max_fraction=-0.1)
    with pytest.raises(InvalidInputError):
        Shift3D().train()(torch.zeros(2, 3, 4, 5))
