"""`movierec ingest` end to end, then `train` and `recommend` on the ingested folder."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from movierec.cli.main import app

from .test_ingest import write

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def messy_export(tmp_path: Path) -> Path:
    """String ids, a re-rating, a blank line, an off-scale value, millisecond timestamps, semicolons."""
    lines = ["user;film;stars;time"]
    for u in range(12):
        for m in range(10):
            if (u + 2 * m) % 3:
                lines.append(f"user-{u};tt{m:07d};{1 + (u * m) % 9 / 2};{(1_000_000_000 + u * 100 + m) * 1000}")
    lines += ["", "user-1;tt0000001;9;1000000000000", "user-1;tt0000002;5;2000000000000"]
    return write(tmp_path / "export.txt", "\n".join(lines) + "\n")


def test_ingest_then_train_and_recommend_keep_external_ids(tmp_path: Path) -> None:
    src = messy_export(tmp_path)
    code, out, err = invoke(
        "ingest",
        str(src),
        "--out",
        str(tmp_path / "ds"),
        "--columns",
        "user=user,item=film,rating=stars,timestamp=time",
        "--json",
    )
    assert code == 0, err
    rep = json.loads(out)
    f = rep["files"][0]
    assert rep["balanced"] and f["separator"] == "semicolon" and f["timestamp_unit"] == "milliseconds"
    assert f["blank_lines"] == 1 and f["rejected"] == {
        "rating outside [0.5, 5.0]": 1,
        "duplicate (user, movie): superseded by the latest rating": 1,
    }
    assert rep["duplicates"]["pairs_resolved"] == 1 and rep["ids"] == {"user": "string", "movie": "string"}
    q = (tmp_path / "ds" / "quarantine.csv").read_text()
    assert "user-1;tt0000001;9;1000000000000" in q
    code, out, err = invoke(
        "train",
        "--data",
        str(tmp_path / "ds"),
        "--out",
        str(tmp_path / "m"),
        "--factors",
        "3",
        "--iterations",
        "2",
        "--min-ratings",
        "0",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["data"]["n_ratings"] == f["ratings_accepted"]
    code, out, err = invoke("recommend", "--model", str(tmp_path / "m"), "--user", "user-3", "-k", "3", "--json")
    assert code == 0, err
    recs = json.loads(out)["recommendations"]
    assert recs and all(r["movie_id"].startswith("tt") for r in recs)


def test_ingest_strict_gives_one_line_with_file_line_column_value_and_fix(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "userId,movieId,rating\n1,10,4\n1,20,6\n")
    code, _, err = invoke("ingest", str(p), "--out", str(tmp_path / "ds"), "--on-error", "strict")
    assert code == 2 and "Traceback" not in err
    assert "r.csv, line 3, column 'rating': rating outside [0.5, 5.0] (found '6')" in " ".join(err.split())
    assert "--scale" in err and not (tmp_path / "ds").exists()


def test_training_on_a_one_user_ingested_folder_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "userId,movieId,rating\n1,10,4\n1,20,3\n")
    assert invoke("ingest", str(p), "--out", str(tmp_path / "ds"))[0] == 0
    code, _, err = invoke("train", "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "m"))
    assert code == 2 and "at least 2 users" in err


def test_ingest_human_summary_and_bad_options(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "userId,movieId,rating\n1,10,4\n2,10,9\n")
    code, out, err = invoke("ingest", str(p), "--out", str(tmp_path / "ds"))
    assert code == 0 and "1 ratings" in out and "rating outside" in err
    assert invoke("ingest", str(p), "--out", str(tmp_path / "x"), "--scale", "5:1")[0] == 2
    assert invoke("ingest", str(p), "--out", str(tmp_path / "x"), "--format", "xls")[0] == 2
