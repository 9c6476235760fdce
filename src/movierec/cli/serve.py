"""``movierec serve``: run the web service (API at /v1, web page at /) with Uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from movierec.cli.common import friendly
from movierec.errors import ArtifactError, require_extra


@friendly
def serve(
    registry: Annotated[Path, typer.Option(help="Model registry folder (`movierec train --registry`)")],
    db: Annotated[
        str,
        typer.Option(
            "--db", help="Ratings database URL, e.g. sqlite:///movierec.db or postgresql+psycopg2://user@host/db"
        ),
    ] = "sqlite:///movierec.db",
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (each loads the model and watches the registry)")
    ] = 1,
    reload_interval: Annotated[
        float | None, typer.Option(help="Seconds between registry checks (default: MOVIEREC_RELOAD_INTERVAL or 2)")
    ] = None,
    log_level: Annotated[str, typer.Option(help="Uvicorn log level")] = "info",
) -> None:
    """Serve recommendations; other settings come from MOVIEREC_* variables (see README, Service)."""
    require_extra("service", "movierec serve")
    if not registry.is_dir():  # a typo would otherwise serve 503 "no model" forever
        raise ArtifactError(
            f"--registry {registry}: no such folder; publish a model there first with "
            f"`movierec train --data ... --registry {registry}`, or give the registry folder you trained into"
        )
    import uvicorn

    from movierec.service.settings import load_settings

    _check_port_free(host, port)
    _check_database(db)
    # Settings travel by environment so every worker process reads the same ones.
    os.environ["MOVIEREC_REGISTRY"] = str(registry.resolve())
    os.environ["MOVIEREC_DATABASE_URL"] = db
    if reload_interval is not None:
        os.environ["MOVIEREC_RELOAD_INTERVAL"] = str(reload_interval)
    from movierec.service import workers as worker_processes

    options = {"log_level": log_level, **load_settings().uvicorn_options()}  # keep-alive, access log (MOVIEREC_*)
    if workers > 1 and worker_processes.reuse_port_supported():  # a socket per worker: the kernel balances them
        if port == 0:
            from movierec.errors import DataValidationError

            raise DataValidationError("--port 0 with --workers > 1 would give each worker its own port; give a port")
        status = worker_processes.run(host, port, workers, options)
        if status:
            raise typer.Exit(status)
        return
    uvicorn.run(worker_processes.APP, factory=True, host=host, port=port, workers=workers, **options)


def _check_database(url: str) -> None:
    """Fail in one line before loading anything when the database URL is unusable or unreachable (exit 2 or 7)."""
    from movierec.store import db

    engine = db.make_engine(url)
    try:
        db.ping(engine)
    finally:
        engine.dispose()


def _check_port_free(host: str, port: int) -> None:
    """Fail before loading anything when the address is taken (Uvicorn would load the model, then exit 3)."""
    import socket

    from movierec.errors import DataValidationError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise DataValidationError(
            f"--host {host!r}: cannot resolve it ({e.strerror}); use an address such as 127.0.0.1"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Uvicorn binds
        try:
            probe.bind(address)
        except OSError as e:
            raise DataValidationError(
                f"--port {port}: cannot listen on {host}:{port} ({e.strerror}); "
                "stop the process using it or pick another port with --port"
            ) from None
