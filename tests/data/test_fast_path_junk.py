"""Junk lines go to the per-line parser alone: the valid rows of the same file stay on the fast path."""

from __future__ import annotations

from pathlib import Path

import pytest

from movierec.data.ingest import ingest

GOOD = [f"{u},{m},{1 + (u * m) % 9 / 2},{1_000_000_000 + u * 1000 + m}" for u in range(1, 40) for m in range(1, 30)]


def ingest_with(tmp_path: Path, junk: dict[int, str], header: str = "userId,movieId,rating,timestamp") -> tuple:
    lines = list(GOOD)
    for at, text in junk.items():
        lines[at] = text
    f = tmp_path / "ratings.csv"
    f.write_text(header + "\n" + "\n".join(lines) + "\n")
    res = ingest([f])
    return res, res.report.files[0], {(r["line"], r["reason"]) for r in res.quarantine.iter_rows(named=True)}


def test_junk_values_and_ragged_lines_are_rejected_on_the_fast_path(tmp_path: Path) -> None:
    junk = {10: "3,7,abc,1000000000", 20: "u?,7,4.0,1000000000", 30: "4,7,4.0,1000000000,7,8", 40: "5,7",
            50: "6,7,4.0,1000000000,,9", 60: "7,7,4.0,1000000000,"}  # fmt: skip
    res, f, rejected = ingest_with(tmp_path, junk)
    assert f.parser == "fast" and f.balanced
    assert rejected == {
        (12, "rating is not a number"),
        (22, "user id is not an integer (most ids of the file are)"),
        (32, "found 6 fields, expected 4"),
        (42, "found 2 fields, expected 4"),
        (52, "found 6 fields, expected 4"),  # an empty field before the last one: still too many fields
        (62, "found 5 fields, expected 4"),  # a trailing separator
    }
    assert f.ratings_accepted == len(GOOD) - len(junk) and res.dataset.users.is_integer


def test_an_iso_timestamp_among_epoch_seconds_is_still_read(tmp_path: Path) -> None:
    res, f, rejected = ingest_with(tmp_path, {5: "1,6,4.0,2001-09-09T01:46:40Z"})
    assert f.parser == "fast" and not rejected and f.timestamp_units == {"seconds": len(GOOD) - 1, "iso-8601": 1}
    ts = res.dataset.ratings.filter((res.dataset.ratings["user_id"] == 1) & (res.dataset.ratings["movie_id"] == 6))
    assert ts["timestamp"].item() == 1_000_000_000


@pytest.mark.parametrize("ids", ["text", "integer"])
def test_text_id_files_stay_text_and_integer_files_integer(tmp_path: Path, ids: str) -> None:
    prefix = "u" if ids == "text" else ""
    lines = [f"{prefix}{u},{m},4.0,{1_000_000_000 + m}" for u in range(1, 30) for m in range(1, 9)]
    f = tmp_path / "r.csv"
    f.write_text("userId,movieId,rating,timestamp\n" + "\n".join(lines) + "\n")
    res = ingest([f])
    assert res.report.files[0].parser == "fast" and res.dataset.n_ratings == len(lines)
    assert res.dataset.users.is_integer == (ids == "integer")


def test_a_line_with_one_field_too_many_is_rejected_when_it_is_the_only_defect(tmp_path: Path) -> None:
    # Polars cuts the long line to 4 fields without a null: only the separator count finds it.
    res, f, rejected = ingest_with(tmp_path, {30: "4,7,4.0,1000000000,7"})
    assert f.parser == "fast" and rejected == {(32, "found 5 fields, expected 4")}
    assert f.ratings_accepted == len(GOOD) - 1


def test_a_clean_file_with_a_header_is_not_scanned_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The header's separators are not the records': a clean file's totals match without the per-line count.
    from movierec.data import readers

    def scan(*args: object) -> None:
        raise AssertionError("counted separators line by line")

    monkeypatch.setattr(readers, "_ragged_lines", scan)
    res, f, rejected = ingest_with(tmp_path, {})
    assert f.parser == "fast" and not rejected and f.ratings_accepted == len(GOOD)
