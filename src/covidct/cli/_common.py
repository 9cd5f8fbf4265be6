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
    "LUNG_PRESET_HELP",
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


#: help of ``--lung-preset`` (the names of :data:`covidct.pipeline.LUNG_PRESETS`).
LUNG_PRESET_HELP = (
    "Lung segmentation settings: default, bases (a scan of the lung bases alone: any "
    "plausible lung, where the default needs 300 mL), paper (the COVID-MTL refinement alone) or "
    "paper-robust (the paper's settings with this project's additions)."
)

#: help of ``--lung-model`` and ``--lung-choice`` (``LungOptions.hybrid.model`` / ``.choice``).
LUNG_MODEL_HELP = (
    "Lung network instead of the shipped one (methods hybrid and model): the lung-unet.onnx "
    "(ONNX Runtime) or lung-unet.pt (torch) of a `covidct train lungs-unet-2mm` run, its "
    ".card.json beside it."
)
LUNG_CHOICE_HELP = (
    "Lung choice classifier fitted with that network (method hybrid; "
    "covidct train lung-choice); default the shipped one, with a warning when "
    "it was fitted with another network."
)

#: Third-party loggers that speak at INFO level (cluster start-up, GPU lines, per-feature
#: chatter): shown only with ``-v``.
NOISY_LOGGERS = ("distributed", "dask", "lightning", "lightning.pytorch", "lightning.fabric",
                 "pytorch_lightning", "radiomics")


def setup_logging(verbose: bool) -> None:
    """Root logging at INFO with ``-v``, else WARNING; third-party INFO chatter only with -v.

    Also sets ``DASK_LOGGING__DISTRIBUTED`` so Dask worker processes started from here
    follow the same level.
    """
    import os

    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(level)
    os.environ["DASK_LOGGING__DISTRIBUTED"] = "info" if verbose else "warning"


def lift_verbose(argv: Sequence[str]) -> list[str]:
    """Move ``-v``/``--verbose`` given after a subcommand to the front, where the root
    option lives (``covidct preprocess a b -v`` works like ``covidct -v preprocess a b``)."""
    args = list(argv)
    end = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:end] if a in ("-v", "--verbose")]
    rest = [a for a in args[:end] if a not in ("-v", "--verbose")]
    return ["-v"] * bool(flags) + rest + args[end:]


def hide_flag_types(command: Any) -> Any:
    """Blank the type column (``<bool>``) of on/off flags in the help of every subcommand."""
    for param in getattr(command, "params", []):
        if getattr(param, "is_flag", False) and not getattr(param, "count", False):
            param.metavar = ""
    original = getattr(command, "get_help_option", None)
    if original is not None:  # --help is made per call, not listed in params

        def get_help_option(ctx: Any, _original: Any = original) -> Any:
            option = _original(ctx)
            if option is not None:
                option.metavar = ""
            return option

        command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        hide_flag_types(sub)
    return command


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
                              "kept, nothing half-written is left; rerun to go on", highlight=False,
                              soft_wrap=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapper  # type: ignore[return-value]
