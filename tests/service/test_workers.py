"""`movierec serve --workers N`: a listening socket per worker (SO_REUSEPORT), dead workers replaced, clean stops."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from movierec.service import workers
from tests.service.conftest import ProcessServer, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not workers.reuse_port_supported(), reason="SO_REUSEPORT balancing is Linux-only; elsewhere "
                       "serve keeps Uvicorn's own supervisor"),  # fmt: skip
]


def listening_sockets(port: int) -> int:
    """How many TCP sockets listen on 127.0.0.1:port (Linux /proc/net/tcp, state 0A)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for r in rows if r.split()[1] == f"0100007F:{port:04X}" and r.split()[3] == "0A")


def worker_pids(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def test_each_worker_listens_on_its_own_socket_and_a_dead_one_is_replaced(
    shared_registry: Path, tmp_path: Path
) -> None:
    # One shared socket let the kernel hand most keep-alive connections to one worker (94% / 15% of a core
    # at 600 requests/s); a socket each in one SO_REUSEPORT group spreads them.
    with ProcessServer(shared_registry, f"sqlite:///{tmp_path / 'w.db'}", tmp_path / "serve.log", workers=2) as srv:
        deadline = time.monotonic() + 60
        while listening_sockets(srv.port) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert listening_sockets(srv.port) == 2
        first = worker_pids(srv.proc.pid)
        assert len(first) == 2
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 60

        def replaced() -> bool:
            pids = worker_pids(srv.proc.pid)
            return len(pids) == 2 and first[0] not in pids and listening_sockets(srv.port) == 2

        while not replaced() and time.monotonic() < deadline:
            time.sleep(0.2)
        now = worker_pids(srv.proc.pid)
        assert len(now) == 2 and first[0] not in now and first[1] in now, (first, now)  # replaced, the other untouched
        assert httpx.get(srv.url + "/v1/ready", timeout=5).status_code == 200
        parent = srv.proc.pid
    # ProcessServer's exit sent SIGTERM: serve stopped every worker and exited 0.
    assert srv.proc.returncode == 0
    assert not any(Path(f"/proc/{p}").exists() for p in now) and not Path(f"/proc/{parent}").exists()
    assert "exited with status -9; starting another" in (tmp_path / "serve.log").read_text()


def test_workers_that_cannot_listen_stop_serve_with_the_start_up_failure_status(tmp_path: Path) -> None:
    # The address is held by a socket outside the SO_REUSEPORT group: every worker fails to bind, and
    # the supervisor stops instead of restarting them forever.
    port = free_port()
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(("127.0.0.1", port))
    blocker.listen(1)
    try:
        t0 = time.monotonic()
        status = workers.run("127.0.0.1", port, 2, {"log_level": "warning"})
        assert status == workers.STARTUP_FAILURE and time.monotonic() - t0 < 60
    finally:
        blocker.close()


def test_a_frozen_worker_is_replaced_and_sighup_restarts_them_all(shared_registry: Path, tmp_path: Path) -> None:
    # A stopped worker keeps its share of new connections (its own socket): its silent heartbeat gets it
    # killed and replaced, as Uvicorn's supervisor health-checked its workers.
    with ProcessServer(shared_registry, f"sqlite:///{tmp_path / 'h.db'}", tmp_path / "serve.log", workers=2) as srv:
        first = worker_pids(srv.proc.pid)
        assert len(first) == 2
        os.kill(first[0], signal.SIGSTOP)
        deadline = time.monotonic() + workers.HUNG_AFTER_S + 40
        while first[0] in worker_pids(srv.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert first[0] not in worker_pids(srv.proc.pid)
        while len(worker_pids(srv.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        second = worker_pids(srv.proc.pid)
        assert len(second) == 2 and first[1] in second
        # SIGHUP: every worker replaced, one after another; the service stays up.
        os.kill(srv.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 90
        while set(worker_pids(srv.proc.pid)) & set(second) and time.monotonic() < deadline:
            time.sleep(0.5)
        third = worker_pids(srv.proc.pid)
        assert len(third) == 2 and not set(third) & set(second)
        assert listening_sockets(srv.port) == 2  # each old worker stopped only once its successor was serving
        assert httpx.get(srv.url + "/v1/ready", timeout=5).status_code == 200
    log = (tmp_path / "serve.log").read_text()
    assert "has not answered" in log and "SIGHUP: restarting the workers" in log and "Traceback" not in log
