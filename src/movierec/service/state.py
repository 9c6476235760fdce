"""The served model: one immutable snapshot per registry version, swapped whole.

A request takes ``holder.current`` once (a single attribute read, atomic under
the GIL) and uses that snapshot to the end, so a swap between requests can
never give one request two versions. A new version is loaded, warmed (its
caches built) and only then published to requests, so no request pays for the
load or sees a half-loaded model; a version that fails to load is logged and
the previous one keeps serving.
"""

from __future__ import annotations

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
from movierec.store.registry import Registry

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
    """

    version: str
    model: Recommender
    meta: dict[str, Any]
    similarity: ItemSimilarity
    catalogue: pl.DataFrame
    rows: dict[Any, int] = field(repr=False)

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


PERMANENT = (ArtifactError, DataValidationError, NotFittedError)
"""Load failures that retrying the same version cannot mend."""


class ModelHolder:
    """Holds the current ``Snapshot`` and swaps in new registry versions.

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
        self.current: Snapshot | None = None
        self.last_error: str | None = None
        self.failed_version: str | None = None  # the registry's current version, when it failed to load
        self.reloads = 0
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self, force: bool = False) -> bool:
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
        if self.registry is None:
            return False
        with self._load_lock:
            version = None
            try:
                version = self.registry.current()
                if version is None or (self.current is not None and version == self.current.version):
                    self.failed_version, self.last_error = None, None  # e.g. rolled back to the served version
                    return False
                if version == self.failed_version and not force:
                    return False
                t0 = time.perf_counter()
                version, model = self.registry.load(version)
                snap = Snapshot.build(version, model, self.registry.read_meta(version))
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
            self.current = snap
            self.reloads += 1
            self.last_error, self.failed_version = None, None
            log.info(
                "serving model version %s (was %s; loaded and warmed in %.2f s)",
                version, previous or "none", time.perf_counter() - t0,
            )  # fmt: skip
            return True

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
