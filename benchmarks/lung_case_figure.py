"""Where a lung method loses Dice on one painted real CT: the slices with the most wrong voxels.

Usage:
  .venv/bin/python benchmarks/lung_case_figure.py --real ../chest-cts --ct lung2 --cases third --seed 21 \\
      --model RUN_WITHOUT_LUNG2/lung-unet.pt --choice CHOICE.txt -o docs/images/lung2_s21_hybrid.png

Paints the case of ``hybrid_validation.CASE_SETS[--cases]`` with ``--seed`` into the CT (as
``lung_model_validation.py`` does), segments it with the rules (``"refined"``), the network
alone (``"model"``) and ``"hybrid"`` (network and classifier as given: held out from the CT),
and draws, for each method, the three axial slices where ``"hybrid"`` is most wrong and the
coronal slice through the most wrong column: lung window, reference outline in green, lung
the method missed in orange, lung it added in magenta. Prints, per method, its Dice and the
Dice points (voxels over |reference| + |mask|, summing to 1 - Dice) it loses to lung missed
and lung added at 0-2, 2-4, 4-8 and over 8 mm from the reference outline, and the median HU
of the dense reference lung (> -100 HU) and of the soft tissue (-100..200 HU) within 10 mm
outside it.
"""

from __future__ import annotations

import argparse
import sys
from itertools import pairwise
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from _masks import dice
from hybrid_validation import CASE_SETS, DEFAULT_REAL
from lung_model_validation import _segment
from matplotlib.patches import Patch
from scipy import ndimage as ndi

from covidct.errors import CovidCTError
from covidct.io import read_ct
from covidct.lungs.choice import load_lung_choice
from covidct.lungs.network import load_lung_models
from covidct.lungs.train_data import read_labelled_ct
from covidct.phantom import paint_into

MISSED, ADDED = (1.0, 0.55, 0.0), (0.9, 0.0, 0.9)


def loss_by_depth(reference: np.ndarray, mask: np.ndarray, spacing: tuple[float, float, float],
                  edges_mm: tuple[float, ...] = (0.0, 2.0, 4.0, 8.0, np.inf)) -> dict[str, list[float]]:
    """Dice points lost to lung missed (by depth inside the reference) and lung added (by
    distance outside it), per band of ``edges_mm`` (mm; masks z, y, x, spacing in mm)."""
    total = float(reference.sum() + mask.sum())
    depth = {"missed": (reference & ~mask, ndi.distance_transform_edt(reference, sampling=spacing)),
             "added": (mask & ~reference, ndi.distance_transform_edt(~reference, sampling=spacing))}
    return {kind: [float((wrong & (d > lo) & (d <= hi)).sum()) / total for lo, hi in pairwise(edges_mm)]
            for kind, (wrong, d) in depth.items()}


def dense_contrast(hu: np.ndarray, reference: np.ndarray, spacing: tuple[float, float, float]) -> tuple[float, float]:
    """Median HU of the reference lung above -100 HU, and of the -100..200 HU tissue within
    10 mm outside the reference (nan where there is none)."""
    near = (ndi.distance_transform_edt(~reference, sampling=spacing) <= 10.0) & ~reference
    dense, tissue = hu[reference & (hu > -100)], hu[near & (hu > -100) & (hu < 200)]
    return (float(np.median(dense)) if dense.size else float("nan"),
            float(np.median(tissue)) if tissue.size else float("nan"))


def _panel(ax, image: np.ndarray, reference: np.ndarray, mask: np.ndarray, aspect: float) -> None:
    ax.imshow(np.clip((image + 1350.0) / 1500.0, 0, 1), cmap="gray", aspect=aspect, interpolation="nearest")
    rgba = np.zeros((*image.shape, 4))
    rgba[reference & ~mask] = (*MISSED, 0.6)
    rgba[mask & ~reference] = (*ADDED, 0.6)
    ax.imshow(rgba, aspect=aspect, interpolation="nearest")
    ax.contour(reference, levels=[0.5], colors="lime", linewidths=0.6)
    ax.set_xticks([])
    ax.set_yticks([])


def draw(array: np.ndarray, spacing: tuple[float, float, float], reference: np.ndarray,
         masks: dict[str, np.ndarray], title: str, out: Path) -> None:
    """Rows: methods; columns: three axial slices and one coronal slice (HU, z, y, x; spacing in mm)."""
    wrong = reference ^ masks["hybrid"]
    per_slice = wrong.sum(axis=(1, 2))
    slices: list[int] = []
    for z in np.argsort(per_slice)[::-1]:  # the three worst slices at least 10 mm apart
        if len(slices) < 3 and all(abs(int(z) - s) * spacing[0] >= 10.0 for s in slices):
            slices.append(int(z))
    slices.sort()
    row = int(np.argmax(wrong.sum(axis=(0, 2))))
    fig, axes = plt.subplots(len(masks), 4, figsize=(13, 3.3 * len(masks)))
    for r, (name, mask) in enumerate(masks.items()):
        for c, z in enumerate(slices):
            _panel(axes[r, c], array[z], reference[z], mask[z], spacing[1] / spacing[2])
            axes[r, c].set_title(f"{name}: axial z={z} ({int((reference[z] ^ mask[z]).sum())} wrong)", fontsize=9)
        _panel(axes[r, 3], array[::-1, row], reference[::-1, row], mask[::-1, row], spacing[0] / spacing[2])
        axes[r, 3].set_title(f"{name}: coronal y={row}, Dice {dice(reference, mask):.3f}", fontsize=9)
    fig.legend(handles=[Patch(color="lime", label="reference lungs"), Patch(color=MISSED, label="lung missed"),
                        Patch(color=ADDED, label="lung added")], loc="lower center", ncol=3)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    tmp = out.with_name(out.stem + ".part.png")
    fig.savefig(tmp, dpi=60)
    plt.close(fig)
    tmp.replace(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL)
    parser.add_argument("--ct", default="lung2")
    parser.add_argument("--cases", choices=list(CASE_SETS), default="third")
    parser.add_argument("--seed", type=int, default=21, help="the case's seed (the first of --cases and on)")
    parser.add_argument("--model", required=True, help="the network that did not see --ct")
    parser.add_argument("--choice", required=True, help="the classifier fitted with --model, without --ct")
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args()
    findings, first = CASE_SETS[args.cases]
    if not 0 <= args.seed - first < len(findings):
        parser.error(f"--seed of --cases {args.cases} is {first}..{first + len(findings) - 1}")
    diagnosis, fraction, cons = findings[args.seed - first]
    path = args.real / f"{args.ct}_image.nrrd"
    try:
        model, choice = load_lung_models(args.model), load_lung_choice(Path(args.choice))
        volume, labels = read_ct(path), read_labelled_ct(path)[1]
    except CovidCTError as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        raise SystemExit(2) from None
    reference = labels > 0
    sick, _ = paint_into(volume, labels, diagnosis=diagnosis, fraction=fraction,
                         consolidation_share=cons, seed=args.seed)
    masks = {m: _segment(sick, m, model, choice) > 0 for m in ("refined", "model", "hybrid")}
    print("Dice points lost at 0-2 / 2-4 / 4-8 / > 8 mm from the reference outline")
    for name, mask in masks.items():
        loss = loss_by_depth(reference, mask, sick.spacing)
        print(f"{name:<8} Dice {dice(reference, mask):.4f}  "
              + "  ".join(f"{kind} " + " / ".join(f"{v:.4f}" for v in values) for kind, values in loss.items()))
    dense, tissue = dense_contrast(sick.array, reference, sick.spacing)
    print(f"median HU: dense lung {dense:.0f}, soft tissue beside it {tissue:.0f}")
    title = f"{args.ct} {diagnosis} {fraction:.2f}/{cons:.1f} s{args.seed} (network and classifier held out)"
    draw(sick.array, sick.spacing, reference, masks, title, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
