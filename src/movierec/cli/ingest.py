"""``movierec ingest``: messy ratings files in, a validated dataset folder and a report out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from movierec.cli.common import console, friendly, out, print_json
from movierec.data.folder import DATASET_META, ensure_replaceable
from movierec.data.ingest import FORMATS, parse_columns, parse_scale, write_ingest
from movierec.data.ingest import ingest as run_ingest
from movierec.data.report import DUPLICATE_REASON, fix_for
from movierec.errors import DataValidationError


@friendly
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Ratings files (CSV/TSV/.dat/whitespace text or Parquet)")],
    out_dir: Annotated[Path, typer.Option("--out", help="Dataset folder to write (replaced atomically)")],
    fmt: Annotated[str, typer.Option("--format", help=f"Layout: {'|'.join(FORMATS)} (auto detects per file)")] = "auto",
    columns: Annotated[
        str | None,
        typer.Option(
            help="Column mapping user=COL,item=COL,rating=COL,timestamp=COL (header name or 1-based position)"
        ),
    ] = None,
    movies: Annotated[Path | None, typer.Option(help="Catalogue: movies.csv, movies.dat, u.item or Parquet")] = None,
    scale: Annotated[
        str | None,
        typer.Option(
            help="Rating scale MIN:MAX:STEP (STEP 0 = any value); default 0.5:5:0.5 or the MovieLens release's"
        ),
    ] = None,
    on_error: Annotated[
        str,
        typer.Option(
            "--on-error",
            help="quarantine (set bad lines aside, report them) or strict (fail on the first class of problem)",
        ),
    ] = "quarantine",
    encoding: Annotated[str, typer.Option(help="auto|utf-8|latin-1|utf-16")] = "auto",
    header: Annotated[str, typer.Option(help="auto|yes|no: is the first non-blank line a header?")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the ingest report as one JSON object")] = False,
) -> None:
    """Validate, clean and report ratings files into a dataset folder; no line is lost silently.

    Every input line is accepted, rejected (listed in quarantine.csv with file,
    line, column, value and reason), blank or a header; ingest_report.json counts
    them per file. Duplicate (user, movie) ratings: the latest timestamp wins.
    """
    if header not in ("auto", "yes", "no"):
        raise DataValidationError(f"--header {header!r}: use auto, yes or no")
    if on_error not in ("strict", "quarantine"):
        raise DataValidationError(f"--on-error {on_error!r}: use strict or quarantine")
    ensure_replaceable(
        out_dir, (DATASET_META, "ratings.parquet"), "dataset folder"
    )  # before the work, never over user files
    result = run_ingest(
        paths,
        format=fmt,
        columns=parse_columns(columns),
        movies=movies,
        scale=parse_scale(scale) if scale else None,
        on_error=on_error,  # type: ignore[arg-type]
        encoding=encoding,
        header=None if header == "auto" else header == "yes",
    )
    write_ingest(result, out_dir)
    report = result.report
    if as_json:
        print_json({"out": str(out_dir), **report.to_dict()})
        return
    table = Table(title=f"ingest -> {out_dir}", title_justify="left")
    for col in (
        "file",
        "format",
        "lines",
        "accepted",
        "rejected",
        "blank",
        "header",
        "encoding",
        "separator",
        "timestamps",
    ):
        table.add_column(
            col, justify="right" if col in ("lines", "accepted", "rejected", "blank", "header") else "left"
        )
    for f in report.files:
        counts = (f.lines_read, f.ratings_accepted, f.rejected_total, f.blank_lines, f.header_lines)
        table.add_row(
            f.file, f.format, *(f"{n:,}" for n in counts), f.encoding or "-", f.separator or "-", f.timestamp_unit
        )
    out.print(table)
    reasons: dict[str, int] = {}
    for f in report.files:
        for r, n in f.rejected.items():
            reasons[r] = reasons.get(r, 0) + n
    for r, n in sorted(reasons.items(), key=lambda x: -x[1]):
        fix = "" if r == DUPLICATE_REASON else f"  (fix: {fix_for(r)})"
        console.print(f"  rejected {n:,} x {r}{fix}", highlight=False)
    d, ds, sc = report.duplicates, report.dataset, report.scale
    out.print(
        f"{ds['n_ratings']:,} ratings, {ds['n_users']:,} users, {ds['n_items']:,} films; "
        f"{d['pairs_resolved']:,} duplicate pair(s) resolved (latest timestamp wins); "
        f"{report.films['lost']:,} film(s) lost every rating; "
        f"scale {sc['low']:g}-{sc['high']:g} step {sc['step']:g} ({sc['source']}); "
        f"see {out_dir / 'ingest_report.json'} and quarantine.csv",
        highlight=False,
    )
