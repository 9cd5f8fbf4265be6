"""Fixtures of the detection tests: a small generated CNCB-layout folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from covidct.datasets._common import write_png


def write_blob_slices(root: Path, *, patients: int = 8, slices: int = 6, size: int = 64,
                      seed: int = 0) -> Path:
    """CNCB layout: dark 'lung' slices with bright square GGO (2) / round consolidation (3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for p in range(patients):
        for s in range(slices):
            image = rng.normal(50, 8, (size, size))
            mask = np.ones((size, size), np.uint8)
            for _ in range(int(rng.integers(1, 3))):
                h = int(rng.integers(12, 20))
                y, x = (int(v) for v in rng.integers(2, size - h - 2, 2))
                if rng.random() < 0.5:
                    blob = (slice(y, y + h), slice(x, x + h))
                    image[blob] = rng.normal(150, 8, (h, h))
                    mask[blob] = 2
                else:
                    disc = (yy - y - h / 2) ** 2 + (xx - x - h / 2) ** 2 <= (h / 2) ** 2
                    image[disc] = rng.normal(230, 8, int(disc.sum()))
                    mask[disc] = 3
            name = f"pat{p:02d}_{s:04d}.png"
            write_png(np.clip(image, 0, 255).astype(np.uint8), root / "imgs" / name)
            write_png(mask, root / "masks" / name)
    return root


def write_class_slices(root: Path, *, per_class: int = 3, slices: int = 4, size: int = 64,
                       seed: int = 1) -> Path:
    """COVIDx-CT layout: control = no blobs, pneumonia = one round dense blob, COVID = three
    square faint blobs; patients split train / val / test in their split files."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    lines: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for cls, prefix in enumerate(("Normal", "CP", "NCP")):
        for p in range(per_class):
            split = "test" if p == 0 else "val" if p == 1 else "train"
            for s in range(slices):
                image = rng.normal(50, 8, (size, size))
                for _ in range((0, 1, 3)[cls]):
                    h = int(rng.integers(12, 20))
                    y, x = (int(v) for v in rng.integers(2, size - h - 2, 2))
                    if cls == 2:
                        image[y:y + h, x:x + h] = rng.normal(150, 8, (h, h))
                    else:
                        disc = (yy - y - h / 2) ** 2 + (xx - x - h / 2) ** 2 <= (h / 2) ** 2
                        image[disc] = rng.normal(230, 8, int(disc.sum()))
                name = f"{prefix}_c{cls}p{p}_1_{s:04d}.png"
                write_png(np.clip(image, 0, 255).astype(np.uint8), root / "images" / name)
                lines[split].append(f"{name} {cls} 0 0 {size} {size}")
    for split, entries in lines.items():
        (root / f"{split}_COVIDx_CT.txt").write_text("\n".join(entries) + "\n")
    return root


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: faster on a shared 2-core machine, and reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
