"""Overload, connection and browser protections over a live server: load shedding, keep-alive, security headers."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import ADMIN, make_server


@pytest.mark.slow
def test_past_capacity_requests_are_refused_at_once_with_retry_after(shared_registry: Path, tmp_path: Path) -> None:
    """Writes stall (another process holds the SQLite lock): past ``max_in_flight`` the rest get 503 at once.

    Before, the server queued without bound and 27-53% of requests past capacity timed out at the client.
    """
    path = tmp_path / "ratings.db"
    server = make_server(shared_registry, f"sqlite:///{path}", db_busy_timeout=20, max_in_flight=4)
    answers: list[tuple[int, float, httpx.Response]] = []

    def put(n: int, url: str) -> None:
        r = httpx.put(f"{url}/v1/users/{n + 1}/ratings/1", json={"rating": 4.0}, headers=ADMIN, timeout=30)
        answers.append((r.status_code, time.perf_counter(), r))  # when the answer came

    with server as srv:
        httpx.put(f"{srv.url}/v1/users/1/ratings/1", json={"rating": 4.0}, headers=ADMIN).raise_for_status()
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        threads = [threading.Thread(target=put, args=(n, srv.url)) for n in range(12)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        assert httpx.get(f"{srv.url}/v1/health").status_code == 200  # liveness is never shed
        released = time.perf_counter()
        holder.execute("ROLLBACK")
        holder.close()
        for t in threads:
            t.join()
    refused = [(s, dt, r) for s, dt, r in answers if s == 503]
    stored = [s for s, _, _ in answers if s == 200]
    assert refused and stored and len(refused) + len(stored) == 12, [(s, r.text) for s, _, r in answers]
    for _, answered, r in refused:
        assert r.json()["error"]["code"] == "overloaded" and r.headers["retry-after"] == "1"
        assert answered < released  # refused at once, not after waiting for the lock like the admitted ones


def _read_response(sock: socket.socket) -> bytes:
    """One whole HTTP/1.1 response (head and Content-Length body); b"" if the server closed the connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _idle_then_request(url: str, idle_s: float) -> bytes:
    """Open a connection, make a request, stay idle ``idle_s`` seconds, then send a POST on it; the raw answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in _read_response(s)
        time.sleep(idle_s)
        body = b'{"ratings": [{"movie_id": 1, "rating": 4.0}], "k": 3}'
        try:
            s.sendall(b"POST /v1/recommendations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
            return _read_response(s)
        except ConnectionResetError:
            return b""


@pytest.mark.slow
def test_keep_alive_timeout_and_access_log_are_settings_and_model_swaps_are_logged(
    shared_registry: Path, tmp_path: Path
) -> None:
    """``movierec serve`` takes the keep-alive timeout and the access log from MOVIEREC_KEEP_ALIVE / _ACCESS_LOG.

    Uvicorn's fixed 5 s closed idle connections under clients that reuse them longer ("connection reset").
    """
    from tests.service.conftest import ProcessServer

    log = tmp_path / "serve.log"
    url = f"sqlite:///{tmp_path / 'ratings.db'}"
    env = {"MOVIEREC_KEEP_ALIVE": "2", "MOVIEREC_ACCESS_LOG": "true"}
    with ProcessServer(shared_registry, url, log, log_level="info", **env) as srv:
        assert b"200 OK" in _idle_then_request(srv.url, 0.5)  # idle below the timeout: the connection is reused
        assert _idle_then_request(srv.url, 3.5) == b""  # idle past it: the server closed the connection
    text = log.read_text()
    assert "serving model version v000001 (was none; loaded and warmed in" in text
    assert '"POST /v1/recommendations HTTP/1.1" 200' in text


def test_the_default_keep_alive_outlasts_common_client_pools() -> None:
    from movierec.service.settings import Settings

    assert Settings().uvicorn_options() == {"timeout_keep_alive": 75.0, "access_log": False}


def test_every_answer_carries_the_security_headers(client: httpx.Client) -> None:
    import base64
    import hashlib
    import re

    for path in ("/", "/static/app.js", "/v1/movies/1", "/v1/movies/999999999", "/docs"):
        r = client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY" and r.headers["referrer-policy"] == "no-referrer", path
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, path
    assert "'unsafe-inline'" not in client.get("/").headers["content-security-policy"]
    docs = client.get("/docs")
    inline = re.findall(r"<script>(.*?)</script>", docs.text, re.S)
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in docs.headers["content-security-policy"]  # Swagger UI's start-up script may run


@pytest.mark.slow
def test_a_bad_setting_stops_serve_in_one_line_naming_the_variable(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.service.conftest import free_port

    env = {**os.environ, "MOVIEREC_KEEP_ALIVE": "-3"}
    cmd = [sys.executable, "-m", "movierec", "serve", "--registry", str(tmp_path), "--db", f"sqlite:///{tmp_path}/x.db",
           "--port", str(free_port())]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "MOVIEREC_KEEP_ALIVE='-3'" in r.stderr and "greater than 0" in r.stderr
