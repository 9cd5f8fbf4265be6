"""Running one function per case on Dask: a local cluster of worker processes, or a running one.

Cohort jobs (preprocessing, features) share the same needs: one case per task, worker
processes with one thread each and a memory limit (a large CT takes gigabytes), results
handled as they arrive (manifests written as they go, progress shown), and a worker that
dies (killed for memory, say) reported as a failed case rather than ending the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["dask_client", "map_cases"]

log = logging.getLogger(__name__)


@contextmanager
def dask_client(*, workers: int = 1, scheduler: str | None = None,
                memory_limit: str = "4GiB") -> Iterator[Any]:
    """A Dask client: to ``scheduler`` when given, else to a new local cluster of processes."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        client, cluster = Client(scheduler), None
    else:
        cluster = LocalCluster(n_workers=max(1, int(workers)), threads_per_worker=1,
                               processes=True, memory_limit=memory_limit,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def map_cases(
    func: Callable[..., dict[str, Any]],
    case_ids: Sequence[str],
    make_args: Callable[[str], tuple[Any, ...]],
    *,
    name: str,
    on_result: Callable[[int, dict[str, Any]], None],
    workers: int = 1,
    scheduler: str | None = None,
    memory_limit: str = "4GiB",
) -> None:
    """Run ``func(*make_args(case_id))`` for every case on Dask; call ``on_result`` as each ends.

    ``func`` must return a record dict with ``case_id``; when its worker dies, the record is
    ``{"case_id", "status": "failed", "error": "worker failed: ..."}``. ``on_result`` gets the
    number of cases done so far and the record.
    """
    from dask.distributed import as_completed

    if not case_ids:
        return
    with dask_client(workers=workers, scheduler=scheduler, memory_limit=memory_limit) as client:
        futures = {
            client.submit(func, *make_args(cid), key=f"{name}-{cid}", pure=False): cid
            for cid in case_ids
        }
        for done, future in enumerate(as_completed(list(futures)), start=1):
            try:
                record = future.result()
            except Exception as exc:  # a killed worker lands here; the run goes on
                record = {"case_id": futures[future], "status": "failed",
                          "error": f"worker failed: {type(exc).__name__}: {exc}"}
            on_result(done, record)
