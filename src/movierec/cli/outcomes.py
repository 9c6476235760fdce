"""``movierec outcomes``: what users did after the service's lists, per model version and day, and A/B arms."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from movierec.cli.common import friendly, out, print_json
from movierec.errors import DataValidationError, require_extra


@friendly
def outcomes(
    db: Annotated[str, typer.Option("--db", help="The service's database URL, e.g. sqlite:///movierec.db")],
    since: Annotated[
        str | None, typer.Option(help="First UTC day included, YYYY-MM-DD (default: every exposure)")
    ] = None,
    window_days: Annotated[
        float,
        typer.Option(
            "--window-days", min=0, help="Attribution window: days from a list to a rating of a film it showed"
        ),
    ] = 7.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    report: Annotated[Path | None, typer.Option(help="Also write an HTML report to this file")] = None,
) -> None:
    """Online metrics from the service's exposure log: lists shown, hit rate (a later rating of a shown film),
    mean rating of shown films that were rated, coverage, clicks, dismissals; and the latest A/B experiment's
    arms compared on hit rate with a 95% user-bootstrap interval ("too small to call" when it straddles 0)."""
    require_extra("database", "movierec outcomes")
    from movierec.evaluation.online import online_report
    from movierec.store.db import make_engine

    day = _day(since)
    engine = make_engine(db, existing=True)
    try:
        result = online_report(engine, day, window_s=window_days * 86400)
    finally:
        engine.dispose()
    if report is not None:
        report.write_text(to_html(result), encoding="utf-8")
    if as_json:
        print_json(result)
        return
    _print(result)
    if report is not None:
        out.print(f"report written to {report}", highlight=False)


def _day(since: str | None) -> dt.date | None:
    if since is None:
        return None
    try:
        return dt.date.fromisoformat(since)
    except ValueError:
        raise DataValidationError(f"--since: {since!r} is not a date written YYYY-MM-DD, e.g. 2026-12-01") from None


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.1%}"


def _stars(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}"


DAY_COLUMNS = ("day", "version", "lists", "user lists", "hit rate", "mean rating", "coverage", "clicks", "dismissals")
ARM_COLUMNS = ("arm", "version", "users", "lists", "hits", "hit rate", "mean rating")


def _day_cells(r: dict[str, Any]) -> list[str]:
    return [r["day"], r["model_version"], f"{r['exposures']:,}", f"{r['user_exposures']:,}", _pct(r["hit_rate"]),
            _stars(r["mean_rating"]), _pct(r["coverage"]), f"{r['clicks']:,}", f"{r['dismissals']:,}"]  # fmt: skip


def _arm_cells(a: dict[str, Any]) -> list[str]:
    return [a["name"], a["version"], f"{a['users']:,}", f"{a['exposures']:,}", f"{a['hits']:,}",
            _pct(a["hit_rate"]), _stars(a["mean_rating"])]  # fmt: skip


def _summary(exp: dict[str, Any]) -> str:
    d = exp["hit_rate_difference"]
    diff = (
        "" if d is None else f"hit rate canary - control {d['difference']:+.1%} [{d['low']:+.1%}, {d['high']:+.1%}]: "
    )
    return f"experiment {exp['experiment']}: {diff}{exp['verdict']}"


def _print(result: dict[str, Any]) -> None:
    if not result["days"]:
        out.print("no exposures logged" + (f" since {result['since']}" if result["since"] else ""), highlight=False)
        return
    window = result["window_s"] / 86400
    table = Table(title=f"online metrics by UTC day (attribution window {window:g} days)", title_justify="left")
    for name in DAY_COLUMNS:
        table.add_column(name, justify="left" if name in ("day", "version") else "right")
    for r in result["days"]:
        table.add_row(*_day_cells(r))
    out.print(table)
    exp = result["experiment"]
    if exp is None:
        return
    arms = Table(title=f"A/B experiment {exp['experiment']}", title_justify="left")
    for name in ARM_COLUMNS:
        arms.add_column(name, justify="left" if name in ("arm", "version") else "right")
    for arm in (exp["control"], exp["canary"]):
        if arm is not None:
            arms.add_row(*_arm_cells(arm))
    out.print(arms)
    out.print(_summary(exp), highlight=False)


def to_html(result: dict[str, Any]) -> str:
    """A self-contained HTML page of ``online_report``'s result (tables only, no scripts)."""

    def table(columns: tuple[str, ...], rows: list[list[str]]) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>movierec outcomes</title>",
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}"
        "td:first-child,td:nth-child(2){text-align:left}</style></head><body>",
        "<h1>movierec outcomes</h1>",
        f"<p>Attribution window {result['window_s'] / 86400:g} days; "
        f"since {html.escape(str(result['since'] or 'the first exposure'))}.</p>",
        "<h2>By UTC day and model version</h2>",
        table(DAY_COLUMNS, [_day_cells(r) for r in result["days"]]),
    ]
    exp = result["experiment"]
    if exp is not None:
        arms = [_arm_cells(a) for a in (exp["control"], exp["canary"]) if a is not None]
        parts += [f"<h2>A/B experiment {html.escape(exp['experiment'])}</h2>", table(ARM_COLUMNS, arms),
                  f"<p>{html.escape(_summary(exp))}</p>"]  # fmt: skip
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
