"""Fuzz: mutated ratings files either load with a balanced report or raise DataValidationError.

Never another exception, and never a line unaccounted for: the report's lines
read equal the file's physical lines, and accepted + rejected + blank + header
equals lines read in every file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from movierec.data.ingest import ingest
from movierec.errors import DataValidationError

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
FUZZ_SLOW = settings(
    max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)

SEPARATORS = [",", "\t", "::", ";", "|", " ", "  \t"]
JUNK = [
    '"',
    "'",
    ",",
    "\t",
    "::",
    "\r",
    "\n",
    "\n\n",
    " ",
    "\x00",
    "é",
    "\ufeff",
    "-",
    ".",
    "e",
    "NaN",
    "1e400",
    "99999999999999999999",
]


@st.composite
def valid_file(draw: st.DrawFn) -> tuple[str, bool]:
    """A valid ratings text file: (text, has_header)."""
    n = draw(st.integers(1, 12))
    sep = draw(st.sampled_from(SEPARATORS))
    with_ts = draw(st.booleans())
    header = draw(st.booleans()) and sep.strip() != ""
    ts_kind = draw(st.sampled_from(["s", "ms", "iso"]))
    text_ids = draw(st.booleans())  # a file's user ids are all integers or all text (a lone text id is a bad row)
    lines = []
    if header:
        lines.append(sep.join(["userId", "movieId", "rating"] + (["timestamp"] if with_ts else [])))
    for _ in range(n):
        u = draw(st.sampled_from(["alice", "bob", "Zoé"]) if text_ids else st.integers(1, 50))
        i = draw(st.integers(1, 200_000))
        r = draw(st.sampled_from(["0.5", "1", "2.5", "3.0", "4.5", "5"]))
        fields = [str(u), str(i), r]
        if with_ts:
            t = draw(st.integers(900_000_000, 1_600_000_000))
            fields.append({"s": str(t), "ms": str(t * 1000), "iso": f"20{t % 20:02d}-0{1 + t % 9}-1{t % 9}"}[ts_kind])
        lines.append(sep.join(fields))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"])), header


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    text, _ = draw(valid_file())
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "dup_line", "blank", "swap_sep"]))
        pos = draw(st.integers(0, len(text)))
        if op == "insert":
            text = text[:pos] + draw(st.sampled_from(JUNK)) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 6)) :]
        elif op == "replace":
            text = text[:pos] + draw(st.sampled_from(JUNK)) + text[pos + 1 :]
        elif op == "dup_line":
            lines = text.split("\n")
            k = draw(st.integers(0, len(lines) - 1))
            text = "\n".join(lines[: k + 1] + [lines[k]] + lines[k + 1 :])
        elif op == "blank":
            text = text[:pos] + draw(st.sampled_from(["\n\n", "\n  \n", "\r\n"])) + text[pos:]
        else:
            text = text.replace(draw(st.sampled_from(SEPARATORS)), draw(st.sampled_from(SEPARATORS)), 1)
    enc = draw(st.sampled_from(["utf-8", "utf-8", "latin-1", "utf-8-sig", "utf-16", "crlf", "cr"]))
    if enc == "crlf":
        data = text.replace("\n", "\r\n").encode()
    elif enc == "cr":
        data = text.replace("\n", "\r").encode()
    else:
        data = text.encode(enc, errors="replace")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]  # truncation, possibly mid-character
    if draw(st.integers(0, 5)) == 0:
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + bytes(draw(st.lists(st.integers(0, 255), max_size=4))) + data[pos:]
    return data


def physical_lines(data: bytes) -> int | None:
    """Lines as the report must count them (None for UTF-16, counted after decoding)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\n" not in data and b"\r" in data:
        data = data.replace(b"\r", b"\n")
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def check(data: bytes, on_error: str, name: str = "ratings.txt") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / name
        p.write_bytes(data)
        try:
            res = ingest([p], on_error=on_error)  # type: ignore[arg-type]
        except DataValidationError:
            return
        f = res.report.files[0]
        assert f.balanced, f.to_dict()
        expected = physical_lines(data)
        if expected is not None:
            assert f.lines_read == expected
        assert f.ratings_accepted == res.dataset.n_ratings > 0
        assert f.rejected_total == res.quarantine.height
        assert res.quarantine["line"].is_between(1, f.lines_read).all()
        assert res.quarantine["line"].n_unique() == res.quarantine.height, "a line rejected twice"
        if on_error == "strict":
            assert set(f.rejected) <= {"duplicate (user, movie): superseded by the latest rating"}
        r = res.dataset.ratings["rating"]
        assert r.is_finite().all() and r.min() >= 0.5 and r.max() <= 5.0


@pytest.mark.slow
@FUZZ
@given(
    mutated(),
    st.sampled_from(["quarantine", "strict"]),
    st.sampled_from(["ratings.txt", "ratings.csv", "u.data", "r.dat"]),
)
def test_fuzz_mutated_files_load_balanced_or_raise(data: bytes, on_error: str, name: str) -> None:
    check(data, on_error, name)


@pytest.mark.slow
@FUZZ
@given(valid_file())
def test_fuzz_valid_files_lose_nothing(case: tuple[str, bool]) -> None:
    text, header = case
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "ratings.txt"
        p.write_text(text, encoding="utf-8")
        res = ingest([p])
        f = res.report.files[0]
        n_data = len([x for x in text.split("\n") if x.strip()]) - header
        assert f.header_lines == header and f.blank_lines + f.header_lines + n_data == f.lines_read
        assert set(f.rejected) <= {"duplicate (user, movie): superseded by the latest rating"}, res.quarantine.rows()
        assert f.balanced


@pytest.fixture
def slow_selected(request: pytest.FixtureRequest) -> None:
    if "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("3000-example fuzz run: select it with `pytest -m slow` (the default run has 600 examples)")


@pytest.mark.slow
@pytest.mark.usefixtures("slow_selected")
@FUZZ_SLOW
@given(
    mutated(),
    st.sampled_from(["quarantine", "strict"]),
    st.sampled_from(["ratings.txt", "ratings.csv", "u.data", "r.dat"]),
)
def test_fuzz_mutated_files_many_examples(data: bytes, on_error: str, name: str) -> None:
    check(data, on_error, name)
