"""Worker processes for ``movierec serve --workers N``: one ``SO_REUSEPORT`` listening socket each.

Uvicorn's own supervisor binds one socket in the parent and every worker accepts from it. The
kernel then wakes the worker that went idle last first, so a handful of keep-alive clients end up
on one worker: at 600 requests/s over 32 connections one worker ran at 94% of a core and the
other at 15%, and the service saturated near the capacity of one core. Here every worker binds
its own socket in one ``SO_REUSEPORT`` group, and the kernel spreads new connections over them by
their address hash (Linux; elsewhere ``serve`` keeps Uvicorn's supervisor).

The parent only watches: a worker that dies is replaced and logged; SIGINT or SIGTERM stops every
worker gracefully (Uvicorn's shutdown in each) and then the parent. A worker that cannot start
(its port taken, the app failing at start-up) stops them all with Uvicorn's start-up failure code.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import time
from typing import Any

log = logging.getLogger("uvicorn.error")

APP = "movierec.service.app:create_app"
STARTUP_FAILURE = 3
"""Exit status of a worker (and then of ``serve``) that could not start, as Uvicorn's."""
STOP_GRACE_S = 20.0


def reuse_port_supported() -> bool:
    """Whether the kernel balances connections over a ``SO_REUSEPORT`` group (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port) in the ``SO_REUSEPORT`` group of that address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # IPPROTO_TCP: asyncio sets TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _worker(host: str, port: int, options: dict[str, Any]) -> None:  # pragma: no cover - runs in a child process
    import uvicorn

    config = uvicorn.Config(APP, factory=True, host=host, port=port, **options)
    try:
        sock = listen(host, port)
    except OSError as exc:
        log.error("cannot listen on %s:%d (%s)", host, port, exc)
        sys.exit(STARTUP_FAILURE)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def run(host: str, port: int, workers: int, options: dict[str, Any]) -> int:
    """Run ``workers`` worker processes until SIGINT or SIGTERM; return the exit status for ``serve``.

    Parameters
    ----------
    host, port : the address every worker listens on
    workers : int, >= 1
    options : keyword arguments of ``uvicorn.Config`` besides the app, host and port (log level, keep-alive, ...)
    """
    context = multiprocessing.get_context("spawn")

    def start() -> Any:
        process = context.Process(target=_worker, args=(host, port, options), daemon=False)
        process.start()
        return process

    stop: dict[str, int | None] = {"signal": None}

    def on_signal(signum: int, _frame: object) -> None:
        stop["signal"] = signum

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    processes = [start() for _ in range(workers)]
    status = 0
    try:
        while stop["signal"] is None:
            time.sleep(0.25)
            for i, process in enumerate(processes):
                if process.is_alive() or stop["signal"] is not None:
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    log.error("a worker could not start; stopping the others")
                    stop["signal"], status = signal.SIGTERM, STARTUP_FAILURE
                    break
                log.warning("worker %s exited with status %s; starting another", process.pid, process.exitcode)
                processes[i] = start()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: Uvicorn's graceful shutdown in the worker
        deadline = time.monotonic() + STOP_GRACE_S
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return status
