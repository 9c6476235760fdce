"""The RMSE target on real data: Gibbs-sampled Bayesian MF ("als-bayes") beats explicit ALS on ml-100k's u1 fold."""

from __future__ import annotations

from pathlib import Path

import pytest

from movierec.evaluation.protocols import EvalOptions, evaluate_model
from movierec.evaluation.splits import ml100k_folds
from movierec.models import make_model

pytestmark = pytest.mark.realdata


@pytest.mark.slow
def test_bayes_default_beats_als_on_u1(data_home: Path) -> None:
    # u1 is the hardest official fold. Measured (benchmarks/bayes.py): als-bayes default 0.9080, default ALS 0.9231;
    # over u1..u5 the means are 0.8998 and 0.9137 (target <= 0.905; Surprise SVD 0.934, SVD++ 0.919).
    split = next(ml100k_folds("ml-100k", (1,)))
    opts = EvalOptions(guard_grid=())
    bayes, _, _ = evaluate_model(make_model("als-bayes").fit(split.train), split, opts)
    als, _, _ = evaluate_model(make_model("als").fit(split.train), split, opts)
    assert bayes["rmse"] <= 0.915
    assert bayes["rmse"] <= als["rmse"] - 0.008
