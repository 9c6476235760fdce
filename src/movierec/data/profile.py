"""A user's own ratings file (``movieId,rating`` rows) and the built-in demo profile."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import polars as pl

from movierec.data.dataset import RatingScale
from movierec.data.movielens import decode
from movierec.errors import DataValidationError, Problem

# ml-latest movie ids: loves animated and children's films, dislikes horror,
# lukewarm on the big non-family classics (so the profile says what it prefers).
DEMO_PROFILE: tuple[tuple[int, float], ...] = (
    (1, 5.0), (3114, 5.0), (4886, 5.0), (6377, 5.0), (8961, 4.5), (50872, 5.0), (60069, 5.0),
    (68954, 5.0), (364, 4.5), (588, 4.5), (177765, 5.0), (166461, 4.5), (2355, 4.5), (2078, 4.5),
    (1258, 1.0), (1347, 0.5), (1997, 0.5), (8957, 0.5),
    (296, 2.0), (2571, 2.0), (2959, 2.0), (356, 2.5),
)  # fmt: skip
DEMO_TITLES: dict[int, str] = {
    1: "Toy Story (1995)", 3114: "Toy Story 2 (1999)", 4886: "Monsters, Inc. (2001)", 6377: "Finding Nemo (2003)",
    8961: "Incredibles, The (2004)", 50872: "Ratatouille (2007)", 60069: "WALL·E (2008)", 68954: "Up (2009)",
    364: "Lion King, The (1994)", 588: "Aladdin (1992)", 177765: "Coco (2017)", 166461: "Moana (2016)",
    2355: "Bug's Life, A (1998)", 2078: "Jungle Book, The (1967)", 1258: "Shining, The (1980)",
    1347: "Nightmare on Elm Street, A (1984)", 1997: "Exorcist, The (1973)", 8957: "Saw (2004)",
    296: "Pulp Fiction (1994)", 2571: "Matrix, The (1999)", 2959: "Fight Club (1999)", 356: "Forrest Gump (1994)",
}  # fmt: skip
"""The ml-latest titles of ``DEMO_PROFILE``'s films: ml-100k numbers the same films differently."""
MIN_DEMO_FILMS = 5
"""Fewest profile films a dataset must have for the demo to mean anything."""


def _title_key(title: str) -> str:
    return " ".join(title.casefold().split())


def demo_profile(movies: pl.DataFrame, scale: RatingScale, name: str = "dataset") -> list[tuple[Any, float]]:
    """``DEMO_PROFILE`` in a dataset's own movie ids and rating scale.

    A film is the dataset's film of the same title (case and spacing aside; ml-latest and ml-1m
    share ids, ml-100k does not), films the dataset lacks are left out, and each rating is put
    on the dataset's scale: clipped to [low, high] and, on a stepped scale, rounded half up to the
    grid (ml-100k and ml-1m have whole stars: the profile's 0.5 becomes 1, 4.5 becomes 5).

    Raises
    ------
    DataValidationError
        If fewer than ``MIN_DEMO_FILMS`` of the profile's films are in the catalogue.
    """
    by_title = {_title_key(t): m for m, t in zip(movies["movie_id"].to_list(), movies["title"].to_list(), strict=True)}
    out = []
    for movie, rating in DEMO_PROFILE:
        found = by_title.get(_title_key(DEMO_TITLES[movie]))
        if found is not None:
            out.append((found, scale.snap(rating)))
    if len(out) < MIN_DEMO_FILMS:
        raise DataValidationError(
            f"{name}: only {len(out)} of the demo profile's {len(DEMO_PROFILE)} films are in its catalogue "
            f"(need {MIN_DEMO_FILMS}); run the demo on a MovieLens release (ml-latest-small, ml-100k, ml-1m, ...)"
        )
    return out


def read_user_ratings(path: Path | str, scale: RatingScale | None = None) -> list[tuple[Any, float]]:
    """Read a user's ratings: CSV with a header holding ``movieId`` (or ``movie_id``) and ``rating``.

    Parameters
    ----------
    path : path of the CSV
    scale : RatingScale, optional
        The model's scale: a rating outside it is reported with its line (the model would refuse it).

    Returns
    -------
    list of (movie_id, rating)
        movie_id as int when every id is an integer, else str; rating in stars.

    Raises
    ------
    DataValidationError
        Missing columns, a non-numeric rating (or one outside ``scale``), or a
        film rated twice; the message names the file and line.
    """
    path = Path(path)
    if not path.exists():
        raise DataValidationError(f"{path}: no such file; give a CSV with movieId,rating rows")
    text, _ = decode(path.read_bytes(), path)
    try:
        df = pl.read_csv(io.StringIO(text), infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise DataValidationError(f"{path}: cannot parse as CSV ({str(exc).splitlines()[0]})") from exc
    cols = {c.strip().lower().replace("_", ""): c for c in df.columns}
    if "movieid" not in cols or "rating" not in cols:
        raise DataValidationError(f"{path}: expected a header with movieId and rating; found {df.columns}")
    ids = [s.strip() if s else "" for s in df[cols["movieid"]].to_list()]
    raw = [s.strip() if s else "" for s in df[cols["rating"]].to_list()]
    problems, out, seen = [], [], set()
    as_int = all(i.lstrip("-").isdigit() for i in ids if i)
    for n, (mid, r) in enumerate(zip(ids, raw, strict=True), start=2):
        try:
            value = float(r)
        except ValueError:
            problems.append(Problem(str(path), n, "rating", r, "not a number"))
            continue
        if scale is not None and not scale.low <= value <= scale.high:  # also catches nan
            problems.append(Problem(str(path), n, "rating", r, f"outside the model's scale {scale.describe()}"))
            continue
        if not mid:
            problems.append(Problem(str(path), n, "movieId", mid, "empty movie id"))
            continue
        key = int(mid) if as_int else mid
        if key in seen:
            problems.append(Problem(str(path), n, "movieId", mid, "film rated twice; keep one rating per film"))
            continue
        seen.add(key)
        out.append((key, value))
    if problems:
        raise DataValidationError(f"{path}: {len(problems)} bad line(s)", problems)
    return out
