"""A folder of Parquet part files whose integer and float widths differ loads as one dataset (apache/spark#34308)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from movierec.data import load_movielens
from movierec.data.ingest import ingest
from movierec.errors import DataValidationError


def parts(folder: Path) -> Path:
    narrow, wide = (pa.int32(), pa.float32()), (pa.int64(), pa.float64())
    for name, (ints, floats), rows in (
        ("part-00000.parquet", narrow, [(1, 10, 4.0, 1000), (1, 20, 3.5, 1010), (2, 10, 5.0, 1020)]),
        ("part-00001.parquet", wide, [(2, 30, 2.0, 1030), (3, 20, 4.5, 1040), (3, 30, 1.0, 1050)]),
    ):
        u, m, r, t = zip(*rows, strict=True)
        table = pa.table({"userId": pa.array(u, ints), "movieId": pa.array(m, ints), "rating": pa.array(r, floats),
                          "timestamp": pa.array(t, ints)})  # fmt: skip
        pq.write_table(table, folder / name)
    (folder / "_SUCCESS").write_text("")
    return folder


def test_load_and_ingest_a_folder_of_parts_with_mixed_widths(tmp_path: Path) -> None:
    folder = parts(tmp_path)
    for ds in (load_movielens(folder), ingest([folder]).dataset):
        assert ds.n_ratings == 6 and ds.users.is_integer
        got = sorted(zip(ds.ratings["user_id"], ds.ratings["movie_id"], ds.ratings["rating"], strict=True))
        assert got == [(1, 10, 4.0), (1, 20, 3.5), (2, 10, 5.0), (2, 30, 2.0), (3, 20, 4.5), (3, 30, 1.0)]


@pytest.mark.slow
def test_cli_ingest_of_the_folder_accounts_for_both_parts(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    folder = parts(tmp_path / "in")
    cmd = [sys.executable, "-m", "movierec", "ingest", str(folder), "--out", str(tmp_path / "out"), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "ratings.parquet").exists() and "part-00001.parquet" in r.stdout


def test_folder_without_ratings_files_names_what_it_expected(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataValidationError, match=r"no ratings file: expected ratings.csv, u.data, ratings.dat"):
        load_movielens(tmp_path)
