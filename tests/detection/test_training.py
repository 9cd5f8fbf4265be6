"""Training helpers of the Mask R-CNN family: the training-slice draw."""

from __future__ import annotations

import pandas as pd

from covidct.detection.training import _limit


def _table() -> pd.DataFrame:
    classes = [0] * 50 + [1] * 5 + [2] * 30
    return pd.DataFrame({"case_id": [f"s{i}" for i in range(len(classes))], "class_id": classes})


def test_limit_by_class_draws_an_equal_share_and_all_of_a_short_class():
    drawn = _limit(_table(), 30, seed=0, by_class=True)
    assert drawn["class_id"].value_counts().to_dict() == {0: 10, 1: 5, 2: 10}
    assert drawn.index.is_monotonic_increasing and not drawn.index.duplicated().any()
    assert _limit(_table(), 30, seed=0, by_class=True).equals(drawn)


def test_limit_without_classes_and_with_room():
    table = _table()
    assert len(_limit(table, 30, seed=0)) == 30
    assert _limit(table, 0, seed=0).equals(table) and _limit(table, 500, seed=0, by_class=True).equals(table)
