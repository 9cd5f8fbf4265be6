"""Validate lung segmentation and lesion quantification against the phantom's ground truth.

For N simulated cases (classes cycled control / pneumonia / covid, plus COVID cases drawn
as severe / critically ill for white lung), prints per case: class, true involvement, lung
Dice of the classical and the refined segmentation, and the quantified involvement with the
true and with the segmented lungs; then a summary (mean / min Dice, mean / max abs error).

    .venv/bin/python benchmarks/phantom_validation.py --n 8 --size medium --seed 0
    .venv/bin/python benchmarks/phantom_validation.py --n 0 --real ../shared/data/real-ct

``--real DIR`` also segments every ``*_image.nrrd`` there and prints the lung volumes
(right / left / total, mL) and the time per study.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _masks import dice

from covidct.lesions import quantify
from covidct.lungs import segment_lungs
from covidct.phantom import PhantomOptions, simulate_case

_SEVERE = PhantomOptions(p_covid_severe=1.0, p_covid_ct_negative=0.0)



def _cases(n: int, seed: int) -> list[tuple[int, str, PhantomOptions | None, str]]:
    """(seed, diagnosis, options, tag): control, pneumonia, covid, severe covid, cycled."""
    kinds = [("control", None, "control"), ("pneumonia", None, "pneumonia"),
             ("covid", None, "covid"), ("covid", _SEVERE, "covid-severe")]
    return [(seed + i, *kinds[i % len(kinds)]) for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8, help="number of cases")
    ap.add_argument("--size", default="small", help="phantom size preset")
    ap.add_argument("--seed", type=int, default=0, help="first case seed")
    ap.add_argument("--real", type=Path, default=None, help="folder of real *_image.nrrd CTs")
    args = ap.parse_args()
    if args.real is not None:
        _real(args.real)
    if args.n <= 0:
        return
    rows = []
    print(f"{'seed':>4} {'class':13s} {'true':>6} {'dice_cl':>7} {'dice_ref':>8} "
          f"{'q_true':>6} {'q_seg':>6} {'seg_s':>5}")
    for seed, diag, opts, tag in _cases(args.n, args.seed):
        case = simulate_case(seed, diagnosis=diag, size=args.size, options=opts)
        vol, truth = case.volume, case.lungs
        classical = segment_lungs(vol, method="classical")
        t0 = time.perf_counter()
        refined = segment_lungs(vol, method="refined")
        dt = time.perf_counter() - t0
        true_f = float(case.labels["lesion_fraction"])
        q_true = quantify(vol, truth).lesion_fraction
        q_seg = quantify(vol, refined).lesion_fraction
        row = (seed, tag, true_f, dice(classical, truth), dice(refined, truth), q_true, q_seg, dt)
        rows.append(row)
        print(f"{seed:4d} {tag:13s} {true_f:6.3f} {row[3]:7.3f} {row[4]:8.3f} "
              f"{q_true:6.3f} {q_seg:6.3f} {dt:5.1f}", flush=True)
    arr = np.array([r[2:] for r in rows], dtype=float)
    err_t = np.abs(arr[:, 3] - arr[:, 0])
    err_s = np.abs(arr[:, 4] - arr[:, 0])
    print(f"dice classical: mean {arr[:, 1].mean():.3f} min {arr[:, 1].min():.3f}")
    print(f"dice refined:   mean {arr[:, 2].mean():.3f} min {arr[:, 2].min():.3f}")
    print(f"|q - true| with true lungs:      mean {err_t.mean():.3f} max {err_t.max():.3f}")
    print(f"|q - true| with segmented lungs: mean {err_s.mean():.3f} max {err_s.max():.3f}")


def _real(folder: Path) -> None:
    """Lung volumes and time per study of the real CTs in ``folder``."""
    from covidct.io import read_ct

    for path in sorted(folder.glob("*_image.nrrd")):
        vol = read_ct(path)
        t0 = time.perf_counter()
        labels = segment_lungs(vol)
        dt = time.perf_counter() - t0
        ml = vol.voxel_volume_ml
        right, left = float((labels == 1).sum() * ml), float((labels == 2).sum() * ml)
        print(f"{path.name:24s} R {right:6.0f} L {left:6.0f} total {right + left:6.0f} mL "
              f"{dt:5.1f} s", flush=True)


if __name__ == "__main__":
    main()
