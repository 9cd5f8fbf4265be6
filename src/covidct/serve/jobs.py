"""A bounded pool of analysis jobs: ``workers`` threads, each running one analysis at a time
as a subprocess of the ``covidct`` CLI; further studies wait in a first-in, first-out queue.

A job: extract a zip (checked) -> run :func:`covidct.serve.analysis.analysis_command` into
``out.partial/`` (stdout lines are the progress steps) -> check the output can be read ->
rename to ``out/`` -> ``done``. Any failure ends as ``failed`` with a one-line message.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from pathlib import Path

from covidct.errors import CovidCTError
from covidct.provenance import provenance
from covidct.serve.analysis import analysis_command, error_line, progress_line, read_results
from covidct.serve.archive import extract_zip
from covidct.serve.options import ServeOptions
from covidct.serve.store import StudyNotFoundError, StudyStore

__all__ = ["JobPool"]

log = logging.getLogger(__name__)


class JobPool:
    """Runs queued studies of a :class:`StudyStore`, ``options.workers`` at a time."""

    def __init__(self, store: StudyStore, options: ServeOptions) -> None:
        self.store, self.options = store, options
        self._queue: deque[str] = deque()
        self._cond = threading.Condition()
        self._procs: dict[str, subprocess.Popen] = {}
        self._cancelled: set[str] = set()
        self._stopping = False
        self._threads = [threading.Thread(target=self._work, name=f"covidct-job-{i}", daemon=True)
                         for i in range(options.workers)]
        for t in self._threads:
            t.start()

    # ------------------------------------------------------------- public API
    def submit(self, study_id: str) -> None:
        """Queue a study (its record must say ``queued``)."""
        with self._cond:
            self._queue.append(study_id)
            self._cond.notify()

    def queue_position(self, study_id: str) -> int | None:
        """1 for the next study to start, 2 after it...; None when not waiting."""
        with self._cond:
            try:
                return self._queue.index(study_id) + 1
            except ValueError:
                return None

    def cancel(self, study_id: str) -> None:
        """Take a study out of the queue, or kill its running analysis (then wait for it)."""
        with self._cond:
            self._cancelled.add(study_id)
            if study_id in self._queue:
                self._queue.remove(study_id)
            proc = self._procs.get(study_id)
        if proc is not None:
            _kill(proc)
            proc.wait()
            with self._cond:
                while study_id in self._procs:
                    self._cond.wait(timeout=1.0)

    def shutdown(self) -> None:
        """Stop taking jobs and kill running analyses (their studies stay ``running`` on
        disk, so the next start marks them interrupted)."""
        with self._cond:
            self._stopping = True
            procs = list(self._procs.values())
            self._cond.notify_all()
        for proc in procs:
            _kill(proc)
        for t in self._threads:
            t.join(timeout=10)

    # --------------------------------------------------------------- workers
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                study_id = self._queue.popleft()
            try:
                self._run(study_id)
            except StudyNotFoundError:
                log.info("study %s was deleted while it ran", study_id)
            except Exception as exc:  # a bug must not kill the worker thread
                log.exception("job %s crashed", study_id)
                self._fail(study_id, f"internal error while running the analysis: {exc}")

    def _fail(self, study_id: str, message: str) -> None:
        """Mark a study failed; server paths in the message become the user's file name."""
        try:
            record = self.store.get(study_id)
            folder = self.store.folder(study_id)
            for inner in (folder / "upload" / record["input"], folder / "input", folder):
                message = message.replace(str(inner), record["filename"])
            self.store.update(study_id, status="failed", error=message, step="failed")
        except StudyNotFoundError:
            pass

    def _run(self, study_id: str) -> None:
        record = self.store.get(study_id)
        folder = self.store.folder(study_id)
        upload = folder / "upload" / record["input"]
        self.store.update(study_id, status="running", error=None, step="started",
                          provenance=provenance(options={"serve": self.options}, inputs=[upload]))
        try:
            source = self._prepare_input(study_id, folder, upload)
        except CovidCTError as exc:
            self._fail(study_id, str(exc))
            return
        partial = folder / "out.partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(folder / "out", ignore_errors=True)
        t0 = time.monotonic()
        returncode, stderr = self._run_command(study_id, source, partial)
        if self._stopping:
            return
        if study_id in self._cancelled:
            return
        if returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            self._fail(study_id, stderr if returncode is None else error_line(stderr, returncode))
            return
        try:
            read_results(partial)
        except CovidCTError as exc:
            self._fail(study_id, str(exc))
            return
        os.replace(partial, folder / "out")
        self.store.update(study_id, status="done", analysis_s=round(time.monotonic() - t0, 1),
                          step=f"analysis finished in {time.monotonic() - t0:.1f} s")

    def _prepare_input(self, study_id: str, folder: Path, upload: Path) -> Path:
        if upload.suffix.lower() != ".zip":
            return upload
        dest = folder / "input"
        shutil.rmtree(dest, ignore_errors=True)
        o = self.options
        extract_zip(upload, dest, max_entries=o.max_zip_entries, max_bytes=o.max_unzipped_bytes,
                    max_ratio=o.max_zip_ratio)
        self.store.update(study_id, step="zip checked and extracted")
        return dest

    def _run_command(self, study_id: str, source: Path, out: Path) -> tuple[int | None, str]:
        """Run the analysis; record stdout steps; returns (exit code, stderr text), or
        (None, message) when it was cancelled or timed out."""
        argv = analysis_command(source, out, preset=self.options.analyze_preset)
        self.store.update(study_id, analysis_command=argv)
        log_path = out.parent / "analysis.stderr.txt"
        env = dict(os.environ, PYTHONUNBUFFERED="1")  # progress lines arrive as printed
        with self._cond:
            if study_id in self._cancelled or self._stopping:
                return None, "cancelled"
            with open(log_path, "wb") as err:
                proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=env,
                                        stdin=subprocess.DEVNULL, text=True, bufsize=1,
                                        start_new_session=True)
            self._procs[study_id] = proc
        self.store.update(study_id, step="analysis started")
        timed_out = threading.Event()
        timer = threading.Timer(self.options.job_timeout_s,
                                lambda: (timed_out.set(), _kill(proc)))
        timer.start()
        try:
            for line in proc.stdout or ():
                step = progress_line(line)
                if step is not None and study_id not in self._cancelled:
                    self.store.update(study_id, step=step)
            returncode = proc.wait()
        finally:
            timer.cancel()
            with self._cond:
                self._procs.pop(study_id, None)
                self._cond.notify_all()
        if timed_out.is_set():
            return None, (f"the analysis took longer than {self.options.job_timeout_s:g} s "
                          "and was stopped")
        return returncode, log_path.read_text(errors="replace")


def _kill(proc: subprocess.Popen) -> None:
    """Kill an analysis and its children (it runs in its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
