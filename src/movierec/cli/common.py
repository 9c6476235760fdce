"""Shared CLI plumbing: one console, error mapping, JSON output, progress bars."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from movierec.errors import EXIT_CODES, MovierecError, ParameterError

PIPED_WIDTH = 200
"""Columns given to Rich when a stream is piped and ``COLUMNS`` is unset (Rich would assume 80)."""


def _width(stream: Any) -> int | None:
    """None (Rich decides) on a terminal or with ``COLUMNS`` set; else ``PIPED_WIDTH``.

    Rich assumes 80 columns for a pipe and then cuts table cells to fit, so a
    piped ``evaluate`` table showed MRR as "0.25…". Tables only take the width
    their cells need, so a wider limit pads nothing.
    """
    if os.environ.get("COLUMNS") or (hasattr(stream, "isatty") and stream.isatty()):
        return None
    return PIPED_WIDTH


# soft_wrap: a message is never broken into lines at the terminal width (Rich assumes 80 columns
# when output is piped, which split values such as "train RMSE 0.7344" for anyone grepping them).
# markup=False: messages carry paths, values and install hints such as `movierec[evaluation]`; read as
# Rich markup, "[red]" vanished and "[/b]" raised MarkupError (Textualize/rich#1157). Styling goes
# through `say`, which styles only its own label.
console = Console(stderr=True, soft_wrap=True, width=_width(sys.stderr), markup=False, highlight=False)
out = Console(soft_wrap=True, width=_width(sys.stdout), markup=False, highlight=False)

LABEL_STYLES = {"error": "bold red", "warning": "yellow", "note": "yellow"}


def say(label: str, message: object) -> None:
    """Print ``label: message`` on stderr, the label styled, the message exactly as given."""
    console.print(Text.assemble((f"{label}:", LABEL_STYLES.get(label, "")), " ", str(message)))


F = TypeVar("F", bound=Callable[..., Any])

FLAGS = {
    "n_factors": "--factors", "n_iter": "--iterations", "reg": "--reg", "bias_reg": "--bias-reg",
    "random_state": "--seed", "solver": "--solver", "cg_steps": "--cg-steps", "min_ratings": "--min-ratings",
    "rank_by": "--rank-by", "confidence_weight": "--confidence-weight", "k": "-k", "test_fraction": "--test-fraction",
    "n_folds": "--folds", "objective": "--objective", "n_trials": "--trials",
    "min_new_ratings": "--min-new-ratings", "holdout": "--holdout", "margin_ndcg": "--margin-ndcg",
    "margin_rmse": "--margin-rmse", "every": "--every", "canary": "--canary",
}  # fmt: skip
"""The option that sets each library parameter: a ``ParameterError`` names the parameter, the CLI adds its option."""


def message(exc: MovierecError) -> str:
    """The error's text, with the option that sets the parameter when it is a ``ParameterError``."""
    if isinstance(exc, ParameterError) and exc.parameter in FLAGS:
        return f"{exc} (option {FLAGS[exc.parameter]})"
    return str(exc)


def exit_code(exc: MovierecError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]  # type: ignore[index]
    return 1


def friendly(fn: F) -> F:
    """Turn movierec errors into one clear line on stderr and a non-zero exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MovierecError as exc:
            say("error", message(exc))
            raise typer.Exit(exit_code(exc)) from None
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            say("error", exc)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout."""
    sys.stdout.write(json.dumps(obj, default=_default, ensure_ascii=False) + "\n")


def _default(o: Any) -> Any:
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


@contextmanager
def progress(description: str, total: float | None, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """A Rich progress bar on stderr; yields ``advance(n=1, **fields)``."""
    if not enabled:
        yield lambda *a, **k: None
        return
    if total is None:  # unknown length (e.g. a download without Content-Length): no count, no ETA
        cols = [TextColumn("{task.description}", markup=False), BarColumn(), TimeElapsedColumn(),
                TextColumn("{task.fields[info]}", markup=False)]  # fmt: skip
    else:
        cols = [TextColumn("{task.description}", markup=False), BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f}"), TimeElapsedColumn(), TimeRemainingColumn(),
                TextColumn("{task.fields[info]}", markup=False)]  # fmt: skip
    with Progress(*cols, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total, info="")

        def advance(n: float = 1, info: str = "") -> None:
            bar.update(task, advance=n, info=info)

        yield advance


def recommendations_table(title: str, recs: list[Any]) -> Table:
    """A Rich table of recommendations: rank, title, predicted rating, number of ratings."""
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("title", overflow="fold")
    table.add_column("predicted", justify="right")
    table.add_column("ratings", justify="right")
    for n, r in enumerate(recs, 1):
        table.add_row(str(n), r.title, f"{r.score:.2f}", str(r.n_ratings))
    return table
