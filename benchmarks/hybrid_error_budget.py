"""Where `"hybrid"` with fixed thresholds loses lung Dice on painted real CTs, and what any mix of its two parts could reach.

Usage:
  .venv/bin/python benchmarks/hybrid_error_budget.py --heldout lung1=RUN_WITHOUT_LUNG1/lung-unet.pt \\
      --heldout lung2=RUN_WITHOUT_LUNG2/lung-unet.pt [--real DIR] [--cases standard third ...] [--json OUT]

Per painted case (the sets of ``hybrid_validation.CASE_SETS``, models held out as in
``lung_model_validation.py``), against the reference lungs T, with the rules' mask R
(``"refined"``), the network's mask M (``"model"``) and the mask H of ``"hybrid"`` with fixed
thresholds (``HybridOptions(learned_choice=False)``, the default before the learned choice of
``covidct.lungs.choice``, which ``lung_combiner_heldout.py`` fits; the column is named "hybrid"):

* Dice of R, M and H;
* ``bound``: the Dice of the best voxel-by-voxel choice between R and M (right wherever they
  disagree): no rule that combines the two masks can do better. Its errors are the voxels
  both miss (``both_miss``: T, not R, not M) and both take (``both_take``: R and M, not T);
* H's Dice loss split by whose error it kept: both parts' (``both_miss`` + ``both_take``),
  the rules' where the network was right (``rules_kept``), the network's where the rules
  were right (``net_kept``). Losses are in Dice points: |errors| / (|T| + |H|) sums to 1 - Dice;
* ``tissue``: the share of H's wrong voxels at >= -120 HU: painted consolidation (-50..+50 HU
  plus the scan's noise) or the muscle, organs and heart it touches, which read the same.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from _masks import dice
from hybrid_validation import CASE_SETS, DEFAULT_REAL

from covidct.errors import CovidCTError
from covidct.lungs import segment_lungs
from covidct.lungs.learned_segment import model_lungs, network_pass
from covidct.lungs.network import load_lung_models
from covidct.lungs.options import HybridOptions, LungOptions
from covidct.lungs.train_data import read_labelled_ct
from covidct.phantom import painted_cases

#: HU from which a voxel reads as consolidation or soft tissue (aerated lung and GGO lie below)
TISSUE_HU = -120.0


def write_rows(path: Path, rows: list[dict]) -> None:
    """``rows`` as JSON at ``path``, through a temporary name."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(rows, indent=1))
    tmp.replace(path)


def budget(truth: np.ndarray, rules: np.ndarray, net: np.ndarray, hybrid: np.ndarray,
           hu: np.ndarray) -> dict[str, float]:
    """Dice of each mask, the best-choice bound, and ``hybrid``'s loss by cause (boolean masks;
    ``hu``: the scan, HU)."""
    both_miss, both_take = truth & ~rules & ~net, ~truth & rules & net
    best = (truth & (rules | net)) | both_take
    wrong = hybrid ^ truth
    scale = float(truth.sum() + hybrid.sum())
    return {"rules": dice(truth, rules), "model": dice(truth, net), "hybrid": dice(truth, hybrid),
            "bound": dice(truth, best),
            "both_miss": float((wrong & both_miss).sum()) / scale,
            "both_take": float((wrong & both_take).sum()) / scale,
            "rules_kept": float((wrong & (rules != truth) & (net == truth)).sum()) / scale,
            "net_kept": float((wrong & (net != truth) & (rules == truth)).sum()) / scale,
            "tissue": float((wrong & (hu >= TISSUE_HU)).sum()) / max(float(wrong.sum()), 1.0)}


def painted(real: Path, ct: str, names: list[str], sets: dict = CASE_SETS):
    """(set name, case name, painted scan, reference lungs, lesion mask) for every painted case
    of the sets ``names`` (of ``sets``) on the CT ``real / f"{ct}_image.nrrd"``."""
    volume, labels = read_labelled_ct(real / f"{ct}_image.nrrd")  # its NAME_lungmask labels, else the rules' mask
    for name, case, sick, lesions in painted_cases(volume, labels, names, sets=sets):
        yield name, f"{ct} {case}", sick, labels > 0, lesions > 0


def masks(sick, model, opts: LungOptions, name: str):
    """The network's pass and the input-grid labels of ``"refined"``, ``"model"`` and ``"hybrid"``."""
    args = (sick.array, sick.spacing, sick.direction)
    net = network_pass(*args, opts, name, model=model)
    rules = segment_lungs(sick, method="refined")
    return (net, rules, model_lungs(*args, opts, name, network=net),
            segment_lungs(sick, method="hybrid", options=opts, model=model))


def run_ct(real: Path, ct: str, model, sets: list[str]) -> list[dict]:
    """Every painted case of ``sets`` on ``ct``, scored with ``model`` (held out)."""
    opts, rows = dataclasses.replace(LungOptions.fast(), hybrid=HybridOptions(learned_choice=False)), []
    for set_name, case, sick, reference, _ in painted(real, ct, sets):
        _, rules, net, hybrid = masks(sick, model, opts, ct)
        row = {"case": case, "set": set_name, **budget(reference, rules > 0, net > 0, hybrid > 0, sick.array)}
        rows.append(row)
        print(f"{row['case']:<28} " + " ".join(f"{row[k]:7.4f}" for k in COLUMNS), flush=True)
    return rows


COLUMNS = ("rules", "model", "hybrid", "bound", "both_miss", "both_take", "rules_kept", "net_kept", "tissue")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL)
    parser.add_argument("--heldout", action="append", required=True, metavar="CT=MODEL",
                        help="the model file that did not see CT")
    parser.add_argument("--cases", nargs="+", choices=list(CASE_SETS), default=["standard"])
    parser.add_argument("--json", type=Path, help="write the rows as JSON")
    args = parser.parse_args()
    pairs = dict(item.split("=", 1) for item in args.heldout)
    try:
        models = {stem: load_lung_models(spec) for stem, spec in pairs.items()}
        print(f"{'case':<28} " + " ".join(f"{k[:7]:>7}" for k in COLUMNS))
        rows = [{**r, "model": pairs[stem]} for stem, model in models.items()
                for r in run_ct(args.real, stem, model, args.cases)]
    except CovidCTError as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        raise SystemExit(2) from None
    n = len(rows)
    print(f"{n} cases: Dice >= 0.95 hybrid {sum(r['hybrid'] >= 0.95 for r in rows)}, "
          f"bound {sum(r['bound'] >= 0.95 for r in rows)}; mean loss both_miss "
          f"{np.mean([r['both_miss'] for r in rows]):.4f}, both_take {np.mean([r['both_take'] for r in rows]):.4f}, "
          f"rules_kept {np.mean([r['rules_kept'] for r in rows]):.4f}, net_kept {np.mean([r['net_kept'] for r in rows]):.4f}; "
          f"errors at >= {TISSUE_HU:.0f} HU {np.mean([r['tissue'] for r in rows]):.2f}")
    if args.json:
        write_rows(args.json, rows)


if __name__ == "__main__":
    main()
