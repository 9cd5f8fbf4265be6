"""Conventions every command shares: -v anywhere, no <bool> on flags, quiet third-party
logs, -o/--out and --workers spelled alike, Ctrl-C/SIGTERM as one line."""

from __future__ import annotations

import logging
import os
import sys

import pytest
import typer
from typer.testing import CliRunner

from covidct.cli._common import NOISY_LOGGERS, handle_errors, lift_verbose, setup_logging
from covidct.cli.app import app


def test_lift_verbose():
    assert lift_verbose(["preprocess", "a", "b", "-v"]) == ["-v", "preprocess", "a", "b"]
    assert lift_verbose(["-v", "info", "x", "--verbose"]) == ["-v", "info", "x"]
    assert lift_verbose(["info", "--", "-v"]) == ["info", "--", "-v"]  # a file named -v
    assert lift_verbose(["info", "x"]) == ["info", "x"]


def _main(argv: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    from covidct.cli.app import main

    monkeypatch.setattr(sys, "argv", ["covidct", *argv])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    return int(exit_info.value.code or 0), out.out, out.err


def test_entry_point_help_and_verbose_after_subcommand(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "200")
    for cmd in (["preprocess", "--help"], ["features", "--help"], ["dataset", "split", "--help"]):
        code, out, _ = _main(cmd, monkeypatch, capsys)
        assert code == 0 and "<bool>" not in out, out
        assert "--workers" in out or "--out" in out
    code, _, err = _main(["info", "no-such.nii.gz", "-v"], monkeypatch, capsys)
    assert code == 2 and "No such option" not in err and "does not exist" in err, err


def test_third_party_info_hidden_unless_verbose(monkeypatch):
    monkeypatch.delenv("DASK_LOGGING__DISTRIBUTED", raising=False)
    setup_logging(False)
    assert all(logging.getLogger(n).getEffectiveLevel() == logging.WARNING for n in NOISY_LOGGERS)
    assert os.environ["DASK_LOGGING__DISTRIBUTED"] == "warning"
    setup_logging(True)
    assert all(logging.getLogger(n).getEffectiveLevel() == logging.INFO for n in NOISY_LOGGERS)
    setup_logging(False)


@pytest.mark.parametrize("args", [["segment", "--help"], ["quantify", "--help"],
                                  ["features", "--help"], ["ml", "run", "--help"],
                                  ["dataset", "split", "--help"]])
def test_out_and_workers_spelled_alike(args):
    text = CliRunner().invoke(app, args, terminal_width=200).stdout
    assert "--out" in text and "-o" in text
    if args[0] in ("features", "ml"):
        assert "--workers" in text


def test_interrupt_is_one_line_exit_130():
    @handle_errors
    def cmd() -> None:
        raise KeyboardInterrupt

    small = typer.Typer()
    small.command()(cmd)
    res = CliRunner().invoke(small, [])
    assert res.exit_code == 130 and res.stderr.startswith("interrupted")
    assert len(res.stderr.strip().splitlines()) == 1
