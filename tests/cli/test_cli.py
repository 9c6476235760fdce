"""The `movierec` command end to end, through the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXE = [sys.executable, "-m", "movierec"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})


@pytest.fixture
def ratings_file(tmp_path: Path) -> Path:
    lines = ["userId,movieId,rating,timestamp"]
    for u in range(1, 30):
        for m in range(1, 25):
            if (u * 7 + m * 3) % 4:
                lines.append(f"{u},{m},{1 + (u + m) % 5}.0,{1000000000 + u * 100 + m}")
    p = tmp_path / "d" / "ratings.csv"
    p.parent.mkdir()
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.mark.slow
def test_train_then_recommend_json(tmp_path: Path, ratings_file: Path) -> None:
    r = run("train", "--data", str(ratings_file), "--out", str(tmp_path / "m"), "--factors", "4", "--iterations", "3", "--min-ratings", "0", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metrics"]["train_rmse"] > 0
    mine = tmp_path / "mine.csv"
    mine.write_text("movieId,rating\n1,5.0\n2,1.0\n3,4.5\n")
    r = run("recommend", "--model", str(tmp_path / "m"), "--ratings", str(mine), "-k", "5", "--json")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    recs = obj["recommendations"]
    assert len(recs) == 5 and not {1, 2, 3} & {x["movie_id"] for x in recs}
    assert {"movie_id", "title", "score", "n_ratings"} <= set(recs[0]) and obj["model"]["model"] == "hybrid"


@pytest.mark.slow
def test_user_mistakes_give_one_line_and_nonzero_exit(tmp_path: Path, ratings_file: Path) -> None:
    r = run("recommend", "--model", str(tmp_path / "missing"), "--ratings", str(ratings_file))
    assert r.returncode == 4 and "Traceback" not in r.stderr and "not a movierec model folder" in r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("userId,movieId,rating,timestamp\n1,1,9.0,1\n2,1,4.0,1\n")
    r = run("train", "--data", str(bad), "--out", str(tmp_path / "m"))
    assert r.returncode == 2 and "line 2" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("n", [1_000, 10_000, 200_000])
def test_data_synth_writes_the_count_asked_with_its_defaults(tmp_path: Path, n: int) -> None:
    # From new-user trials: the ML-25M-shaped defaults gave 12 of 1,000 and 1,386 of 10,000 ratings.
    r = run("data", "synth", "--n-ratings", str(n), "--out", str(tmp_path / "a.csv"))
    assert r.returncode == 0 and f"wrote {n:,} ratings" in r.stdout and "asked for" not in r.stdout
    assert len((tmp_path / "a.csv").read_text().splitlines()) == n + 1


def test_data_synth_refuses_a_shape_with_fewer_pairs_than_asked(tmp_path: Path) -> None:
    shape = ["--n-users", "20", "--n-items", "30"]
    r = run("data", "synth", "--n-ratings", "1000", *shape, "--out", str(tmp_path / "b.csv"))
    assert r.returncode == 2 and "allow at most 600 distinct ratings" in r.stderr and "--n-users" in r.stderr
    assert not (tmp_path / "b.csv").exists()


@pytest.mark.slow
def test_recommend_all_corrupt_model_and_bad_out_give_one_line(tmp_path: Path, ratings_file: Path) -> None:
    assert run("train", "--data", str(ratings_file), "--model", "als", "--out", str(tmp_path / "m")).returncode == 0
    r = run("recommend-all", "--model", str(tmp_path / "m"), "--out", str(tmp_path / "nodir" / "r.parquet"))
    assert r.returncode == 2 and "no such folder" in r.stderr and "Traceback" not in r.stderr
    for cmd, arg in (("recommend", "-k"), ("recommend-all", "--min-ratings")):  # k = 0 and a negative guard: refused
        extra = ["--user", "1"] if cmd == "recommend" else ["--out", str(tmp_path / "r.parquet")]
        r = run(cmd, "--model", str(tmp_path / "m"), *extra, arg, "0" if arg == "-k" else "-1")
        assert r.returncode == 2 and "must be >= " in r.stderr and "Traceback" not in r.stderr
    r = run("recommend", "--model", str(tmp_path / "m"), "--user", "1", "--genre", "Westerns")  # refused, as in Python and the service
    assert r.returncode == 2 and "no film of the model has the genre 'Westerns'" in r.stderr and "Traceback" not in r.stderr
    off = tmp_path / "mine.csv"  # a fold-in file with an off-scale rating: file and line named
    off.write_text("movieId,rating\n1,4.0\n2,9.0\n")
    r = run("recommend", "--model", str(tmp_path / "m"), "--ratings", str(off))
    assert r.returncode == 2 and "line 3" in r.stderr and "outside the model's scale" in r.stderr and "Traceback" not in r.stderr
    r = run("recommend-all", "--model", str(tmp_path / "m"), "--out", str(tmp_path / "r.parquet"), "--threads", "100000")
    assert r.returncode == 0 and "note: --threads 100000: using " in r.stderr  # capped to the pool, said so
    data = (tmp_path / "m" / "arrays.npz").read_bytes()
    (tmp_path / "m" / "arrays.npz").write_bytes(data[:1000])
    r = run("recommend-all", "--model", str(tmp_path / "m"), "--out", str(tmp_path / "r.parquet"))
    assert r.returncode == 4 and "corrupt model folder" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_demo_json_on_real_data(data_home: Path) -> None:
    r = run("demo", "--json")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert len(obj["guarded"]) == 10 and len(obj["unguarded"]) == 10
    assert all(x["n_ratings"] >= obj["min_ratings"] for x in obj["guarded"])


@pytest.mark.slow
def test_data_fetch_when_present_and_unknown_length_progress(tmp_path: Path) -> None:
    (tmp_path / "ml-100k").mkdir()
    r = run("data", "fetch", "ml-100k", env={"MOVIEREC_DATA_HOME": str(tmp_path)})
    assert r.returncode == 0 and "already in" in r.stdout, r.stderr
    from movierec.cli.common import progress

    with progress("downloading", None) as advance:  # no total: must render without a count
        advance(5, info="5 bytes")


@pytest.mark.slow
def test_serve_on_a_taken_port_says_so_before_loading(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = run("serve", "--registry", str(tmp_path), "--port", str(port))
    assert r.returncode == 2
    assert f"--port {port}: cannot listen on 127.0.0.1:{port}" in r.stderr and "--port" in r.stderr.splitlines()[-1]


@pytest.mark.slow
def test_serve_with_an_unreachable_database_says_so_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a free port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    url = f"postgresql://postgres@127.0.0.1:{closed}/test"  # plain postgresql:// uses the installed psycopg2
    r = run("serve", "--registry", str(tmp_path), "--db", url, "--port", "0")
    assert r.returncode == 7 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: database postgresql+psycopg2://") and "is not reachable" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_piped_messages_are_not_wrapped_at_80_columns(tmp_path: Path, ratings_file: Path) -> None:
    out_dir = tmp_path / "a-model-folder-with-a-deliberately-long-name-to-push-the-summary-past-eighty-columns"
    r = run("train", "--data", str(ratings_file), "--out", str(out_dir), "--model", "als", "--factors", "4", "--iterations", "2")
    assert r.returncode == 0, r.stderr
    summary = [line for line in r.stdout.splitlines() if line.startswith("trained als on")]
    assert len(summary) == 1 and len(summary[0]) > 80 and summary[0].endswith(str(out_dir))
