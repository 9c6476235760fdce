"""Bayesian timeSVD++ ("als-bayes-time") on ml-100k's u1 fold, ratings and dates only, near the published record."""

from __future__ import annotations

from pathlib import Path

import pytest

from movierec.evaluation.protocols import EvalOptions, evaluate_model
from movierec.evaluation.splits import ml100k_folds
from movierec.models import make_model

pytestmark = pytest.mark.realdata


@pytest.mark.slow
def test_bayes_time_default_beats_the_ratings_and_dates_record_on_u1(data_home: Path) -> None:
    # Every test pair scored (cold pairs by the fallbacks), clipped to 1-5; N(u) = training films only.
    # Measured (benchmarks/bayes.py --sections time): 0.8859; als-bayes 0.9089, als 0.9229 on the same fold.
    # The published record from ratings and dates is 0.889 (tohtsky/myFM, doc/source/relation-blocks.rst).
    split = next(ml100k_folds("ml-100k", (1,)))
    model = make_model("als-bayes-time").fit(split.train)
    result, _, _ = evaluate_model(model, split, EvalOptions(guard_grid=()))
    # Float rounding moves a chain by ~0.001 between machines; the margin to the record is 0.003.
    assert result["rmse"] <= 0.889
