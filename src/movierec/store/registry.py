"""Model registry: numbered model folders and an atomic pointer to the current one.

Layout of a registry folder::

    CURRENT             one line: the current version's name, e.g. ``v000003``
    EXPERIMENT          JSON: the running (or last) A/B canary experiment, if any was started
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

* ``EXPERIMENT`` is written the same way as ``CURRENT`` (fsynced temporary file, ``os.replace``),
  so a reader sees the whole old or the whole new experiment. ``promote`` moves ``CURRENT`` to the
  canary first and then marks the experiment ended: a reader in between sees the canary current
  (the experiment then serves one version to everyone) or the experiment still running.

Versions are never rewritten; ``set_current`` moves the pointer (rollback) and ends a running
experiment (the control it was compared with is no longer served).

A/B canary: ``start_experiment(version, percent)`` serves ``version`` to a sticky ``percent`` % of
users and the current version to the rest. A user's arm is ``sha256("<salt>:<user_id>")`` (the
first 8 bytes, big-endian) mod 10000, below ``percent * 100`` = canary; the salt is drawn per
experiment, so two experiments split users independently while each keeps every user in one arm.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from movierec.errors import ArtifactError, DataValidationError
from movierec.models import Recommender
from movierec.store import artifact

POINTER = "CURRENT"
EXPERIMENT = "EXPERIMENT"
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


BUCKETS = 10_000
"""Hash buckets of the canary split (so ``percent`` has 0.01 % steps)."""


@dataclass(frozen=True)
class Experiment:
    """An A/B canary experiment between two versions of one registry.

    Attributes
    ----------
    id : str
        Random hex id, also the hash salt; recorded with every exposure it served.
    control, canary : str
        Version names: ``control`` was current when the experiment started.
    percent : float
        Share of users served ``canary``, in percent (0 < percent < 100).
    started_at : str
        UTC ISO time.
    ended_at : str or None
        UTC ISO time it ended; None while it runs.
    outcome : str or None
        ``promoted`` (the canary became current) or ``ended``; None while it runs.
    """

    id: str
    control: str
    canary: str
    percent: float
    started_at: str
    ended_at: str | None = None
    outcome: str | None = None

    @property
    def running(self) -> bool:
        return self.ended_at is None

    def arm_of(self, user_id: int) -> str:
        """``"canary"`` or ``"control"``: the same answer for a user for the whole experiment."""
        digest = hashlib.sha256(f"{self.id}:{int(user_id)}".encode()).digest()
        return (
            "canary" if int.from_bytes(digest[:8], "big") % BUCKETS < round(self.percent * BUCKETS / 100) else "control"
        )


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    def publish(self, model: Recommender, metrics: dict[str, Any] | None = None, current: bool = True) -> str:
        """Save a fitted model as the next version and make it current (ending a running experiment).

        Parameters
        ----------
        model : fitted Recommender
        metrics : dict, optional
            Extra metrics recorded in the version's ``model.json``.
        current : bool, default True
            False saves the version without moving ``CURRENT`` or ending an experiment (to start one
            with it as the canary: ``start_experiment``).

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
            if current:
                self._write_pointer(version)
                self._end_experiment()
        return version

    def set_current(self, version: str) -> None:
        """Point ``CURRENT`` at an existing version (e.g. to roll back), ending a running experiment.

        Raises
        ------
        ArtifactError
            If the version does not exist.
        """
        self.path(version)
        with self._lock():
            self._write_pointer(version)
            self._end_experiment()

    # ------------------------------------------------------------ A/B canary
    def experiment(self) -> Experiment | None:
        """The running or last experiment, or None if none was ever started.

        Raises
        ------
        ArtifactError
            If ``EXPERIMENT`` is not a readable experiment record.
        """
        try:
            text = (self.root / EXPERIMENT).read_text()
        except FileNotFoundError:
            return None
        try:
            return Experiment(**json.loads(text))
        except (ValueError, TypeError) as exc:
            raise ArtifactError(
                f"{self.root}: {EXPERIMENT} is not an experiment record ({exc}); "
                "end it with `movierec registry use VERSION`"
            ) from None

    def start_experiment(self, canary: str, percent: float, experiment_id: str | None = None) -> Experiment:
        """Serve ``canary`` to ``percent`` % of users and the current version to the rest.

        Replaces a running experiment (which ends). ``CURRENT`` does not move. ``experiment_id`` (the
        hash salt) is drawn at random unless given (a replay that must split users the same way).

        Raises
        ------
        ArtifactError
            If ``canary`` does not exist or nothing is current.
        DataValidationError
            If ``percent`` is not strictly between 0 and 100, or ``canary`` is the current version.
        """
        self.path(canary)
        if not 0 < percent < 100:
            raise DataValidationError(
                f"--canary: the canary's share of users is a percentage strictly between 0 and 100, got {percent:g}"
            )
        with self._lock():
            control = self.current()
            if control is None:
                raise ArtifactError(f"{self.root}: no version is current; a canary needs one to compare with")
            if control == canary:
                raise DataValidationError(
                    f"{canary} is already the current version; a canary experiment needs another version"
                )
            salt = experiment_id or secrets.token_hex(6)
            experiment = Experiment(salt, control, canary, float(percent), _utc_now())
            self._write_experiment(experiment)
        return experiment

    def promote(self) -> Experiment:
        """Make the running experiment's canary current and end the experiment.

        Returns
        -------
        Experiment
            The ended experiment (``outcome="promoted"``).

        Raises
        ------
        ArtifactError
            If no experiment is running.
        """
        with self._lock():
            running = self.experiment()
            if running is None or not running.running:
                raise ArtifactError(
                    f"{self.root}: no canary experiment is running; start one with "
                    "`movierec registry use VERSION --canary PERCENT`"
                )
            self._write_pointer(running.canary)
            ended = replace(running, ended_at=_utc_now(), outcome="promoted")
            self._write_experiment(ended)
        return ended

    def _end_experiment(self) -> None:
        """Mark a running experiment ended (``CURRENT`` moved, so its control is no longer served)."""
        try:
            running = self.experiment()
        except ArtifactError:  # unreadable: the service serves no canary from it either
            return
        if running is not None and running.running:
            self._write_experiment(replace(running, ended_at=_utc_now(), outcome="ended"))

    def _write_experiment(self, experiment: Experiment) -> None:
        self._replace_file(EXPERIMENT, json.dumps(asdict(experiment), indent=1) + "\n", self.root / VERSIONS)

    def _next_name(self) -> str:
        base = self.root / VERSIONS
        used = [int(m.group(1)) for p in base.iterdir() if (m := _NAME.match(p.name))]
        return f"v{max(used, default=0) + 1:06d}"

    def _write_pointer(self, version: str) -> None:
        self._replace_file(POINTER, version + "\n", self.root / VERSIONS / version)

    def _replace_file(self, name: str, text: str, like: Path) -> None:
        """Write ``name`` atomically: a fsynced temporary file, ``os.replace``, then the folder fsynced."""
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{POINTER}-")
        try:  # mkstemp makes it private (0600): readable like the version it names (its folder's bits, no execute)
            os.chmod(tmp, like.stat().st_mode & 0o666)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.root / name)
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
