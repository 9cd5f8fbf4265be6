"""Per-slice inference time and peak memory of the COVID-CT-Mask-Net Mask R-CNN backbones.

Usage: .venv/bin/python benchmarks/bench_maskrcnn.py [--device cpu|cuda] [--size 512]
       [--repeat N] [--threads N] [--backbones r18-t1 r34-t1 r50 ...] [--json]

Each backbone runs in a fresh child process: a lung-window slice of the real sample CT
``lung1`` (512 x 512; a noise slice when the sample is absent) through the model in eval
mode (torchvision resizes it to ``min_size`` = ``--size``), the best of ``--repeat`` runs
after one warm-up (the minimum is the least disturbed by other load). Memory: on CUDA
``torch.cuda.max_memory_allocated`` (weights included); on CPU the rise of the child's peak
resident memory (VmHWM) over its resident memory after building the model. Untrained
weights: the time of the heads depends on the number of proposals (1000 after NMS at test
time), not on the weights' values.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp

from _timing import best_time, proc_kb, reset_peak_rss

BACKBONES = {"r18-t1": ("resnet18", 1), "r18-t2": ("resnet18", 2), "r34-t1": ("resnet34", 1),
             "r18-t0": ("resnet18", 0), "r50": ("resnet50", 0)}


def _slice():
    import numpy as np

    from covidct.datasets._common import hu_to_uint8, resample_slice_to_square
    from covidct.errors import DataUnavailableError

    try:
        from covidct.io import read_ct
        from covidct.io.samples import sample_path

        ct = read_ct(sample_path("lung1", fetch=False))
        z = ct.array.shape[0] // 2
        hu = resample_slice_to_square(ct.array[z], ct.spacing[1:], size=512, order=1, fill=-2000.0)
        return hu_to_uint8(hu), "lung1"
    except (DataUnavailableError, OSError):
        return np.random.default_rng(0).integers(0, 255, (512, 512)).astype(np.uint8), "noise"


def _bench(key: str, device: str, size: int, repeat: int, q) -> None:
    import torch

    from covidct.detection.model import MaskRCNNOptions, build_maskrcnn
    from covidct.detection.slices import image_tensor

    backbone, truncation = BACKBONES[key]
    torch.manual_seed(0)
    model = build_maskrcnn(MaskRCNNOptions(backbone=backbone, truncation=truncation,
                                           min_size=size, max_size=max(size, 1024))).to(device).eval()
    grey, source = _slice()
    image = image_tensor(grey).to(device)

    def run() -> None:
        with torch.inference_mode():
            model([image])

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    reset_peak_rss()
    base = proc_kb("VmRSS")
    seconds = best_time(run, device, repeat)
    mem = (torch.cuda.max_memory_allocated() / 2**20 if device == "cuda"
           else (proc_kb("VmHWM") - base) / 1024)
    q.put({"backbone": key, "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
           "seconds_per_slice": seconds, "peak_mb": mem, "device": device, "size": size,
           "input": source})


def _in_child(*args):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_bench, args=(*args, q))
    p.start()
    res = q.get()
    p.join()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--size", type=int, default=512, help="min_size of the model (px)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--backbones", nargs="*", default=["r18-t1", "r34-t1", "r50"], choices=list(BACKBONES))
    ap.add_argument("--json", action="store_true", help="also print JSON lines")
    args = ap.parse_args()

    import os

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available: nothing to do (use --device cpu)")
        return
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by spawned children
    mem = "peak_MB" if args.device == "cuda" else "dRSS_MB"
    print(f"device={args.device} size={args.size} repeat={args.repeat} torch={torch.__version__} "
          f"threads={args.threads or torch.get_num_threads()} cpus={os.cpu_count()}")
    print(f"{'backbone':<10}{'params_M':>10}{'s/slice':>10}{mem:>10}")
    for key in args.backbones:
        r = _in_child(key, args.device, args.size, args.repeat)
        print(f"{key:<10}{r['params_m']:>10.2f}{r['seconds_per_slice']:>10.3f}{r['peak_mb']:>10.0f}")
        if args.json:
            print(json.dumps(r))


if __name__ == "__main__":
    main()
