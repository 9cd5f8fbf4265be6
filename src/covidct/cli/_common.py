"""Helpers shared by CLI commands: error reporting and the console."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from covidct.errors import CovidCTError

__all__ = ["console", "err_console", "handle_errors", "EXIT_INPUT_ERROR"]

EXIT_INPUT_ERROR = 2

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(func: F) -> F:
    """Turn covidct errors (and missing files) into one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (CovidCTError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            logging.getLogger("covidct").debug("command failed", exc_info=True)
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_INPUT_ERROR) from None

    return wrapper  # type: ignore[return-value]
