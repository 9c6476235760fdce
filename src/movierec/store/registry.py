"""Model registry: numbered model folders and an atomic pointer to the current one.

Layout of a registry folder::

    CURRENT             one line: the current version's name, e.g. ``v000003``
    versions/
      v000001/          a model folder as ``movierec.store.artifact.save`` writes it
      v000002/
      v000003/
    .publish.lock       held (``flock``) by one publisher at a time

Consistency rules (what a reader may rely on at every instant, even when a
publisher is killed with SIGKILL at any point):

* ``CURRENT`` names a complete model folder, or does not exist (empty registry).
  It is replaced with ``os.replace`` of a fsynced temporary file, so a reader
  sees the old or the new name, never a mix.
* A version folder appears under its final name only once it is complete
  (``artifact.save`` writes into a hidden temporary folder and renames it).
* A publish killed before the pointer moved leaves either a hidden temporary
  folder (ignored by readers, removed by the next publish) or a complete but
  unpublished version folder (listed by ``versions()``; the next publish takes
  the following number). The previous version stays current in both cases.

Versions are never rewritten; ``set_current`` moves the pointer (rollback).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from movierec.errors import ArtifactError, DataValidationError
from movierec.models import Recommender
from movierec.store import artifact

POINTER = "CURRENT"
VERSIONS = "versions"
LOCK = ".publish.lock"
_NAME = re.compile(r"^v(\d{6,})$")


def model_folder(path: Path | str) -> Path:
    """A model folder to load: ``path`` itself, or its current version when ``path`` is a registry.

    Raises
    ------
    ArtifactError
        If ``path`` is a registry with nothing published (or a broken ``CURRENT``).
    """
    path = Path(path)
    if (path / POINTER).is_file() or ((path / VERSIONS).is_dir() and not (path / artifact.MODEL_JSON).exists()):
        registry = Registry(path)
        version = registry.current()
        if version is None:
            hint = (
                f"no version is current; choose one with `movierec registry use VERSION --registry {path}`"
                if registry.versions()
                else f"the model registry is empty; publish one with `movierec train --registry {path}`"
            )
            raise ArtifactError(f"{path}: {hint}")
        return registry.path(version)
    return path


def require_servable_ids(users: Any, items: Any) -> None:
    """Refuse text ids before publishing: the service's database and routes take integer ids.

    Parameters
    ----------
    users, items : IdMap — a dataset's or a fitted model's id maps

    Raises
    ------
    DataValidationError
        Naming the side and an example id.
    """
    from movierec.store.db import MAX_ID

    for side, ids in (("user", users), ("film", items)):
        if not len(ids):
            continue
        if not ids.is_integer:
            raise DataValidationError(
                f"the registry publishes models for `movierec serve`, whose database and routes take integer ids; "
                f"this data has text {side} ids (e.g. {ids.ids[0]!r}): map them to integers, or save with --out instead"
            )
        lo, hi = int(ids.ids.min()), int(ids.ids.max())  # type: ignore[arg-type]
        if lo < 1 or hi > MAX_ID:
            raise DataValidationError(
                "the registry publishes models for `movierec serve`, "
                f"whose routes take ids from 1 to {MAX_ID}; this data has {side} id {lo if lo < 1 else hi}: "
                "map the ids into that range, or save with --out instead"
            )


class Registry:
    """A folder of versioned models with a current pointer.

    Parameters
    ----------
    root : Path or str
        The registry folder; created by ``publish`` when missing.

    Notes
    -----
    Readers never take a lock: they read ``CURRENT`` (one small file) and open
    the folder it names. Publishers serialise on an advisory ``flock``.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------ reading
    def versions(self) -> list[str]:
        """Names of the complete version folders, oldest first."""
        base = self.root / VERSIONS
        if not base.is_dir():
            return []
        names = [p.name for p in base.iterdir() if _NAME.match(p.name) and (p / artifact.MODEL_JSON).is_file()]
        return sorted(names, key=lambda n: int(n[1:]))

    def current(self) -> str | None:
        """The current version's name, or None when nothing was published.

        Raises
        ------
        ArtifactError
            If ``CURRENT`` names something that is not a complete version folder.
        """
        try:
            name = (self.root / POINTER).read_text().strip()
        except FileNotFoundError:
            return None
        if not _NAME.match(name) or not (self.root / VERSIONS / name / artifact.MODEL_JSON).is_file():
            raise ArtifactError(f"{self.root}: {POINTER} names {name!r}, which is not a complete model version")
        return name

    def path(self, version: str) -> Path:
        """The folder of a version.

        Raises
        ------
        ArtifactError
            If the version does not exist.
        """
        if not _NAME.match(version or "") or version not in self.versions():
            raise ArtifactError(f"{self.root}: no model version {version!r}; versions: {self.versions()}")
        return self.root / VERSIONS / version

    def load(self, version: str | None = None) -> tuple[str, Recommender]:
        """Load a version (default: the current one).

        Returns
        -------
        (version, model)

        Raises
        ------
        ArtifactError
            If the registry is empty or the version is missing or corrupt.
        """
        version = version or self.current()
        if version is None:
            raise ArtifactError(
                f"{self.root}: the model registry is empty; publish one with `movierec train --registry {self.root}`"
            )
        return version, artifact.load(self.path(version))

    def read_meta(self, version: str | None = None) -> dict[str, Any]:
        """The ``model.json`` of a version (default: the current one)."""
        version = version or self.current()
        if version is None:
            raise ArtifactError(f"{self.root}: the model registry is empty")
        return artifact.read_meta(self.path(version))

    # ------------------------------------------------------------ writing
    def publish(self, model: Recommender, metrics: dict[str, Any] | None = None) -> str:
        """Save a fitted model as the next version and make it current.

        Parameters
        ----------
        model : fitted Recommender
        metrics : dict, optional
            Extra metrics recorded in the version's ``model.json``.

        Returns
        -------
        str
            The new version's name.

        Raises
        ------
        DataValidationError
            If the model's user or film ids are not integers (``require_servable_ids``).
        FitError, NotFittedError
            From ``artifact.save`` (nothing is published).
        """
        require_servable_ids(model.users_, model.items_)
        with self._lock():
            self._remove_leftovers()
            version = self._next_name()
            artifact.save(model, self.root / VERSIONS / version, metrics)
            artifact.fsync_dir(self.root / VERSIONS)
            self._write_pointer(version)
        return version

    def set_current(self, version: str) -> None:
        """Point ``CURRENT`` at an existing version (e.g. to roll back).

        Raises
        ------
        ArtifactError
            If the version does not exist.
        """
        self.path(version)
        with self._lock():
            self._write_pointer(version)

    def _next_name(self) -> str:
        base = self.root / VERSIONS
        used = [int(m.group(1)) for p in base.iterdir() if (m := _NAME.match(p.name))]
        return f"v{max(used, default=0) + 1:06d}"

    def _write_pointer(self, version: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{POINTER}-")
        try:  # mkstemp makes it private (0600): readable like the version it names (its folder's bits, no execute)
            os.chmod(tmp, (self.root / VERSIONS / version).stat().st_mode & 0o666)
            with os.fdopen(fd, "w") as fh:
                fh.write(version + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.root / POINTER)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        artifact.fsync_dir(self.root)

    def _remove_leftovers(self) -> None:
        """Delete temporary files and folders of publishers that died (we hold the lock)."""
        for p in list((self.root / VERSIONS).iterdir()) + list(self.root.glob(f".{POINTER}-*")):
            if p.name.startswith("."):
                shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        (self.root / VERSIONS).mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK, "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
