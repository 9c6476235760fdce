"""Loaders of the official layouts, on small generated fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from movierec.data import load_movielens
from movierec.errors import DataValidationError

GENRES19 = "|0|0|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0"


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_latest_layout_crlf_quoted_commas_and_header(tmp_path: Path) -> None:
    d = tmp_path / "ml-latest-small"
    write(d / "ratings.csv", b"userId,movieId,rating,timestamp\r\n1,101,4.0,1000000000\r\n1,102,3.5,1000000001\r\n2,101,0.5,1000000002\r\n")
    write(
        d / "movies.csv",
        b'movieId,title,genres\r\n101,"Harbour Lights, The (1995)",Drama\r\n'
        b'102,"Quote ""Unquote"" (2010)",Comedy|Drama\r\n103,Caf\xc3\xa9 Noir (1994),(no genres listed)\r\n',
    )
    ds = load_movielens(d)
    assert ds.n_ratings == 3 and ds.n_users == 2 and ds.n_items == 2
    assert ds.ratings["rating"].to_list() == [4.0, 3.5, 0.5]
    movies = {r["movie_id"]: r for r in ds.movies.iter_rows(named=True)}
    assert movies[101]["title"] == "Harbour Lights, The (1995)" and movies[101]["year"] == 1995
    assert movies[102]["title"] == 'Quote "Unquote" (2010)' and movies[102]["genres"] == ["Comedy", "Drama"]
    assert movies[103]["title"] == "Café Noir (1994)" and movies[103]["genres"] == []


def test_ml100k_layout_tab_no_header_latin1_items(tmp_path: Path) -> None:
    d = tmp_path / "ml-100k"
    write(d / "u.data", b"1\t101\t4\t881250949\n2\t101\t5\t881250950\n2\t7\t1\t881250951\n")
    write(d / "u.item", b"101|Caf\xe9 Noir (1994)|01-Jan-1994||http://x" + GENRES19.encode() + b"\n7|Seven (1995)|01-Jan-1995||u|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n")
    ds = load_movielens(d)
    assert ds.n_ratings == 3, "the first line of a headerless file is a rating"
    movies = {r["movie_id"]: r for r in ds.movies.iter_rows(named=True)}
    assert movies[101]["title"] == "Café Noir (1994)"  # latin-1 decoded, no mojibake
    assert movies[101]["genres"] == ["Animation", "Children"]
    assert movies[7]["genres"] == ["Action"]
    assert ds.scale.low == 1.0 and ds.scale.step == 1.0


def test_ml100k_fold_file_reads_catalogue_beside_it(tmp_path: Path) -> None:
    d = tmp_path / "ml-100k"
    write(d / "u1.base", b"1\t7\t4\t881250949\n2\t7\t3\t881250950\n")
    write(d / "u.item", b"7|Seven (1995)|01-Jan-1995||u" + GENRES19.encode() + b"\n")
    ds = load_movielens(d / "u1.base")
    assert ds.n_ratings == 2 and ds.movies["title"].to_list() == ["Seven (1995)"]


def test_dat_layout_double_colon_latin1(tmp_path: Path) -> None:
    d = tmp_path / "ml-1m"
    write(d / "ratings.dat", b"1::102::5::978300760\n2::102::3::978300761\n")
    write(d / "movies.dat", b"102::Caf\xe9 Noir II (1996)::Drama|Children's\n")
    ds = load_movielens(d)
    assert ds.n_ratings == 2
    row = ds.movies.row(0, named=True)
    assert row["title"] == "Café Noir II (1996)" and row["genres"] == ["Drama", "Children"]


def test_gappy_ids_are_not_positions(tmp_path: Path) -> None:
    d = tmp_path / "x"
    write(d / "ratings.csv", b"userId,movieId,rating,timestamp\n7,1,4.0,1\n7,193609,3.5,2\n42,5,2.0,3\n42,1,5.0,4\n")
    ds = load_movielens(d / "ratings.csv")
    assert (ds.n_users, ds.n_items) == (2, 3)
    assert ds.ratings["item_idx"].max() == 2
    assert ds.items.ids.to_list() == [1, 5, 193609]


def test_off_scale_rating_names_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path / "ratings.csv", b"userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,7.0,2\n")
    with pytest.raises(DataValidationError, match=r"ratings.csv, line 3, column 'rating'.*7"):
        load_movielens(p)


def test_wrong_separator_is_an_error_not_zero_rows(tmp_path: Path) -> None:
    p = write(tmp_path / "ratings.csv", b"userId\tmovieId\trating\ttimestamp\n1\t10\t4\t1000000000\n")
    with pytest.raises(DataValidationError, match="separator|columns|4-column"):
        load_movielens(p)


def test_unknown_name_says_how_to_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIEREC_DATA_HOME", str(tmp_path))
    with pytest.raises(DataValidationError, match="movierec data fetch ml-100k"):
        load_movielens("ml-100k")


def test_real_ml_latest_small(data_home: Path) -> None:
    ds = load_movielens("ml-latest-small")
    assert (ds.n_ratings, ds.n_users, ds.n_items, ds.movies.height) == (100836, 610, 9724, 9742)
    assert ds.ratings["movie_id"].max() == 193609 and ds.ratings["item_idx"].max() == 9723
    assert ds.ratings["rating"].dtype.is_float() and ds.ratings["timestamp"].dtype.is_integer()


def test_real_ml100k_latin1_titles(data_home: Path) -> None:
    ds = load_movielens("ml-100k")
    assert (ds.n_ratings, ds.n_users, ds.n_items) == (100000, 943, 1682)
    titles = ds.movies["title"].to_list()
    assert any("Misérables" in t for t in titles)
    assert not any("\ufffd" in t for t in titles)


def test_user_attributes_of_both_layouts_as_labels(tmp_path: Path) -> None:
    from movierec.data import load_user_attributes

    d100 = tmp_path / "ml-100k"
    write(d100 / "u.data", b"1\t10\t4\t881250949\n")
    write(d100 / "u.user", b"1|24|M|technician|85711\n2|17|F|student|94043\n3|56|M|retired|32067\n")
    got = load_user_attributes(d100 / "u.data")  # a file of the release finds its folder
    assert got["user_id"].to_list() == [1, 2, 3]
    assert got["attributes"].to_list() == [
        ["age:18-24", "gender:M", "occupation:technician"],
        ["age:under 18", "gender:F", "occupation:student"],
        ["age:56+", "gender:M", "occupation:retired"],
    ]
    d1m = tmp_path / "ml-1m"
    write(d1m / "users.dat", b"1::F::1::10::48067\n2::M::56::16::70072\n")
    assert load_user_attributes(d1m)["attributes"].to_list() == [
        ["age:under 18", "gender:F", "occupation:10"],
        ["age:56+", "gender:M", "occupation:16"],
    ]
    write(d100 / "u.user", b"1|24|M|technician|85711\nx|twenty|M|writer|1\n")
    with pytest.raises(DataValidationError) as err:
        load_user_attributes(d100)
    assert err.value.problems[0].line == 2 and "id|age|gender|occupation|zip" in err.value.problems[0].reason
    for bad, reason in ((b"1|24|M|writer|1\n1|30|F|artist|2\n", "listed twice"),
                        (b"\xc2\xb2|24|M|writer|1\n", "numeric id"), (b"1|24||writer|1\n", "must not be empty")):  # fmt: skip
        write(d100 / "u.user", bad)
        with pytest.raises(DataValidationError) as err:
            load_user_attributes(d100)
        assert reason in err.value.problems[0].reason
    write(d1m / "users.dat", b"1::F::99::10::48067\n")
    with pytest.raises(DataValidationError) as err:
        load_user_attributes(d1m)
    assert "age code" in err.value.problems[0].reason
    write(d1m / "users.dat", b"\n")
    with pytest.raises(DataValidationError, match="no users"):
        load_user_attributes(d1m)
    latest = tmp_path / "ml-latest-small"
    write(latest / "ratings.csv", b"userId,movieId,rating,timestamp\n1,1,4.0,1\n")
    with pytest.raises(DataValidationError, match="no user attributes here"):
        load_user_attributes(latest)


def test_real_ml100k_user_attributes(data_home: Path) -> None:
    from movierec.data import load_user_attributes

    got = load_user_attributes("ml-100k")
    assert got.height == 943 and got["attributes"].list.len().unique().to_list() == [3]
    assert got.filter(got["user_id"] == 1)["attributes"].to_list() == [["age:18-24", "gender:M", "occupation:technician"]]
