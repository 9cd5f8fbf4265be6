"""A tiny synthetic UCSD COVID-CT folder: COVID slices carry a bright disc, others do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from covidct.datasets._common import write_png
from covidct.datasets.ucsd import CLASS_DIRS, split_file


def make_ucsd(root: Path, *, n_patients: int = 16, slices: int = 2, size: int = 48, seed: int = 0) -> Path:
    """``n_patients`` (alternating COVID / non-COVID) x ``slices`` 8-bit images, split by patient."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    listed: dict[tuple[int, str], list[str]] = {(c, s): [] for c in CLASS_DIRS for s in ("train", "val", "test")}
    for p in range(n_patients):
        covid = p % 2
        split = ("train", "train", "train", "val", "test")[(p // 2) % 5] if p >= 4 else ("train", "test")[p // 2]
        for z in range(slices):
            image = rng.normal(60, 12, (size, size))
            if covid:
                cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
                image[(yy - cy) ** 2 + (xx - cx) ** 2 <= (size // 8) ** 2] = 220
            name = f"P{p:03d}_slice{z:03d}.png"
            write_png(np.clip(image, 0, 255).astype(np.uint8), root / CLASS_DIRS[covid][0] / name)
            listed[(covid, split)].append(name)
    for (covid, split), names in listed.items():
        path = split_file(root, covid, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{n}\n" for n in names))
    return root


@pytest.fixture(scope="module")
def ucsd_root(tmp_path_factory) -> Path:
    return make_ucsd(tmp_path_factory.mktemp("ucsd") / "ucsd")
