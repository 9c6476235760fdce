"""What exposure logging adds: the request path's share (an id and a queue append) and the writer's batches.

* ``record``: ``uuid4().hex`` plus ``ExposureLog.record`` of a 10-film list, per call (what a
  recommendation request now does in addition), best of 5 runs of 100,000 calls;
* ``batch``: one writer batch of ``rate * interval`` lists (150 at 300 requests/s and 0.5 s) into a
  SQLite file (WAL, ``synchronous=FULL``, as the service opens it), best of 20, and the share of one
  core that the writer thread takes at that rate (it holds the GIL while SQLAlchemy builds the rows).

Usage::

    python benchmarks/exposure_log.py [--rate 300] [--interval 0.5]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

from movierec.service.exposures import ExposureLog
from movierec.store import db


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=300.0, help="recommendation requests per second")
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between writer batches")
    args = ap.parse_args()
    films = list(range(1, 11))
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        db.init_db(engine)
        n = 100_000
        best_record = float("inf")
        for _ in range(5):
            log = ExposureLog(engine, max_queue=10**7)  # a fresh queue: only the appends are timed
            t0 = time.perf_counter()
            for _ in range(n):
                log.record(uuid.uuid4().hex, 42, "v000001", None, None, films)
            best_record = min(best_record, (time.perf_counter() - t0) / n)
        log = ExposureLog(engine)
        size = int(args.rate * args.interval)
        best_batch, cpu_batch = float("inf"), float("inf")
        for _ in range(20):
            for _ in range(size):
                log.record(uuid.uuid4().hex, 42, "v000001", None, None, films)
            t0, c0 = time.perf_counter(), time.thread_time()
            log.flush()
            best_batch = min(best_batch, time.perf_counter() - t0)
            cpu_batch = min(cpu_batch, time.thread_time() - c0)
        engine.dispose()
    print(json.dumps({
        "record_us": round(best_record * 1e6, 2), "batch_rows": size, "batch_ms": round(best_batch * 1e3, 2),
        "batch_cpu_ms": round(cpu_batch * 1e3, 2), "writer_core_share": round(cpu_batch / args.interval, 4),
        "rate": args.rate, "interval_s": args.interval,
        "machine": f"{platform.machine()} {platform.python_version()}",
        "load_average": [round(x, 2) for x in os.getloadavg()[:2]],
    }))  # fmt: skip


if __name__ == "__main__":
    main()
