"""The lung network on CUDA: the shipped weights' probabilities against the run time's, and times.

Usage: python benchmarks/cuda_check.py [--cases lung1 lung2] [--train] [--json OUT]

On a machine with CUDA, for each real sample CT (``covidct.io.samples``): the shipped
weights (``lung-unet.pt``, torch) on CUDA against the run time's ONNX export on the CPU
(what ``segment_lungs`` uses): largest absolute difference of the probabilities, Dice of
the > 0.5 masks, and the time of each (best of 3 after a warm-up). With ``--train``: the
``lungs-unet-quick`` preset (phantoms only), lengthened to 6 epochs of 20 steps, trained
with ``accelerator="gpu"``: its time and validation Dice (the same run on the CPU of the
development machine: 0.892, 62 s); the same for ``lungs-unet3d-quick``.
Exit 2 when CUDA is not available.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile

import numpy as np
import torch
from _masks import dice
from _timing import best_time, timed

from covidct.io import read_ct
from covidct.io.samples import sample_path
from covidct.lungs.learned import load_lung_model
from covidct.lungs.network import load_lung_models, predict_lung_probability
from covidct.provenance import provenance


def check_case(name: str) -> dict[str, object]:
    """The shipped weights on CUDA against the ONNX export on the CPU, on one sample CT."""
    ct = read_ct(sample_path(name, fetch=False))
    arr, sp = ct.array, tuple(float(s) for s in ct.spacing)
    runs = {"cuda": lambda: predict_lung_probability(arr, sp, model=load_lung_model(), device="cuda"),
            "onnx_cpu": lambda: predict_lung_probability(arr, sp, model=load_lung_models())}
    probs = {k: run() for k, run in runs.items()}
    secs = {f"network_{k}_s": round(best_time(run, k, 3), 3) for k, run in runs.items()}
    return {"case": name, "shape": list(arr.shape), "spacing_mm": list(sp),
            "prob_max_abs_diff": float(np.abs(probs["cuda"] - probs["onnx_cpu"]).max()),
            "mask_dice_cuda_vs_onnx_cpu": dice(probs["cuda"] > 0.5, probs["onnx_cpu"] > 0.5), **secs}


def check_training(preset: str = "lungs-unet-quick") -> dict[str, object]:
    """A quick lung preset, lengthened to 6 epochs of 20 steps, trained on CUDA."""
    from covidct.lungs.train import PRESETS, train_lung_model

    config = PRESETS[preset].with_overrides(epochs=6, steps_per_epoch=20, accelerator="gpu")
    name = "lung-unet3d" if config.network == "3d" else "lung-unet"
    with tempfile.TemporaryDirectory() as tmp:
        out, secs = timed(lambda: train_lung_model(config, tmp))
        card = json.loads((out / f"{name}.card.json").read_text())
        load_lung_model(out / f"{name}.pt")  # a GPU-trained file loads (its card's sha256 holds)
    return {"preset": config.name, "epochs": config.epochs, "steps_per_epoch": config.steps_per_epoch,
            "hardware": card["hardware"], "train_s": round(secs, 1), "validation": card["validation"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="*", default=["lung1", "lung2"])
    ap.add_argument("--train", action="store_true", help="also train the quick preset on the GPU")
    ap.add_argument("--json", default="", help="write the results here")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("cuda_check: CUDA is not available on this machine", file=sys.stderr)
        return 2
    result: dict[str, object] = {
        "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
        "cuda": torch.version.cuda, "cpu_threads": torch.get_num_threads(), "cases": []}
    for name in args.cases:
        row = check_case(name)
        print(json.dumps(row), flush=True)
        result["cases"].append(row)
    if args.train:
        result["training"] = [check_training(p) for p in ("lungs-unet-quick", "lungs-unet3d-quick")]
        print(json.dumps(result["training"]), flush=True)
    result["provenance"] = provenance(options=vars(args), seed=None, inputs=[])
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
