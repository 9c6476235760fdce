"""A file mixing UTF-8 and Latin-1 lines is decoded line by line: one Latin-1 byte never garbles the UTF-8 names."""

from __future__ import annotations

from pathlib import Path

from movierec.data import load_movielens
from movierec.data.formats import decode_per_line
from movierec.data.ingest import ingest

ZOE_UTF8 = "Zoé (2001)".encode()
CAFE_LATIN1 = "Café Noir (1994)".encode("latin-1")


def test_each_line_keeps_its_own_encoding_and_line_numbers() -> None:
    data = b"1," + ZOE_UTF8 + b"\n2," + CAFE_LATIN1 + b"\r\n3," + ZOE_UTF8 + b"\n"
    text, found = decode_per_line(data)
    assert text == "1,Zoé (2001)\n2,Café Noir (1994)\r\n3,Zoé (2001)\n"
    assert found == "utf-8+latin-1 (1 line(s) from line 2)"
    assert text.count("\n") == data.count(b"\n")


def test_all_latin1_file_is_reported_as_latin1_and_valid_utf8_as_utf8() -> None:
    assert decode_per_line(b"1," + CAFE_LATIN1 + b"\n2,plain\n") == ("1,Café Noir (1994)\n2,plain\n", "latin-1")
    assert decode_per_line(b"1," + ZOE_UTF8) == ("1,Zoé (2001)", "utf-8")


def mixed_folder(tmp_path: Path) -> Path:
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,10,4.0,1\n2,20,3.0,2\n2,10,3.0,3\n")
    (tmp_path / "movies.csv").write_bytes(
        b"movieId,title,genres\n10," + ZOE_UTF8 + b",Drama\n20," + CAFE_LATIN1 + b",Drama\n"
    )
    return tmp_path


def test_catalogue_with_one_latin1_line_keeps_the_utf8_titles(tmp_path: Path) -> None:
    ds = load_movielens(mixed_folder(tmp_path))
    assert sorted(ds.movies["title"].to_list()) == ["Café Noir (1994)", "Zoé (2001)"]


def test_ratings_file_with_one_latin1_line_keeps_the_utf8_text_ids(tmp_path: Path) -> None:
    f = tmp_path / "ratings.csv"
    latin1_line = "andré,1,3.0\n".encode("latin-1")
    f.write_bytes(b"userId,movieId,rating\n" + "zoé,1,4.0\n".encode() + latin1_line + b"bo,2,5.0\n")
    res = ingest([f])
    assert sorted(res.dataset.users.ids.to_list()) == ["andré", "bo", "zoé"]
    assert res.report.files[0].encoding == "utf-8+latin-1 (1 line(s) from line 3)"


def test_ingest_report_names_the_mixed_catalogue(tmp_path: Path) -> None:
    res = ingest([mixed_folder(tmp_path) / "ratings.csv"])
    assert res.report.to_dict()["catalogue"]["encoding"] == "utf-8+latin-1 (1 line(s) from line 3)"
    assert sorted(res.dataset.movies["title"].to_list()) == ["Café Noir (1994)", "Zoé (2001)"]
