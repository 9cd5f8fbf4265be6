"""Simulated slice exports: every class in every split, or a refusal with the numbers."""

from __future__ import annotations

import pytest

from covidct.datasets._common import writer_splits
from covidct.errors import InvalidInputError


@pytest.mark.parametrize("per_class", [(2, 2, 2), (3, 3, 3), (2, 5, 9), (4, 4), (3, 17),
                                       (10, 10, 10)])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_every_class_in_every_split(per_class, seed):
    labels = {f"P{c}-{i}": c for c, n in enumerate(per_class) for i in range(n)}
    split = writer_splits(labels, seed=seed)
    assert set(split) == set(labels)
    present = {}
    for patient, name in split.items():
        present.setdefault(name, set()).add(labels[patient])
    assert {"train", "test"} <= set(present)
    assert all(classes == set(range(len(per_class))) for classes in present.values())
    if min(per_class) >= 3:
        assert "val" in present


def test_refused_with_numbers_when_a_class_has_one_patient():
    with pytest.raises(InvalidInputError, match=r"patients per class: 0: 1, 1: 6"):
        writer_splits({"A": 0, **{f"B{i}": 1 for i in range(6)}})
