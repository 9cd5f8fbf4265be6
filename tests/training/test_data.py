"""Training data helpers: the class-balanced sampler."""

from __future__ import annotations

import numpy as np

from covidct.training.data import balanced_sampler


def test_balanced_sampler_draws_each_class_equally_and_never_unknown():
    labels = np.array([0] * 90 + [1] * 9 + [2] * 1 + [-100] * 5)
    sampler = balanced_sampler(labels, seed=3)
    drawn = labels[list(sampler)]
    assert len(drawn) == len(labels)
    assert (drawn >= 0).all()
    many = labels[[i for _ in range(40) for i in balanced_sampler(labels, seed=_)]]
    shares = np.bincount(many, minlength=3) / len(many)
    np.testing.assert_allclose(shares, 1 / 3, atol=0.03)


def test_balanced_sampler_is_reproducible_by_seed():
    labels = np.array([0, 0, 0, 1])
    assert list(balanced_sampler(labels, seed=1)) == list(balanced_sampler(labels, seed=1))
