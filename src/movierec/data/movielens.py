"""Loaders for the official MovieLens layouts.

* ml-latest, ml-latest-small, ml-25m, ml-32m: ``ratings.csv`` and ``movies.csv``,
  UTF-8, one header row, RFC-4180 quoting, CRLF or LF line endings.
* ml-100k: ``u.data`` (and the ``u1..u5``/``ua``/``ub`` ``.base``/``.test``
  folds), tab-separated, no header; ``u.item`` pipe-separated latin-1 with 19
  genre flags.
* ml-1m, ml-10m: ``ratings.dat`` and ``movies.dat``, ``::``-separated, no
  header; ``movies.dat`` is latin-1 in ml-1m and UTF-8 in ml-10m (detected).

Genre names are normalised across releases (``Children's`` -> ``Children``).

References
----------
Harper, Konstan. "The MovieLens Datasets: History and Context". ACM TiiS 5(4), 2015.
doi:10.1145/2827872
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import polars as pl

from movierec.data.dataset import RatingScale, empty_movies, year_from_title
from movierec.data.formats import decode_per_line
from movierec.errors import DataValidationError, Problem

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip

HALF_STARS = RatingScale(0.5, 5.0, 0.5)
WHOLE_STARS = RatingScale(1.0, 5.0, 1.0)


def decode(data: bytes, path: Path | str) -> tuple[str, str]:
    """Decode bytes as UTF-8 (BOM stripped), or line by line where some lines are not UTF-8.

    Returns
    -------
    (text, encoding) : tuple of str
        As ``formats.decode_per_line``: lines that are not valid UTF-8 are read as Latin-1,
        which maps every byte, so the fallback never fails and never loses a byte,
        and the UTF-8 lines of the same file keep their accents.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return decode_per_line(data)


def normalise_genre(name: str) -> str:
    """One spelling per genre across releases."""
    name = name.strip()
    return {"Children's": "Children", "(no genres listed)": ""}.get(name, name)


def _catalogue(
    ids: list[int], titles: list[str], genres: list[list[str]], years: list[int | None] | None = None
) -> pl.DataFrame:
    if years is None:
        years = [year_from_title(t) for t in titles]
    return pl.DataFrame(
        {
            "movie_id": pl.Series(ids, dtype=pl.Int64),
            "title": pl.Series(titles, dtype=pl.Utf8),
            "year": pl.Series(years, dtype=pl.Int32),
            "genres": pl.Series(genres, dtype=pl.List(pl.Utf8)),
        }
    )


def read_movies_csv(path: Path) -> pl.DataFrame:
    """``movies.csv`` (``movieId,title,genres``; genres ``|``-separated), RFC-4180 quoted.

    Raises
    ------
    DataValidationError
        If the file lacks those columns or an id is not an integer.
    """
    text, _ = decode(path.read_bytes(), path)
    try:
        df = pl.read_csv(io.StringIO(text), infer_schema=False)
    except pl.exceptions.ComputeError as exc:
        raise DataValidationError(f"{path}: cannot parse as CSV: {str(exc).splitlines()[0]}") from exc
    if not {"movieId", "title", "genres"} <= set(df.columns):
        raise DataValidationError(f"{path}: expected columns movieId,title,genres; found {df.columns}")
    ids = df["movieId"].cast(pl.Int64, strict=False)
    if ids.null_count():
        row = int(np.flatnonzero(ids.is_null().to_numpy())[0])
        raise DataValidationError(
            f"{path}: bad movieId", [Problem(str(path), row + 2, "movieId", str(df["movieId"][row]), "not an integer")]
        )
    genres = [[g for g in (normalise_genre(x) for x in (s or "").split("|")) if g] for s in df["genres"].to_list()]
    return _catalogue(ids.to_list(), df["title"].fill_null("").to_list(), genres)


def read_u_item(path: Path) -> pl.DataFrame:
    """ml-100k ``u.item``: ``id|title|release date|video date|url|19 genre flags``, latin-1."""
    text, _ = decode(path.read_bytes(), path)
    ids, titles, genres, years = [], [], [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        f = line.split("|")
        if len(f) < 5 or not f[0].strip().isdigit():
            raise DataValidationError(
                f"{path}: bad line", [Problem(str(path), lineno, "", line[:80], "expected id|title|date|...")]
            )
        flags = f[5 : 5 + len(ML100K_GENRES)]
        ids.append(int(f[0]))
        titles.append(f[1].strip())
        genres.append([g for g, x in zip(ML100K_GENRES, flags, strict=False) if x.strip() == "1" and g != "unknown"])
        y = year_from_title(f[1])
        if y is None and len(f[2]) >= 4 and f[2][-4:].isdigit():
            y = int(f[2][-4:])
        years.append(y)
    return _catalogue(ids, titles, genres, years)


def read_movies_dat(path: Path) -> pl.DataFrame:
    """ml-1m/ml-10m ``movies.dat``: ``id::title::genres``, latin-1 or UTF-8 (detected)."""
    text, _ = decode(path.read_bytes(), path)
    ids, titles, genres = [], [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        f = line.split("::")
        if len(f) != 3 or not f[0].strip().isdigit():
            raise DataValidationError(
                f"{path}: bad line", [Problem(str(path), lineno, "", line[:80], "expected id::title::genres")]
            )
        ids.append(int(f[0]))
        titles.append(f[1].strip())
        genres.append([g for g in (normalise_genre(x) for x in f[2].split("|")) if g])
    return _catalogue(ids, titles, genres)


AGE_GROUPS = ((18, "under 18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (50, "45-49"), (56, "50-55"))
"""ml-1m's age groups (its ``users.dat`` codes 1, 18, 25, 35, 45, 50, 56), applied to ml-100k's ages too."""


ML1M_AGE_CODES = frozenset({1, 18, 25, 35, 45, 50, 56})


def age_group(age: int) -> str:
    """The ml-1m age group of an age in years: "under 18", "18-24", ..., "56+"."""
    return next((name for bound, name in AGE_GROUPS if age < bound), "56+")


def read_user_attributes(path: Path) -> pl.DataFrame:
    """User attributes of ml-100k ``u.user`` (``id|age|gender|occupation|zip``) or ml-1m ``users.dat``
    (``id::gender::age code::occupation code::zip``) as categorical labels.

    Returns
    -------
    polars.DataFrame
        ``user_id`` (Int64) and ``attributes`` (list of str: ``age:25-34``, ``gender:M``, ``occupation:writer``;
        ml-1m's occupation is its numeric code). The zip code is left out (too sparse to learn from).

    Raises
    ------
    DataValidationError
        A line without the expected fields, with a non-numeric id or age, an empty gender or
        occupation, an ml-1m age code outside its seven, or a user listed twice (file and line
        named); a file without users.
    """
    text, _ = decode(path.read_bytes(), path)
    dat = path.name.endswith(".dat")
    expected = "id::gender::age::occupation::zip" if dat else "id|age|gender|occupation|zip"
    ids: list[int] = []
    attrs: list[list[str]] = []
    seen: set[int] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        f = [x.strip() for x in line.split("::" if dat else "|")]
        padded = (f + [""] * 4)[:4]
        user, gender, age, occupation = padded if dat else (padded[0], padded[2], padded[1], padded[3])
        reason = None
        if len(f) < 4 or not (user.isascii() and user.isdigit()) or not (age.isascii() and age.isdigit()):
            reason = f"expected {expected} with a numeric id and age"
        elif not gender or not occupation:
            reason = "gender and occupation must not be empty"
        elif dat and int(age) not in ML1M_AGE_CODES:
            reason = f"age code must be one of {sorted(ML1M_AGE_CODES)}"
        elif int(user) in seen:
            reason = f"user {user} is listed twice"
        if reason is not None:
            raise DataValidationError(f"{path}: bad line", [Problem(str(path), lineno, "", line[:80], reason)])
        seen.add(int(user))
        ids.append(int(user))
        attrs.append([f"age:{age_group(int(age))}", f"gender:{gender}", f"occupation:{occupation}"])
    if not ids:
        raise DataValidationError(f"{path}: no users in this file")
    return pl.DataFrame(
        {"user_id": pl.Series(ids, dtype=pl.Int64), "attributes": pl.Series(attrs, dtype=pl.List(pl.Utf8))}
    )


__all__ = ["read_movies_csv", "read_u_item", "read_movies_dat", "read_user_attributes", "decode", "empty_movies"]
