"""``movierec retrain``: options mapped onto ``movierec.retrain.retrain`` (the rules live there).

Exit codes of a single run: 0 published, 0 skipped (the reason is printed), ``EXIT_REJECTED`` when
the gate kept the current version (so cron or a CI job can alert), and the usual error codes
(``movierec.errors.EXIT_CODES``) when it could not run. ``--every`` repeats the run until SIGTERM
and exits 0 then.
"""

from __future__ import annotations

import re
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from movierec.cli.common import friendly, message, out, print_json, say
from movierec.errors import MovierecError, ParameterError, require_extra
from movierec.evaluation.gate import HOLDOUT_FRACTION, MARGIN_NDCG, MARGIN_RMSE, Margins
from movierec.retrain import Outcome, RetrainResult, RetrainSpec, run_every
from movierec.retrain import retrain as retrain_once

EXIT_REJECTED = 8
"""Exit code of a run whose candidate the gate rejected (the current version stays)."""

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
EVERY_MIN_S, EVERY_MAX_S = 1.0, 366 * 86400.0
"""Shortest and longest ``--every``: below a second the loop only re-reads the database and registry
back to back; past a year the wait overflows the platform's timer."""
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_every(text: str) -> float:
    """Seconds of a duration such as ``6h``, ``30m``, ``90s``, ``1d`` or ``3600`` (seconds).

    Raises
    ------
    ParameterError
        Naming ``every``, for anything else or a duration outside [``EVERY_MIN_S``, ``EVERY_MAX_S``].
    """
    m = _DURATION.match(text or "")
    seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"] if m else 0.0
    if not EVERY_MIN_S <= seconds <= EVERY_MAX_S:
        raise ParameterError("every", "a duration from 1s to 366d: a number with s, m, h or d (e.g. 6h, 30m)", text)
    return seconds


@friendly
def retrain(
    data: Annotated[
        str,
        typer.Option(
            help="The base dataset, as `train --data` takes it (a name under the data home, a MovieLens folder or "
            "ratings file, an ingested dataset folder)"
        ),
    ],
    db: Annotated[str, typer.Option("--db", help="The service's ratings database URL, e.g. sqlite:///movierec.db")],
    registry: Annotated[
        Path, typer.Option("--registry", help="Registry whose current version the candidate must beat")
    ],
    model_name: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Model to train (names as `train --model`); default the current version's model with its settings",
        ),
    ] = None,
    every: Annotated[
        str | None,
        typer.Option(help="Repeat every DURATION (6h, 30m, 1d) until SIGTERM, which stops between runs"),
    ] = None,
    min_new_ratings: Annotated[
        int,
        typer.Option(
            "--min-new-ratings",
            help="Skip unless the database holds this many ratings newer than the current version's training data",
        ),
    ] = 0,
    holdout: Annotated[
        float,
        typer.Option(
            help="The gate holds out this newest share (by time) of the ratings the current version did not "
            "train on (of users with older ratings), trains the candidate on the rest and compares both on them"
        ),
    ] = HOLDOUT_FRACTION,
    margin_ndcg: Annotated[
        float, typer.Option("--margin-ndcg", help="Largest NDCG@10 drop (absolute) against the current version")
    ] = MARGIN_NDCG,
    margin_rmse: Annotated[
        float, typer.Option("--margin-rmse", help="Largest RMSE rise (absolute, stars) against the current version")
    ] = MARGIN_RMSE,
    canary: Annotated[
        float | None,
        typer.Option(
            "--canary",
            help="Publish a passing candidate as a canary served to this percentage of users (an A/B experiment, "
            "see `movierec outcomes`) instead of making it current",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per run")] = False,
) -> None:
    """Retrain on the base data plus the service's ratings; publish only a candidate the gate passes.

    Exit code 0 when published or skipped, 8 when the gate kept the current version.
    """
    require_extra("database", "movierec retrain")
    spec = RetrainSpec(
        data=data,
        db=db,
        registry=registry,
        model=model_name,
        min_new_ratings=min_new_ratings,
        holdout=holdout,
        margins=Margins(ndcg=margin_ndcg, rmse=margin_rmse),
        canary=canary,
    )
    spec.check()
    if every is None:
        result = retrain_once(spec)
        _report(result, as_json)
        if result.outcome == Outcome.REJECTED:
            raise typer.Exit(EXIT_REJECTED)
        return
    seconds = parse_every(every)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runs = run_every(spec, seconds, stop, lambda r: _report(r, as_json), _error)
    say("note", f"stopped by SIGTERM after {runs} run{'s' if runs != 1 else ''}")


def _error(exc: MovierecError) -> None:
    say("error", f"{message(exc)} (retrying at the next run)")


def _report(result: RetrainResult, as_json: bool) -> None:
    if as_json:
        print_json(result.summary())
        return
    for note in result.notes:
        say("note", note)
    if result.outcome == Outcome.PUBLISHED:
        share = "" if result.canary is None else f" as a canary for {result.canary:g}% of users"
        line = f"published {result.version} ({result.model}){share}"
        cand, cur = result.candidate, result.current
        if cand is not None and cur is not None:
            line += f" over {result.previous} on {result.holdout['n_rows']:,} held-out ratings:" + "".join(
                f" {label} {_num(cand[key])} vs {_num(cur[key])}" + ("," if key == "ndcg" else "")
                for key, label in (("ndcg", "NDCG@10"), ("rmse", "RMSE"))
            )
        out.print(line)
    elif result.outcome == Outcome.REJECTED:  # on stderr, with the error lines: what cron mails and logs keep
        say("rejected", "; ".join(result.reasons))
    else:
        out.print(f"{result.outcome}: " + "; ".join(result.reasons))


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
