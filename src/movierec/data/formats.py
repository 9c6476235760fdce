"""Text-file detection for ratings exports: encoding, line endings, separator, header, columns.

Everything here works on the first bytes of a file (a *sample*) and is cheap;
parsing the whole file is ``movierec.data.ingest``'s job. Each guess can be
overridden, and each one is written to the ingest report.

Rules (documented in ``movierec ingest --help`` too):

* **Encoding**: a UTF-8 or UTF-16 byte-order mark wins; otherwise UTF-8 when
  the bytes are valid UTF-8, else line by line: each line that is not valid
  UTF-8 is read as Latin-1 (which maps every byte, so nothing is lost)
  and the others stay UTF-8, so one Latin-1 byte no longer turns every UTF-8
  name of the file into mojibake ("Zoé" as "ZoÃ©"). The report says
  ``latin-1`` when every non-ASCII line was Latin-1, else
  ``utf-8+latin-1 (N line(s) from line L)``. ``encoding="utf-8"`` makes
  undecodable bytes an error that names the line and byte offset.
* **Line endings**: LF, CRLF, or old-Mac CR (converted to LF). A line is what
  lies between two ``\\n``; a rating record never spans lines.
* **Separator**: ``::``, tab, comma, semicolon, pipe, or ``whitespace`` (any run
  of spaces and tabs is one separator). Auto-detection picks the one
  that gives the most sample lines the same field count of at least 3; a forced
  separator that gives fewer than 3 fields is an error at once, never 0 rows.
* **Quoting**: RFC 4180 double quotes (doubled inside) for comma, semicolon,
  pipe and tab; ``::`` and whitespace files have no quoting.
* **Header**: the first non-blank line is a header when none of its fields is a
  number; ``header=True/False`` overrides.
* **Columns**: header names are matched case-insensitively against the usual
  spellings (``userId``, ``user_id``, ``user``, ...); without a header the
  order is user, movie, rating[, timestamp]. ``columns`` maps a role to a header
  name or a 1-based position.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections import Counter
from dataclasses import dataclass

from movierec.errors import DataValidationError, Problem

ROLES = ("user", "item", "rating", "timestamp")
REQUIRED_ROLES = ("user", "item", "rating")

SYNONYMS: dict[str, tuple[str, ...]] = {
    "user": ("userid", "user_id", "user", "uid", "customerid", "customer_id", "reviewerid", "reviewer_id"),
    "item": ("movieid", "movie_id", "movie", "itemid", "item_id", "item", "iid", "filmid", "film_id", "film"),
    "rating": ("rating", "ratings", "score", "stars", "value"),
    "timestamp": ("timestamp", "time", "ts", "date", "datetime", "rated_at", "unixtime", "unix_timestamp"),
}

SEPARATORS: dict[str, str] = {"::": "::", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "whitespace": " "}
"""Separator names (as written in the report) and their characters; whitespace is a mode, not a character."""

QUOTING_SEPARATORS = frozenset({",", ";", "|", "\t"})
SAMPLE_BYTES = 1 << 16
SAMPLE_LINES = 200

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def separator_name(sep: str) -> str:
    """The report's name of a separator: ``"tab"``, ``"comma"``, ``"::"``, ``"whitespace"``, ..."""
    return {v: k for k, v in SEPARATORS.items()}.get(sep, sep)


def is_number(text: str) -> bool:
    """True for a decimal or scientific number (``"4"``, ``"3.5"``, ``"-1"``, ``"1e9"``)."""
    return bool(_NUMBER.match(text.strip()))


# ------------------------------------------------------------------ encoding and newlines
def normalise_bytes(data: bytes, path: str, encoding: str = "auto") -> tuple[bytes, str, str]:
    """Bytes as UTF-8 with ``\\n`` line ends where the source used CR alone.

    Parameters
    ----------
    data : bytes
        The whole file.
    path : str
        For messages.
    encoding : {"auto", "utf-8", "latin-1", "utf-16"}
        ``"auto"`` follows the module rules.

    Returns
    -------
    (data, encoding, newline) : (bytes, str, str)
        UTF-8 bytes without a byte-order mark; the encoding found (``"utf-8"``,
        ``"utf-8-sig"``, ``"utf-16"``, ``"latin-1"``); ``"LF"``, ``"CRLF"``,
        ``"CR"`` or ``"none"`` (no line break at all).

    Raises
    ------
    DataValidationError
        When the encoding is forced and the bytes are not valid in it; the
        problem gives the line and the byte offset.
    """
    enc = encoding.lower().replace("_", "-")
    if enc in ("latin1", "iso-8859-1"):
        enc = "latin-1"
    if enc not in ("auto", "utf-8", "latin-1", "utf-16"):
        raise DataValidationError(f"{path}: unknown encoding {encoding!r}; use auto, utf-8, latin-1 or utf-16")
    found: str
    if enc in ("auto", "utf-16") and data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = _strict_decode(data, "utf-16", path)
        data, found = text.encode("utf-8"), "utf-16"
    elif enc == "utf-16":
        data, found = _strict_decode(data, "utf-16", path).encode("utf-8"), "utf-16"
    elif enc == "latin-1":
        data, found = data.decode("latin-1").encode("utf-8"), "latin-1"
    else:
        bom = data.startswith(b"\xef\xbb\xbf")
        if bom:
            data = data[3:]
        found = "utf-8-sig" if bom else "utf-8"
        if not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                if enc == "utf-8":
                    line = data.count(b"\n", 0, exc.start) + 1
                    raise DataValidationError(
                        f"{path}: not valid UTF-8; try --encoding latin-1 or --encoding auto",
                        [
                            Problem(
                                path,
                                line,
                                "",
                                repr(data[exc.start : exc.start + 4]),
                                f"undecodable byte at byte offset {exc.start + 3 * bom}",
                            )
                        ],
                    ) from None
                text, found = decode_per_line(data)
                data = text.encode("utf-8")
    if b"\n" not in data:
        return (data.replace(b"\r", b"\n"), found, "CR") if b"\r" in data else (data, found, "none")
    if b"\r" not in data:  # memchr: cheap; the counts below only run for files with carriage returns
        return data, found, "LF"
    crlf = data.count(b"\r\n")
    return data, found, "CRLF" if crlf == data.count(b"\r") and crlf == data.count(b"\n") else "LF"


def decode_per_line(data: bytes) -> tuple[str, str]:
    """Decode bytes line by line: UTF-8 where a line is valid UTF-8, Latin-1 for the lines that are not.

    Lines end at ``\n`` or ``\r`` (both ASCII in either encoding, so line numbers are kept).
    Runs the C decoder over the valid stretches, so a file with few Latin-1 lines costs about
    two UTF-8 passes.

    Returns
    -------
    (text, encoding) : (str, str)
        ``encoding`` is ``"utf-8"`` (all valid), ``"latin-1"`` (every line with a non-ASCII byte
        was Latin-1) or ``"utf-8+latin-1 (N line(s) from line L)"`` (both kinds of line).
    """
    view, parts, pos, n_latin, first, utf8_non_ascii = memoryview(data), [], 0, 0, 0, False
    while pos < len(data):
        try:
            parts.append(codecs.utf_8_decode(view[pos:], "strict", True)[0])
            utf8_non_ascii = utf8_non_ascii or not data[pos:].isascii()
            break
        except UnicodeDecodeError as exc:
            bad = pos + exc.start
            start = max(data.rfind(b"\n", pos, bad), data.rfind(b"\r", pos, bad)) + 1
            ends = [e for e in (data.find(b"\n", bad), data.find(b"\r", bad)) if e >= 0]
            end = min(ends) if ends else len(data)
            good = codecs.utf_8_decode(view[pos:start], "strict", True)[0]
            utf8_non_ascii = utf8_non_ascii or not good.isascii()
            parts += [good, data[start:end].decode("latin-1")]
            first = first or data.count(b"\n", 0, start) + 1
            n_latin, pos = n_latin + 1, end
    text = "".join(parts)
    if not n_latin:
        return text, "utf-8"
    return text, (f"utf-8+latin-1 ({n_latin} line(s) from line {first})" if utf8_non_ascii else "latin-1")


def _strict_decode(data: bytes, codec: str, path: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise DataValidationError(
            f"{path}: not valid {codec.upper()}; try --encoding auto",
            [
                Problem(
                    path, 0, "", repr(data[exc.start : exc.start + 4]), f"undecodable byte at byte offset {exc.start}"
                )
            ],
        ) from None


def sample_lines(data: bytes, n: int = SAMPLE_LINES) -> list[tuple[int, str]]:
    """The first non-blank lines of UTF-8 ``data`` as ``(line_number, text)``, at most ``n``."""
    head = data[:SAMPLE_BYTES].decode("utf-8", errors="replace")
    lines = head.split("\n")
    if len(data) > SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut short
    out = []
    for i, line in enumerate(lines, 1):
        if line.strip():
            out.append((i, line.rstrip("\r")))
            if len(out) >= n:
                break
    return out


# ------------------------------------------------------------------ fields
def split_fields(line: str, sep: str) -> list[str]:
    """Split one line (no line break) into fields, unquoting RFC-4180 fields for quoting separators.

    Raises
    ------
    csv.Error
        For malformed quoting (an unbalanced quote, text after a closing quote).
    """
    if sep == " ":
        return line.split()
    if sep in QUOTING_SEPARATORS and '"' in line:
        rows = list(csv.reader([line], delimiter=sep, quotechar='"', doublequote=True, strict=True))
        if len(rows) != 1:
            raise csv.Error("unbalanced quote")
        return rows[0]
    return line.split(sep)


def _field_count(line: str, sep: str) -> int:
    try:
        return len(split_fields(line, sep))
    except csv.Error:
        return -1


@dataclass(frozen=True)
class Layout:
    """How a delimited ratings file is laid out.

    Attributes
    ----------
    separator : str
        ``","``, ``"\\t"``, ``"::"``, ``";"``, ``"|"`` or ``" "`` (whitespace mode).
    n_fields : int
        Fields per record (header's count, or the most common count in the sample).
    header_line : int
        1-based line number of the header, 0 when there is none.
    header : tuple of str
        The header's fields (empty when none).
    positions : dict of str to int
        0-based field position of each role found (``timestamp`` may be absent).
    """

    separator: str
    n_fields: int
    header_line: int
    header: tuple[str, ...]
    positions: dict[str, int]


def sniff_separator(lines: list[tuple[int, str]], path: str, forced: str | None = None) -> tuple[str, int]:
    """Pick the separator and the field count from sample lines.

    Returns
    -------
    (separator, n_fields) : (str, int)

    Raises
    ------
    DataValidationError
        When the forced separator (or every candidate) gives fewer than 3 fields
        on the sample: "found 1 column on line N, expected 3 or 4 ... check the
        separator".
    """
    candidates = [forced] if forced else ["::", "\t", ",", ";", "|", " "]
    best: tuple[float, int, str] | None = None
    for rank, sep in enumerate(candidates):
        counts = Counter(_field_count(t, sep) for _, t in lines)
        n, freq = max(((c, k) for c, k in counts.items() if c >= 3), key=lambda x: (x[1], x[0]), default=(0, 0))
        if n and (best is None or (freq / len(lines), -rank) > (best[0], -candidates.index(best[2]))):
            best = (freq / len(lines), n, sep)
    if best is None:
        lineno, text = lines[0]
        found = _field_count(text, forced or ",")
        hint = ""
        if forced:
            try:
                other, _ = sniff_separator(lines, path)
                hint = f"; the file looks {separator_name(other)}-separated: try --format auto"
            except DataValidationError:
                pass
        raise DataValidationError(
            f"{path}: found {max(found, 1)} column(s) on line {lineno}, expected 3 or 4 "
            f"(user, movie, rating[, timestamp]); check the separator"
            f"{' ' + repr(separator_name(forced)) if forced else ''}{hint}",
            [Problem(path, lineno, "", text[:80], "too few fields for a rating; wrong separator?")],
        )
    return best[2], best[1]


def detect_layout(
    data: bytes,
    path: str,
    separator: str | None = None,
    header: bool | None = None,
    columns: dict[str, str] | None = None,
) -> Layout | None:
    """Separator, header and column positions of a delimited ratings file.

    Parameters
    ----------
    data : bytes
        The file as UTF-8 (see ``normalise_bytes``).
    path : str
        For messages.
    separator : str, optional
        Force a separator (see ``Layout``); detected when None.
    header : bool, optional
        Force the presence of a header line; detected when None.
    columns : dict of role to column, optional
        Role (``user``, ``item``, ``rating``, ``timestamp``) to a header name
        or a 1-based position.

    Returns
    -------
    Layout or None
        None when the file has no non-blank line.

    Raises
    ------
    DataValidationError
        Wrong separator (see ``sniff_separator``), a header whose columns cannot
        be matched to roles, or a ``columns`` entry naming a missing column.
    """
    lines = sample_lines(data)
    if not lines:
        return None
    first_no, first = lines[0]
    sample = lines[1:] if header and len(lines) > 1 else lines  # a known header says nothing about the data
    sep, n_fields = sniff_separator(sample, path, separator)
    try:
        first_fields = [f.strip() for f in split_fields(first, sep)]
    except csv.Error:
        first_fields = [first]
    if header is None:
        header = (
            bool(first_fields)
            and not any(is_number(f) for f in first_fields)
            and any(re.search(r"[A-Za-z]", f) for f in first_fields)
        )
    names = tuple(first_fields) if header else ()
    if header:
        n_fields = len(names)
    positions = role_positions(names, n_fields, columns or {}, path)
    return Layout(sep, n_fields, first_no if header else 0, names, positions)


def role_positions(names: tuple[str, ...], n_fields: int, columns: dict[str, str], path: str) -> dict[str, int]:
    """0-based position of each role, from ``columns``, the header's names or the default order."""
    unknown = set(columns) - set(ROLES)
    if unknown:
        raise DataValidationError(f"--columns: unknown role(s) {sorted(unknown)}; roles are {', '.join(ROLES)}")
    lowered = [n.strip().lower() for n in names]
    pos: dict[str, int] = {}
    for role in ROLES:
        spec = columns.get(role)
        if spec is not None:
            spec = spec.strip()
            if spec.isdigit() and spec not in names:
                p = int(spec) - 1
                if not 0 <= p < n_fields:
                    raise DataValidationError(f"{path}: --columns {role}={spec}: the file has {n_fields} columns")
            elif spec.lower() in lowered:
                p = lowered.index(spec.lower())
            else:
                raise DataValidationError(
                    f"{path}: --columns {role}={spec}: no such column; the header is {list(names) or '(none)'}; "
                    "give a header name or a 1-based position"
                )
            pos[role] = p
        elif names:
            hit = next((i for i, n in enumerate(lowered) if n in SYNONYMS[role]), None)
            if hit is not None:
                pos[role] = hit
        elif ROLES.index(role) < n_fields:
            pos[role] = ROLES.index(role)
    if names and not pos and len(names) in (3, 4):  # no header name recognised: the usual order
        pos = {role: k for k, role in enumerate(ROLES[: len(names)])}
    missing = [r for r in REQUIRED_ROLES if r not in pos]
    if missing:
        raise DataValidationError(
            f"{path}: cannot tell which column holds the {', '.join(missing)}; header {list(names)}; "
            "name them with --columns user=COL,item=COL,rating=COL[,timestamp=COL]"
        )
    if len(set(pos.values())) != len(pos):
        raise DataValidationError(f"{path}: two roles map to the same column: {pos}; check --columns")
    return pos
