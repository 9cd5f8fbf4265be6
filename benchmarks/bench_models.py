"""Time and memory of the covidct 3D networks, and the overhead of Shift3D.

Usage: .venv/bin/python benchmarks/bench_models.py [--device cpu|cuda] [--input cpu|paper]
       [--batch N] [--repeat N] [--models NAME ...] [--threads N] [--no-shift-bench] [--amp]

Inputs: ``cpu`` = 68 x 84 x 84 (a CPU-sized grid), ``paper`` = 200 x 250 x 250 (COVID-MTL's
crop). For every model, in a fresh child process: forward time per sample (eval, no_grad)
and forward+backward time per sample (train mode, cross-entropy, Shift3D active), best of
``--repeat`` runs after one warm-up (the minimum is the least disturbed by other load), and
the peak memory of each phase: on CUDA ``torch.cuda.max_memory_allocated`` (weights
included), on CPU the rise of the child's peak
resident memory (VmHWM) over its resident memory after building the model (activations,
gradients, workspaces). On CPU with the paper input only the forward pass is timed
(forward+backward is skipped as too slow). ``--amp``: float16 autocast (CUDA only), as
Lightning's ``16-mixed``. Finally the Shift3D module alone on the stem
activation (N, 64, D/2, H/2, W/2) with p = 1 against p = 0, and ShiftNet3D forward+backward
with p = 1 against p = 0.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time

from _timing import best_time, proc_kb, reset_peak_rss, sync

INPUTS = {"cpu": (68, 84, 84), "paper": (200, 250, 250)}
MODELS = ["squeezenet3d", "shiftnet3d", "resnet3d", "resnet3d-shift", "decovnet", "covid-mtl"]


def _bench_model(name: str, device: str, shape, batch: int, repeat: int, train: bool, amp: bool,
                 q) -> None:
    import torch
    from torch.nn import functional as F

    from covidct.models import build_model, count_parameters

    torch.manual_seed(0)
    kwargs = {"n_features": 375} if name == "covid-mtl" else {}
    model = build_model(name, **kwargs).to(device)
    x = torch.randn(batch, 1, *shape, device=device)
    feats = torch.randn(batch, 375, device=device)
    target = torch.zeros(batch, dtype=torch.long, device=device)

    def run_forward():
        with torch.autocast(device_type=device, dtype=torch.float16, enabled=amp):
            return model(x, feats) if name == "covid-mtl" else model(x)

    def fwd():
        with torch.no_grad():
            run_forward()

    def fwd_bwd():
        out = run_forward()
        outs = out.values() if isinstance(out, dict) else [out]
        loss = sum(F.cross_entropy(o.float(), target) for o in outs)
        loss.backward()
        model.zero_grad(set_to_none=True)

    res = {"model": name, "params": count_parameters(model)}
    for phase, fn, enabled in (("fwd", fwd, True), ("train", fwd_bwd, train)):
        if not enabled:
            res[phase + "_s"], res[phase + "_mb"] = None, None
            continue
        model.train(phase == "train")
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        reset_peak_rss()
        base_kb = proc_kb("VmRSS")
        res[phase + "_s"] = best_time(fn, device, repeat) / batch
        if device == "cuda":
            res[phase + "_mb"] = torch.cuda.max_memory_allocated() / 2**20
        else:
            res[phase + "_mb"] = (proc_kb("VmHWM") - base_kb) / 1024
    q.put(res)


def _bench_shift(device: str, shape, batch: int, repeat: int, q) -> None:
    import torch
    from torch.nn import functional as F

    from covidct.models import Shift3D, shiftnet3d

    torch.manual_seed(0)
    act = torch.randn(batch, 64, *[(s + 1) // 2 for s in shape], device=device)
    res = {}
    for p in (0.0, 1.0):
        mod = Shift3D(p=p).train()
        res[f"module_p{p:g}_s"] = best_time(lambda mod=mod: mod(act), device, repeat)
    x = torch.randn(batch, 1, *shape, device=device)
    target = torch.zeros(batch, dtype=torch.long, device=device)
    nets = {p: shiftnet3d(p=p).to(device).train() for p in (0.0, 1.0)}
    nets[1.0].load_state_dict(nets[0.0].state_dict())

    def step(net) -> float:
        sync(device)
        t0 = time.perf_counter()
        F.cross_entropy(net(x), target).backward()
        net.zero_grad(set_to_none=True)
        sync(device)
        return time.perf_counter() - t0

    for net in nets.values():  # warm-up
        step(net)
    times: dict[float, list[float]] = {0.0: [], 1.0: []}
    for _ in range(repeat):  # interleaved, so that load changes hit both alike
        for p, net in nets.items():
            times[p].append(step(net))
    for p in (0.0, 1.0):
        res[f"net_p{p:g}_s"] = min(times[p])
    q.put(res)


def _in_child(target, *args):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    res = q.get()
    p.join()
    return res


def _fmt(v, spec: str) -> str:
    return "skipped" if v is None else format(v, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--input", choices=sorted(INPUTS), default="cpu")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--models", nargs="*", default=MODELS, choices=MODELS)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--no-shift-bench", action="store_true")
    ap.add_argument("--amp", action="store_true",
                    help="float16 autocast, as training's 16-mixed precision (CUDA only)")
    ap.add_argument("--json", action="store_true", help="also print JSON lines")
    args = ap.parse_args()

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available: nothing to do (use --device cpu)")
        return
    if args.threads:
        import os

        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by spawned children
    if args.amp and args.device != "cuda":
        ap.error("--amp needs --device cuda")
    shape = INPUTS[args.input]
    train = not (args.device == "cpu" and args.input == "paper")
    print(
        f"device={args.device} input={shape} (D,H,W) batch={args.batch} repeat={args.repeat} "
        f"torch={torch.__version__} threads={args.threads or torch.get_num_threads()} "
        f"precision={'16-mixed' if args.amp else '32'}"
    )
    mem = "peak_MB" if args.device == "cuda" else "dRSS_MB"
    print(
        f"{'model':<16}{'params':>12}{'fwd_s/sample':>14}{'fwd_' + mem:>14}"
        f"{'train_s/sample':>16}{'train_' + mem:>15}"
    )
    for name in args.models:
        r = _in_child(_bench_model, name, args.device, shape, args.batch, args.repeat, train, args.amp)
        print(
            f"{name:<16}{r['params']:>12,}{_fmt(r['fwd_s'], '.3f'):>14}"
            f"{_fmt(r['fwd_mb'], '.0f'):>14}{_fmt(r['train_s'], '.3f'):>16}"
            f"{_fmt(r['train_mb'], '.0f'):>15}"
        )
        if args.json:
            print(json.dumps(r))
    if not args.no_shift_bench and train:
        s = _in_child(_bench_shift, args.device, shape, args.batch, args.repeat)
        extra = s["module_p1_s"] - s["module_p0_s"]
        print(
            f"Shift3D alone on ({args.batch}, 64, {', '.join(str((v + 1) // 2) for v in shape)}): "
            f"p=1 {s['module_p1_s'] * 1e3:.1f} ms, p=0 {s['module_p0_s'] * 1e3:.3f} ms per batch"
        )
        print(
            f"ShiftNet3D fwd+bwd per batch: p=1 {s['net_p1_s']:.3f} s, p=0 {s['net_p0_s']:.3f} s "
            f"(Shift3D overhead {100 * extra / s['net_p0_s']:.1f}% of a step by the module "
            f"timing, {100 * (s['net_p1_s'] / s['net_p0_s'] - 1):+.1f}% measured end to end)"
        )
        if args.json:
            print(json.dumps(s))


if __name__ == "__main__":
    main()
