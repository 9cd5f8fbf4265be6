"""Real anatomy, simulated disease: segmentation and quantification on the real CTs with
COVID-19 or pneumonia findings painted into their lungs.

Usage: .venv/bin/python benchmarks/hybrid_validation.py [--real DIR] [--workers 2] [--hilum-off] [--bands-off]
       [--method refined|hybrid|model|classical]

The two real CTs (``../shared/data/real-ct``) have clear lungs. Their ``segment_lungs``
masks (checked by eye, docs/validation.md) are the reference lungs; the phantom's
``covidct.phantom.paint_into`` paints GGO and consolidation into them with exact masks
(plus noise of the scan's own SD), and the pipeline runs on the
result: the lung Dice against the clear-lung mask, and the lesion fraction against the
painted one. This checks the dense-lung rules on real hearts, livers, mediastinal fat and
real noise, which the phantom only approximates. ``--hilum-off`` / ``--bands-off``:
without the lesion detector's hilar vessel test / subpleural band seeds, for comparison.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from _quant_flags import add_quant_flags, quant_options

from covidct.io import read_ct
from covidct.lesions import quantify
from covidct.lungs import segment_lungs
from covidct.phantom import PAINTED_SETS, paint_into

DEFAULT_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-ct"
# painted cases by set name (covidct.phantom.PAINTED_SETS: what each set is, when it was drawn)
CASE_SETS = PAINTED_SETS
FINDINGS = CASE_SETS["standard"][0]  # seeds 0-3


def run(job: tuple[str, str, float, float, int, bool, bool, str]) -> tuple[str, float, float, float, float, float, float]:
    path, diagnosis, fraction, cons_share, seed, hilum_off, bands_off, method = job
    volume = read_ct(path)
    reference = segment_lungs(volume, method="refined")
    sick, lesions = paint_into(volume, reference, diagnosis=diagnosis, fraction=fraction,
                               consolidation_share=cons_share, seed=seed)
    t = time.perf_counter()
    lungs = segment_lungs(sick, method=method)
    seconds = time.perf_counter() - t
    a, b = reference > 0, lungs > 0
    dice = 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())
    true = float((lesions > 0).sum()) / float(a.sum())
    result = quantify(sick, lungs, options=quant_options(hilum_off, bands_off))
    error = result.lesion_fraction - true
    found = result.lesion_mask > 0
    # the error splits into lesion found outside the painted findings and painted lesion
    # missed, both as shares of the reference lung
    false = float((found & (lesions == 0)).sum()) / float(a.sum())
    missed = float(((lesions > 0) & ~found).sum()) / float(a.sum())
    name = f"{Path(path).name.split('_')[0]} {diagnosis} {fraction:.2f}/{cons_share:.1f}"
    return name, true, dice, error, false, missed, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL)
    parser.add_argument("--workers", type=int, default=2)
    add_quant_flags(parser)
    parser.add_argument("--method", default="refined", help="segment_lungs method of the painted CTs "
                        "(the reference is always the clear CT's refined mask)")
    args = parser.parse_args()
    paths = [str(args.real / f"{n}_image.nrrd") for n in ("lung1", "lung2")]
    jobs = [(p, d, f, c, i, args.hilum_off, args.bands_off, args.method) for p in paths for i, (d, f, c) in enumerate(FINDINGS)]
    print(f"{'case':<30} {'true':>6} {'dice':>7} {'error':>7} {'false':>6} {'missed':>6} {'seg_s':>6}")
    with ProcessPoolExecutor(args.workers) as pool:
        for name, true, dice, error, false, missed, secs in pool.map(run, jobs):
            print(f"{name:<30} {true:6.3f} {dice:7.4f} {error:+7.3f} {false:6.3f} {missed:6.3f} "
                  f"{secs:6.1f}", flush=True)


if __name__ == "__main__":
    main()
