"""The ``covidct`` Typer application: registers every command.

Each command lives in its own module (``covidct.cli.<name>``), is decorated with
:func:`covidct.cli._common.handle_errors`, parses options, calls one library function and
prints. Register new commands here.
"""

from __future__ import annotations

import logging

import typer

from covidct import __version__

app = typer.Typer(
    name="covidct",
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
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _register() -> None:
    from covidct.cli import datasets, detection, features, ml, preprocess, samples, study, train

    app.command("info")(study.info)
    app.command("segment")(study.segment)
    app.command("quantify")(study.quantify)
    app.command("samples")(samples.samples)
    app.command("preprocess")(preprocess.preprocess)
    app.command("phantom")(datasets.phantom)
    app.add_typer(datasets.dataset_app, name="dataset")
    app.command("features")(features.features)
    app.add_typer(ml.ml_app, name="ml")
    app.command("train")(train.train)
    app.command("evaluate")(train.evaluate)
    app.command("compare")(train.compare)
    app.command("predict-lesions")(detection.predict_lesions)


_register()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
