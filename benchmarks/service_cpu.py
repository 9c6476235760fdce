"""CPU per request of the service's hot routes, in process: the whole ASGI app, no sockets, no load generator.

On a shared machine the latency benchmark (``service_latency.py``) measures the neighbours as much as
the service; CPU time per request does not depend on how many other processes wait for the cores
(cache sharing aside), so it compares two versions of the code fairly even under load. Each request
goes through every middleware, FastAPI's routing and validation, the handler and the JSON
rendering; only Uvicorn's HTTP parsing and the socket are left out.

Usage (one registry and database for both versions; rounds alternate between them)::

    MOVIEREC_DATA_HOME=../shared/data python benchmarks/service_cpu.py prepare /tmp/svc-cpu
    PYTHONPATH=<checkout>/src python benchmarks/service_cpu.py measure /tmp/svc-cpu --label before
    PYTHONPATH=src python benchmarks/service_cpu.py measure /tmp/svc-cpu --label after

(A database of an older schema version needs ``movierec db upgrade --db sqlite:////tmp/svc-cpu/ratings.db``
for the newer code: measure the old code on a copy made before the upgrade.)

Requests: ``GET /v1/users/{id}/recommendations?k=10`` for a user with 20 stored ratings (``get_db``,
folded in) and for a training user (``get_training``), ``POST /v1/recommendations`` with 20 ratings
(``post_fold_in``), ``POST /v1/predictions`` with 1,000 pairs of 100 training users
(``predictions_100_users``). Prints one JSON object per run: mean CPU ms per request over ``--n``
requests of each kind in 10 batches (after 30 warm-up ones): the best batch's mean (least disturbed
by other processes) and the median batch's; and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from pathlib import Path

KINDS = ("get_db", "get_training", "post_fold_in", "predictions_100_users")
DB_USER = 1_000_003
ADMIN_TOKEN = "bench"  # the stored users of ``prepare`` have no token of their own: the admin reads their lists


def prepare(folder: Path) -> None:
    """Train the default model (hybrid) on ml-latest-small, publish it, and store 20 ratings for 10 users."""
    import numpy as np

    from movierec.data import load_movielens
    from movierec.models import make_model
    from movierec.store import db
    from movierec.store.registry import Registry

    model = make_model("hybrid", {}).fit(load_movielens("ml-latest-small"))
    Registry(folder / "registry").publish(model)
    eng = db.make_engine(f"sqlite:///{folder / 'ratings.db'}")
    db.init_db(eng)
    db.sync_movies(eng, model.movies_)
    rng = random.Random(0)
    popular = model.items_.to_ids(np.argsort(-model.item_counts_)[:500])
    for u in range(DB_USER - 3, DB_USER + 7):
        for m in rng.sample(popular, 20):
            db.upsert_rating(eng, u, int(m), rng.choice([1.0, 3.0, 4.0, 4.5, 5.0]))
    (folder / "popular.json").write_text(json.dumps([int(m) for m in popular]))
    eng.dispose()


async def measure(folder: Path, n: int, label: str) -> dict:
    from threadpoolctl import threadpool_limits

    from movierec.service import Settings, create_app

    threadpool_limits(1, "blas")
    app = create_app(
        Settings(registry=folder / "registry", database_url=f"sqlite:///{folder / 'ratings.db'}", reload_interval=0,
                 admin_token=ADMIN_TOKEN)
    )  # fmt: skip
    rng = random.Random(1)
    popular = json.loads((folder / "popular.json").read_text())
    fold_in = json.dumps({"ratings": [{"movie_id": m, "rating": 4.0} for m in rng.sample(popular, 20)], "k": 10})
    pairs = json.dumps({"pairs": [{"user_id": 1 + i % 100, "movie_id": rng.choice(popular)} for i in range(1000)]})
    requests = {
        "get_db": ("GET", f"/v1/users/{DB_USER}/recommendations", "k=10", b""),  # with the admin token
        "get_training": ("GET", "/v1/users/5/recommendations", "k=10", b""),
        "post_fold_in": ("POST", "/v1/recommendations", "", fold_in.encode()),
        "predictions_100_users": ("POST", "/v1/predictions", "", pairs.encode()),
    }

    async def call(method: str, path: str, query: str, body: bytes) -> int:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
            "headers": [(b"host", b"bench"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())]
                       + [(b"authorization", f"Bearer {ADMIN_TOKEN}".encode())] * (str(DB_USER) in path),
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
        }  # fmt: skip
        status = [0]

        async def receive() -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]

        await app(scope, receive, send)
        return status[0]

    out: dict = {"label": label, "n": n, "load_average_before": round(os.getloadavg()[0], 2)}
    async with app.router.lifespan_context(app):
        for kind in KINDS:
            req = requests[kind]
            for _ in range(30):
                assert await call(*req) == 200, kind
            count = n if kind != "predictions_100_users" else max(n // 10, 10)
            batches = []  # 10 batches: other processes only ever add time, so the best batch is the least disturbed
            for _ in range(10):
                t0 = time.process_time()
                for _ in range(max(count // 10, 1)):
                    await call(*req)
                batches.append((time.process_time() - t0) / max(count // 10, 1) * 1000)
            out[f"{kind}_cpu_ms"] = {"min": round(min(batches), 3), "median": round(sorted(batches)[5], 3)}
    out["load_average_after"] = round(os.getloadavg()[0], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["prepare", "measure"])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--n", type=int, default=300, help="requests of each kind measured")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    if args.step == "prepare":
        args.folder.mkdir(parents=True, exist_ok=True)
        prepare(args.folder)
    else:
        print(json.dumps(asyncio.run(measure(args.folder, args.n, args.label))), flush=True)


if __name__ == "__main__":
    main()
