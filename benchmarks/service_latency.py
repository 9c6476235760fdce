"""Latency of the recommendation routes at a fixed request rate (open loop), loopback only.

Trains the default model (``hybrid``, default config; ``--model als`` for ALS) on ml-latest-small,
publishes it to a temporary registry, starts ``movierec serve`` (``--workers``, SQLite) on
127.0.0.1, and sends requests at a fixed rate for a fixed time from an asyncio client. Latency is
measured from each request's *scheduled* send time, so a stalled server cannot hide queueing (no
coordinated omission). Mixes (``--mixes``):

* ``training``: ``GET /v1/users/{id}/recommendations?k=10`` for random MovieLens users;
* ``db``: the same for users with 20 ratings in the database (folded in on every request);
* ``mixed``: half ``GET`` (db and training users alike), half ``POST /v1/recommendations`` with
  20 anonymous ratings of popular films (a fold-in on every request).

Usage::

    MOVIEREC_DATA_HOME=../shared/data python benchmarks/service_latency.py --rate 300 --duration 30 --workers 2

Prints one JSON object per mix and rate (``--rate 300,800`` runs both); each bounded by
``--duration`` plus 2 s (the per-request timeout). 503 answers (load shedding) count as errors,
fast ones; ``status_counts`` says which.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import uvloop


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the server process and its worker processes (Linux /proc)."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def start_server(registry: Path, db_url: str, port: int, log: Path, workers: int = 1) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "movierec",
        "serve",
        "--registry",
        str(registry),
        "--db",
        db_url,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--workers",
        str(workers),
    ]
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/ready", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not start; see {log}")


CONNECTIONS = 32
"""Keep-alive connections of the load generator by default (requests wait for a free one; the wait is measured).
With few connections the queue forms in the client; ``--connections 256`` puts it in the server, where load
shedding (``MOVIEREC_MAX_IN_FLIGHT``) can refuse it."""
TIMEOUT_S = 2.0
"""A request not answered within this time (from its start, queueing included) is an error."""


class Connection:
    """One keep-alive HTTP/1.1 connection: a minimal client, so the load generator costs little CPU."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def call(self, method: str, path: str, body: bytes = b"", token: str = "") -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        extra = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n" if body else ""
        extra += f"Authorization: Bearer {token}\r\n" if token else ""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAccept: application/json\r\n{extra}\r\n"
        self.writer.write(head.encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(int(v) for k, _, v in (x.partition(":") for x in lines[1:]) if k.lower() == "content-length")
        body = await self.reader.readexactly(length)
        if status == 200 and not body.startswith(b"{"):
            return -2
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


Request = tuple[str, str, bytes] | tuple[str, str, bytes, str]
"""(method, path, body) of one request, and the user's token where the route needs one."""


async def open_loop(
    base: str,
    requests: list[Request],
    rate: float,
    duration: float,
    seed: int,
    connections: int = CONNECTIONS,
    server_cpu: Callable[[], float] | None = None,
) -> dict:
    """Send ``rate * duration`` requests (drawn from ``requests``) on a fixed schedule; latency counts from the
    scheduled time. ``server_cpu`` (CPU seconds of the server so far) is read after the warm-up and at the end,
    so the CPU per request counts the timed requests only."""
    rng = random.Random(seed)
    host, port = base.removeprefix("http://").split(":")
    n = int(rate * duration)
    lat = np.full(n, np.nan)
    status = np.zeros(n, dtype=np.int32)
    lag = np.full(n, np.nan)  # how late the client itself started each request (a starved client shows here)
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Connection(host, int(port)))
    # Warm-up: every connection (they are spread over the workers) sends the first requests and one request
    # per token, so each worker has checked each token once (scrypt, 40-60 ms: decision 0019) before timing.
    per_token = list({req[3]: req for req in requests if len(req) == 4}.values())
    for _ in range(connections):
        c = await pool.get()
        for req in requests[:5] + per_token:
            await c.call(*req)
        pool.put_nowait(c)
    cpu0 = server_cpu() if server_cpu else 0.0

    async def request(req: Request) -> int:
        c = await pool.get()  # waiting for a free connection counts toward the latency
        try:
            return await c.call(*req)
        except BaseException:
            c.close()
            raise
        finally:
            pool.put_nowait(c)

    async def one(i: int, scheduled: float, req: Request) -> None:
        lag[i] = time.perf_counter() - scheduled
        try:
            status[i] = await asyncio.wait_for(request(req), timeout=TIMEOUT_S)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError, StopIteration):
            status[i] = -1  # errors count at their full time below
        lat[i] = time.perf_counter() - scheduled

    tasks = []
    t0 = time.perf_counter() + 0.1
    for i in range(n):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled, rng.choice(requests))))
    await asyncio.gather(*tasks)  # each request gives up after TIMEOUT_S
    elapsed = time.perf_counter() - t0
    while not pool.empty():
        pool.get_nowait().close()
    ok = status == 200
    ms = lat * 1000
    cpu_ms = (server_cpu() - cpu0) / n * 1000 if server_cpu else None
    return {
        "server_cpu_ms_per_request": None if cpu_ms is None else round(cpu_ms, 2),
        "requests": n,
        "errors": int((~ok).sum()),
        "achieved_rate": round(n / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p90_ms": round(float(np.percentile(ms, 90)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "client_lag_p99_ms": round(float(np.percentile(lag * 1000, 99)), 2),
        "status_counts": {str(k): int(v) for k, v in zip(*np.unique(status, return_counts=True), strict=True)},
        "max_ms": round(float(ms.max()), 2),
        "timeouts": int((status == -1).sum()),
        "refused_503_p99_ms": round(float(np.percentile(ms[status == 503], 99)), 2) if (status == 503).any() else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", default="300", help="requests per second (fixed schedule); several: 300,800")
    ap.add_argument("--mixes", default="db,training,mixed", help="which request mixes, comma-separated")
    ap.add_argument("--model", default="hybrid", help="model served (default: the product's default, hybrid)")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per mix")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--seed", type=int, default=20261130)
    ap.add_argument("--workers", type=int, default=1, help="Uvicorn worker processes")
    ap.add_argument("--connections", type=int, default=CONNECTIONS, help="keep-alive connections of the client")
    ap.add_argument("--label", default="", help="a tag copied into each result (e.g. which code was served)")
    args = ap.parse_args()

    from movierec.data import load_movielens
    from movierec.models import make_model
    from movierec.store import db, tokens
    from movierec.store.registry import Registry

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dataset = load_movielens("ml-latest-small")
        model = make_model(args.model, {}).fit(dataset)
        Registry(root / "registry").publish(model)
        db_url = f"sqlite:///{root / 'bench.db'}"
        eng = db.make_engine(db_url)
        db.init_db(eng)
        db.sync_movies(eng, model.movies_)
        rng = random.Random(args.seed)
        popular = model.items_.to_ids(np.argsort(-model.item_counts_)[:500])
        db_users = list(range(1_000_000, 1_000_050))
        issued = {u: tokens.issue() for u in db_users}  # each stored user's token (their lists need it)
        with eng.begin() as c:  # one transaction: seeding is not what is measured
            c.execute(db.User.__table__.insert(), [
                {"user_id": u, "created_at": 0, "token_hash": issued[u][1], "token_key": issued[u][2]} for u in db_users
            ])  # fmt: skip
            rows = [
                {
                    "user_id": u,
                    "movie_id": int(m),
                    "rating": rng.choice([1.0, 2.0, 3.0, 3.5, 4.0, 4.5, 5.0]),
                    "created_at": 0,
                    "updated_at": 0,
                }
                for u in db_users
                for m in rng.sample(popular, 20)
            ]
            c.execute(db.Rating.__table__.insert(), rows)
        eng.dispose()
        proc = start_server(root / "registry", db_url, args.port, root / "serve.log", args.workers)
        try:
            base = f"http://127.0.0.1:{args.port}"
            train_users = [int(u) for u in model.users_.ids.to_list()]
            gets: dict[str, list[Request]] = {
                "db": [("GET", f"/v1/users/{u}/recommendations?k=10", b"", issued[u][0]) for u in db_users],
                "training": [("GET", f"/v1/users/{u}/recommendations?k=10", b"") for u in train_users],
            }
            stars = [1.0, 2.5, 3.0, 4.0, 4.5, 5.0]
            bodies = [{"ratings": [{"movie_id": int(m), "rating": rng.choice(stars)} for m in rng.sample(popular, 20)],
                       "k": 10} for _ in range(200)]  # fmt: skip
            posts = [("POST", "/v1/recommendations", json.dumps(b).encode()) for b in bodies]
            mixes = {**gets, "mixed": (gets["db"] * 4 + rng.sample(gets["training"], 200)) + posts * 2}  # half POST
            for mix, rate in [(m, float(r)) for r in args.rate.split(",") for m in args.mixes.split(",")]:
                load0 = os.getloadavg()[0]
                # uvloop (installed with uvicorn[standard]) keeps the load generator's own CPU small.
                res = uvloop.run(open_loop(base, mixes[mix], rate, args.duration, args.seed, args.connections,
                                           lambda: server_cpu_seconds(proc.pid)))  # fmt: skip
                res.update(
                    mix=mix,
                    rate=rate,
                    duration_s=args.duration,
                    model=args.model,
                    machine=f"{platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}",
                    load_average=[round(load0, 2), round(os.getloadavg()[0], 2)],  # 1-min, before and after
                    workers=args.workers,
                    label=args.label,
                    connections=args.connections,
                )
                print(json.dumps(res), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
