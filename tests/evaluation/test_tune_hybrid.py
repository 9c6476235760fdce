"""`movierec tune --model hybrid`: ranking weights tuned inside the training data, read back by train --config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from movierec.evaluation.tune_ranking import tune_hybrid
from movierec.models import HybridConfig
from tests.models.test_implicit_hybrid import planted


def test_tune_hybrid_finds_a_config_and_resumes(tmp_path: Path, seed: int) -> None:
    ds, _ = planted(seed)
    storage = f"sqlite:///{tmp_path / 'h.db'}"
    first = tune_hybrid(ds, 3, storage=storage, seed=seed)
    assert first.n_trials == 3 and 0.0 < first.value <= 1.0
    assert isinstance(first.config, HybridConfig) and 0.0 <= first.config.popularity_debias <= 0.8
    again = tune_hybrid(ds, 4, storage=storage, seed=seed)  # resumes: one more trial only
    assert again.n_trials == 4 and again.value >= first.value


def test_cli_tune_hybrid_then_train_with_config(tmp_path: Path, data_home: Path) -> None:
    env = {**os.environ, "MOVIEREC_DATA_HOME": str(data_home)}
    run = lambda *a: subprocess.run([sys.executable, "-m", "movierec", *a], capture_output=True, text=True, env=env, timeout=900)  # noqa: E731
    r = run("tune", "--data", "ml-100k", "--protocol", "stratified", "--model", "hybrid", "--trials", "2", "--out", str(tmp_path / "h.json"), "--json")
    assert r.returncode == 0, r.stderr
    written = json.loads((tmp_path / "h.json").read_text())
    assert set(written["models"]) == {"hybrid"} and written["tuning"]["objective"] == "ndcg"
    r = run("train", "--data", "ml-100k", "--model", "hybrid", "--config", str(tmp_path / "h.json"), "--out", str(tmp_path / "m"), "--json")
    assert r.returncode == 0, r.stderr
    trained = json.loads(r.stdout)["config"]
    assert trained["popularity_debias"] == written["models"]["hybrid"]["popularity_debias"]
