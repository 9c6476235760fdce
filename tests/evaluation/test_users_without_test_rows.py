"""Leave-last-n-out on users with few ratings: nobody crashes, and the report counts who was not evaluated.

Sources: lenskit/lenskit#114 (the splitter threw), benfred/implicit#571 (users with K + 1 ratings silently
left out of the test side).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from movierec.data import Dataset, RatingScale
from movierec.errors import DataValidationError
from movierec.evaluation.protocols import EvalOptions, SplitOptions, run_protocol
from tests.conftest import frame

ROWS = [(u, m, float(1 + (u + j) % 5), 1000 + 35 * j) for u in (1, 2, 3) for j, m in enumerate((10, 20, 30, 40, 50))]
ROWS += [(4, 10, 3.0, 1000), (4, 20, 4.0, 1035), (5, 30, 2.0, 1000)]  # 18 rows: users 4 and 5 have 2 and 1


def few_ratings() -> Dataset:
    return Dataset.from_frames(frame(ROWS), None, RatingScale(1.0, 5.0, 1.0), name="few")


@pytest.mark.parametrize(("n", "no_test", "ranked"), [(1, 1, 4), (2, 2, 3)])
def test_last_n_counts_the_users_kept_wholly_in_training(n: int, no_test: int, ranked: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the last-n leakage warning
        res = run_protocol(few_ratings(), "last-n", ["popular"], None, SplitOptions(last_n=n), EvalOptions(k=3))
    (row,) = res.rows
    assert row["n_users_no_test"] == no_test and row["n_users_ranked"] == ranked and row["n_users_cold"] == 0


def test_last_n_with_no_user_above_n_is_a_clear_error() -> None:
    with warnings.catch_warnings(), pytest.raises(DataValidationError, match="no user has more than 5 ratings"):
        warnings.simplefilter("ignore")
        run_protocol(few_ratings(), "last-n", ["popular"], None, SplitOptions(last_n=5), EvalOptions(k=3))


@pytest.mark.slow
def test_cli_evaluate_prints_who_was_ranked_and_who_had_no_test_rows(tmp_path: Path) -> None:
    f = tmp_path / "few.csv"
    f.write_text("userId,movieId,rating,timestamp\n" + "".join(f"{u},{m},{r},{t}\n" for u, m, r, t in ROWS))
    cmd = [sys.executable, "-m", "movierec", "evaluate", "--data", str(f), "--protocol", "last-n", "--last-n", "2",
           "--models", "popular"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=os.environ)
    assert r.returncode == 0, r.stderr
    assert "last-2: 3 users ranked; 2 training users had no test rows (not evaluated)" in " ".join(r.stdout.split())
