"""Load a dataset by name or path: official MovieLens releases, single ratings files, ingested folders.

Every file goes through the one parsing and validation core of ``movierec ingest``
(``movierec.data.ingest``), in strict mode.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from movierec.data.dataset import Dataset
from movierec.data.folder import MOVIELENS_RATINGS, folder_ratings_files, load_dataset_folder
from movierec.data.home import KNOWN_DATASETS, data_home
from movierec.data.ingest import ingest, movielens_release
from movierec.data.movielens import read_user_attributes
from movierec.errors import DataValidationError


def resolve(name_or_path: str | Path) -> Path:
    """The folder or file a dataset name or path points to.

    A known dataset name (``"ml-100k"``) is looked up in ``data_home()``; any
    other string is a path.

    Raises
    ------
    DataValidationError
        If nothing exists there; the message says how to fetch it.
    """
    s = str(name_or_path)
    if s in KNOWN_DATASETS and not Path(s).exists():
        path = data_home() / s
        if not path.exists():
            raise DataValidationError(
                f"dataset {s!r} is not in the data home {data_home()}; run `movierec data fetch {s}` "
                f"or set MOVIEREC_DATA_HOME to a folder holding {s}/"
            )
        return path
    path = Path(s).expanduser()
    if not path.exists():
        raise DataValidationError(
            f"{s!r} is neither a known dataset name ({', '.join(sorted(KNOWN_DATASETS))}) nor an existing path"
        )
    return path


def load_movielens(name_or_path: str | Path) -> Dataset:
    """Load an official MovieLens dataset, by name, folder or ratings file.

    Parameters
    ----------
    name_or_path : str or Path
        A dataset name under the data home (``"ml-latest-small"``, ``"ml-100k"``,
        ``"ml-1m"``, ...), a dataset folder, or one ratings file of such a folder
        (``.../ml-100k/u1.base``; the catalogue is read from beside it).

    Returns
    -------
    Dataset
        Ratings with external ids (Int64), float32 stars and int64 UTC-second
        timestamps; the catalogue; dense id maps over the rated users and films.

    Raises
    ------
    DataValidationError
        Unknown layout, unreadable file, wrong column count, non-numeric values,
        ratings off the release's scale, or a repeated (user, movie) pair; the
        message names file, line, column and value. Files are read by the same
        core as ``movierec ingest`` (``movierec.data.ingest``), in strict mode.
    """
    path = resolve(name_or_path)
    if path.is_dir():
        files = folder_ratings_files(path)
        if files[0].name in MOVIELENS_RATINGS:
            return load_movielens(files[0])
        if files[0].name == "ratings.parquet":  # a dataset folder written by `movierec ingest`
            return load_dataset_folder(path)
        # Part files of possibly different integer widths: one strict read,
        # int32 / float32 parts widened to int64 / float64.
        return ingest(files, on_error="strict", duplicates="error", name=str(path)).dataset
    if movielens_release(path) is None and not path.name.endswith(".csv"):
        raise DataValidationError(
            f"{path}: unknown MovieLens file; expected ratings.csv, u.data, u*.base/u*.test or ratings.dat "
            "(for other layouts use `movierec ingest`)"
        )
    # One parsing and validation core for every loader: strict, official layout, no duplicate rule.
    return ingest([path], format="movielens", on_error="strict", duplicates="error", name=str(path)).dataset


__all__ = ["load_movielens", "resolve"]


def load_user_attributes(name_or_path: str | Path) -> pl.DataFrame:
    """User attributes of a MovieLens release that has them: ml-100k's ``u.user``, ml-1m's ``users.dat``.

    Parameters
    ----------
    name_or_path : str or Path
        A dataset name under the data home, its folder, or a file inside it.

    Returns
    -------
    polars.DataFrame
        ``user_id`` and ``attributes`` (``movierec.data.movielens.read_user_attributes``).

    Raises
    ------
    DataValidationError
        If the release has no user attributes (ml-latest has none) or the file is malformed.
    """
    path = resolve(name_or_path)
    folder = path if path.is_dir() else path.parent
    for name in ("u.user", "users.dat"):
        if (folder / name).is_file():
            return read_user_attributes(folder / name)
    raise DataValidationError(f"{folder}: no user attributes here (u.user or users.dat); ml-latest releases have none")
