"""Issue-3 targets on "medium" phantoms: lung Dice and involvement error, tuned and held out.

Usage: .venv/bin/python benchmarks/phantom_medium.py [--workers 2] [--only tuned|held-out] [--hilum-off] [--bands-off]
       [--method refined|hybrid|model|classical]

For each case prints the true lesion fraction, the Dice of ``segment_lungs`` against the
phantom's lungs, and ``quantify``'s error (quantified - true) with the true lungs and with
the segmented lungs. "tuned" are the six cases the segmentation and lesion rules were
developed on; "held-out" are eight seeds drawn afterwards (docs/validation.md).
``--hilum-off`` / ``--bands-off``: without the lesion detector's hilar vessel test / subpleural bands.
``--method``: the ``segment_lungs`` method (default ``refined``, the rules these cases were
developed on).
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from _quant_flags import add_quant_flags, quant_options

from covidct.lesions import quantify
from covidct.lungs import segment_lungs
from covidct.phantom import PhantomOptions, simulate_case

SEVERE = PhantomOptions(p_covid_severe=1.0, p_covid_ct_negative=0.0)
TUNED = [(1, "control", False), (2, "pneumonia", False), (5, "covid", False),
         (6, "covid", False), (23, "covid", False), (20, "covid", True)]
HELD_OUT = [(30, "covid", True), (31, "covid", True), (32, "covid", True), (33, "covid", False),
            (34, "covid", False), (35, "pneumonia", False), (36, "control", False),
            (37, "covid", True)]


def run(case: tuple[int, str, bool, bool, bool, str]) -> tuple[str, float, float, float, float, float]:
    seed, diagnosis, severe, hilum_off, bands_off, method = case
    options = quant_options(hilum_off, bands_off)
    sim = simulate_case(seed, diagnosis=diagnosis, size="medium",
                        options=SEVERE if severe else None)
    t = time.perf_counter()
    lungs = segment_lungs(sim.volume, method=method)
    seconds = time.perf_counter() - t
    a, b = sim.lungs > 0, lungs > 0
    dice = 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())
    true = float(sim.labels["lesion_fraction"])
    q_true = quantify(sim.volume, sim.lungs, options=options).lesion_fraction - true
    q_seg = quantify(sim.volume, lungs, options=options).lesion_fraction - true
    name = f"{diagnosis} {seed}" + (", severe" if severe else "")
    return name, true, dice, q_true, q_seg, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", choices=("tuned", "held-out"), default=None)
    add_quant_flags(parser)
    parser.add_argument("--method", default="refined")
    args = parser.parse_args()
    groups = {"tuned": TUNED, "held-out": HELD_OUT}
    if args.only:
        groups = {args.only: groups[args.only]}
    print(f"{'group':<9} {'case':<22} {'true':>6} {'dice':>7} {'err_true':>9} {'err_seg':>8} {'seg_s':>6}")
    with ProcessPoolExecutor(args.workers) as pool:
        for group, cases in groups.items():
            rows = list(pool.map(run, [(*c, args.hilum_off, args.bands_off, args.method) for c in cases]))
            for name, true, dice, q_true, q_seg, secs in rows:
                print(f"{group:<9} {name:<22} {true:6.3f} {dice:7.4f} {q_true:+9.3f} {q_seg:+8.3f} {secs:6.1f}")
            dices = np.array([r[2] for r in rows])
            err_t = np.abs([r[3] for r in rows])
            err_s = np.abs([r[4] for r in rows])
            print(f"{group}: Dice min {dices.min():.4f}; |error| true lungs max {err_t.max():.3f} "
                  f"({int((err_t <= 0.05).sum())}/{len(rows)} within 0.05), segmented max "
                  f"{err_s.max():.3f} ({int((err_s <= 0.05).sum())}/{len(rows)} within 0.05)")


if __name__ == "__main__":
    main()
