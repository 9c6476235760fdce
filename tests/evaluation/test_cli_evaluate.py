"""`movierec evaluate`, `movierec tune` and `train --config` through the console script."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from movierec.data import synthetic_ratings

EXE = [sys.executable, "-m", "movierec"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=600, env=dict(os.environ))


@pytest.fixture
def ratings_file(tmp_path: Path, seed: int) -> Path:
    df = synthetic_ratings(2500, n_users=60, n_items=90, seed=seed)
    path = tmp_path / "syn" / "ratings.csv"
    path.parent.mkdir()
    df.rename({"user_id": "userId", "movie_id": "movieId"}).write_csv(path)
    return path


@pytest.mark.slow
def test_evaluate_json_and_html_report(tmp_path: Path, ratings_file: Path) -> None:
    report = tmp_path / "out" / "report.html"
    r = run("evaluate", "--data", str(ratings_file), "--protocol", "stratified", "--models", "bias,popular,mean",
            "--k", "5", "--json", "--report", str(report), "--guard-grid", "0,3,10")  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [s["model"] for s in out["summary"]] == ["bias", "popular", "mean"]
    assert out["options"]["k"] == 5 and out["protocol"] == "stratified"
    assert out["rows"][0]["coverage_note"].startswith("scored ")
    html = report.read_text()
    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert len(pngs) == 2  # guard curve and popularity (no iterative model -> no RMSE curve)
    assert all(base64.b64decode(p).startswith(b"\x89PNG") for p in pngs)
    assert "gain = rating in stars" in html and "pessimistic" in html


@pytest.mark.slow
def test_piped_evaluate_table_keeps_every_digit(ratings_file: Path) -> None:
    """Piped, Rich assumed 80 columns and cut the last column of the accuracy table ("0.25…")."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    r = subprocess.run([*EXE, "evaluate", "--data", str(ratings_file), "--protocol", "stratified", "--models", "bias,popular"],
                       capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = [line for line in r.stdout.splitlines() if line.startswith("│ bias") or line.startswith("│ popular")]
    assert len(rows) == 4 and "…" not in r.stdout  # two tables, two models each
    assert len(re.findall(r"\b\d\.\d{4}\b", rows[0])) >= 8  # RMSE, MAE, P, R, NDCG, NDCGg, MAP, MRR in full


@pytest.mark.slow
def test_evaluate_rejects_unknown_model_and_protocol(ratings_file: Path) -> None:
    r = run("evaluate", "--data", str(ratings_file), "--models", "als,nope")
    assert r.returncode == 2 and "unknown model 'nope'" in r.stderr and "Traceback" not in r.stderr
    r = run("evaluate", "--data", str(ratings_file), "--protocol", "temporal")
    assert r.returncode == 2 and "unknown protocol" in r.stderr


@pytest.mark.slow
def test_tune_resumes_and_config_feeds_train_and_evaluate(tmp_path: Path, ratings_file: Path) -> None:
    cfg = tmp_path / "tuned.json"
    r = run("tune", "--data", str(ratings_file), "--trials", "2", "--folds", "2", "--out", str(cfg), "--json")  # default protocol
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)
    assert first["tuning"]["n_trials"] == 2 and (tmp_path / "tuned.db").exists()
    r = run("tune", "--data", str(ratings_file), "--protocol", "random", "--trials", "3", "--folds", "2", "--out", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["tuning"]["n_trials"] == 3  # resumed (the default protocol is random): one more trial, not three
    written = json.loads(cfg.read_text())
    als, policy = written["models"]["als"], written["policies"]["als"]
    assert written["tuning"]["objective"] == "rmse" and "random" in written["tuning"]["tuned_on"]  # als: RMSE on the random split
    r = run("train", "--data", str(ratings_file), "--model", "als", "--out", str(tmp_path / "m"), "--config", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["config"] == als and json.loads(r.stdout)["policy"] == policy
    r = run("train", "--data", str(ratings_file), "--model", "als", "--out", str(tmp_path / "m2"), "--config", str(cfg),
            "--factors", "3", "--json")  # fmt: skip
    assert json.loads(r.stdout)["config"]["n_factors"] == 3  # an explicitly changed option wins
    r = run("evaluate", "--data", str(ratings_file), "--models", "als", "--config", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["summary"][0]["min_ratings"] == policy["min_ratings"]
