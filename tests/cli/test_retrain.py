"""`movierec retrain`: a gated retrain on the base data plus the service's ratings, through the real CLI,
a real SQLite database written through ``store.db`` and a real registry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from movierec.cli.main import app
from movierec.data.load import load_movielens
from movierec.data.synth import synthetic_dataset
from movierec.store import db
from movierec.store.registry import Registry

runner = CliRunner()


@dataclass
class World:
    """A base ratings file, a service database holding its catalogue, and a registry folder (empty)."""

    data: Path
    url: str
    registry: Path
    pending: list[tuple[int, int, float]]
    """Ratings of base users on films they have not rated, from the same planted model: what the service receives."""

    def add(self, n: int) -> list[tuple[int, int, float]]:
        """Write the next ``n`` pending ratings through ``db.upsert_rating``."""
        eng = db.make_engine(self.url)
        rows, self.pending = self.pending[:n], self.pending[n:]
        for u, m, r in rows:
            db.upsert_rating(eng, u, m, r)
        eng.dispose()
        return rows

    def retrain(self, *args: str) -> tuple[int, dict]:
        r = runner.invoke(app, ["retrain", "--data", str(self.data), "--db", self.url,
                                "--registry", str(self.registry), "--json", *args])  # fmt: skip
        assert "Traceback" not in r.output, r.output
        return r.exit_code, json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}


@pytest.fixture
def world(tmp_path: Path, seed: int) -> World:
    full = synthetic_dataset(6000, n_users=120, n_items=300, seed=seed % 1000)
    rows = full.ratings.sort("timestamp")
    base, later = rows.head(4000), rows.tail(2000)
    csv = tmp_path / "base" / "ratings.csv"
    csv.parent.mkdir()
    base.select("user_id", "movie_id", "rating", "timestamp").rename(
        {"user_id": "userId", "movie_id": "movieId"}
    ).write_csv(csv)
    known = set(base["user_id"].to_list())
    pending = [(int(u), int(m), float(r)) for u, m, r in later.select("user_id", "movie_id", "rating").iter_rows()
               if u in known]  # fmt: skip
    url = f"sqlite:///{tmp_path / 'ratings.db'}"
    eng = db.make_engine(url)
    db.init_db(eng)
    db.sync_movies(eng, load_movielens(str(csv)).movies)
    eng.dispose()
    return World(csv, url, tmp_path / "registry", pending)


@pytest.mark.slow
def test_first_version_then_a_better_candidate_is_published_refit_on_every_row(world: World) -> None:
    code, first = world.retrain("--model", "mean")  # empty registry: no gate, published after the checks
    assert code == 0 and first["outcome"] == "published" and first["version"] == "v000001"
    assert "empty registry" in first["notes"][0]
    assert first["high_water"] == {"updated_at": None, "at": [], "n_ratings": 0}
    older = world.add(600)
    time.sleep(1.1)  # the next ratings are at least a second newer: the holdout is drawn from them
    newer = world.add(400)
    code, second = world.retrain("--model", "als")
    assert code == 0 and second["outcome"] == "published" and second["version"] == "v000002", second
    assert second["new_ratings"] == 1000 and 0 < second["holdout"]["n_rows"] <= len(newer)
    cand, cur = second["candidate"], second["current"]
    assert cand["ndcg"] > cur["ndcg"] and cand["rmse"] < cur["rmse"]  # a real model against the global mean
    assert cand["n_pairs"] == cur["n_pairs"] == second["holdout"]["n_rows"]
    meta = Registry(world.registry).read_meta()
    assert meta["model"] == "als" and meta["metrics"]["db_high_water"]["n_ratings"] == len(older) + len(newer)
    assert meta["metrics"]["retrain_gate"]["candidate"]["ndcg"] == cand["ndcg"]
    assert meta["n_ratings"] == 4000 + len(older) + len(newer)  # the published model is refit on every row


@pytest.mark.slow
def test_a_worse_candidate_is_rejected_naming_the_metric_and_the_current_version_stays(world: World) -> None:
    world.add(300)
    assert world.retrain("--model", "als")[0] == 0
    world.add(300)
    code, result = world.retrain("--model", "random")
    assert code == 8 and result["outcome"] == "rejected" and result["version"] is None
    assert any(r.startswith("NDCG@10 ") and "below the current version's" in r for r in result["reasons"])
    code, result = world.retrain("--model", "mean")
    assert code == 8 and any(r.startswith("RMSE ") and "above the current version's" in r for r in result["reasons"])
    assert Registry(world.registry).current() == "v000001" and Registry(world.registry).versions() == ["v000001"]
    r = runner.invoke(app, ["retrain", "--data", str(world.data), "--db", world.url, "--registry", str(world.registry),
                            "--model", "mean"])  # fmt: skip
    assert r.exit_code == 8 and r.stdout == ""  # the reasons go to stderr, which cron mails
    assert r.stderr.startswith("rejected: NDCG@10 ") and "kept v000001" in r.stderr
    code, result = world.retrain("--model", "random", "--margin-ndcg", "1", "--margin-rmse", "5")  # margins allow all
    assert code == 0 and result["outcome"] == "published" and Registry(world.registry).current() == "v000002"


@pytest.mark.slow
def test_below_min_new_ratings_the_run_skips_and_says_why(world: World) -> None:
    first = world.add(200)
    assert world.retrain("--model", "als", "--min-new-ratings", "5000")[1]["version"] == "v000001"  # empty: never skips
    world.add(2)
    u, m, r = first[-1]  # trained on, and in the mark's own second: a change is still told apart
    eng = db.make_engine(world.url)
    db.upsert_rating(eng, u, m, 1.0 if r != 1.0 else 2.0)  # a changed rating is new too
    eng.dispose()
    code, result = world.retrain("--min-new-ratings", "4")
    assert code == 0 and result["outcome"] == "skipped" and result["new_ratings"] == 3
    reason = result["reasons"][0]
    assert "3 database ratings are newer than v000001" in reason and "threshold is 4" in reason
    r = runner.invoke(app, ["retrain", "--data", str(world.data), "--db", world.url, "--registry", str(world.registry),
                            "--min-new-ratings", "4"])  # fmt: skip
    assert r.exit_code == 0 and r.stdout.startswith("skipped: 3 database ratings")
    code, result = world.retrain("--min-new-ratings", "3")  # past the threshold, but 3 ratings judge nothing
    assert code == 0 and result["outcome"] == "skipped" and result["new_ratings"] == 3
    assert "fewer than the 10 the gate needs to judge" in result["reasons"][0], result


@pytest.mark.slow
def test_nothing_unseen_to_hold_out_skips(world: World) -> None:
    world.add(200)
    assert world.retrain("--model", "als")[0] == 0
    code, result = world.retrain()
    assert code == 0 and result["outcome"] == "skipped" and result["holdout"]["n_rows"] == 0
    assert "nothing to judge a candidate on" in result["reasons"][0]


@pytest.mark.slow
def test_a_non_finite_candidate_is_rejected(world: World) -> None:
    world.add(300)
    assert world.retrain("--model", "als")[0] == 0
    world.add(300)
    meta_file = Registry(world.registry).path("v000001") / "model.json"
    meta = json.loads(meta_file.read_text())  # settings that diverge here: λ ~ 0, more factors than films rated
    meta["config"].update(reg=1e-30, bias_reg=1e-30, n_factors=60)
    meta_file.write_text(json.dumps(meta))
    code, result = world.retrain()
    assert code == 8 and result["outcome"] == "rejected" and "the candidate is not finite" in result["reasons"][0]
    assert "non-finite values" in result["reasons"][0] and Registry(world.registry).versions() == ["v000001"]


def test_bad_options_are_refused_naming_the_option(world: World) -> None:
    for args, text in ((["--holdout", "1.5"], "--holdout"), (["--margin-ndcg", "-0.1"], "--margin-ndcg"),
                       (["--every", "soon"], "--every"), (["--model", "foo"], "--model: unknown model 'foo'"),
                       (["--min-new-ratings", "-1"], "--min-new-ratings"), (["--canary", "100"], "--canary")):  # fmt: skip
        r = runner.invoke(app, ["retrain", "--data", str(world.data), "--db", world.url,
                                "--registry", str(world.registry), *args])  # fmt: skip
        assert r.exit_code == 2 and text in r.output and "Traceback" not in r.output, r.output
    assert Registry(world.registry).current() is None


@pytest.mark.slow
def test_the_loop_runs_then_stops_cleanly_on_sigterm(world: World) -> None:
    cmd = [sys.executable, "-m", "movierec", "retrain", "--data", str(world.data), "--db", world.url,
           "--registry", str(world.registry), "--model", "mean", "--every", "1h", "--json"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())  # the first run, then an hour's wait
        assert first["outcome"] == "published" and first["version"] == "v000001"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0 and "stopped by SIGTERM after 1 run" in err and "Traceback" not in err


@pytest.mark.slow
def test_real_ratings_arriving_after_ml_latest_small_are_gated_and_published(data_home: Path, tmp_path: Path) -> None:
    import polars as pl

    source = data_home / "ml-latest-small"
    ratings = pl.read_csv(source / "ratings.csv").sort("timestamp", "userId", "movieId")
    base, arriving = ratings.head(ratings.height - 5000), ratings.tail(5000)
    arriving = arriving.filter(pl.col("userId").is_in(base["userId"].unique().implode())).head(1000)
    folder = tmp_path / "ml-older"  # the base dataset without its newest ratings (a temporary copy, not in the repo)
    folder.mkdir()
    base.write_csv(folder / "ratings.csv")
    (folder / "movies.csv").write_bytes((source / "movies.csv").read_bytes())
    reg, url = tmp_path / "registry", f"sqlite:///{tmp_path / 'r.db'}"
    common = ["--data", str(folder), "--registry", str(reg), "--json"]
    r = runner.invoke(app, ["train", *common, "--model", "als", "--factors", "8", "--iterations", "3"])
    assert r.exit_code == 0, r.output
    assert runner.invoke(app, ["db", "init", "--db", url, "--registry", str(reg)]).exit_code == 0
    eng = db.make_engine(url)
    rows = arriving.select("userId", "movieId", "rating").rows()
    for n, (u, m, v) in enumerate(rows):  # the newest real ratings reach the service, in two batches a second apart
        time.sleep(1.1) if n == 700 else None
        db.upsert_rating(eng, u, m, v)
    eng.dispose()
    r = runner.invoke(app, ["retrain", *common, "--db", url])
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["new_ratings"] == len(rows) and 0 < result["holdout"]["n_rows"] <= len(rows) - 700
    assert result["model"] == "als" and result["current"]["n_users_ranked"] == result["candidate"]["n_users_ranked"]
    assert (r.exit_code, result["outcome"]) in ((0, "published"), (8, "rejected")), r.output
    if result["outcome"] == "published":  # the current version's settings, refit on every row
        meta = Registry(reg).read_meta()
        assert meta["config"]["n_factors"] == 8 and meta["n_ratings"] == base.height + len(rows)
    r = runner.invoke(app, ["retrain", *common, "--db", url, "--min-new-ratings", "1"])
    assert r.exit_code == 0 and json.loads(r.stdout.strip().splitlines()[-1])["outcome"] == "skipped"


@pytest.mark.slow
def test_with_canary_a_passing_candidate_is_served_to_a_share_and_the_current_version_stays(world: World) -> None:
    code, first = world.retrain("--model", "mean", "--canary", "20")  # a first version has nothing to be compared with
    assert code == 0 and first["version"] == "v000001" and Registry(world.registry).current() == "v000001"
    world.add(600)
    time.sleep(1.1)
    world.add(400)
    code, second = world.retrain("--model", "als", "--canary", "20")
    assert code == 0 and second["outcome"] == "published" and second["version"] == "v000002", second
    assert any("canary for 20% of users" in n for n in second["notes"]) and second["canary"] == 20.0
    reg = Registry(world.registry)
    experiment = reg.experiment()
    assert reg.current() == "v000001" and experiment is not None and experiment.running
    assert (experiment.control, experiment.canary, experiment.percent) == ("v000001", "v000002", 20.0)
    code, third = world.retrain("--model", "als", "--canary", "20")  # the current version's mark did not move
    assert third["new_ratings"] == 1000
    r = runner.invoke(app, ["retrain", "--data", str(world.data), "--db", world.url, "--registry", str(world.registry),
                            "--model", "als", "--canary", "20"])  # fmt: skip
    assert r.exit_code == 0 and " as a canary for 20% of users over v000001 " in r.stdout, r.output


def test_a_missing_or_empty_database_is_refused_in_one_line_and_no_file_is_left(world: World, tmp_path: Path) -> None:
    missing = tmp_path / "deleted.db"
    r = runner.invoke(app, ["retrain", "--data", str(world.data), "--db", f"sqlite:///{missing}",
                            "--registry", str(world.registry), "--model", "mean"])  # fmt: skip
    assert r.exit_code == 7 and "does not exist" in r.output and "movierec db init" in r.output
    assert not missing.exists()  # a mistyped path is not created
    empty = tmp_path / "empty.db"
    db.make_engine(f"sqlite:///{empty}").connect().close()  # a database file without movierec's tables
    r = runner.invoke(app, ["retrain", "--data", str(world.data), "--db", f"sqlite:///{empty}",
                            "--registry", str(world.registry), "--model", "mean"])  # fmt: skip
    assert r.exit_code == 7 and "holds no movierec tables" in r.output and "movierec db init" in r.output
    assert "Traceback" not in r.output and Registry(world.registry).current() is None, r.output


def test_every_outside_one_second_to_a_year_is_refused_naming_the_option(world: World) -> None:
    for every in ("0.001s", "0.5", "367d", "99999999999999999999d"):
        r = runner.invoke(app, ["retrain", "--data", str(world.data), "--db", world.url,
                                "--registry", str(world.registry), "--every", every])  # fmt: skip
        assert r.exit_code == 2 and "--every" in r.output and "1s to 366d" in r.output, r.output
        assert "Traceback" not in r.output
    assert Registry(world.registry).current() is None
