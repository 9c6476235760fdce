"""The data home: where extracted MovieLens datasets live, and how they get there."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from movierec.errors import DataValidationError

ENV_VAR = "MOVIEREC_DATA_HOME"

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/{name}.zip"

# Official archives: the file that proves an extraction is complete.
KNOWN_DATASETS: dict[str, str] = {
    "ml-latest-small": "ratings.csv",
    "ml-latest": "ratings.csv",
    "ml-25m": "ratings.csv",
    "ml-32m": "ratings.csv",
    "ml-100k": "u.data",
    "ml-1m": "ratings.dat",
    "ml-10m": "ratings.dat",
}

# ml-10m's zip extracts to "ml-10M100K"; every other archive to its own name.
_ARCHIVE_FOLDER = {"ml-10m": "ml-10M100K"}


def data_home() -> Path:
    """The folder holding extracted datasets under their official names.

    ``$MOVIEREC_DATA_HOME`` when set, otherwise ``$XDG_CACHE_HOME/movierec``
    (``~/.cache/movierec``). Not created here.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "movierec"


def fetch(
    name: str,
    *,
    home: Path | None = None,
    url: str | None = None,
    sha256: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> Path:
    """Download an official GroupLens zip and extract it atomically into the data home.

    Parameters
    ----------
    name : str
        One of ``KNOWN_DATASETS`` (``"ml-latest-small"``, ``"ml-100k"``, ...).
    home : Path, optional
        Target data home; defaults to ``data_home()``.
    url : str, optional
        Override of the download URL (default: the GroupLens HTTPS address).
    sha256 : str, optional
        Expected SHA-256 of the zip; checked when given.
    progress : callable(done_bytes, total_bytes), optional
        Called as the download proceeds (total is 0 when unknown).
    force : bool
        Download again even when the dataset is already there.

    Returns
    -------
    Path
        The extracted dataset folder ``home / name``.

    Raises
    ------
    DataValidationError
        Unknown name, failed download, checksum mismatch, or a zip that is
        corrupt or lacks the dataset's ratings file. Nothing is left behind:
        the zip is extracted in a temporary folder and renamed into place.
    """
    if name not in KNOWN_DATASETS:
        raise DataValidationError(f"unknown dataset {name!r}; known: {sorted(KNOWN_DATASETS)}")
    home = Path(home) if home is not None else data_home()
    target = home / name
    if target.exists() and not force:
        return target
    home.mkdir(parents=True, exist_ok=True)
    url = url or GROUPLENS_URL.format(name=name)
    with tempfile.TemporaryDirectory(dir=home, prefix=f".{name}-") as tmp:
        zpath = Path(tmp) / f"{name}.zip"
        digest = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, open(zpath, "wb") as out:
                total = int(resp.headers.get("Content-Length") or 0)
                done = 0
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        except OSError as exc:
            raise DataValidationError(f"download of {url} failed: {exc}; check the network or pass --url") from exc
        if sha256 and digest.hexdigest() != sha256.lower():
            raise DataValidationError(
                f"checksum mismatch for {url}: expected {sha256}, got {digest.hexdigest()}; the download is corrupt"
            )
        staging = Path(tmp) / "extract"
        try:
            with zipfile.ZipFile(zpath) as zf:
                bad = zf.testzip()
                if bad is not None:
                    raise DataValidationError(f"{url}: member {bad!r} of the zip is corrupt")
                for member in zf.namelist():
                    dest = (staging / member).resolve()
                    if not str(dest).startswith(str(staging.resolve())):
                        raise DataValidationError(f"{url}: unsafe path {member!r} in zip")
                zf.extractall(staging)
        except zipfile.BadZipFile as exc:
            raise DataValidationError(f"{url} is not a valid zip file: {exc}") from exc
        folder = staging / _ARCHIVE_FOLDER.get(name, name)
        if not (folder / KNOWN_DATASETS[name]).exists():
            raise DataValidationError(
                f"{url}: the archive has no {_ARCHIVE_FOLDER.get(name, name)}/{KNOWN_DATASETS[name]}; "
                f"not a {name} archive"
            )
        if target.exists():
            shutil.rmtree(target)
        os.replace(folder, target)
    return target
