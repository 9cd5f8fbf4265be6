"""Lesion masks of whole CT studies: a Mask R-CNN model against the HU method, Dice and involvement.

Usage: .venv/bin/python benchmarks/maskrcnn_volumes.py MODEL [--sim N] [--seed S] [--real lung1 ...]
       [--fraction F] [--json OUT]

Studies: ``--sim N`` new simulated COVID studies (``simulate_case(seed + i, diagnosis="covid")``,
small grid; patients the model never saw) with their true lungs; ``--real`` the real sample CTs
with COVID findings painted into their lungs (``covidct.phantom.paint_into``, ``--fraction`` of
the lung volume, 40 % consolidation) and lungs from ``segment_lungs``. For each study and
method: Dice of GGO, consolidation and all lesion against the truth, and the involvement error
(predicted - true lesion share of lung volume, percentage points).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _masks import dice


def _scores(pred: np.ndarray, truth: np.ndarray, lungs: np.ndarray) -> dict[str, float]:
    n_lung = max(1, int((lungs > 0).sum()))
    return {"dice_ggo": dice(pred == 1, truth == 1), "dice_consolidation": dice(pred == 2, truth == 2),
            "dice_lesion": dice(pred > 0, truth > 0),
            "involvement_error_pp": 100.0 * (int((pred > 0).sum()) - int((truth > 0).sum())) / n_lung,
            "true_involvement_pct": 100.0 * int((truth > 0).sum()) / n_lung}


def _compare(name: str, volume, lungs, truth, model: str) -> list[dict]:
    from covidct.detection.volume import segment_lesions_model
    from covidct.lesions import quantify

    rows = []
    t0 = time.perf_counter()
    hu = quantify(volume, lungs).lesion_mask
    rows.append({"study": name, "method": "HU", "seconds": time.perf_counter() - t0, **_scores(hu, truth, lungs)})
    t0 = time.perf_counter()
    net = segment_lesions_model(volume, lungs, model)
    rows.append({"study": name, "method": "Mask R-CNN", "seconds": time.perf_counter() - t0,
                 **_scores(net, truth, lungs)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--sim", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--real", nargs="*", default=[])
    ap.add_argument("--fraction", type=float, default=0.2)
    ap.add_argument("--json", default="")
    args = ap.parse_args()

    from covidct.phantom import simulate_case

    rows = []
    for i in range(args.sim):
        case = simulate_case(args.seed + i, diagnosis="covid", size="small")
        rows += _compare(case.case_id, case.volume, case.lungs, case.lesions, args.model)
    for name in args.real:
        from covidct.io import read_ct
        from covidct.io.samples import sample_path
        from covidct.lungs import segment_lungs
        from covidct.phantom import paint_into

        ct = read_ct(sample_path(name, fetch=False))
        lungs = segment_lungs(ct)
        sick, truth = paint_into(ct, lungs, fraction=args.fraction, seed=args.seed)
        rows += _compare(f"{name}+painted", sick, lungs, truth, args.model)
    print(f"{'study':<20}{'method':<12}{'Dice GGO':>9}{'Dice C':>8}{'Dice all':>9}{'true %':>8}{'err pp':>8}{'s':>7}")
    for r in rows:
        print(f"{r['study']:<20}{r['method']:<12}{r['dice_ggo']:>9.3f}{r['dice_consolidation']:>8.3f}"
              f"{r['dice_lesion']:>9.3f}{r['true_involvement_pct']:>8.1f}{r['involvement_error_pp']:>8.1f}"
              f"{r['seconds']:>7.0f}")
    for method in ("HU", "Mask R-CNN"):
        sel = [r for r in rows if r["method"] == method]
        print(f"mean {method}: " + ", ".join(
            f"{k} {np.nanmean([r[k] for r in sel]):.3f}" for k in
            ("dice_ggo", "dice_consolidation", "dice_lesion")) +
            f", mean |involvement error| {np.mean([abs(r['involvement_error_pp']) for r in sel]):.1f} pp")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
