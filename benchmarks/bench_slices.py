"""Speed of the slice backbones: training images per second and inference time per slice.

Usage: .venv/bin/python benchmarks/bench_slices.py [--device cpu|cuda] [--size 224]
       [--batch 8] [--repeat 3] [--archs NAME ...] [--threads N] [--out results.json]

For each torchvision backbone of ``covidct.slices`` (2 classes, random weights): one training
step = forward + cross-entropy + backward + SGD step on a batch of ``--batch`` images of
``--size`` px (the tutorial's 224 by default; mixed precision on CUDA as in training);
inference = forward of the same batch under ``torch.inference_mode``. Best of ``--repeat``
runs after one warm-up (the least disturbed by other load on a shared CPU). Prints one JSON
line per backbone and writes all of them to ``--out`` when given.
"""

from __future__ import annotations

import argparse
import json
import platform

import torch
from torch import nn

from _timing import best_time

from covidct.slices.models import ARCHS, build_slice_model


def bench(arch: str, *, device: str, size: int, batch: int, repeat: int) -> dict[str, object]:
    """Training images/s and inference ms/slice of one backbone."""
    torch.manual_seed(0)
    model, _ = build_slice_model(arch, 2, weights="none")
    model = model.to(device)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 2, (batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    amp = device == "cuda"

    def train_step() -> None:
        model.train()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=torch.float16, enabled=amp):
            loss = loss_fn(model(x).float(), y)
        loss.backward()
        opt.step()

    def infer() -> None:
        model.eval()
        with torch.inference_mode(), torch.autocast(device_type=device, dtype=torch.float16, enabled=amp):
            model(x)

    t_train = best_time(train_step, device, repeat)
    t_infer = best_time(infer, device, repeat)
    return {"arch": arch, "device": device, "size": size, "batch": batch,
            "parameters_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
            "train_images_per_s": round(batch / t_train, 2),
            "inference_ms_per_slice": round(1000 * t_infer / batch, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--archs", nargs="*", default=list(ARCHS))
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    host = {"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None}
    rows = []
    for arch in args.archs:
        row = {**bench(arch, device=args.device, size=args.size, batch=args.batch, repeat=args.repeat), **host}
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
