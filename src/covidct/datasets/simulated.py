"""Simulated datasets: phantom cases written straight into any dataset layout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from covidct.datasets._common import CaseLike, Progress
from covidct.datasets.detect import write_dataset

__all__ = ["write_simulated_dataset"]


def write_simulated_dataset(
    out: str | Path,
    n: int,
    *,
    seed: int = 0,
    size: str = "small",
    layout: str = "plain",
    workers: int = 1,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Simulate ``n`` cases (:func:`covidct.phantom.simulate_cohort`) and write them in ``layout``.

    Case ``i`` depends only on ``(seed, i)``, whatever ``workers``; ``seed`` also drives the
    patient-level train/val/test split of layouts with split files. ``progress(done)`` is
    called after each simulated case. Returns the case table read back from ``out``.
    """
    from covidct.phantom import simulate_cohort

    def cases() -> Iterator[CaseLike]:
        for i, case in enumerate(simulate_cohort(n, seed, size=size, workers=workers)):
            yield case
            if progress is not None:
                progress(i + 1)

    return write_dataset(cases(), out, layout, seed=seed)
