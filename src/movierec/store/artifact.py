"""Model artifacts: one folder per trained model, written atomically.

Layout of a model folder::

    model.json      format_version, model name, config, ranking policy, rating scale,
                    data fingerprint, created_at (UTC ISO), package version, metrics
    arrays.npz      learned arrays (float32; a composed model's parts as "part.name")
                    and the training rating matrix (CSR)
    users.parquet   user_id by user_idx
    items.parquet   movie_id and n_ratings by item_idx
    movies.parquet  the catalogue

``save`` writes into a temporary sibling folder, fsyncs every file and the folder, renames it
into place and fsyncs the parent folder, so a crash never leaves a half-written model or loses
the rename; ``load`` checks the format version.

Format 2 (this one) stores the ranking policy (``"policy"``) beside the config. Folders of format 1
still load: their policy is read out of the config (``min_ratings``, ``confidence_weight``, also
inside an ``explicit`` sub-config) and the hybrid's arrays are renamed to its parts'.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from movierec.data.dataset import RatingScale
from movierec.data.folder import ensure_replaceable
from movierec.data.idmap import IdMap
from movierec.errors import ArtifactError
from movierec.models import MODELS, Recommender, config_and_policy, make_model

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MODEL_JSON = "model.json"


def _package_version() -> str:
    from movierec import __version__

    return __version__


def save(model: Recommender, path: Path | str, metrics: dict[str, Any] | None = None) -> Path:
    """Save a fitted model to folder ``path`` atomically.

    Parameters
    ----------
    model : fitted Recommender
    path : Path or str
        Target folder; replaced if it exists.
    metrics : dict, optional
        Extra metrics to record (merged over the model's training metrics).

    Returns
    -------
    Path
        The folder written.

    Raises
    ------
    DataValidationError
        If ``path`` is an existing file or a non-empty folder that is not a model folder.
    FitError
        If the model holds non-finite values (never saved).
    NotFittedError
        If the model is not fitted.
    """
    model._require_fitted()
    model.check_finite()
    path = ensure_replaceable(path, (MODEL_JSON,), "model folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}-tmp-"))
    tmp.chmod(0o755)  # mkdtemp makes it private; a service under another user must read the model
    try:
        ui = model.user_items_
        arrays = model.arrays()
        arrays.update(ui_indptr=ui.indptr, ui_indices=ui.indices, ui_data=ui.data, item_counts=model.item_counts_)
        np.savez(tmp / "arrays.npz", **arrays)  # type: ignore[arg-type]  # NumPy's stub types **kwds as allow_pickle
        pl.DataFrame({"user_id": model.users_.ids}).write_parquet(tmp / "users.parquet")
        pl.DataFrame({"movie_id": model.items_.ids, "n_ratings": model.item_counts_}).write_parquet(
            tmp / "items.parquet"
        )
        model.movies_.write_parquet(tmp / "movies.parquet")
        meta = {
            "format_version": FORMAT_VERSION,
            "model": model.name,
            "config": model.config_dict(),
            "policy": model.policy.to_dict(),
            "scale": model.scale_.to_dict(),
            "global_mean": model.global_mean_,
            "data_fingerprint": model.data_fingerprint_,
            "n_users": model.n_users,
            "n_items": model.n_items,
            "n_ratings": int(ui.nnz),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "package_version": _package_version(),
            "metrics": {**model.fit_info_, **(metrics or {})},
            "history": getattr(model, "history_", []),
        }
        (tmp / MODEL_JSON).write_text(json.dumps(meta, indent=2, default=_json_default))
        _fsync_tree(tmp)
        if path.exists():
            old = path.with_name(f".{path.name}-old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
        fsync_dir(path.parent)  # the rename itself survives a crash
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _fsync_tree(folder: Path) -> None:
    """fsync every file of ``folder`` (at any depth), each sub-folder and the folder itself, so a rename
    publishes only durable data."""
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        elif f.is_dir():
            fsync_dir(f)
    fsync_dir(folder)


def fsync_dir(folder: Path) -> None:
    """fsync a folder, so the names in it (a rename, a new file) survive a crash."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def read_meta(path: Path | str) -> dict[str, Any]:
    """The ``model.json`` of a model folder.

    Raises
    ------
    ArtifactError
        If the folder or ``model.json`` is missing, unreadable, or of another format version.
    """
    path = Path(path)
    mj = path / MODEL_JSON
    if not mj.exists():
        raise ArtifactError(f"{path}: not a movierec model folder (no {MODEL_JSON}); train one with `movierec train`")
    try:
        meta = json.loads(mj.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{mj}: unreadable ({exc})") from exc
    if meta.get("format_version") not in READABLE_VERSIONS:
        raise ArtifactError(
            f"{path}: model format version {meta.get('format_version')!r}, this movierec reads {FORMAT_VERSION}; "
            "retrain the model with this version"
        )
    if meta.get("model") not in MODELS:
        raise ArtifactError(f"{path}: unknown model type {meta.get('model')!r}; known: {sorted(MODELS)}")
    return meta


def load(path: Path | str) -> Recommender:
    """Load a model saved by ``save``; predictions are identical to the saved model's.

    Raises
    ------
    ArtifactError
        If the folder is missing, incomplete or of another format version.
    """
    path = Path(path)
    meta = read_meta(path)
    try:
        config, policy = config_and_policy(meta)
        model = make_model(meta["model"], config, policy)
        # Our own handle: np.load leaves its file open when the archive is corrupt.
        with open(path / "arrays.npz", "rb") as fh, np.load(fh) as z:
            stored = {model.legacy_array_names.get(k, k) if meta["format_version"] == 1 else k: z[k] for k in z.files}
            n_u, n_i = meta["n_users"], meta["n_items"]
            model.user_items_ = sp.csr_matrix(
                (stored["ui_data"], stored["ui_indices"], stored["ui_indptr"]), shape=(n_u, n_i)
            )
            model.item_counts_ = stored["item_counts"].astype(np.int64)
        model.users_ = IdMap(pl.read_parquet(path / "users.parquet")["user_id"], "user")
        model.items_ = IdMap(pl.read_parquet(path / "items.parquet")["movie_id"], "movie")
        model.movies_ = pl.read_parquet(path / "movies.parquet")
        model.scale_ = RatingScale.from_dict(meta["scale"])
        model.global_mean_ = float(meta["global_mean"])
        model.data_fingerprint_ = meta["data_fingerprint"]
        model.set_arrays(stored)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, pl.exceptions.PolarsError) as exc:
        raise ArtifactError(f"{path}: incomplete or corrupt model folder ({exc}); retrain or restore it") from exc
    model.fit_info_ = dict(meta.get("metrics", {}))
    model.history_ = list(meta.get("history", []))
    model._finish_fit()
    return model
