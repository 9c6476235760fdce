"""Library errors name the parameter, what is allowed and what was given, and stay ValueErrors."""

from __future__ import annotations

import pytest

from movierec.config import ALSConfig, RankingPolicy
from movierec.errors import DataValidationError, ParameterError
from movierec.models import EaseConfig, HybridConfig, ImplicitConfig


@pytest.mark.parametrize(
    ("build", "parameter", "given"),
    [
        (lambda: ALSConfig(n_factors=0), "n_factors", 0),
        (lambda: ALSConfig(solver="lu"), "solver", "lu"),
        (lambda: ImplicitConfig(cg_steps=0), "cg_steps", 0),
        (lambda: HybridConfig(popularity_debias=2.0), "popularity_debias", 2.0),
        (lambda: EaseConfig(reg=-1.0), "reg", -1.0),
        (lambda: RankingPolicy(min_ratings=-3), "min_ratings", -3),
    ],
)
def test_a_bad_parameter_names_itself_what_is_allowed_and_what_was_given(build, parameter: str, given: object) -> None:
    with pytest.raises(ParameterError) as info:
        build()
    error = info.value
    assert (error.parameter, error.given) == (parameter, given)
    assert str(error) == f"{parameter} must be {error.allowed}; got {given!r}"
    assert isinstance(error, DataValidationError) and isinstance(error, ValueError)  # old except clauses still catch it
    assert "--" not in str(error)  # a library message names no CLI flag


def test_several_bad_parameters_are_reported_together() -> None:
    with pytest.raises(DataValidationError, match=r"n_factors must be .*; reg must be > 0"):
        ALSConfig(n_factors=0, reg=0.0)


def test_the_cli_adds_the_option_that_sets_the_parameter(tmp_path) -> None:
    from typer.testing import CliRunner

    from movierec.cli.main import app
    from movierec.data import synthetic_dataset

    csv = tmp_path / "ratings.csv"
    synthetic_dataset(500, n_users=20, n_items=15, seed=1).ratings.rename(
        {"user_id": "userId", "movie_id": "movieId"}
    ).write_csv(csv)
    result = CliRunner().invoke(app, ["train", "--data", str(csv), "--out", str(tmp_path / "m"), "--reg", "0"])
    assert result.exit_code == 2
    assert "reg must be > 0; got 0.0 (option --reg)" in result.output
