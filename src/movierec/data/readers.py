"""Read one ratings file into raw text fields, accounting for every physical line.

Two parsers give the same answer; the fast one is tried first:

* **fast** (Polars, multi-threaded): for files without double quotes and stray
  carriage returns, whose header (if any) is on line 1. Polars keeps one row per
  physical line, which is checked (rows == lines), so row ``i`` is line
  ``i + 1 + header``. Columns are read typed (ids and timestamps as integers,
  ratings as floats) unless the file's first lines show text there. A value that
  does not parse, a missing field (blank or short line) or a line with too many
  fields (found by counting separators per line, only when the file's total
  says one may exist) makes its row *odd*: only odd lines go to the per-line
  parser, and the records among them come back as text in ``RawFile.extra`` for
  ``validate`` to judge, so a file with 1% junk keeps the fast path for the
  other 99% (before, one unparseable value re-read the whole file as text).
* **per-line** (Python): everything else, including ``whitespace`` mode and
  quoted fields.

Output columns are the roles (``user``, ``item``, ``rating``, ``timestamp``) as
text, plus ``line`` (Int64, 1-based physical line number). Lines that are not
records (wrong field count, malformed quotes) come back as rejects.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from movierec.data.formats import (
    QUOTING_SEPARATORS,
    ROLES,
    Layout,
    detect_layout,
    normalise_bytes,
    role_positions,
    separator_name,
    split_fields,
)
from movierec.data.report import QUARANTINE_SCHEMA, FileReport
from movierec.errors import DataValidationError

_TYPES = {"user": pl.Int64, "item": pl.Int64, "rating": pl.Float64, "timestamp": pl.Int64}
_POLARS_ERRORS = (
    pl.exceptions.ComputeError,
    pl.exceptions.SchemaError,
    pl.exceptions.ShapeError,
    pl.exceptions.NoDataError,
)


@dataclass
class RawFile:
    """One file's records as fields, its structural rejects and its report so far.

    Attributes
    ----------
    frame : polars.DataFrame
        Role columns (text, or typed for Parquet) and ``line`` (Int64).
    rejects : polars.DataFrame
        Quarantine rows (see ``report.QUARANTINE_SCHEMA``).
    report : FileReport
        Lines read, header and blank lines, detected settings; acceptance
        counts are filled in later.
    """

    frame: pl.DataFrame
    rejects: pl.DataFrame
    report: FileReport
    layout: Layout | None = None
    encoding: str = "auto"
    extra: pl.DataFrame | None = None
    """Odd lines of the fast path that split into the right fields: role columns as text, and ``line``."""

    def line_texts(self, numbers: list[int]) -> list[str]:
        """The text of the given 1-based lines (ascending), read again from the file; empty for Parquet."""
        if self.layout is None or not numbers:
            return [""] * len(numbers)
        data, _, _ = normalise_bytes(Path(self.report.file).read_bytes(), self.report.file, self.encoding)
        return [t.rstrip("\r") for t in _lines_at(data, np.asarray(numbers, dtype=np.int64))]

    def field(self, text: str, role: str) -> str | None:
        """The exact source text of ``role``'s field in a line, or None when the line does not split cleanly."""
        if self.layout is None or role not in self.layout.positions:
            return None
        try:
            fields = split_fields(text, self.layout.separator)
        except csv.Error:
            return None
        return fields[self.layout.positions[role]].strip() if len(fields) == self.layout.n_fields else None


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def count_lines(data: bytes) -> int:
    """Physical lines: the pieces between ``\\n`` (a final piece without one counts; an empty one does not)."""
    view = np.frombuffer(data, dtype=np.uint8)
    step = 1 << 24  # 16 MiB at a time: a bounded temporary, ~3x faster than bytes.count
    n = sum(int(np.count_nonzero(view[i : i + step] == 10)) for i in range(0, len(view), step))
    return n + (1 if data and not data.endswith(b"\n") else 0)


def read_delimited(
    path: Path,
    *,
    separator: str | None = None,
    header: bool | None = None,
    columns: dict[str, str] | None = None,
    encoding: str = "auto",
    fmt: str = "delimited",
) -> RawFile:
    """Read a delimited text ratings file (see ``movierec.data.formats`` for the detection rules).

    Raises
    ------
    DataValidationError
        Undecodable bytes with a forced encoding, a separator that gives fewer
        than 3 fields, or columns that cannot be matched to roles.
    """
    name = str(path)
    data, enc, newline = normalise_bytes(path.read_bytes(), name, encoding)
    rep = FileReport(file=name, format=fmt, encoding=enc, newline=newline, lines_read=count_lines(data))
    layout = detect_layout(data, name, separator, header, columns)
    if layout is None:  # nothing but blank lines
        rep.blank_lines = rep.lines_read
        rep.parser = "per-line"
        return RawFile(pl.DataFrame(schema={r: pl.Utf8 for r in ROLES[:3]} | {"line": pl.Int64}), empty_rejects(), rep)
    rep.separator = separator_name(layout.separator)
    rep.header = list(layout.header) if layout.header_line else None
    rep.header_lines = 1 if layout.header_line else 0
    rep.columns = {r: (layout.header[p] if layout.header_line else f"#{p + 1}") for r, p in layout.positions.items()}

    def load() -> bytes:
        return normalise_bytes(path.read_bytes(), name, encoding)[0]

    raw = None
    if _fast_eligible(data, layout):
        sep = layout.separator
        text_roles = _text_roles(data, layout)
        sep_bytes = sep.encode()
        n_separators = data.count(sep_bytes)
        if layout.header_line:  # the body's separators: a header's would force the line-by-line count below
            n_separators -= data[: data.find(b"\n") + 1 or len(data)].count(sep_bytes)
        source: Path | bytes = data
        if sep == "::":
            source, sep = data.replace(b"::", b"\t"), "\t"
        elif enc == "utf-8" and newline != "CR":  # the file's bytes are exactly ``data``: let Polars map the file
            source, data = path, b""  # and free our copy first (25M rows: 0.7 GB less at the peak)
        raw = _read_fast(source, sep, load, layout, name, rep, text_roles, n_separators)
        del source
    if raw is None:
        rep.parser = "per-line"
        raw = _read_per_line(data or load(), layout, name, rep)
    raw.layout, raw.encoding = layout, encoding
    return raw


def _fast_eligible(data: bytes, layout: Layout) -> bool:
    """Whether Polars can parse the file with one row per physical line (no quotes, no stray CR, no NUL)."""
    sep = layout.separator
    if sep == " " or layout.header_line > 1 or b"\x00" in data:
        return False
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):  # a stray carriage return
        return False
    if sep in QUOTING_SEPARATORS and b'"' in data:
        return False
    return not (sep == "::" and b"\t" in data)


def _classify(text: str, layout: Layout) -> tuple[str, list[str] | str]:
    """``("blank", "")``, ``("reject", reason)`` or ``("ok", fields)`` for one line without its ``\\n``."""
    text = text.rstrip("\r")
    if not text.strip():
        return "blank", ""
    try:
        fields = split_fields(text, layout.separator)
    except csv.Error:
        return "reject", "malformed quoting"
    if len(fields) != layout.n_fields:
        return "reject", f"found {len(fields)} fields, expected {layout.n_fields}"
    return "ok", fields


def _read_per_line(data: bytes, layout: Layout, name: str, rep: FileReport) -> RawFile:
    text = data.decode("utf-8")
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    cols: dict[str, list[str]] = {r: [] for r in layout.positions}
    numbers: list[int] = []
    rej: list[tuple[int, str, str]] = []
    for no, line in enumerate(lines, 1):
        if no == layout.header_line:
            continue
        kind, payload = _classify(line, layout)
        if kind == "blank":
            rep.blank_lines += 1
        elif kind == "reject":
            rej.append((no, line.rstrip("\r")[:80], str(payload)))
        else:
            for role, p in layout.positions.items():
                cols[role].append(payload[p])
            numbers.append(no)
    frame = pl.DataFrame(
        {**{r: pl.Series(v, dtype=pl.Utf8) for r, v in cols.items()}, "line": pl.Series(numbers, dtype=pl.Int64)}
    )
    return RawFile(frame, _rejects(name, rej), rep)


def _rejects(name: str, rows: list[tuple[int, str, str]]) -> pl.DataFrame:
    if not rows:
        return empty_rejects()
    lines, values, reasons = zip(*rows, strict=True)
    return pl.DataFrame(
        {
            "file": [name] * len(rows),
            "line": list(lines),
            "column": [""] * len(rows),
            "value": list(values),
            "reason": list(reasons),
            "text": [""] * len(rows),
        },
        schema=QUARANTINE_SCHEMA,
    )


SAMPLE_LINES = 1000
"""Data lines read ahead to decide which role columns the fast path reads as text."""


def _text_roles(data: bytes, layout: Layout) -> set[str]:
    """Roles whose values in the first ``SAMPLE_LINES`` data lines are mostly not of the role's type.

    Such a column (text ids, ISO timestamps) is read as text from the start; a typed read would
    turn all of it into nulls and every line would go to the per-line parser.
    """
    head = data[: 1 << 16].decode("utf-8", errors="replace").split("\n")[layout.header_line : -1][:SAMPLE_LINES]
    rows = [f for f in (line.rstrip("\r").split(layout.separator) for line in head) if len(f) == layout.n_fields]
    out = set()
    for role, p in layout.positions.items():
        values = [f[p].strip() for f in rows if f[p].strip()]
        parse = float if _TYPES[role] == pl.Float64 else int
        good = 0
        for v in values:
            try:
                parse(v)
                good += 1
            except ValueError:
                pass
        if 2 * good < len(values):
            out.add(role)
    return out


def _ragged_lines(data: bytes, sep: bytes, n_separators: int, chunk: int = 1 << 26) -> np.ndarray:
    """1-based numbers of the lines that do not hold exactly ``n_separators`` separators (one-byte ``sep``)."""
    view = np.frombuffer(data, dtype=np.uint8)
    code = sep[0]
    found, line0, start = [], 0, 0
    while start < view.size:
        end = min(start + chunk, view.size)
        if end < view.size:  # whole lines per chunk
            cut = data.rfind(b"\n", start, end)
            end = cut + 1 if cut >= start else end
        piece = view[start:end]
        ends = np.flatnonzero(piece == 10)
        if piece[-1] != 10:
            ends = np.r_[ends, piece.size]
        per_line = np.diff(np.r_[0, np.searchsorted(np.flatnonzero(piece == code), ends)])
        found.append(np.flatnonzero(per_line != n_separators) + line0 + 1)
        line0, start = line0 + ends.size, end
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _read_fast(
    body: Path | bytes, sep: str, load: Callable[[], bytes], layout: Layout, name: str, rep: FileReport,
    text_roles: set[str] = frozenset(), n_separators: int | None = None,  # type: ignore[assignment]
) -> RawFile | None:  # fmt: skip
    """The Polars path over ``body`` (a path or UTF-8 bytes), or None when the file needs the per-line parser.

    ``load`` returns the file's normalised bytes again, for the few odd lines. ``n_separators`` is the
    count of separators in the lines after the header (``::`` counted as one), to tell whether a line may
    hold too many fields.
    """
    n_body = rep.lines_read - rep.header_lines
    names = [f"f{i}" for i in range(layout.n_fields)]
    typed = {f"f{p}": _TYPES[r] for r, p in layout.positions.items() if r not in text_roles}
    try:  # unparseable values become null (odd rows); long lines are cut here and found by counting below
        df = pl.read_csv(
            body,
            has_header=False,
            separator=sep,
            quote_char=None,
            schema={n: typed.get(n, pl.Utf8) for n in names},
            missing_columns="insert",
            empty_string_is_null=False,
            skip_lines=layout.header_line,
            raise_if_empty=False,
            ignore_errors=True,
            truncate_ragged_lines=True,
        )
    except _POLARS_ERRORS:
        return None
    if df.height != n_body:
        return None
    first = layout.header_line + 1
    df = df.with_columns(pl.int_range(first, first + df.height, dtype=pl.Int64).alias("line"))
    odd = pl.any_horizontal(
        [
            pl.col(n).is_null() | (pl.col(n).str.len_bytes() == 0) if df.schema[n] == pl.Utf8 else pl.col(n).is_null()
            for n in names
        ]
    )
    data = b""
    n_odd = df.select(odd.sum()).item()
    if n_separators is None or n_odd or n_separators != (layout.n_fields - 1) * n_body:
        # Some line may hold too many fields (the read above cut it): count each line's separators.
        data = load()
        counted = data.replace(b"::", b"\t") if layout.separator == "::" else data
        sep_byte = b"\t" if layout.separator == "::" else layout.separator.encode()
        ragged = _ragged_lines(counted, sep_byte, layout.n_fields - 1)
        del counted
        odd = odd | pl.col("line").is_in(pl.Series(ragged[ragged > layout.header_line], dtype=pl.Int64))
    odd_rows = df.filter(odd).select("line")
    frame = df.filter(~odd) if odd_rows.height else df
    frame = frame.select(*[pl.col(f"f{p}").alias(r) for r, p in layout.positions.items()], "line")
    del df
    rep.parser = "fast"
    if not odd_rows.height:
        return RawFile(frame, empty_rejects(), rep)
    # Blank, short, long or unparseable lines: the per-line parser classifies them.
    numbers = odd_rows["line"].to_numpy()
    texts = _lines_at(data or load(), numbers)
    extra: dict[str, list[str]] = {r: [] for r in layout.positions}
    extra_lines: list[int] = []
    rej: list[tuple[int, str, str]] = []
    for no, text in zip(numbers.tolist(), texts, strict=True):
        kind, payload = _classify(text, layout)
        if kind == "blank":
            rep.blank_lines += 1
        elif kind == "reject":
            rej.append((no, text.rstrip("\r")[:80], str(payload)))
        else:
            for role, p in layout.positions.items():
                extra[role].append(payload[p])
            extra_lines.append(no)
    more = None
    if extra_lines:
        more = pl.DataFrame(
            {
                **{r: pl.Series(v, dtype=pl.Utf8) for r, v in extra.items()},
                "line": pl.Series(extra_lines, dtype=pl.Int64),
            }
        )
    return RawFile(frame, _rejects(name, rej), rep, extra=more)


def _lines_at(data: bytes, numbers: np.ndarray, chunk: int = 1 << 26) -> list[str]:
    """The text of the given 1-based physical lines (ascending), scanning ``data`` in chunks."""
    starts = np.zeros(len(numbers), dtype=np.int64)
    ends = np.full(len(numbers), len(data), dtype=np.int64)
    seen = 0  # newlines before the current chunk
    view = np.frombuffer(data, dtype=np.uint8)
    for base in range(0, len(data), chunk):
        nl = np.flatnonzero(view[base : base + chunk] == 10) + base
        # line k (1-based) starts after newline k-1 and ends at newline k
        lo, hi = seen, seen + len(nl)
        sel = (numbers - 1 > lo) & (numbers - 1 <= hi)
        starts[sel] = nl[numbers[sel] - 2 - lo] + 1
        sel = (numbers > lo) & (numbers <= hi)
        ends[sel] = nl[numbers[sel] - 1 - lo]
        seen = hi
    return [data[s:e].decode("utf-8") for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]


def read_parquet(path: Path, columns: dict[str, str] | None = None) -> RawFile:
    """Read a Parquet ratings file; rows are numbered from 1 as ``line``.

    Raises
    ------
    DataValidationError
        Unreadable file or columns that cannot be matched to roles.
    """
    name = str(path)
    try:
        df = pl.read_parquet(path)
    except (OSError, *_POLARS_ERRORS) as exc:
        raise DataValidationError(f"{name}: cannot read as Parquet: {str(exc).splitlines()[0]}") from exc
    pos = role_positions(tuple(df.columns), df.width, columns or {}, name)
    rep = FileReport(
        file=name,
        format="parquet",
        parser="parquet",
        lines_read=df.height,
        columns={r: df.columns[p] for r, p in pos.items()},
    )
    frame = df.select(*[pl.col(df.columns[p]).alias(r) for r, p in pos.items()]).with_columns(
        pl.int_range(1, df.height + 1, dtype=pl.Int64).alias("line")
    )
    return RawFile(frame, empty_rejects(), rep)
