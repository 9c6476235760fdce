"""The demo profile is put in a dataset's own ids and scale (ml-100k: other ids, whole stars)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from movierec.data.dataset import RatingScale
from movierec.data.profile import DEMO_PROFILE, DEMO_TITLES, demo_profile
from movierec.errors import DataValidationError

WHOLE = RatingScale(1.0, 5.0, 1.0)


@pytest.mark.parametrize(("value", "snapped"), [(0.5, 1.0), (1.0, 1.0), (2.5, 3.0), (4.5, 5.0), (5.0, 5.0), (9.0, 5.0)])
def test_snap_clips_and_rounds_half_up_to_the_whole_star_grid(value: float, snapped: float) -> None:
    assert WHOLE.snap(value) == snapped


def test_snap_keeps_half_stars_on_a_half_star_scale_and_any_value_without_step() -> None:
    assert RatingScale().snap(3.5) == 3.5 and RatingScale().snap(0.2) == 0.5
    assert RatingScale(1.0, 10.0, 0.0).snap(3.7) == 3.7


def test_profile_films_are_found_by_title_under_other_ids_and_snapped() -> None:
    # ml-100k numbers films its own way: Toy Story is 1, but The Shining is 200 and Pulp Fiction 56.
    movies = pl.DataFrame({
        "movie_id": [1, 200, 56, 71, 95, 7],
        "title": ["Toy Story (1995)", "Shining, The (1980)", "Pulp Fiction (1994)", "Lion King, The (1994)",
                  "Aladdin (1992)", "Twelve Monkeys (1995)"],
    })  # fmt: skip
    got = dict(demo_profile(movies, WHOLE))
    assert got == {1: 5.0, 200: 1.0, 56: 2.0, 71: 5.0, 95: 5.0}  # Lion King and Aladdin: 4.5 -> 5
    ratings = dict(DEMO_PROFILE)
    assert ratings[364] == 4.5 and DEMO_TITLES[364] == "Lion King, The (1994)"


def test_a_catalogue_without_the_profile_films_is_refused_in_one_line() -> None:
    movies = pl.DataFrame({"movie_id": [1, 2], "title": ["Toy Story (1995)", "Heat (1995)"]})
    with pytest.raises(DataValidationError, match="only 1 of the demo profile's 22 films are in its catalogue"):
        demo_profile(movies, WHOLE)


@pytest.mark.slow
@pytest.mark.realdata
def test_demo_runs_on_ml100k_whole_stars(data_home: Path) -> None:
    cmd = [sys.executable, "-m", "movierec", "demo", "--data", "ml-100k", "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=os.environ)
    assert r.returncode == 0, r.stderr
    assert '"guarded"' in r.stdout and "Traceback" not in r.stderr
