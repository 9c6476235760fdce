"""Ingest: generic CSV/TSV/Parquet with a column mapping, encodings, line endings, the report and the folder."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from movierec.data import load_movielens
from movierec.data.ingest import ingest, parse_columns, parse_scale, write_ingest
from movierec.errors import DataValidationError

from .test_ingest import rows, write


def test_generic_csv_with_column_mapping_by_name_and_position(tmp_path: Path) -> None:
    p = write(
        tmp_path / "export.csv", "when,stars,who,what,comment\n2001-09-09,4.5,u1,m1,great\n2001-09-10,3,u2,m1,ok\n"
    )
    res = ingest([p], columns=parse_columns("user=who,item=what,rating=stars,timestamp=when"))
    assert rows(res) == [("u1", "m1", 4.5, 999993600), ("u2", "m1", 3.0, 1000080000)]
    assert res.report.files[0].columns == {"user": "who", "item": "what", "rating": "stars", "timestamp": "when"}
    headerless = write(tmp_path / "x.tsv", "4.5\tu1\tm1\n3\tu2\tm1\n")
    res = ingest([headerless], format="tsv", columns=parse_columns("user=2,item=3,rating=1"))
    assert rows(res) == [("u1", "m1", 4.5, 0), ("u2", "m1", 3.0, 0)]


def test_unknown_header_needs_a_mapping(tmp_path: Path) -> None:
    p = write(tmp_path / "x.csv", "a,b,c,d,e\n1,2,3,4,5\n")
    with pytest.raises(DataValidationError, match="--columns user=COL"):
        ingest([p])
    with pytest.raises(DataValidationError, match="no such column"):
        ingest([p], columns={"user": "zz", "item": "b", "rating": "c"})


def test_parquet_input_with_typed_columns(tmp_path: Path) -> None:
    p = tmp_path / "r.parquet"
    pl.DataFrame(
        {
            "user_id": [1, 2, 2],
            "movie_id": [10, 10, 11],
            "rating": [4.0, 9.0, 2.5],
            "timestamp": pl.Series(["2001-09-09 01:46:40"] * 3).str.to_datetime(),
        }
    ).write_parquet(p)
    res = ingest([p])
    f = res.report.files[0]
    assert rows(res) == [(1, 10, 4.0, 1000000000), (2, 11, 2.5, 1000000000)]
    assert (f.format, f.lines_read, f.ratings_accepted, f.timestamp_unit) == ("parquet", 3, 2, "iso-8601")
    assert res.quarantine.select("line", "value", "reason").rows() == [(2, "9.0", "rating outside [0.5, 5.0]")]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_byte_order_marks_are_detected(tmp_path: Path, encoding: str) -> None:
    p = write(tmp_path / "r.csv", "userId,movieId,rating\nZoé,10,4\n".encode(encoding))
    res = ingest([p])
    assert rows(res) == [("Zoé", 10, 4.0, 0)] and res.report.files[0].encoding == encoding


def test_old_mac_line_endings(tmp_path: Path) -> None:
    res = ingest([write(tmp_path / "r.csv", b"userId,movieId,rating\r1,10,4\r2,10,3\r")])
    assert res.dataset.n_ratings == 2 and res.report.files[0].newline == "CR"


def test_fast_path_hands_short_and_long_lines_to_the_line_parser(tmp_path: Path) -> None:
    p = write(
        tmp_path / "r.csv",
        "userId,movieId,rating,timestamp\n1,10,4,1000000000\n2,10\n\n3,10,4,1000000000,extra\n4,,3,1000000000\n",
    )
    res = ingest([p])
    assert rows(res) == [(1, 10, 4.0, 1000000000)]
    assert res.quarantine.select("line", "reason").rows() == [
        (3, "found 2 fields, expected 4"),
        (5, "found 5 fields, expected 4"),
        (6, "missing movie id"),
    ]
    f = res.report.files[0]
    assert (f.lines_read, f.blank_lines, f.rejected_total, f.ratings_accepted) == (6, 1, 3, 1) and f.balanced


def test_parse_scale_and_columns_errors() -> None:
    assert parse_scale("1:10:1").high == 10.0 and parse_scale("0:1").step == 0.0
    for bad in ("5:1:1", "a:b", "1"):
        with pytest.raises(DataValidationError, match="MIN:MAX:STEP"):
            parse_scale(bad)
    with pytest.raises(DataValidationError, match="ROLE=COL"):
        parse_columns("user")
    assert parse_columns("movie=film, user=who") == {"item": "film", "user": "who"}


def test_movielens_layouts_share_the_core_and_report_the_release_scale(tmp_path: Path) -> None:
    d = tmp_path / "ml-100k"
    write(d / "u.data", "1\t101\t4\t881250949\n2\t101\t5\t881250950\n")
    res = ingest([d / "u.data"])
    assert res.report.scale["source"] == "movielens release" and res.report.scale["step"] == 1.0
    assert res.report.files[0].format == "movielens"
    write(d / "u.data", "1\t101\t4.5\t881250949\n")
    with pytest.raises(DataValidationError, match=r"line 1, column 'rating': rating off the 1-star grid"):
        load_movielens(d)  # the official loader is strict, through the same core


def test_dataset_folder_holds_report_and_quarantine_and_reloads(tmp_path: Path) -> None:
    p = write(
        tmp_path / "r.csv", "userId,movieId,rating,timestamp\n1,10,4,1000000000\n1,11,7,1000000000\n2,10,3,1000000001\n"
    )
    out = write_ingest(ingest([p]), tmp_path / "ds")
    report = json.loads((out / "ingest_report.json").read_text())
    assert report["balanced"] and report["totals"] == {
        "lines_read": 4,
        "header_lines": 1,
        "blank_lines": 0,
        "ratings_accepted": 2,
        "rejected_total": 1,
    }
    q = pl.read_csv(out / "quarantine.csv")
    assert q.columns == ["file", "line", "column", "value", "reason", "text"]
    assert q.row(0) == (str(p), 3, "rating", 7, "rating outside [0.5, 5.0]", "1,11,7,1000000000")
    ds = load_movielens(out)  # wherever a dataset name is accepted
    assert ds.n_ratings == 2 and sorted(ds.ratings["movie_id"].to_list()) == [10, 10]


def test_parquet_catalogue_and_u_item_detected_by_content(tmp_path: Path) -> None:
    ratings = write(tmp_path / "r.csv", "userId,movieId,rating\n1,7,4\n2,8,3\n")
    cat = tmp_path / "films.parquet"
    pl.DataFrame({"movie_id": [7, 8], "title": ["Seven (1995)", "Eight"]}).write_parquet(cat)
    res = ingest([ratings], movies=cat)
    assert res.dataset.movies.sort("movie_id").select("title", "year").rows() == [
        ("Seven (1995)", 1995),
        ("Eight", None),
    ]
    item = write(tmp_path / "films.txt", b"7|Seven, The (1995)|01-Jan-1995||u|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n")
    res = ingest([ratings], movies=item)
    assert res.report.catalogue is not None and res.report.catalogue["format"] == "u.item"
    assert res.report.catalogue["films_without_ratings"] == 0
    bad = tmp_path / "bad.parquet"
    pl.DataFrame({"id": [7]}).write_parquet(bad)
    with pytest.raises(DataValidationError, match="needs movie_id and title"):
        ingest([ratings], movies=bad)


def test_real_movielens_files_ingest_balanced_and_equal_to_the_loader(data_home: Path) -> None:
    for folder, name in (("ml-100k", "u.data"), ("ml-latest-small", "ratings.csv")):
        res = ingest([data_home / folder / name])
        f = res.report.files[0]
        assert f.balanced and f.rejected_total == 0 and f.parser == "fast"
        assert res.dataset.fingerprint() == load_movielens(folder).fingerprint()
        assert res.report.catalogue is not None and res.report.catalogue["films_without_ratings"] >= 0
    assert f.header_lines == 1 and f.ratings_accepted == 100836 and res.report.films["with_ratings"] == 9724
