"""Exposure logging off the request path: a bounded in-memory queue and one writer thread.

A recommendation answer only appends a tuple to the queue (``ExposureLog.record``: no I/O, no lock
wait worth the name); the writer thread takes what is queued every ``interval_s`` seconds, or as
soon as ``batch_rows`` are waiting, and inserts it in one transaction
(``movierec.store.outcomes.insert_exposures``). When the queue holds ``max_queue`` rows a new
exposure is dropped and counted (``dropped``), so a slow or unreachable database never blocks or
fails a request; a batch the database refuses is logged and counted the same way. ``stop``
(the app's shutdown) writes what is still queued.

Counts are per model version, for ``/v1/metrics``: ``movierec_exposures_logged_total{version}``
and ``movierec_exposures_dropped_total{version,reason}`` (reason ``queue_full`` or ``write_failed``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from movierec.store.outcomes import ExposureRow, insert_exposures

log = logging.getLogger("movierec.service")

INTERVAL_S = 0.5
"""Longest time an exposure waits in the queue before the writer inserts it, in seconds."""
BATCH_ROWS = 500
"""Queued exposures that wake the writer before ``INTERVAL_S`` is up (and the most it inserts at once)."""
MAX_QUEUE = 50_000
"""Exposures held in memory at most; one more is dropped and counted."""


class ExposureLog:
    """The queue and its writer thread.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The ratings database (tables ``exposures``, created by ``init_db``).
    interval_s, batch_rows, max_queue
        See the module constants.
    """

    def __init__(
        self, engine: Engine, interval_s: float = INTERVAL_S, batch_rows: int = BATCH_ROWS, max_queue: int = MAX_QUEUE
    ) -> None:
        self.engine = engine
        self.interval_s, self.batch_rows, self.max_queue = interval_s, batch_rows, max_queue
        self.logged: Counter[str] = Counter()
        self.dropped: Counter[tuple[str, str]] = Counter()
        self._queue: deque[ExposureRow] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._write_lock = threading.Lock()  # one writer at a time: the thread, ``flush`` or ``stop``
        self._thread: threading.Thread | None = None

    def record(
        self,
        request_id: str,
        user_id: int | None,
        version: str,
        experiment: str | None,
        arm: str | None,
        movie_ids: Sequence[int],
    ) -> None:
        """Queue one exposure (called on the request path: appends, never blocks, never raises)."""
        if len(self._queue) >= self.max_queue:
            self.dropped[(version, "queue_full")] += 1
            return
        self._queue.append((request_id, user_id, version, experiment, arm, time.time(), movie_ids))
        if len(self._queue) >= self.batch_rows:
            self._wake.set()

    def pending(self) -> int:
        """Exposures queued and not yet written."""
        return len(self._queue)

    def flush(self) -> int:
        """Write everything queued now, in batches of ``batch_rows``, in the calling thread; returns rows written."""
        written = 0
        with self._write_lock:
            while self._queue:
                batch: list[ExposureRow] = []
                while self._queue and len(batch) < self.batch_rows:
                    batch.append(self._queue.popleft())
                written += self._write(batch)
        return written

    def _write(self, batch: list[ExposureRow]) -> int:
        versions = Counter(row[2] for row in batch)
        try:
            insert_exposures(self.engine, batch)
        except SQLAlchemyError:
            log.exception("could not write %d exposures; they are dropped", len(batch))
            for version, n in versions.items():
                self.dropped[(version, "write_failed")] += n
            return 0
        self.logged.update(versions)
        return len(batch)

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                self._wake.wait(self.interval_s)
                self._wake.clear()
                self.flush()

        self._thread = threading.Thread(target=loop, name="movierec-exposure-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the writer thread and write what is still queued."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()
