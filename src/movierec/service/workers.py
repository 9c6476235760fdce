"""Worker processes for ``movierec serve --workers N``: one ``SO_REUSEPORT`` listening socket each.

Uvicorn's own supervisor binds one socket in the parent and every worker accepts from it. The
kernel then wakes the worker that went idle last first, so a handful of keep-alive clients end up
on one worker: at 600 requests/s over 32 connections one worker ran at 94% of a core and the
other at 15%, and the service saturated near the capacity of one core. Here every worker binds
its own socket in one ``SO_REUSEPORT`` group, and the kernel spreads new connections over them by
their address hash (Linux; elsewhere ``serve`` keeps Uvicorn's supervisor). Decision 0023.

The parent supervises, as Uvicorn's supervisor does:

* a worker that exits is replaced (after 1, 2, 4 ... 30 s when it had run less than 10 s);
* a worker whose heartbeat (a thread writing the time every second) stops for ``HUNG_AFTER_S`` —
  stopped or frozen — is killed and replaced: its socket keeps receiving its share of connections;
* SIGHUP restarts the workers one after another (a new one up before the old one stops);
* SIGINT or SIGTERM stops every worker gracefully (Uvicorn's shutdown), waiting ``STOP_GRACE_S``;
* when the first worker of a slot cannot start (exit status 3, Uvicorn's), ``serve`` stops with 3;
  a replacement that cannot start (the database restarting, say) is retried instead.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("movierec.serve")

APP = "movierec.service.app:create_app"
STARTUP_FAILURE = 3
"""Exit status of a worker (and then of ``serve``) that could not start, as Uvicorn's."""
STOP_GRACE_S = 20.0
"""How long a stop waits for the workers' graceful shutdown before killing them."""
HUNG_AFTER_S = 10.0
"""A worker whose heartbeat is older than this is killed and replaced."""
QUICK_EXIT_S = 10.0
MAX_BACKOFF_S = 30.0


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


def _worker(host: str, port: int, options: dict[str, Any], state: Any) -> None:  # pragma: no cover - child
    """One worker; ``state`` is shared with the parent: [heartbeat (epoch seconds), 1.0 once serving]."""
    import uvicorn

    config = uvicorn.Config(APP, factory=True, host=host, port=port, **options)
    server = uvicorn.Server(config)

    def beat() -> None:
        while True:
            state[0] = time.time()
            state[1] = 1.0 if server.started else 0.0
            time.sleep(1.0 if server.started else 0.1)

    threading.Thread(target=beat, daemon=True).start()
    try:
        sock = listen(host, port)
    except OSError as exc:
        logging.getLogger("uvicorn.error").error("cannot listen on %s:%d (%s)", host, port, exc)
        sys.exit(STARTUP_FAILURE)
    with contextlib.suppress(KeyboardInterrupt):  # Uvicorn re-raises the Ctrl+C it shut down on: that is done
        server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


@dataclass
class _Slot:
    process: Any = None
    state: Any = None  # [heartbeat, serving] shared with the worker
    started_at: float = 0.0
    ever_started: bool = False  # a worker of this slot served once: a later exit 3 is a replacement's
    backoff: float = 0.0
    restart_at: float = 0.0


def run(host: str, port: int, workers: int, options: dict[str, Any]) -> int:
    """Run ``workers`` worker processes until SIGINT or SIGTERM; return the exit status for ``serve``.

    Parameters
    ----------
    host, port : the address every worker listens on (a port of 0 is refused by ``serve``)
    workers : int, >= 1
    options : keyword arguments of ``uvicorn.Config`` besides the app, host and port (log level, keep-alive, ...)
    """
    _log_like_uvicorn()
    context = multiprocessing.get_context("spawn")

    def start(slot: _Slot) -> None:
        slot.state = context.Array("d", [time.time(), 0.0], lock=False)
        slot.process = context.Process(target=_worker, args=(host, port, options, slot.state))
        slot.process.start()
        slot.started_at = time.monotonic()

    def stop_worker(process: Any) -> None:
        if process.is_alive():
            process.terminate()  # SIGTERM: Uvicorn's graceful shutdown in the worker
        process.join(STOP_GRACE_S)
        if process.is_alive():
            process.kill()
            process.join()

    events: dict[str, int | None] = {"stop": None, "hup": None}

    def on_stop(signum: int, _frame: object) -> None:
        events["stop"] = signum

    def on_hup(signum: int, _frame: object) -> None:
        events["hup"] = signum

    handlers = {signal.SIGINT: on_stop, signal.SIGTERM: on_stop, signal.SIGHUP: on_hup}
    previous = {s: signal.signal(s, h) for s, h in handlers.items()}
    slots = [_Slot() for _ in range(workers)]
    for slot in slots:
        start(slot)
    log.info("serving on %s:%d with %d workers, a listening socket each", host, port, workers)
    status = 0
    try:
        while events["stop"] is None:
            time.sleep(0.25)
            if events["hup"] is not None:
                events["hup"] = None
                log.info("SIGHUP: restarting the workers one after another")
                for slot in slots:
                    old = slot.process
                    start(slot)
                    deadline = time.monotonic() + 120  # the new one serving before the old one stops
                    while slot.state[1] == 0.0 and slot.process.is_alive() and time.monotonic() < deadline:
                        time.sleep(0.1)
                    if old is not None:
                        stop_worker(old)
            now = time.monotonic()
            for slot in slots:
                process = slot.process
                if process is None:
                    if now >= slot.restart_at:
                        start(slot)
                    continue
                if process.is_alive():
                    if time.time() - slot.state[0] < HUNG_AFTER_S:
                        slot.ever_started |= slot.state[1] == 1.0
                        continue
                    log.error("worker %s has not answered for %.0f s; killing it", process.pid, HUNG_AFTER_S)
                    process.kill()
                    process.join()
                if events["stop"] is not None:
                    break
                if process.exitcode == STARTUP_FAILURE and not slot.ever_started:
                    log.error("worker %s could not start (see above); stopping the others", process.pid)
                    events["stop"], status = signal.SIGTERM, STARTUP_FAILURE
                    break
                quick = now - slot.started_at < QUICK_EXIT_S
                slot.backoff = min(MAX_BACKOFF_S, max(1.0, 2 * slot.backoff)) if quick else 0.0
                log.warning("worker %s exited with status %s; starting another%s", process.pid, process.exitcode,
                            f" in {slot.backoff:.0f} s" if slot.backoff else "")  # fmt: skip
                slot.process, slot.restart_at = None, now + slot.backoff
    finally:
        for slot in slots:
            if slot.process is not None:
                stop_worker(slot.process)
        for s, handler in previous.items():
            signal.signal(s, handler)
    return status


def _log_like_uvicorn() -> None:
    """The supervisor's lines in Uvicorn's format (``INFO:     ...``) on stderr."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
