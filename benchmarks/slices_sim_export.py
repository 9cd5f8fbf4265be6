"""A simulated UCSD COVID-CT export with several slices per patient (the learning runs).

``covidct phantom OUT --layout ucsd`` writes 2 slices per patient; simulating a patient
costs seconds and a slice nothing, so the learning runs of docs/slices.md take more slices
of fewer patients. Same simulator and writer (:func:`covidct.datasets.ucsd.write_ucsd`,
slices showing the findings), same patient-level split of the seed.

    python benchmarks/slices_sim_export.py sim_ucsd240 -n 240 --seed 7 --slices 4 --workers 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

from covidct.datasets.ucsd import write_ucsd
from covidct.phantom import simulate_cohort


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="new or empty output folder")
    parser.add_argument("-n", type=int, required=True, help="patients")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="small", help="phantom size preset")
    parser.add_argument("--slices", type=int, default=4, help="slices per patient")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    table = write_ucsd(simulate_cohort(args.n, args.seed, size=args.size, workers=args.workers),
                       args.out, slices_per_case=args.slices, seed=args.seed)
    counts = table.groupby(["split", "covid"])["patient_id"].nunique().to_dict()
    print(f"wrote {len(table)} slices of {table['patient_id'].nunique()} patients to {args.out}; "
          f"patients per (split, covid): {counts}")


if __name__ == "__main__":
    main()
