"""A simulated UCSD COVID-CT or COVIDx-CT export with a chosen number of slices per patient.

``covidct phantom OUT --layout ucsd`` writes 2 slices per patient, ``--layout covidx-ct``
every slice showing the findings; simulating a patient costs seconds and a slice nothing,
so the learning runs of docs/slices.md choose the slices per patient. Same simulator and
writers (:func:`covidct.datasets.ucsd.write_ucsd`, :func:`covidct.datasets.covidx.write_covidx_ct`,
slices showing the findings), same patient-level split of the seed.

    python benchmarks/slices_sim_export.py sim_ucsd240 -n 240 --seed 7 --slices 4 --workers 2
    python benchmarks/slices_sim_export.py sim_cx150 -n 150 --seed 11 --size tiny \
        --layout covidx-ct --slices 4 --workers 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

from covidct.datasets.covidx import write_covidx_ct
from covidct.datasets.ucsd import write_ucsd
from covidct.phantom import simulate_cohort

_WRITERS = {"ucsd": write_ucsd, "covidx-ct": write_covidx_ct}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="new or empty output folder")
    parser.add_argument("-n", type=int, required=True, help="patients")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="small", help="phantom size preset")
    parser.add_argument("--slices", type=int, default=4, help="slices per patient")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--layout", choices=sorted(_WRITERS), default="ucsd")
    args = parser.parse_args()
    cases = simulate_cohort(args.n, args.seed, size=args.size, workers=args.workers)
    table = _WRITERS[args.layout](cases, args.out, slices_per_case=args.slices, seed=args.seed)
    counts = table.groupby(["split", "class_id"])["patient_id"].nunique().to_dict()
    print(f"wrote {len(table)} slices of {table['patient_id'].nunique()} patients to {args.out}; "
          f"patients per (split, class): {counts}")


if __name__ == "__main__":
    main()
