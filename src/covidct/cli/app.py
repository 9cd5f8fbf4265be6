"""The ``covidct`` Typer application: registers every command, loaded lazily.

Each command lives in its own module (``covidct.cli.<name>``), is decorated with
:func:`covidct.cli._common.handle_errors`, parses options, calls one library function and
prints. Register new commands in :func:`_register`, one line each:
``_command(NAME, "covidct.cli.MODULE:OBJECT", SUMMARY)`` where OBJECT is a command function
or a ``typer.Typer`` sub-app and SUMMARY the first sentence of its help (a test checks they
agree). A command module is imported only when its command runs or its own ``--help`` is
asked for, so ``covidct --help`` and ``--version`` start in a fraction of a second.
"""

from __future__ import annotations

import importlib

import click
import typer
from typer.core import TyperGroup

from covidct import __version__

__all__ = ["LAZY_COMMANDS", "app", "main"]

#: command name -> ("module:object", one-line summary), in registration order.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {}


def load_command(name: str) -> click.Command:
    """The real click command of a registered lazy command (imports its module)."""
    target, _ = LAZY_COMMANDS[name]
    module, attr = target.split(":")
    obj = getattr(importlib.import_module(module), attr)
    if isinstance(obj, typer.Typer):
        command: click.Command = typer.main.get_group(obj)
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name)(obj)
        command = typer.main.get_command(single)
    command.name = name
    from covidct.cli._common import hide_flag_types

    return hide_flag_types(command)


class _Placeholder(click.Command):
    """A registered command that is not imported yet: enough for the root ``--help`` list."""

    def __init__(self, name: str, summary: str) -> None:
        super().__init__(name, help=summary, short_help=summary)


class _LazyGroup(TyperGroup):
    """The root group: lists lazy commands by their summaries, imports one only to run it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in LAZY_COMMANDS if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            return _Placeholder(cmd_name, LAZY_COMMANDS[cmd_name][1])
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        if isinstance(cmd, _Placeholder) and name is not None:
            cmd = load_command(name)
        return name, cmd, rest


app = typer.Typer(
    name="covidct",
    cls=_LazyGroup,
    help="COVID-19 analysis of chest CT: read CT, segment lungs, quantify lesions, and more.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"covidct {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """COVID-19 analysis of chest CT."""
    from covidct.cli._common import setup_logging

    setup_logging(verbose)


def _command(name: str, target: str, summary: str) -> None:
    """Register ``name`` -> ``"module:object"`` (function or Typer sub-app), loaded lazily."""
    LAZY_COMMANDS[name] = (target, summary)


def _register() -> None:
    _command("demo", "covidct.cli.analyze:demo", "Analyse a simulated COVID-19 study and the real samples with the demo model.")
    _command("analyze", "covidct.cli.analyze:analyze", "Analyse a CT study (or a dataset with --cohort) into a readable report.")
    _command("info", "covidct.cli.study:info", "Print size, spacing, HU range, orientation and metadata of a CT.")
    _command("segment", "covidct.cli.study:segment", "Segment the lungs: write a mask (0 background, 1 right, 2 left) on the CT's grid.")
    _command("quantify", "covidct.cli.study:quantify", "Quantify ground-glass opacity and consolidation in the lungs (share of lung involved).")
    _command("samples", "covidct.cli.samples:samples", "List the real sample CTs and where they are (use them as sample:NAME).")
    _command("preprocess", "covidct.cli.preprocess:preprocess", "Segment, resample, blank outside the lungs and store every case on one grid.")
    _command("phantom", "covidct.cli.datasets:phantom", "Simulate n chest CTs with exact ground truth and write them as a dataset.")
    _command("dataset", "covidct.cli.datasets:dataset_app", "Dataset layouts (iCTCF, CNCB, COVIDx-CT, UCSD, MosMedData, plain): inspect and split.")
    _command("features", "covidct.cli.features:features", "Compute radiomic features (378 for covid-mtl) of a study or of every preprocessed case.")
    _command("ml", "covidct.cli.ml:ml_app", "Classical ML baselines (LightGBM, random forest, logistic regression).")
    _command("train", "covidct.cli.train:train", "Train a model from a preset or config with patient-level splits, then evaluate it.")
    _command("evaluate", "covidct.cli.train:evaluate", "Metrics with 95% bootstrap CIs, ROC curves and confusion matrices of a run.")
    _command("compare", "covidct.cli.train:compare", "One table (and chart) of metrics with CIs across runs.")
    _command("serve", "covidct.cli.serve:serve", "Serve the web app: study list, upload page, viewer, and the JSON API (/openapi.json).")
    _command("predict-slices", "covidct.cli.slices:predict_slices", "Per-slice COVID probability over the lung slices of a CT, and a study score.")
    _command("explain", "covidct.cli.explain:explain", "Grad-CAM: overlays for slice models, TP/FP/TN/FN grids for slice runs, heat NIfTI for 3D.")
    _command("predict-lesions", "covidct.cli.detection:predict_lesions", "Pictures of predicted lesion masks, boxes, scores, RoI score maps (and class scores).")


_register()


def main() -> None:
    """Console-script entry point (``-v`` may follow the subcommand; flags show no type)."""
    import gc
    import sys

    from covidct.cli._common import hide_flag_types, lift_verbose

    command = hide_flag_types(typer.main.get_command(app))
    try:
        command.main(args=lift_verbose(sys.argv[1:]), prog_name="covidct")
    finally:
        # the garbage collector's passes at interpreter exit would walk every object of
        # torch, scikit-learn and the rest (about 0.5 s); the process ends here anyway
        gc.freeze()


if __name__ == "__main__":
    main()
