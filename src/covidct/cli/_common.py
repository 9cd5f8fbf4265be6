"""Helpers shared by CLI commands: error reporting, output-path safety and the console."""

from __future__ import annotations

import functools
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from covidct.errors import CovidCTError

__all__ = [
    "EXIT_INPUT_ERROR",
    "EXIT_INTERRUPTED",
    "check_output",
    "console",
    "err_console",
    "handle_errors",
    "series_note",
]

EXIT_INPUT_ERROR = 2
EXIT_INTERRUPTED = 130

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def check_output(
    output: str | Path,
    inputs: Sequence[str | Path | None] = (),
    *,
    suffixes: Sequence[str] | None = None,
    what: str = "output",
) -> Path:
    """Refuse an output that is one of the inputs (same path, ``../``, symlink, hard link),
    lies in an input folder, or whose ending does not match the format written.

    ``sample:NAME`` inputs are resolved first; see :func:`covidct.io.atomic.check_output`.
    """
    from covidct.io.atomic import check_output as check
    from covidct.pipeline import resolve_input

    paths = [None if i is None else resolve_input(i) for i in inputs]
    return check(output, paths, suffixes=suffixes, what=what)


def series_note(metadata: Any) -> str | None:
    """One line naming the DICOM series read when the input held several, else None."""
    table = metadata.get("series_choice") if metadata else None
    if not table:
        return None
    chosen = next(row for row in table if row["chosen"])
    return (
        f"series: read {chosen['series_uid']} ({chosen['n_slices']} slices, "
        f"{chosen['series_description'] or 'no description'}) of {len(table)} series; "
        "choose another with --series UID (`covidct info` lists them)"
    )


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def handle_errors(func: F) -> F:
    """Turn covidct errors (and OS errors) into one line on stderr and exit code 2;
    Ctrl-C or SIGTERM into one line and exit code 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            return func(*args, **kwargs)
        except (CovidCTError, OSError) as exc:
            logging.getLogger("covidct").debug("command failed", exc_info=True)
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_INPUT_ERROR) from None
        except KeyboardInterrupt:
            err_console.print("[bold red]interrupted[/]: finished files are complete and "
                              "kept, nothing half-written is left; rerun to go on", highlight=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapper  # type: ignore[return-value]
