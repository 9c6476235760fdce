"""`movierec data fetch`: download from a loopback HTTP server, check, extract atomically."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from movierec.data.home import fetch
from movierec.errors import DataValidationError


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def server() -> Iterator[dict[str, bytes]]:
    """A loopback HTTP server serving the bytes put in the returned dict by path."""
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = files.get(self.path)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    files["__base__"] = f"http://127.0.0.1:{httpd.server_address[1]}".encode()
    yield files
    httpd.shutdown()
    httpd.server_close()


def test_fetch_extracts_and_checks_sha(server: dict[str, bytes], tmp_path: Path) -> None:
    z = make_zip({"ml-100k/u.data": b"1\t1\t5\t1\n", "ml-100k/u.item": b"1|A (1990)|||u\n"})
    server["/ml-100k.zip"] = z
    base = server["__base__"].decode()
    path = fetch("ml-100k", home=tmp_path, url=f"{base}/ml-100k.zip", sha256=hashlib.sha256(z).hexdigest())
    assert (path / "u.data").read_bytes() == b"1\t1\t5\t1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["ml-100k"]  # no temporary left behind


def test_fetch_bad_checksum_leaves_nothing(server: dict[str, bytes], tmp_path: Path) -> None:
    server["/ml-100k.zip"] = make_zip({"ml-100k/u.data": b"1\t1\t5\t1\n"})
    base = server["__base__"].decode()
    with pytest.raises(DataValidationError, match="checksum mismatch"):
        fetch("ml-100k", home=tmp_path, url=f"{base}/ml-100k.zip", sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_fetch_corrupt_or_wrong_archive_leaves_nothing(server: dict[str, bytes], tmp_path: Path) -> None:
    base = server["__base__"].decode()
    server["/bad.zip"] = b"this is not a zip"
    with pytest.raises(DataValidationError, match="not a valid zip"):
        fetch("ml-100k", home=tmp_path, url=f"{base}/bad.zip")
    server["/other.zip"] = make_zip({"something/else.txt": b"x"})
    with pytest.raises(DataValidationError, match="no ml-100k/u.data"):
        fetch("ml-100k", home=tmp_path, url=f"{base}/other.zip")
    with pytest.raises(DataValidationError, match="download of .* failed"):
        fetch("ml-100k", home=tmp_path, url=f"{base}/missing.zip")
    assert list(tmp_path.iterdir()) == []


def test_fetch_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="unknown dataset"):
        fetch("ml-7", home=tmp_path)
