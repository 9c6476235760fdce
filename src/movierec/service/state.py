"""The served model: one immutable snapshot per registry version, swapped whole.

A request takes ``holder.current`` once (a single attribute read, atomic under
the GIL) and uses that snapshot to the end, so a swap between requests can
never give one request two versions. A new version is loaded, warmed (its
caches built) and only then published to requests, so no request pays for the
load or sees a half-loaded model; a version that fails to load is logged and
the previous one keeps serving.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine

from movierec.errors import ArtifactError, DataValidationError, NotFittedError
from movierec.models import Recommender
from movierec.ranking import recommend
from movierec.ranking.explain import ItemSimilarity
from movierec.store import db
from movierec.store.registry import Experiment, Registry

log = logging.getLogger("movierec.service")


def search_key(text: str) -> str:
    """What title search compares: NFC, then case-folded (the same function for titles and queries).

    NFC makes a decomposed "Ame\u0301lie" (files exported on macOS) equal to a typed "Amélie";
    Python's casefold on both sides keeps "AMÉLIE", "ß"/"ss" and a final sigma matching, where
    a lower() in one library and another's in the other may differ.
    """
    return unicodedata.normalize("NFC", text).casefold()


@dataclass(frozen=True)
class Snapshot:
    """A loaded, warmed model version and what the API derives from it.

    Attributes
    ----------
    version : str
        Registry version name.
    model : fitted Recommender
    meta : dict
        The version's ``model.json``.
    similarity : ItemSimilarity
    catalogue : polars.DataFrame
        movie_id, title, year, genres, n_ratings (0 for films without training
        ratings), ``_title`` (casefolded, for search), sorted by n_ratings
        descending then movie_id.
    rows : dict
        movie_id -> row number in ``catalogue``.
    private_users : frozenset of int
        Training users of this version who hold a token in the database (users created by ``POST
        /v1/users`` and trained on by a retrain): their reads need that token, as before the retrain.
        Read from the database when the version is loaded.
    """

    version: str
    model: Recommender
    meta: dict[str, Any]
    similarity: ItemSimilarity
    catalogue: pl.DataFrame
    rows: dict[Any, int] = field(repr=False)
    private_users: frozenset[int] = frozenset()

    @classmethod
    def build(cls, version: str, model: Recommender, meta: dict[str, Any]) -> Snapshot:
        counts = pl.DataFrame({"movie_id": model.items_.ids, "n_ratings": model.item_counts_})
        cat = (
            model.movies_.join(counts, on="movie_id", how="left")
            .with_columns(
                pl.col("n_ratings").fill_null(0).cast(pl.Int64),
                pl.col("title").str.normalize("NFC"),  # models saved before titles were NFC at ingest
                pl.col("genres").fill_null([]),
            )
            .with_columns(pl.col("title").fill_null("").map_elements(search_key, return_dtype=pl.Utf8).alias("_title"))
            .sort(["n_ratings", "movie_id"], descending=[True, False])
        )
        rows = {m: i for i, m in enumerate(cat["movie_id"].to_list())}
        snap = cls(version, model, meta, ItemSimilarity(model), cat, rows)
        recommend(model, None, k=1)  # builds the ranking caches before any request sees the model
        if model.n_items:  # and loads (or compiles) the fold-in kernels: a stored user's first request
            first = model.items_.to_ids(np.array([0]))  # must not pay for it on the event loop
            recommend(model, ratings=[(first[0], float(model.scale_.high))], k=1)
        if model.n_users:
            recommend(model, model.users_.to_ids(np.array([0]))[0], k=1)
        snap.similarity.between(np.array([0]), np.array([0]))
        return snap

    def movie(self, movie_id: Any) -> dict[str, Any] | None:
        """The catalogue row of a film, or None."""
        i = self.rows.get(movie_id)
        return None if i is None else self.catalogue.row(i, named=True)


_ABSOLUTE = re.compile(r"(?<![\w.~/<>-])(?:/[^\s/'\"():,;]+)+/?")


def redact_paths(text: str, registry: Path | None = None) -> str:
    """``text`` without absolute paths: the registry's folder becomes ``<registry>``, any other path its name.

    Errors and model metadata reach clients (``/v1/model``, ``/v1/ready``, 503 answers); the server's
    folders are not theirs to see. The log keeps the full message.
    """
    if registry is not None:
        for root in {str(registry), str(registry.resolve())}:
            text = text.replace(root.rstrip("/"), "<registry>")
    return _ABSOLUTE.sub(lambda m: ".../" + m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


@dataclass(frozen=True)
class Arm:
    """The experiment arm that served a request: ``experiment`` id and ``name`` (``control`` or ``canary``)."""

    experiment: str
    name: str


@dataclass(frozen=True)
class Canary:
    """A running A/B experiment and its canary's loaded snapshot."""

    experiment: Experiment
    snap: Snapshot


PERMANENT = (ArtifactError, DataValidationError, NotFittedError)
"""Load failures that retrying the same version cannot mend."""


class ModelHolder:
    """Holds the current ``Snapshot`` (and a canary's, during an A/B experiment) and swaps in new versions.

    The served pair (current, canary) is one attribute, replaced whole: ``serve(user_id)`` reads it
    once, so a request gets one snapshot and the arm that chose it even while a promotion swaps.

    Parameters
    ----------
    registry : Registry or None
        Where versions come from; None = never a model (routes answer 503).
    engine : sqlalchemy.Engine or None
        Ratings database; each new version's catalogue is written to its
        ``movies`` table before the version serves.
    """

    def __init__(self, registry: Registry | None, engine: Engine | None = None) -> None:
        self.registry = registry
        self.engine = engine
        self._served: tuple[Snapshot | None, Canary | None] = (None, None)
        self.canary_error: str | None = None
        self._canary_failed_for: Experiment | None = None
        self.last_error: str | None = None
        self.failed_version: str | None = None  # the registry's current version, when it failed to load
        self.reloads = 0
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> Snapshot | None:
        """The current version's snapshot (served to anonymous requests and the control arm)."""
        return self._served[0]

    @property
    def canary(self) -> Canary | None:
        """The running experiment and its canary snapshot, or None."""
        return self._served[1]

    def serve(self, user_id: int | None) -> tuple[Snapshot | None, Arm | None]:
        """The snapshot for a request of ``user_id`` and its arm (None outside an experiment or anonymous)."""
        snap, canary = self._served
        if canary is None or snap is None or user_id is None:
            return snap, None
        name = canary.experiment.arm_of(user_id)
        return (canary.snap if name == "canary" else snap), Arm(canary.experiment.id, name)

    def check(self, force: bool = False) -> bool:
        """Load the registry's current version and its running experiment's canary when they changed.

        Returns
        -------
        bool
            True when the current version or the canary was swapped.
        """
        if self.registry is None:
            return False
        with self._load_lock:
            changed = self._check_current(force)
            return self._check_canary(force) or changed

    def _check_canary(self, force: bool = False) -> bool:
        """Load, swap or drop the canary to match the registry's ``EXPERIMENT`` (lock held).

        A canary that failed to load is not tried again for the same experiment until ``force``
        (``POST /v1/admin/reload``); meanwhile everyone gets the current version.
        """
        assert self.registry is not None
        snap, had = self._served
        try:
            found = self.registry.experiment()
        except ArtifactError as exc:
            found = None
            self._canary_failed(exc)
        running = found if found is not None and found.running and snap is not None else None
        if running is None or running.canary == snap.version:  # type: ignore[union-attr]
            if had is not None:
                self._served = (snap, None)
                log.info("experiment %s ended; serving %s to everyone", had.experiment.id, snap and snap.version)
                return True
            return False
        if (had is not None and had.experiment == running) or (running == self._canary_failed_for and not force):
            return False
        try:
            if had is not None and had.snap.version == running.canary:
                canary = had.snap
            else:
                version, model = self.registry.load(running.canary)
                canary = self._private(Snapshot.build(version, model, self.registry.read_meta(version)))
                if self.engine is not None:
                    db.sync_movies(self.engine, model.movies_)
        except Exception as exc:  # a broken canary must never take the service down: everyone gets current
            self._canary_failed(exc)
            self._canary_failed_for = running
            return False
        self._served = (snap, Canary(running, canary))
        self.canary_error, self._canary_failed_for = None, None
        log.info(
            "experiment %s: serving canary %s to %g%% of users, %s to the rest",
            running.id, running.canary, running.percent, snap.version,  # type: ignore[union-attr]
        )  # fmt: skip
        return True

    def _canary_failed(self, exc: Exception) -> None:
        assert self.registry is not None
        error = redact_paths(f"{type(exc).__name__}: {exc}", self.registry.root)
        if error != self.canary_error:
            log.exception("canary load failed; serving the current version to everyone")
        self.canary_error = error

    def _check_current(self, force: bool = False) -> bool:
        """Load the registry's current version if it differs from the served one.

        A version that cannot be served (corrupt folder, another dataset's
        catalogue: ``PERMANENT``) is not tried again by the polling (a published
        version never changes, so it would fail and log every few seconds) until
        ``CURRENT`` names another one or ``force`` is set (``POST
        /v1/admin/reload``); any other failure (the database restarting, say)
        is retried at the next poll. Each distinct failure is logged once, with
        its traceback; ``last_error`` keeps it for ``/v1/model``, ``/v1/ready``
        and the metrics.

        Returns
        -------
        bool
            True when a new version was swapped in.
        """
        assert self.registry is not None
        version = None
        try:
            version = self.registry.current()
            if version is None or (self.current is not None and version == self.current.version):
                self.failed_version, self.last_error = None, None  # e.g. rolled back to the served version
                return False
            if version == self.failed_version and not force:
                return False
            t0 = time.perf_counter()
            canary = self.canary
            if canary is not None and canary.snap.version == version:  # promoted: already loaded and warmed
                snap = canary.snap
            else:
                version, model = self.registry.load(version)
                snap = self._private(Snapshot.build(version, model, self.registry.read_meta(version)))
                if self.engine is not None:
                    db.sync_movies(self.engine, model.movies_)
        except Exception as exc:  # a broken version must never take the service down
            error = redact_paths(f"{type(exc).__name__}: {exc}", self.registry.root)
            if error != self.last_error:
                log.exception("model reload failed; keeping version %s", self.current and self.current.version)
            self.last_error = error
            self.failed_version = version if isinstance(exc, PERMANENT) else None
            return False
        previous = self.current.version if self.current is not None else None
        canary = self.canary  # kept only while it is another version (``_check_canary`` then decides)
        self._served = (snap, canary if canary is not None and canary.snap.version != snap.version else None)
        self.reloads += 1
        self.last_error, self.failed_version = None, None
        log.info(
            "serving model version %s (was %s; loaded and warmed in %.2f s)",
            version, previous or "none", time.perf_counter() - t0,
        )  # fmt: skip
        return True

    def _private(self, snap: Snapshot) -> Snapshot:
        """``snap`` with its ``private_users``: its training users who hold a token in the database."""
        if self.engine is None:
            return snap
        users = snap.model.users_
        private = frozenset(u for u in db.users_with_tokens(self.engine) if u in users)
        return dataclasses.replace(snap, private_users=private)

    def start(self, interval: float) -> None:
        """Poll the registry every ``interval`` seconds in a daemon thread (0 = never)."""
        if interval <= 0 or self.registry is None or self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval):
                self.check()

        self._thread = threading.Thread(target=loop, name="movierec-model-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the polling thread (waits for a load in progress)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
