"""`movierec recommend` / `evaluate` with the confidence ranking options (--rank-by, --confidence-weight)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import ratings_file, run  # noqa: F401  (ratings_file is a fixture)


@pytest.mark.slow
def test_recommend_rank_by_options(tmp_path: Path, ratings_file: Path) -> None:  # noqa: F811
    r = run("train", "--data", str(ratings_file), "--out", str(tmp_path / "m"), "--model", "als", "--factors", "4",
            "--iterations", "3", "--min-ratings", "0", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr

    def recs(*extra: str) -> list[dict]:
        r = run("recommend", "--model", str(tmp_path / "m"), "--user", "3", "-k", "8", "--json", *extra)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["recommendations"]

    default = recs()
    assert default == recs("--rank-by", "confidence", "--confidence-weight", "1.25")  # the als default
    # A huge η leaves only the evidence term: the most-rated films first.
    counts = [x["n_ratings"] for x in recs("--confidence-weight", "1000")]
    assert counts == sorted(counts, reverse=True)
    # The predicted-rating list ranks by r̂ itself: raw_score is the unclipped rating.
    by_rating = recs("--rank-by", "rating")
    raw = [x["raw_score"] for x in by_rating]
    assert raw == sorted(raw, reverse=True) and all(abs(x["score"] - min(max(x["raw_score"], 1.0), 5.0)) < 1e-5 for x in by_rating)
    bad = run("recommend", "--model", str(tmp_path / "m"), "--user", "3", "--rank-by", "popularity")
    assert bad.returncode != 0 and "rank_by" in bad.stderr and "Traceback" not in bad.stderr
    bad = run("recommend", "--model", str(tmp_path / "m"), "--user", "3", "--confidence-weight", "-1")
    assert bad.returncode != 0 and "confidence_weight" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_evaluate_refuses_unknown_rank_by_before_fitting(ratings_file: Path) -> None:  # noqa: F811
    r = run("evaluate", "--data", str(ratings_file), "--models", "als", "--rank-by", "nope")
    assert r.returncode != 0 and "--rank-by" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_train_stores_the_ranking_policy_of_any_model_and_refuses_a_negative_weight(tmp_path: Path, ratings_file: Path) -> None:  # noqa: F811
    r = run("train", "--data", str(ratings_file), "--out", str(tmp_path / "m"), "--model", "als", "--factors", "4",
            "--iterations", "2", "--confidence-weight", "0.5", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["policy"] == {"min_ratings": 20, "rank_by": "confidence", "confidence_weight": 0.5}  # the als defaults, η given
    assert "confidence_weight" not in meta["config"] and json.loads(r.stdout)["policy"] == meta["policy"]
    h = run("train", "--data", str(ratings_file), "--out", str(tmp_path / "h"), "--model", "hybrid", "--factors", "4",
            "--iterations", "2", "--rank-by", "confidence", "--confidence-weight", "0.5", "--min-ratings", "3")  # fmt: skip
    assert h.returncode == 0, h.stderr  # the policy is any model's, not only als's
    stored = json.loads((tmp_path / "h" / "model.json").read_text())["policy"]
    assert stored == {"min_ratings": 3, "rank_by": "confidence", "confidence_weight": 0.5}
    negative = run("train", "--data", str(ratings_file), "--out", str(tmp_path / "n"), "--model", "als",
                   "--confidence-weight", "-1")  # fmt: skip
    assert negative.returncode == 2 and "confidence_weight" in negative.stderr and "Traceback" not in negative.stderr
    assert not (tmp_path / "n").exists()


@pytest.mark.slow
def test_recommend_refuses_a_confidence_weight_it_would_ignore(tmp_path: Path, ratings_file: Path) -> None:  # noqa: F811
    r = run("train", "--data", str(ratings_file), "--out", str(tmp_path / "m"), "--model", "als", "--factors", "4",
            "--iterations", "2", "--min-ratings", "0", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    bad = run("recommend", "--model", str(tmp_path / "m"), "--user", "3", "--rank-by", "rating", "--confidence-weight", "2")
    assert bad.returncode == 2 and "--confidence-weight applies to the confidence ranking" in bad.stderr
    ok = run("recommend", "--model", str(tmp_path / "m"), "--user", "3", "--confidence-weight", "2", "--json")
    assert ok.returncode == 0, ok.stderr  # the als default ranking is the confidence score
    assert json.loads(ok.stdout)["rank_by"] == "confidence"


@pytest.mark.slow
def test_train_solver_option_is_stored_and_checked(tmp_path: Path, ratings_file: Path) -> None:  # noqa: F811
    r = run("train", "--data", str(ratings_file), "--out", str(tmp_path / "m"), "--model", "als", "--factors", "4",
            "--iterations", "2", "--solver", "cg", "--cg-steps", "2", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    config = json.loads((tmp_path / "m" / "model.json").read_text())["config"]
    assert (config["solver"], config["cg_steps"]) == ("cg", 2)
    bad = run("train", "--data", str(ratings_file), "--out", str(tmp_path / "b"), "--model", "als", "--solver", "lu")
    assert bad.returncode == 2 and "solver must be one of cholesky, cg" in bad.stderr and "Traceback" not in bad.stderr
    spark = run("train", "--data", str(ratings_file), "--out", str(tmp_path / "s"), "--model", "als", "--engine", "spark",
                "--solver", "cg")  # fmt: skip
    assert spark.returncode == 2 and "solver='cg' is the local engine's" in spark.stderr
    assert not (tmp_path / "b").exists() and not (tmp_path / "s").exists()


@pytest.mark.slow
def test_train_solver_is_refused_where_ignored_and_beats_a_config_file(tmp_path: Path, ratings_file: Path) -> None:  # noqa: F811
    bad = run("train", "--data", str(ratings_file), "--out", str(tmp_path / "t"), "--model", "bias", "--solver", "cg")
    assert bad.returncode == 2 and "--model bias has no explicit ALS part" in bad.stderr and "Traceback" not in bad.stderr
    timed = run("train", "--data", str(ratings_file), "--out", str(tmp_path / "a"), "--model", "als-time", "--factors", "4",
                "--iterations", "2", "--solver", "cg", "--cg-steps", "2")  # fmt: skip
    assert timed.returncode == 0, timed.stderr  # als-time fits its explicit ALS part with the solver asked
    explicit = json.loads((tmp_path / "a" / "model.json").read_text())["config"]["explicit"]
    assert (explicit["n_factors"], explicit["solver"], explicit["cg_steps"]) == (4, "cg", 2)
    config = tmp_path / "tuned.json"
    config.write_text(json.dumps({"n_factors": 4, "n_iter": 2, "solver": "cg"}))  # a flat ALSConfig file
    r = run("train", "--data", str(ratings_file), "--out", str(tmp_path / "m"), "--model", "als", "--config", str(config),
            "--solver", "cholesky", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    stored = json.loads((tmp_path / "m" / "model.json").read_text())["config"]
    assert (stored["n_factors"], stored["solver"]) == (4, "cholesky")  # the file's rank, the command's solver
    assert not (tmp_path / "t").exists()
