"""Service fixtures: small real models, registries, databases (SQLite and PostgreSQL), live HTTP servers.

Models are trained once per session on ml-latest-small with ``ALSConfig(n_factors=16,
n_iter=5)`` (about a second). One catalogue title is replaced by an HTML/script
payload so every test that shows titles also checks they are escaped.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from movierec.config import ALSConfig
from movierec.data import Dataset
from movierec.models import ALS, Recommender
from movierec.store import artifact
from movierec.store.registry import Registry
from tests.conftest import DATA_HOME

ADMIN = {"Authorization": "Bearer s3cret"}
"""The admin token of ``make_server``'s servers: acts for any user."""
PG_ADMIN_URL = os.environ.get("MOVIEREC_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
EVIL_MOVIE = 1
EVIL_TITLE = 'Toy Story <img src=x onerror="window.__xss=1"><script>window.__xss=2</script> & "friends" (1995)'


@pytest.fixture(scope="session")
def ml_small() -> Dataset:
    """ml-latest-small with movie 1's title replaced by an HTML payload."""
    if DATA_HOME is None:
        pytest.skip("MovieLens data not found: set MOVIEREC_DATA_HOME to the folder holding ml-latest-small/")
    os.environ.setdefault("MOVIEREC_DATA_HOME", str(DATA_HOME))
    from movierec.data import load_movielens

    ds = load_movielens(str(DATA_HOME / "ml-latest-small"))
    movies = ds.movies.with_columns(
        pl.when(pl.col("movie_id") == EVIL_MOVIE).then(pl.lit(EVIL_TITLE)).otherwise(pl.col("title")).alias("title")
    )
    return Dataset(ds.ratings, movies, ds.users, ds.items, ds.scale, ds.name)


@pytest.fixture(scope="session")
def model_a(ml_small: Dataset) -> Recommender:
    return ALS(ALSConfig(n_factors=16, n_iter=5, random_state=1)).fit(ml_small)


@pytest.fixture(scope="session")
def model_b(ml_small: Dataset) -> Recommender:
    """A second version: other seed and factors, so its recommendations differ from ``model_a``'s."""
    return ALS(ALSConfig(n_factors=8, n_iter=5, random_state=2)).fit(ml_small)


@pytest.fixture(scope="session")
def model_b_dir(model_b: Recommender, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return artifact.save(model_b, tmp_path_factory.mktemp("model_b") / "model")


@pytest.fixture(scope="session")
def shared_registry(model_a: Recommender, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry with ``model_a`` as v000001; tests must not publish into it."""
    root = tmp_path_factory.mktemp("registry")
    Registry(root).publish(model_a)
    return root


@pytest.fixture
def registry(model_a: Recommender, tmp_path: Path) -> Path:
    """A private registry with ``model_a`` as v000001 (tests may publish into it)."""
    Registry(tmp_path / "registry").publish(model_a)
    return tmp_path / "registry"


# ---------------------------------------------------------------- databases
def _pg_admin() -> Any:
    from sqlalchemy import create_engine

    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def _pg_reason() -> str | None:
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    try:
        eng = _pg_admin()
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
        eng.dispose()
    except OperationalError as exc:
        return f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {str(exc.orig).strip()}"
    return None


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL database created and dropped here."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ratings.db'}"
        return
    yield from _fresh_pg()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ratings.db'}"


def _fresh_pg() -> Iterator[str]:
    from sqlalchemy import text

    reason = _pg_reason()
    if reason:
        pytest.skip(reason)
    name = f"movierec_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# ---------------------------------------------------------------- servers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadServer:
    """A real Uvicorn server on 127.0.0.1 in a background thread of this process."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", ws="none", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def make_server(registry: Path | None, database_url: str, **settings: Any) -> ThreadServer:
    from movierec.service import Settings, create_app

    # Rate limits off unless a test sets them: many tests write quickly from one address.
    settings = {"admin_token": "s3cret", "reload_interval": 0, "rate_writes_per_min": 0, "rate_signups_per_min": 0,
                **settings}  # fmt: skip
    s = Settings(registry=registry, database_url=database_url, **settings)
    return ThreadServer(create_app(s))


@pytest.fixture(scope="module")
def server(shared_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    """A live server on the shared registry and a fresh SQLite database, one per test module."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'ratings.db'}"
    with make_server(shared_registry, url) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: ThreadServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


class ProcessServer:
    """``movierec serve`` in a child process (the command users run)."""

    def __init__(
        self, registry: Path, database_url: str, log: Path, workers: int = 1, log_level: str = "warning", **env: str
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            sys.executable,
            "-m",
            "movierec",
            "serve",
            "--registry",
            str(registry),
            "--db",
            database_url,
            "--port",
            str(self.port),
            "--log-level",
            log_level,
            "--workers",
            str(workers),
        ]
        self.log = open(log, "w")  # noqa: SIM115 - closed in __exit__
        env = {"MOVIEREC_ADMIN_TOKEN": "s3cret", "MOVIEREC_RATE_WRITES_PER_MIN": "0",  # as ``make_server``
               "MOVIEREC_RATE_SIGNUPS_PER_MIN": "0", **env}  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **env})

    def __enter__(self) -> ProcessServer:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"movierec serve exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(self.url + "/v1/ready", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("movierec serve did not become ready in 90 s")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
