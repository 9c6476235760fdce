"""The ``movierec`` command: one sub-command per module, each thin."""

from __future__ import annotations

from typing import Annotated

import typer

import movierec
from movierec.cli import (
    data,
    demo,
    recommend,
    serve,  # web service
    train,
)
from movierec.cli import db as db_cmd  # ratings database
from movierec.cli import evaluate as evaluate_cmd  # evaluation
from movierec.cli import ingest as ingest_cmd  # ingest
from movierec.cli import outcomes as outcomes_cmd  # online metrics
from movierec.cli import recommend_all as recommend_all_cmd  # batch top-k
from movierec.cli import registry as registry_cmd  # model versions
from movierec.cli import retrain as retrain_cmd  # gated retrain loop
from movierec.cli import tune as tune_cmd  # tuning

app = typer.Typer(
    name="movierec",
    help="Explicit-rating movie recommendations by ALS: train, recommend, evaluate, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Help is printed as written: read as Rich markup, "needs movierec[spark]" lost its extra.
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("movierec")
        except PackageNotFoundError:  # run from a source tree that is not installed
            installed = movierec.__version__
        typer.echo(f"movierec {installed}")
        raise typer.Exit()


@app.callback()
def _root(
    _version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Explicit-rating movie recommendations by ALS: train, recommend, evaluate, serve."""


app.command("train")(train.train)
app.command("recommend")(recommend.recommend)
app.command("demo")(demo.demo)
app.add_typer(data.app, name="data")
app.command("ingest")(ingest_cmd.ingest)
app.command("serve")(serve.serve)
app.add_typer(db_cmd.app, name="db")
app.add_typer(registry_cmd.app, name="registry")
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("tune")(tune_cmd.tune)
app.command("recommend-all")(recommend_all_cmd.recommend_all)
app.command("retrain")(retrain_cmd.retrain)
app.command("outcomes")(outcomes_cmd.outcomes)


def main() -> None:
    """Console-script entry point."""
    app()
