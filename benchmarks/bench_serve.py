"""Load and latency of ``covidct serve`` on loopback (a real uvicorn server in this process).

Usage: .venv/bin/python benchmarks/bench_serve.py [--uploads N] [--size tiny|small]
       [--workers W] [--repeat R]

1. ``N`` concurrent uploads of one simulated study (NIfTI) and ``10 x N`` status polls (half
   the list, half single studies), all at once: wall time, latency percentiles, status codes,
   studies listed afterwards (none may be lost).
2. Time from upload to ``done`` of the first study (the ``covidct`` analysis subprocess).
3. Slice PNG latency on the finished study: first request (loads the CT and masks), then
   ``R`` requests of other slices with lung + lesion overlays (rendered on demand).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import uvicorn

from covidct.io import write_image
from covidct.phantom import simulate_case
from covidct.serve import ServeOptions, create_app


def _server(data: Path, workers: int) -> tuple[uvicorn.Server, str]:
    config = uvicorn.Config(create_app(data, ServeOptions(workers=workers)), host="127.0.0.1",
                            port=0, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def _load(base: str, payload: bytes, n: int) -> dict:
    async with httpx.AsyncClient(base_url=base, timeout=120,
                                 limits=httpx.Limits(max_connections=64)) as client:
        async def timed(coro):
            t0 = time.perf_counter()
            response = await coro
            return response, time.perf_counter() - t0

        t0 = time.perf_counter()
        uploads = asyncio.gather(*(timed(client.post(
            "/api/studies", files={"file": (f"s{i}.nii.gz", payload)})) for i in range(n)))
        polls = await asyncio.gather(*(timed(client.get("/api/studies"))
                                       for _ in range(5 * n)))
        uploads = await uploads
        ids = [r.json()["id"] for r, _ in uploads if r.status_code == 201]
        polls += await asyncio.gather(*(timed(client.get(f"/api/studies/{ids[i % len(ids)]}"))
                                        for i in range(5 * n)))
        wall = time.perf_counter() - t0
        listed = {r["id"] for r in (await client.get("/api/studies")).json()}
    codes: dict[str, int] = {}
    for r, _ in uploads + polls:
        codes[str(r.status_code)] = codes.get(str(r.status_code), 0) + 1
    poll_s = np.array([s for _, s in polls])
    upload_s = np.array([s for _, s in uploads])
    return {"uploads": n, "polls": len(polls), "wall_s": round(wall, 3), "status_codes": codes,
            "lost_studies": len(set(ids) - listed), "ids": ids,
            "upload_s_p50_max": [round(float(np.median(upload_s)), 3), round(float(upload_s.max()), 3)],
            "poll_ms_p50_p95_max": [round(1000 * float(np.percentile(poll_s, q)), 1)
                                    for q in (50, 95, 100)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=8)
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        case = simulate_case(3, diagnosis="covid", size=args.size)
        ct = write_image(case.volume.array, case.volume, Path(tmp) / "ct.nii.gz")
        server, base = _server(Path(tmp) / "data", args.workers)
        t_upload = time.perf_counter()
        result = asyncio.run(_load(base, ct.read_bytes(), args.uploads))
        first = result.pop("ids")[0]
        with httpx.Client(base_url=base, timeout=120) as client:
            while client.get(f"/api/studies/{first}").json()["status"] not in ("done", "failed"):
                time.sleep(0.2)
            record = client.get(f"/api/studies/{first}").json()
            result["first_study"] = {"status": record["status"],
                                     "upload_to_done_s": round(time.perf_counter() - t_upload, 1),
                                     "analysis_s": record["analysis_s"]}
            nz = case.volume.shape[0]
            t0 = time.perf_counter()
            client.get(f"/api/studies/{first}/slices/{nz // 2}.png").raise_for_status()
            first_ms = 1000 * (time.perf_counter() - t0)
            times = []
            for i in range(args.repeat):
                t0 = time.perf_counter()
                client.get(f"/api/studies/{first}/slices/{i % nz}.png",
                           params={"overlay": "lungs,lesions", "opacity": 0.4}).raise_for_status()
                times.append(1000 * (time.perf_counter() - t0))
            result["slice_png_ms"] = {"first_load": round(first_ms, 1),
                                      "median": round(float(np.median(times)), 1),
                                      "max": round(float(np.max(times)), 1),
                                      "shape_zyx": list(case.volume.shape)}
            for sid in [r["id"] for r in client.get("/api/studies").json()]:
                client.delete(f"/api/studies/{sid}")
        server.should_exit = True
        time.sleep(1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
