"""Do Grad-CAM maps point at the lesions? Pointing numbers of a trained slice model and a
trained 3D model on held-out simulated COVID cases (lesion masks known exactly).

Usage:
  .venv/bin/python benchmarks/slices_pointing.py --slice-run RUN --size small -n 30 --out DIR
  .venv/bin/python benchmarks/slices_pointing.py --volume-run RUN --size tiny -n 30 --out DIR

Slices are made as the ``--layout`` writer makes them (UCSD: whole slice, square pixels;
COVIDx-CT: 512 px, cropped to the body box). Cases are simulated with seeds ``--seed0 ... --seed0 + n - 1`` (diagnosis covid), seeds that
the training exports did not use (held-out patients). Slice model: ``--slices`` slices per
case picked and made exactly as the UCSD writer does (:func:`covidct.datasets.ucsd.pick_slices`:
slices showing the findings; COVIDx-CT: evenly spaced lung slices; square pixels, lung window,
8-bit), lesion and lung masks resampled alike (nearest), the CAM of the COVID class on the
model's input grid. 3D model: the CAM of the predicted ``ct`` class mapped onto the CT grid
(:func:`covidct.explain.volume_heatmap`). Per slice/case, within the lungs: heat share in the
lesions, lesion volume share, their ratio, and whether the hottest voxel is in a lesion;
averaged per patient, then over patients with 95 % bootstrap CIs over patients.
Writes ``<out>/pointing_<kind>.csv`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from skimage.transform import resize

from covidct.datasets._common import (
    body_box,
    hu_to_uint8,
    resample_slice_to_square,
)
from covidct.datasets.covidx import SLICE_SIZE
from covidct.datasets.ucsd import pick_slices
from covidct.errors import InvalidInputError
from covidct.explain import lesion_pointing, pointing_summary, slice_heatmaps, volume_heatmap
from covidct.phantom import simulate_case


def _export(vol, masks, z: int, layout: str):
    """One slice and its masks as the layout's writer makes them (8-bit image, bool masks)."""
    sp = (vol.spacing[1], vol.spacing[2])
    size = SLICE_SIZE if layout == "covidx-ct" else max(vol.shape[1], vol.shape[2])
    hu = resample_slice_to_square(vol.array[z], sp, size=size, order=1, fill=-2000.0)
    out = [resample_slice_to_square(m[z], sp, size=size, order=0) > 0 for m in masks]
    image = hu_to_uint8(hu)
    if layout == "covidx-ct":  # the body-box crop of the split files
        xmin, ymin, xmax, ymax = body_box(hu)
        image, out = image[ymin:ymax, xmin:xmax], [m[ymin:ymax, xmin:xmax] for m in out]
    return image, out


def _slice_records(run: Path, cases, per_case: int, layout: str) -> list[dict]:
    from covidct.slices.model_file import load_slice_model

    model = load_slice_model(run)
    side = model.transform.crop
    rows = []
    for case in cases:
        vol = case.volume
        pick = "findings" if layout == "ucsd" else "even"
        for z in pick_slices(case.lungs, case.lesions, per_case, pick=pick):
            image, masks = _export(vol, (case.lesions, case.lungs), z, layout)
            lesions, lungs = (resize(m, (side, side), order=0, anti_aliasing=False) for m in masks)
            if not (lesions & lungs).any():
                continue
            heat, _ = slice_heatmaps(model, [image], targets=[model.positive_class])
            try:
                r = lesion_pointing(heat[0], lesions, lungs)
            except InvalidInputError:  # no heat inside the lungs
                r = {"heat_share": 0.0, "volume_share": float((lesions & lungs).sum() / lungs.sum()),
                     "ratio": 0.0, "hit": 0.0}
            rows.append({"patient_id": case.patient_id, "z": int(z), **r})
    return rows


def _volume_records(run: Path, cases) -> list[dict]:
    from covidct.inference.volume import load_volume_model, predict_volume, prepare_volume

    model = load_volume_model(run)
    rows = []
    for case in cases:
        prepared = prepare_volume(model, case.volume, case.lungs)
        heat = volume_heatmap(model, prepared, case.volume, task="ct")
        p = predict_volume(model, prepared)["ct"]
        try:
            r = lesion_pointing(heat, case.lesions, case.lungs)
        except InvalidInputError:
            r = {"heat_share": 0.0, "volume_share": float(((case.lesions > 0) & (case.lungs > 0)).sum()
                                                          / (case.lungs > 0).sum()), "ratio": 0.0, "hit": 0.0}
        rows.append({"patient_id": case.patient_id, "p_ct_positive": float(p[1]), **r})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--slice-run", type=Path)
    kind.add_argument("--volume-run", type=Path)
    parser.add_argument("--size", default="small", help="phantom size preset (as the training export)")
    parser.add_argument("-n", type=int, default=30, help="held-out simulated COVID cases")
    parser.add_argument("--seed0", type=int, default=100000)
    parser.add_argument("--slices", type=int, default=4, help="slices per case (slice model)")
    parser.add_argument("--layout", default="ucsd", choices=["ucsd", "covidx-ct"],
                        help="export the slice model was trained on (how slices are made)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    cases = [simulate_case(args.seed0 + i, diagnosis="covid", size=args.size) for i in range(args.n)]
    if args.slice_run:
        name, rows = "slices", _slice_records(args.slice_run, cases, args.slices, args.layout)
    else:
        name, rows = "volume", _volume_records(args.volume_run, cases)
    records = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    records.to_csv(args.out / f"pointing_{name}.csv", index=False)
    summary = {"model": str(args.slice_run or args.volume_run), "size": args.size, "n_simulated": args.n,
               "seed0": args.seed0, **pointing_summary(records, bootstrap=args.bootstrap)}
    (args.out / f"pointing_{name}.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
