"""Ingest: real-world faults of MovieLens-style files (encodings, quoting, separators, headers, units, duplicates)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from movierec.data.dataset import RatingScale
from movierec.data.ingest import IngestResult, ingest
from movierec.errors import DataValidationError

GENRES19 = "|0|0|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0"


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def rows(res: IngestResult) -> list[tuple]:
    return res.dataset.ratings.select("user_id", "movie_id", "rating", "timestamp").rows()


def assert_balanced(res: IngestResult) -> None:
    """Every line of every file is accepted, rejected, blank or a header; the quarantine lists every rejection."""
    assert res.report.balanced
    assert sum(f.ratings_accepted for f in res.report.files) == res.dataset.n_ratings
    assert sum(f.rejected_total for f in res.report.files) == res.quarantine.height


# ---------------------------------------------------------------------------- latin-1 bytes in titles
def test_latin1_titles_in_u_item_and_movies_dat(tmp_path: Path) -> None:
    item = write(tmp_path / "ml-100k" / "u.item", b"101|Caf\xe9 Noir (1994)|01-Jan-1994||" + GENRES19.encode() + b"\n")
    dat = write(tmp_path / "ml-1m" / "movies.dat", b"102::Caf\xe9 Noir II (1996)::Drama\n")
    csv = write(tmp_path / "latest" / "movies.csv", "movieId,title,genres\n103,Café Noir III (1999),Drama\n")
    ratings = write(tmp_path / "r.csv", "userId,movieId,rating\n1,101,4\n2,102,3\n2,103,5\n")
    cases = [
        (item, 101, "Café Noir (1994)", "latin-1"),
        (dat, 102, "Café Noir II (1996)", "latin-1"),
        (csv, 103, "Café Noir III (1999)", "utf-8"),
    ]
    for movies, mid, title, enc in cases:
        res = ingest([ratings], movies=movies)
        titles = dict(res.dataset.movies.select("movie_id", "title").rows())
        assert titles[mid] == title and "\ufffd" not in title
        assert res.report.catalogue is not None and res.report.catalogue["encoding"] == enc
        assert res.dataset.n_ratings == 3  # no row dropped


def test_latin1_ratings_file_detected_and_reported(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", b"user,film,rating\nZo\xe9,Caf\xe9,4.5\nAnn,Caf\xe9,3\n")
    res = ingest([p])
    assert res.report.files[0].encoding == "latin-1"
    assert rows(res) == [("Zoé", "Café", 4.5, 0), ("Ann", "Café", 3.0, 0)]


def test_undecodable_file_names_line_and_byte_offset(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", b"userId,movieId,rating\n1,10,4\n2,Caf\xe9,3\n")
    with pytest.raises(DataValidationError, match=r"r\.csv, line 3.*byte offset 34") as err:
        ingest([p], encoding="utf-8")
    assert err.value.problems[0].line == 3


# ---------------------------------------------------------------------------- commas and doubled quotes inside quotes
def test_quoted_commas_and_doubled_quotes_in_titles(tmp_path: Path) -> None:
    movies = write(
        tmp_path / "movies.csv",
        'movieId,title,genres\n101,"Harbour Lights, The (1995)",Drama\n102,"Night, Day, Night (2003)",Comedy|Drama\n'
        '103,"Quote ""Unquote"" (2010)",Documentary\n',
    )
    ratings = write(tmp_path / "ratings.csv", "userId,movieId,rating\n1,101,4\n1,102,3\n2,103,5\n")
    res = ingest([ratings], movies=movies)
    m = {r["movie_id"]: r for r in res.dataset.movies.iter_rows(named=True)}
    assert m[101]["title"] == "Harbour Lights, The (1995)" and m[101]["genres"] == ["Drama"]
    assert m[102]["title"] == "Night, Day, Night (2003)" and m[102]["genres"] == ["Comedy", "Drama"]
    assert m[103]["title"] == 'Quote "Unquote" (2010)' and m[103]["genres"] == ["Documentary"]


def test_quoted_ids_in_a_ratings_file_follow_rfc4180(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", 'user,item,rating\n"Smith, J",film,4\n"say ""hi""",film,3\n"open,film,2\n')
    res = ingest([p])
    assert rows(res) == [("Smith, J", "film", 4.0, 0), ('say "hi"', "film", 3.0, 0)]
    assert res.quarantine.rows() == [(str(p), 4, "", '"open,film,2', "malformed quoting", '"open,film,2')]
    assert_balanced(res)


# ---------------------------------------------------------------------------- wrong or irregular separator
@pytest.mark.parametrize(
    ("name", "data", "sep"),
    [
        ("u.data", "1\t10\t4\t1000000000\n", "tab"),
        ("ratings.dat", "1::10::4::1000000000\n", "::"),
        ("any.txt", "1   10\t4\n2 \t 10  3\n", "whitespace"),
    ],
)
def test_separator_detected(tmp_path: Path, name: str, data: str, sep: str) -> None:
    res = ingest([write(tmp_path / name, data)])
    assert res.report.files[0].separator == sep
    assert res.dataset.n_ratings == data.count("\n") and res.dataset.ratings["movie_id"].to_list()[0] == 10


@pytest.mark.parametrize("data", ["1\t10\t4\t1000000000\n", "1::10::4::1000000000\n", "1   10\t4\n"])
def test_forced_comma_fails_at_once_never_zero_rows(tmp_path: Path, data: str) -> None:
    with pytest.raises(
        DataValidationError, match=r"found 1 column\(s\) on line 1, expected 3 or 4.*check the separator"
    ):
        ingest([write(tmp_path / "r.csv", data)], format="csv")


def test_nothing_usable_is_an_error_not_an_empty_dataset(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "userId,movieId,rating\n1,10,x\n2,11,y\n")
    with pytest.raises(DataValidationError, match="no ratings accepted from 3 line.*2 x rating is not a number"):
        ingest([p])


# ---------------------------------------------------------------------------- header lines and blank lines
def test_header_and_blank_lines(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "userId,movieId,rating,timestamp\n1,10,4.0,1000000000\n\n1,20,3.5,1000000100\n\n")
    res = ingest([p])
    f = res.report.files[0]
    assert res.dataset.n_ratings == 2
    assert (f.lines_read, f.header_lines, f.blank_lines, f.rejected_total) == (5, 1, 2, 0)
    assert f.header == ["userId", "movieId", "rating", "timestamp"]


def test_headerless_first_line_is_a_rating(tmp_path: Path) -> None:
    res = ingest([write(tmp_path / "u.data", "1\t10\t4\t1000000000")])
    assert rows(res) == [(1, 10, 4.0, 1000000000)] and res.report.files[0].header is None


def test_header_set_by_configuration(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "1,10,4\n2,10,3\n")
    assert ingest([p], header=True).dataset.n_ratings == 1  # told so: the first line is a header
    assert ingest([p], header=False).dataset.n_ratings == 2


def test_whitespace_only_and_crlf_blank_lines_are_counted(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "userId,movieId,rating\r\n  \r\n1,10,4\r\n\t\r\n2,10,3\r\n")
    res = ingest([p])
    assert res.dataset.n_ratings == 2 and res.report.files[0].blank_lines == 2 and res.report.files[0].newline == "CRLF"


# ---------------------------------------------------------------------------- half-star ratings
def test_half_stars_stay_half_stars(tmp_path: Path) -> None:
    p = write(
        tmp_path / "r.csv",
        "userId,movieId,rating,timestamp\n1,10,3.5,1000000000\n1,20,0.5,1000000001\n2,10,5.0,1000000002\n",
    )
    res = ingest([p])
    assert res.dataset.ratings["rating"].to_list() == [3.5, 0.5, 5.0]
    assert float(np.mean(res.dataset.arrays()[2])) == 3.0


def test_off_grid_rating_rejected_with_its_line_never_rounded(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "userId,movieId,rating\n1,10,3.5\n1,20,3.7\n")
    res = ingest([p])
    assert rows(res) == [(1, 10, 3.5, 0)]
    assert res.quarantine.rows() == [(str(p), 3, "rating", "3.7", "rating off the 0.5-star grid from 0.5", "1,20,3.7")]
    kept = ingest([p], scale=RatingScale(0.5, 5.0, 0.0))  # a continuous scale keeps it as a float
    assert kept.dataset.ratings["rating"].to_list() == pytest.approx([3.5, 3.7])


# ---------------------------------------------------------------------------- timestamp units and dates
def test_seconds_milliseconds_and_iso_dates_agree(tmp_path: Path) -> None:
    sec = ingest(
        [write(tmp_path / "s.csv", "userId,movieId,rating,timestamp\n1,10,4.0,1000000000\n1,20,3.0,1100000000\n")]
    )
    ms = ingest(
        [
            write(
                tmp_path / "ms.csv", "userId,movieId,rating,timestamp\n1,10,4.0,1000000000000\n1,20,3.0,1100000000000\n"
            )
        ]
    )
    iso = ingest(
        [
            write(
                tmp_path / "iso.csv",
                "userId,movieId,rating,timestamp\n1,10,4.0,2001-09-09T01:46:40Z\n1,20,3.0,2004-11-09T11:33:20+00:00\n",
            )
        ]
    )
    assert rows(sec) == rows(ms) == rows(iso)
    units = [r.report.files[0].timestamp_unit for r in (sec, ms, iso)]
    assert units == ["seconds", "milliseconds", "iso-8601"]
    ts = ms.dataset.ratings["timestamp"].to_numpy()
    assert dt.datetime.fromtimestamp(int(ts[0]), dt.UTC) == dt.datetime(2001, 9, 9, 1, 46, 40, tzinfo=dt.UTC)
    # split at the cutoff 2002-01-01 (as a date or as epoch seconds): 1000000000 (2001-09-09) trains,
    # 1100000000 (2004-11-09) tests -- the evaluation splitter works on ingested millisecond data
    from movierec.evaluation.splits import chrono_split

    for cutoff in ("2002-01-01", 1009843200):
        test_mask, cut = chrono_split(ms.dataset, cutoff)
        assert cut == 1009843200 and ms.dataset.ratings.filter(~test_mask)["movie_id"].to_list() == [10]
        assert ms.dataset.ratings.filter(test_mask)["movie_id"].to_list() == [20]


def test_wrong_units_never_land_in_the_far_future_or_1970(tmp_path: Path) -> None:
    p = write(
        tmp_path / "r.csv", "u,i,r,t\n1,10,4,5000000000000000000\n1,11,4,-5\n1,12,4,soon\n1,13,4,1000000000000000\n"
    )
    res = ingest([p])
    assert rows(res) == [(1, 13, 4.0, 1000000000)]  # microseconds, detected
    outside = "timestamp outside 1970-01-01..2100-01-01 after unit detection"
    not_ts = "timestamp is not epoch seconds, milliseconds or an ISO date"
    assert res.quarantine["reason"].to_list() == [outside, outside, not_ts]


# ---------------------------------------------------------------------------- duplicate (user, film) rows
def test_latest_timestamp_wins(tmp_path: Path) -> None:
    p = write(
        tmp_path / "r.csv",
        "userId,movieId,rating,timestamp\n1,10,2.0,1000000000\n1,10,4.5,1000000500\n2,10,3.0,1000000100\n",
    )
    res = ingest([p])
    assert sorted(rows(res)) == [(1, 10, 4.5, 1000000500), (2, 10, 3.0, 1000000100)]
    assert res.report.duplicates["pairs_resolved"] == 1 and "latest timestamp wins" in res.report.duplicates["rule"]
    assert res.quarantine.rows() == [
        (
            str(p),
            2,
            "",
            f"kept {p}, line 3",
            "duplicate (user, movie): superseded by the latest rating",
            "1,10,2.0,1000000000",
        )
    ]
    assert res.dataset.ratings["rating"].max() <= 5.0  # never a sum
    assert_balanced(res)


def test_duplicates_across_files_and_ties(tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", "userId,movieId,rating,timestamp\n1,10,2.0,500\n1,11,3.0,500\n")
    b = write(tmp_path / "b.csv", "userId,movieId,rating,timestamp\n1,10,4.0,400\n1,11,5.0,500\n")
    res = ingest([a, b])
    assert sorted(rows(res)) == [(1, 10, 2.0, 500), (1, 11, 5.0, 500)]  # later time wins; on a tie, the later file
    assert [f.ratings_accepted for f in res.report.files] == [1, 1] and res.report.duplicates["pairs_resolved"] == 2
    assert_balanced(res)


def test_training_on_resolved_duplicates_does_not_crash(tmp_path: Path) -> None:
    from movierec.config import ALSConfig
    from movierec.models import ALS

    p = write(
        tmp_path / "r.csv",
        "userId,movieId,rating,timestamp\n1,10,2.0,1\n1,10,4.5,2\n2,10,3.0,3\n2,20,1.0,4\n1,20,5,5\n",
    )
    model = ALS(ALSConfig(n_factors=2, n_iter=2)).fit(ingest([p]).dataset)
    assert np.isfinite(model.fit_info_["train_rmse"])


# ---------------------------------------------------------------------------- gappy ids, films left with no ratings
def test_gappy_ids_and_films_that_lose_all_ratings(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "userId,movieId,rating\n7,1,4.0\n7,193609,3.5\n42,5,2.0\n42,1,5.0\n")
    before = ingest([p])
    assert (before.dataset.n_users, before.dataset.n_items) == (2, 3)
    assert before.dataset.items.ids.to_list() == [1, 5, 193609] and before.dataset.ratings["item_idx"].max() == 2
    after = ingest([p], scale=RatingScale(3.0, 5.0, 0.5))  # keep only ratings of 3.0 and above
    assert (after.dataset.n_users, after.dataset.n_items) == (2, 2)
    assert after.report.films == {"in_input": 3, "with_ratings": 2, "lost": 1, "lost_ids": [5]}
    assert 5 not in after.dataset.items and after.dataset.items.ids.to_list() == [1, 193609]


# ---------------------------------------------------------------------------- negative or out-of-scale ratings
OUT_OF_SCALE = "userId,movieId,rating\n1,10,-1\n1,20,0\n1,30,6\n1,40,4.5\n"


def test_strict_lists_every_out_of_scale_line(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", OUT_OF_SCALE)
    with pytest.raises(
        DataValidationError, match=r"3 line\(s\) rejected \(rating outside \[0.5, 5.0\]\).*--scale"
    ) as err:
        ingest([p], on_error="strict")
    probs = err.value.problems
    assert [(q.line, q.column, q.value, q.reason) for q in probs] == [
        (2, "rating", "-1", "rating outside [0.5, 5.0]"),
        (3, "rating", "0", "rating outside [0.5, 5.0]"),
        (4, "rating", "6", "rating outside [0.5, 5.0]"),
    ]
    assert all(q.file == str(p) for q in probs)


def test_quarantine_rejects_three_accepts_one(tmp_path: Path) -> None:
    res = ingest([write(tmp_path / "r.csv", OUT_OF_SCALE)])
    assert rows(res) == [(1, 40, 4.5, 0)]
    assert res.report.files[0].rejected == {"rating outside [0.5, 5.0]": 3}
    assert res.quarantine["line"].to_list() == [2, 3, 4]
    assert_balanced(res)


# ---------------------------------------------------------------------------- declared scale narrower than the data
def test_declared_scale_vs_data_rejects_never_clips(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "userId,movieId,rating\n1,10,0.5\n1,20,4\n2,10,5\n")
    res = ingest([p], scale=RatingScale(1.0, 5.0, 1.0))
    assert res.report.scale == {"low": 1.0, "high": 5.0, "step": 1.0, "source": "declared"}
    assert res.quarantine.rows() == [(str(p), 2, "rating", "0.5", "rating outside [1.0, 5.0]", "1,10,0.5")]
    assert res.report.files[0].rating_min == 0.5  # the observed range is reported
    assert res.dataset.ratings["rating"].min() == 4.0  # nothing clipped up to 1.0


# ---------------------------------------------------------------------------- ids, modes, refusals
def test_ids_kept_exactly_strings_and_ints_beyond_int64(tmp_path: Path) -> None:
    p = write(
        tmp_path / "r.csv", "user,item,rating\nalice,tt0111161,4\n99999999999999999999999,tt0111161,3\nalice,00042,2\n"
    )
    res = ingest([p])
    assert res.report.ids == {"user": "string", "movie": "string"}
    assert set(res.dataset.users.ids.to_list()) == {"alice", "99999999999999999999999"}
    assert set(res.dataset.items.ids.to_list()) == {"tt0111161", "00042"}


def test_ids_integer_column_stays_int64(tmp_path: Path) -> None:
    res = ingest([write(tmp_path / "r.csv", "userId,movieId,rating\n9223372036854775807,1,4\n-3,2,3\n")])
    assert res.report.ids == {"user": "integer", "movie": "integer"}
    assert sorted(res.dataset.users.ids.to_list()) == [-3, 9223372036854775807]


def test_empty_and_one_user_datasets_are_refused_for_training(tmp_path: Path) -> None:
    from movierec.models import ALS

    with pytest.raises(DataValidationError, match="no ratings accepted"):
        ingest([write(tmp_path / "empty.csv", "userId,movieId,rating,timestamp\n\n")])
    one = ingest([write(tmp_path / "one.csv", "userId,movieId,rating\n1,10,4\n1,20,3\n")]).dataset
    with pytest.raises(DataValidationError, match="at least 2 users"):
        ALS().fit(one)


def test_strict_mode_passes_a_clean_file_and_resolves_duplicates(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "userId,movieId,rating,timestamp\n1,10,2.0,1\n1,10,4.0,2\n")
    res = ingest([p], on_error="strict")
    assert rows(res) == [(1, 10, 4.0, 2)]
    with pytest.raises(DataValidationError, match="rated more than once"):
        ingest([p], duplicates="error")
