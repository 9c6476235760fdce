"""The ingest report: what happened to every line of every input file.

Each input line ends in exactly one of four places, so per file

    ratings_accepted + rejected_total + blank_lines + header_lines == lines_read

always holds (``FileReport.balanced``). Rejected lines, including duplicates
superseded by the duplicate rule, are listed one per row in ``quarantine.csv``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from movierec.errors import DataValidationError, Problem

DUPLICATE_REASON = "duplicate (user, movie): superseded by the latest rating"
DUPLICATE_RULE = (
    "one rating per (user, movie): the one with the latest timestamp wins; "
    "on equal timestamps the one read last (later file, later line) wins"
)

QUARANTINE_SCHEMA = {
    "file": pl.Utf8,
    "line": pl.Int64,
    "column": pl.Utf8,
    "value": pl.Utf8,
    "reason": pl.Utf8,
    "text": pl.Utf8,
}
"""One row per rejected line: where, which field and its text, why, and the whole line (up to 1000 characters)."""
TEXT_MAX = 1000

# Reason prefix -> the fix to try (strict-mode messages and the CLI summary).
FIXES: tuple[tuple[str, str], ...] = (
    ("found", "check the separator (--format) and that every line has the same columns"),
    ("malformed quoting", "close each quoted field and double quotes inside it (RFC 4180)"),
    ("missing", "fill in the value or delete the line"),
    ("rating is not", "ratings must be numbers; check --columns (is this the rating column?)"),
    ("rating outside", "declare the file's scale with --scale MIN:MAX:STEP, or correct the values"),
    ("rating off the", "declare the step with --scale MIN:MAX:STEP (STEP 0 allows any value in range)"),
    ("movie id is not an integer (most", "correct the id (the file's other movie ids are integers) or remove the line"),
    ("user id is not an integer (most", "correct the id (the file's other user ids are integers) or remove the line"),
    ("movie id is not", "ids must be integers or text; check --columns"),
    ("user id is not", "ids must be integers or text; check --columns"),
    ("timestamp", "give epoch seconds, epoch milliseconds or ISO-8601 dates such as 2001-09-09T01:46:40Z"),
    ("duplicate", "remove the repeated (user, movie) rows or ingest with the default duplicate rule"),
)


def fix_for(reason: str) -> str:
    """The fix to suggest for a rejection reason."""
    return next((fix for prefix, fix in FIXES if reason.startswith(prefix)), "correct the line or remove it")


@dataclass
class FileReport:
    """Counts and detected settings for one input file.

    Attributes
    ----------
    file : str
        The path as given.
    format : str
        ``"delimited"``, ``"movielens"`` or ``"parquet"``.
    encoding, newline, separator : str or None
        As detected or forced (None for Parquet).
    header : list of str or None
        The header's fields, None when the file has none.
    columns : dict of role to str
        Which source column fed each role (header name, or ``"#3"`` for position 3).
    parser : str
        ``"fast"`` (vectorised), ``"per-line"`` or ``"parquet"``.
    lines_read, header_lines, blank_lines, ratings_accepted : int
        Physical lines (rows for Parquet) and where they went.
    rejected : dict of reason to int
        Rejected lines per reason, duplicates superseded included.
    timestamp_unit : str
        ``"seconds"``, ``"milliseconds"``, ``"microseconds"``, ``"nanoseconds"``,
        ``"iso-8601"``, ``"mixed"`` or ``"none"`` (no timestamp column: stored as 0).
    timestamp_units : dict of str to int
        Parsed timestamps per unit (all stored as UTC epoch seconds).
    rating_min, rating_max : float or None
        Smallest and largest numeric rating seen, accepted or not.
    """

    file: str
    format: str = "delimited"
    encoding: str | None = None
    newline: str | None = None
    separator: str | None = None
    header: list[str] | None = None
    columns: dict[str, str] = field(default_factory=dict)
    parser: str = "fast"
    lines_read: int = 0
    header_lines: int = 0
    blank_lines: int = 0
    ratings_accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    timestamp_unit: str = "none"
    timestamp_units: dict[str, int] = field(default_factory=dict)
    rating_min: float | None = None
    rating_max: float | None = None

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def balanced(self) -> bool:
        """accepted + rejected + blank + header == lines read."""
        return self.ratings_accepted + self.rejected_total + self.blank_lines + self.header_lines == self.lines_read

    def add_rejects(self, reasons: pl.Series) -> None:
        """Count rejected lines by reason."""
        for reason, n in reasons.value_counts().iter_rows():
            self.rejected[reason] = self.rejected.get(reason, 0) + int(n)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rejected_total"] = self.rejected_total
        d["balanced"] = self.balanced
        return d


@dataclass
class IngestReport:
    """The whole ingest: per-file reports plus what was decided across files.

    Attributes
    ----------
    files : list of FileReport
    on_error : str
        ``"strict"`` or ``"quarantine"``.
    scale : dict
        ``low``, ``high``, ``step`` and ``source`` (``declared``, ``movielens release`` or ``default``).
    duplicates : dict
        ``rule``, ``pairs_resolved``, ``rows_superseded``.
    ids : dict
        ``user`` and ``movie``: ``"integer"`` or ``"string"``.
    users, films : dict
        ``in_input`` (distinct ids on lines that had one), ``with_ratings`` (in the
        dataset) and ``lost`` (ids whose every rating was rejected),
        with up to 50 ``lost_ids``.
    catalogue : dict or None
        The movies file read: path, format, encoding, films, films_without_ratings.
    dataset : dict
        ``Dataset.summary()`` of the result.
    """

    files: list[FileReport]
    on_error: str
    scale: dict[str, Any]
    duplicates: dict[str, Any]
    ids: dict[str, str]
    users: dict[str, Any]
    films: dict[str, Any]
    catalogue: dict[str, Any] | None
    dataset: dict[str, Any]

    @property
    def balanced(self) -> bool:
        return all(f.balanced for f in self.files)

    def totals(self) -> dict[str, int]:
        keys = ("lines_read", "header_lines", "blank_lines", "ratings_accepted")
        tot = {k: sum(getattr(f, k) for f in self.files) for k in keys}
        tot["rejected_total"] = sum(f.rejected_total for f in self.files)
        return tot

    def to_dict(self) -> dict[str, Any]:
        return {
            "balanced": self.balanced,
            "totals": self.totals(),
            "on_error": self.on_error,
            "scale": self.scale,
            "duplicates": self.duplicates,
            "ids": self.ids,
            "users": self.users,
            "films": self.films,
            "catalogue": self.catalogue,
            "dataset": self.dataset,
            "files": [f.to_dict() for f in self.files],
        }


def strict_error(rejects: pl.DataFrame, limit: int = 1000) -> DataValidationError:
    """The strict-mode error for the first class of problem in ``rejects``.

    The class is the reason of the earliest rejected line (by file order, then
    line); every line of the same file with that reason is listed (up to
    ``limit``), each with its line, column and value, and the message ends with
    the fix to try.
    """
    first = rejects.sort("line").row(0, named=True)
    same = rejects.filter((pl.col("file") == first["file"]) & (pl.col("reason") == first["reason"])).sort("line")
    problems = [
        Problem(r["file"], r["line"], r["column"], r["value"], r["reason"])
        for r in same.head(limit).iter_rows(named=True)
    ]
    return DataValidationError(
        f"{first['file']}: {same.height} line(s) rejected ({first['reason']}); fix: {fix_for(first['reason'])}; "
        "or set them aside and keep the rest with `movierec ingest --on-error quarantine --out DIR` "
        "(the options named here are ingest's; train and evaluate then read DIR)",
        problems,
    )
