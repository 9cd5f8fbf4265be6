"""The lung methods side by side on the real CTs, the learned ones held out: per case lung
Dice and lesion-fraction error for classical / refined / model / hybrid / hybrid-thresholds.

Usage:
  .venv/bin/python benchmarks/lung_model_validation.py \\
      --heldout lung1=RUN_WITHOUT_LUNG1/lung-unet.pt --heldout lung2=RUN_WITHOUT_LUNG2/lung-unet.pt \\
      [--real DIR] [--json OUT.json] [--card CARD.json]
  .venv/bin/python benchmarks/lung_model_validation.py --merge ROWS.json ... --card CARD.json

Each real CT is scored with a model that never saw it (``covidct train lungs-unet --data DIR
--set exclude=[lung1]`` for lung1, and the other way round; a CT no model saw, such as the
registry CTs of ``registry_chest_cts.py``, with the shipped model: ``--real DIR --heldout
rider=src/covidct/data/models/lung-unet.pt``). Cases: the clear CT (Dice against its
reference lungs: its ``NAME_lungmask`` labels where it has them, else its ``"refined"`` mask;
false lesion: the lesion share of the lung outside its tumour label ``NAME_label``, lung1's
nodule label not used) and the painted cases of ``hybrid_validation.py`` (``--cases``:
"standard", its findings with seeds 0-3, or another set of ``CASE_SETS``: "fresh",
"third", "fourth", "fifth", the mild "mild" and "mild2"); Dice against the clear CT's mask,
error of ``quantify``'s lesion fraction against the painted one, end to end with each
method's lungs; ``error_true``: the same with the clear CT's mask, i.e. the lesion side
alone, one value per case). ``--methods`` limits the methods run. ``"hybrid"`` is the
default (the learned choice of ``covidct.lungs.choice``; ``--choice CT=FILE``: a classifier
fitted without CT, from ``lung_combiner_heldout.py``, else the shipped one),
``"hybrid-thresholds"`` the fixed thresholds. ``--card`` adds the rows to a model card as
``held_out`` (replacing earlier rows of the same CTs).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from _masks import dice
from false_lesion_real import false_share
from hybrid_validation import CASE_SETS, DEFAULT_REAL

from covidct.errors import CovidCTError
from covidct.io import read_ct
from covidct.lesions import quantify
from covidct.lungs import segment_lungs
from covidct.lungs.choice import LungChoice, load_lung_choice
from covidct.lungs.learned_segment import model_lungs
from covidct.lungs.network import load_lung_models
from covidct.lungs.options import HybridOptions, LungOptions
from covidct.lungs.train_data import read_labelled_ct
from covidct.phantom import paint_into

METHODS = ("classical", "refined", "model", "hybrid", "hybrid-thresholds")



#: hybrid settings by row name ("hybrid" = the defaults, the learned choice; "hybrid-thresholds":
#: the fixed thresholds); more with --hybrid NAME:FIELD=VALUE,...
HYBRIDS: dict[str, HybridOptions] = {"hybrid": HybridOptions(),
                                     "hybrid-thresholds": HybridOptions(learned_choice=False)}


def _hybrid_variant(text: str) -> tuple[str, HybridOptions]:
    name, _, settings = text.partition(":")
    values = {}
    for item in filter(None, settings.split(",")):
        key, _, value = item.partition("=")
        flag = key in ("diseased_only", "learned_choice")
        values[key] = value.lower() in ("1", "true", "yes") if flag else float(value)
    return f"hybrid-{name}", HybridOptions(**values)


def _segment(volume, method: str, model, choice, opts: LungOptions | None = None) -> np.ndarray:
    opts = opts or LungOptions.fast()
    if method in ("classical", "refined"):
        return segment_lungs(volume, method=method, options=opts)
    if method == "model":
        return model_lungs(volume.array, volume.spacing, volume.direction, opts, "ct", model=model)
    opts = dataclasses.replace(opts, hybrid=HYBRIDS[method])
    return segment_lungs(volume, method="hybrid", options=opts, model=model, choice=choice)


def _score(volume, reference, lesions, tumour, method: str, model, choice) -> dict[str, float]:
    t = time.perf_counter()
    lungs = _segment(volume, method, model, choice)
    seconds = time.perf_counter() - t
    a, b = reference > 0, lungs > 0
    result = quantify(volume, lungs)
    row = {"dice": dice(a, b), "seconds": seconds, "outline_consolidated": result.outline_consolidated}
    if lesions is None:
        row["false_lesion"] = false_share(result.lesion_mask > 0, b, tumour)
    else:
        row["error"] = result.lesion_fraction - float((lesions > 0).sum()) / float(a.sum())
    return row


def run_ct(path: Path, model, tumour_path: Path | None, methods: tuple[str, ...] = METHODS,
           cases_name: str = "standard", choice: LungChoice | None = None) -> list[dict]:
    volume = read_ct(path)
    reference = read_labelled_ct(path)[1]  # its NAME_lungmask labels, else the rules' mask
    tumour = np.zeros(volume.shape, bool)
    if tumour_path is not None and tumour_path.is_file():
        tumour = read_ct(tumour_path).array > 0
    elif tumour_path is not None:
        print(f"note: no {tumour_path.name} beside {path.name}: its clear false lesion counts any tumour", flush=True)
    stem = path.name.split("_")[0]
    cases = [(f"{stem} clear", volume, None)]
    findings, first_seed = CASE_SETS[cases_name]
    for seed, (diagnosis, fraction, cons) in enumerate(findings, start=first_seed):
        sick, lesions = paint_into(volume, reference, diagnosis=diagnosis, fraction=fraction,
                                   consolidation_share=cons, seed=seed)
        cases.append((f"{stem} {diagnosis} {fraction:.2f}/{cons:.1f}" + ("" if cases_name == "standard" else f" s{seed}"),
                      sick, lesions))
    rows = []
    for name, vol, lesions in cases:
        true_lungs = {} if lesions is None else {
            "error_true": quantify(vol, reference).lesion_fraction - float((lesions > 0).sum()) / float((reference > 0).sum())}
        for method in methods:
            row = {"case": name, "method": method, **_score(vol, reference, lesions, tumour, method, model, choice),
                   **true_lungs}
            rows.append(row)
            extra = f"{row['error']:+7.3f}" if "error" in row else f"{row['false_lesion']:7.3f}"
            print(f"{name:<26} {method:<16} {row['dice']:7.4f} {extra} {row['seconds']:6.1f}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL)
    parser.add_argument("--heldout", action="append", default=[], metavar="CT=MODEL",
                        help="the model file that did not see CT (lung1=..., lung2=...; A.pt+B.pt: their mean)")
    parser.add_argument("--choice", action="append", default=[], metavar="CT=FILE",
                        help="the lung choice classifier for CT's hybrid rows (default: the shipped one)")
    parser.add_argument("--merge", nargs="+", type=Path, default=[],
                        help="rows saved by --json: no evaluation, only add them to --card")
    parser.add_argument("--methods", nargs="+", default=list(METHODS),
                        help=f"of {', '.join(METHODS)} and the --hybrid variants' names")
    parser.add_argument("--hybrid", action="append", default=[], metavar="NAME:FIELD=VALUE,...",
                        help="a hybrid variant (LungOptions.hybrid fields), reported as hybrid-NAME")
    parser.add_argument("--cases", choices=list(CASE_SETS), default="standard",
                        help="which painted cases (hybrid_validation.CASE_SETS); the clear CT always")
    parser.add_argument("--json", type=Path, help="write the rows as JSON")
    parser.add_argument("--card", type=Path, help="add the rows to this model card as 'held_out'")
    args = parser.parse_args()
    pairs = dict(item.split("=", 1) for item in args.heldout)
    choice_files = dict(item.split("=", 1) for item in args.choice)
    HYBRIDS.update(_hybrid_variant(text) for text in args.hybrid)
    unknown = set(args.methods) - set(METHODS) - set(HYBRIDS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}")
    if not pairs and not args.merge:
        parser.error("give --heldout CT=MODEL (or --merge ROWS.json with --card)")
    rows = [r for f in args.merge for r in json.loads(f.read_text())]
    try:
        models = {stem: load_lung_models(spec) for stem, spec in pairs.items()}
        choices = {stem: load_lung_choice(file) for stem, file in choice_files.items()}
    except CovidCTError as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"{'case':<26} {'method':<16} {'dice':>7} {'error/false':>7} {'seg_s':>6}")
    for stem, model in models.items():
        choice = choices.get(stem)
        rows += [{**r, "model": pairs[stem], "choice": str(choice.source if choice else "shipped")} for r in
                 run_ct(args.real / f"{stem}_image.nrrd", model, args.real / f"{stem}_label.nrrd"
                        if stem != "lung1" else None, tuple(args.methods), args.cases, choice)]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    if args.card:
        card = json.loads(args.card.read_text())
        held = card.get("held_out", {"rows": []})
        held["command"] = ("benchmarks/lung_model_validation.py --heldout lung1=<run without lung1> "
                           "--heldout lung2=<run without lung2> --choice lungN=<classifier fitted with that run> "
                           "--methods refined model hybrid hybrid-thresholds "
                           "--cases standard|fresh|third|fourth|fifth")
        held["held_out_runs"] = ("covidct train <this card's name> --data <the real CTs> "
                                 "--set exclude=[<CT>] with this card's other settings") if card.get("name") != "lung-choice" \
            else ("lung1, lung2: benchmarks/lung_combiner_heldout.py features --ct rider --model <network without CT> "
                  "--cases standard fresh third fourth fifth x1 x2, then fit; rider: the same on cxr with the shipped "
                  "network; cxr: the shipped classifier (fitted on rider)")
        cts = {r["case"].split()[0] for r in rows}
        held["rows"] = [r for r in held["rows"] if r["case"].split()[0] not in cts] + rows
        card["held_out"] = held
        tmp = args.card.with_name(args.card.name + ".part")
        tmp.write_text(json.dumps(card, indent=2))
        tmp.replace(args.card)


if __name__ == "__main__":
    main()
