"""Dataset folders: Parquet ratings and catalogue plus a small JSON header.

Written by ``movierec ingest`` (and ``save_dataset_folder``); read wherever a
dataset name is accepted.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import polars as pl

from movierec.data.dataset import Dataset, RatingScale
from movierec.errors import DataValidationError

DATASET_META = "dataset.json"


def ensure_replaceable(path: Path | str, markers: tuple[str, ...], what: str) -> Path:
    """Refuse to write a folder over anything but an earlier folder of the same kind.

    ``path`` may be missing, an empty folder, or a folder holding one of
    ``markers`` (e.g. ``model.json``); an existing file or any other non-empty
    folder is refused, so ``--out`` never deletes a user's data.

    Raises
    ------
    DataValidationError
        If ``path`` is a file or a non-empty folder that is not a ``what``.
    """
    path = Path(path)
    if path.is_file() or path.is_symlink():
        raise DataValidationError(
            f"{path} is an existing file; choose a new folder for the {what} (nothing was written)"
        )
    if path.is_dir() and any(path.iterdir()) and not any((path / m).exists() for m in markers):
        raise DataValidationError(
            f"{path} is a non-empty folder that is not a {what}; choose a new or empty folder (nothing was written)"
        )
    return path


def save_dataset_folder(
    dataset: Dataset, out: Path | str, extra_files: dict[str, bytes] | None = None, compression: str = "zstd"
) -> Path:
    """Write ``dataset`` as a folder atomically (temporary folder, then rename).

    Files: ``ratings.parquet`` (user_id, movie_id, rating, timestamp),
    ``movies.parquet``, ``dataset.json`` (scale, name, counts) and any
    ``extra_files`` (e.g. ``ingest_report.json``, ``quarantine.csv``).
    ``compression`` is the Parquet codec (``"lz4"`` writes 25M ratings about
    twice as fast as ``"zstd"``, for files about a third larger).
    """
    out = ensure_replaceable(out, (DATASET_META, "ratings.parquet"), "dataset folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    tmp.chmod(0o755)  # mkdtemp makes it private; the renamed folder is a normal one
    try:
        ratings = dataset.ratings.select("user_id", "movie_id", "rating", "timestamp")
        ratings.write_parquet(tmp / "ratings.parquet", compression=compression)  # type: ignore[arg-type]
        dataset.movies.write_parquet(tmp / "movies.parquet")
        meta = {"format": 1, **dataset.summary()}
        (tmp / DATASET_META).write_text(json.dumps(meta, indent=2))
        for name, data in (extra_files or {}).items():
            (tmp / name).write_bytes(data)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


MOVIELENS_RATINGS = ("ratings.csv", "u.data", "ratings.dat")
"""The ratings file of an official MovieLens folder, per release family."""


def folder_ratings_files(path: Path) -> list[Path]:
    """The ratings files a folder stands for, in read order.

    A MovieLens folder: its ratings file (``MOVIELENS_RATINGS``); a dataset folder written by
    ``movierec ingest``: its ``ratings.parquet``; otherwise a folder of part files as Spark, Hive
    or a split export writes them: every ``*.parquet`` file, else every ``part-*`` file, sorted by
    name (hidden files and ``_SUCCESS``-style markers are skipped).

    Raises
    ------
    DataValidationError
        If the folder holds none of these.
    """
    for name in (*MOVIELENS_RATINGS, "ratings.parquet"):
        if (path / name).is_file():
            return [path / name]
    visible = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "_")))
    parts = [p for p in visible if p.suffix == ".parquet"] or [p for p in visible if p.name.startswith("part-")]
    if not parts:
        raise DataValidationError(
            f"{path}: a folder with no ratings file: expected {', '.join(MOVIELENS_RATINGS)}, a dataset folder "
            "(ratings.parquet) or part files (*.parquet or part-*); or give the ratings files themselves"
        )
    return parts


def load_dataset_folder(path: Path | str) -> Dataset:
    """Read a dataset folder written by ``save_dataset_folder``.

    Raises
    ------
    DataValidationError
        If ``ratings.parquet`` is missing or unreadable.
    """
    path = Path(path)
    rp = path / "ratings.parquet"
    if not rp.exists():
        raise DataValidationError(f"{path}: no ratings.parquet; not a dataset folder written by `movierec ingest`")
    meta = json.loads((path / DATASET_META).read_text()) if (path / DATASET_META).exists() else {}
    ratings = pl.read_parquet(rp)
    movies = pl.read_parquet(path / "movies.parquet") if (path / "movies.parquet").exists() else None
    scale = RatingScale.from_dict(meta["scale"]) if "scale" in meta else RatingScale()
    return Dataset.from_frames(ratings, movies, scale, name=str(path))
