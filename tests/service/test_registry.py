"""The model registry: versions, the atomic pointer, a publisher killed mid-way, hot reload."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from movierec.errors import ArtifactError
from movierec.models import Recommender
from movierec.store import artifact
from movierec.store.registry import Registry
from tests.service.conftest import make_server


def test_publish_versions_and_rollback(tmp_path: Path, model_a: Recommender, model_b: Recommender) -> None:
    reg = Registry(tmp_path / "reg")
    assert reg.versions() == [] and reg.current() is None
    with pytest.raises(ArtifactError, match="empty"):
        reg.load()
    assert reg.publish(model_a) == "v000001"
    assert reg.publish(model_b, metrics={"note": 1}) == "v000002"
    assert reg.versions() == ["v000001", "v000002"] and reg.current() == "v000002"
    version, loaded = reg.load()
    assert version == "v000002" and loaded.config_dict() == model_b.config_dict()
    assert reg.read_meta()["metrics"]["note"] == 1
    reg.set_current("v000001")
    assert reg.current() == "v000001" and reg.load()[1].config_dict() == model_a.config_dict()
    with pytest.raises(ArtifactError, match="no model version"):
        reg.set_current("v000009")
    (reg.root / "CURRENT").write_text("../../etc\n")
    with pytest.raises(ArtifactError, match="not a complete model version"):
        reg.current()


PUBLISHER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from movierec.store import artifact
    from movierec.store.registry import Registry

    root, model_dir, stage = sys.argv[1:4]
    model = artifact.load(model_dir)
    if stage == "writing-folder":  # die while the version's files are being written
        real = np.savez
        def savez(*a, **k):
            real(*a, **k)
            print("READY", flush=True)
            time.sleep(120)
        np.savez = savez
    else:  # die after the folder is complete, before the pointer moves
        def write_pointer(self, version):
            print("READY", flush=True)
            time.sleep(120)
        Registry._write_pointer = write_pointer
    Registry(root).publish(model)
    """
)


def listed(body: dict) -> dict:
    """An answer without its ``request_id`` (a fresh id per answer): what two answers of one version share."""
    return {k: v for k, v in body.items() if k != "request_id"}


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["writing-folder", "before-pointer"])
def test_a_publish_killed_midway_leaves_the_previous_version_served(
    stage: str, registry: Path, model_b_dir: Path, model_b: Recommender, sqlite_url: str
) -> None:
    with make_server(registry, sqlite_url, reload_interval=0.05) as srv, httpx.Client(base_url=srv.url) as c:
        before = listed(c.get("/v1/users/1/recommendations").json())
        cmd = [sys.executable, "-c", PUBLISHER, str(registry), str(model_b_dir), stage]
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
        time.sleep(0.3)  # several polling rounds of the server
        reg = Registry(registry)
        assert reg.current() == "v000001"
        assert reg.load()[0] == "v000001"
        assert c.get("/v1/model").json()["version"] == "v000001"
        assert listed(c.get("/v1/users/1/recommendations").json()) == before
        leftovers = [p.name for p in (registry / "versions").iterdir()]
        if stage == "writing-folder":
            assert any(n.startswith(".") for n in leftovers) and reg.versions() == ["v000001"]
        else:
            assert reg.versions() == ["v000001", "v000002"]  # complete but never made current
        # The next publish cleans up, takes a fresh number, and the server swaps to it.
        new = reg.publish(model_b)
        assert new == ("v000002" if stage == "writing-folder" else "v000003")
        assert not [p for p in (registry / "versions").iterdir() if p.name.startswith(".")]
        deadline = time.monotonic() + 20
        while c.get("/v1/model").json()["version"] != new:
            assert time.monotonic() < deadline, "the server never picked up the new version"
            time.sleep(0.05)


@pytest.mark.slow
def test_hot_reload_swaps_between_requests_without_failed_or_mixed_answers(
    registry: Path, model_b: Recommender, sqlite_url: str
) -> None:
    """Clients hammer the server while a new version is published; every answer is whole and of one version."""
    with make_server(registry, sqlite_url, reload_interval=0.05) as srv:
        paths = ["/v1/users/1/recommendations?k=20", "/v1/movies/260/similar?k=20"]
        with httpx.Client(base_url=srv.url) as c:
            old = {p: listed(c.get(p).json()) for p in paths}
        answers: list[tuple[str, int, dict]] = []
        stop = threading.Event()

        def client() -> None:
            with httpx.Client(base_url=srv.url, timeout=30) as c:
                while not stop.is_set():
                    for p in paths:
                        r = c.get(p)
                        answers.append((p, r.status_code, listed(r.json())))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        Registry(registry).publish(model_b)
        deadline = time.monotonic() + 20
        while not any(a[2].get("model_version") == "v000002" for a in answers[-8:]):
            assert time.monotonic() < deadline, "the new version was never served"
            time.sleep(0.05)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        with httpx.Client(base_url=srv.url) as c:
            new = {p: listed(c.get(p).json()) for p in paths}
    assert all(new[p] != old[p] for p in paths)
    assert all(status == 200 for _, status, _ in answers)
    by_version = {"v000001": old, "v000002": new}
    for p, _, body in answers:  # each answer is exactly one version's answer, never a mix
        assert body == by_version[body["model_version"]][p]
    versions = [b["model_version"] for _, _, b in answers]
    assert versions.count("v000001") > 0 and versions.count("v000002") > 0


def test_reload_endpoint_swaps_at_once(registry: Path, model_b: Recommender, sqlite_url: str) -> None:
    with make_server(registry, sqlite_url) as srv, httpx.Client(base_url=srv.url) as c:  # polling off
        Registry(registry).publish(model_b)
        assert c.get("/v1/model").json()["version"] == "v000001"
        auth = {"Authorization": "Bearer s3cret"}
        assert c.post("/v1/admin/reload", headers=auth).json() == {"changed": True, "version": "v000002", "error": None}
        assert c.get("/v1/model").json()["version"] == "v000002"
        assert 'movierec_model_info{version="v000002"} 1.0' in c.get("/v1/metrics").text


def test_a_corrupt_version_is_refused_and_the_old_one_keeps_serving(registry: Path, sqlite_url: str) -> None:
    with make_server(registry, sqlite_url) as srv, httpx.Client(base_url=srv.url) as c:
        reg = Registry(registry)
        bad = registry / "versions" / "v000002"
        artifact.save(reg.load()[1], bad)
        (bad / "arrays.npz").write_bytes(b"garbage")
        reg.set_current("v000002")
        r = c.post("/v1/admin/reload", headers={"Authorization": "Bearer s3cret"}).json()
        assert r["changed"] is False and r["version"] == "v000001" and "ArtifactError" in r["error"]
        assert "<registry>/versions/v000002" in r["error"]  # named, but the server's folders are not shown
        assert str(registry) not in r["error"] and str(registry.resolve()) not in r["error"]
        assert c.get("/v1/users/1/recommendations").status_code == 200
        # Visible to monitoring, not only in the log: the older version serves and says why.
        assert c.get("/v1/model").json()["reload_error"] == r["error"]
        assert c.get("/v1/ready").json()["reload_error"] == r["error"]
        assert "movierec_model_reload_failing 1.0" in c.get("/v1/metrics").text
        reg.set_current("v000001")  # rolled back: nothing is failing any more
        c.post("/v1/admin/reload", headers={"Authorization": "Bearer s3cret"})
        assert c.get("/v1/model").json()["reload_error"] is None
        assert "movierec_model_reload_failing 0.0" in c.get("/v1/metrics").text


def test_a_version_that_failed_is_not_retried_or_logged_at_every_poll(registry: Path, tmp_path: Path) -> None:
    import logging

    from movierec.errors import DatabaseError
    from movierec.service.state import ModelHolder, Snapshot

    reg = Registry(registry)
    holder = ModelHolder(reg)
    assert holder.check() and holder.current.version == "v000001"
    bad = registry / "versions" / "v000002"
    artifact.save(reg.load()[1], bad)
    (bad / "arrays.npz").write_bytes(b"garbage")
    reg.set_current("v000002")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("movierec.service").addHandler(handler)
    try:
        assert not holder.check() and holder.failed_version == "v000002"
        calls = []
        load = reg.load
        reg.load = lambda *a: calls.append(a) or load(*a)  # type: ignore[method-assign]
        for _ in range(5):  # the polling: no new attempt, no new log record
            assert not holder.check()
        assert calls == [] and len(records) == 1
        assert not holder.check(force=True) and len(calls) == 1 and len(records) == 1  # forced: tried, same error not re-logged
    finally:
        logging.getLogger("movierec.service").removeHandler(handler)
    assert holder.current.version == "v000001" and "ArtifactError" in holder.last_error
    # A passing failure (the database restarting) is retried at the next poll, not remembered.
    reg.load = load  # type: ignore[method-assign]
    artifact.save(reg.load("v000001")[1], registry / "versions" / "v000003")
    reg.set_current("v000003")
    real_build, failures = Snapshot.build, [DatabaseError("database is restarting")]

    def flaky(*a: object, **k: object) -> Snapshot:
        if failures:
            raise failures.pop()
        return real_build(*a, **k)

    Snapshot.build = flaky  # type: ignore[method-assign]
    try:
        assert not holder.check() and holder.failed_version is None and "restarting" in holder.last_error
        assert holder.check() and holder.current.version == "v000003" and holder.last_error is None
    finally:
        Snapshot.build = real_build  # type: ignore[method-assign]


def test_text_ids_are_refused_at_publish_not_at_serve_time(tmp_path: Path) -> None:
    """Text ids trained and published, then every model route answered 503: refuse them when publishing."""
    import polars as pl

    from movierec.data import Dataset, RatingScale
    from movierec.errors import DataValidationError
    from movierec.models import make_model

    df = pl.DataFrame({"user_id": ["u1", "u1", "u2"], "movie_id": ["tt1", "tt2", "tt1"],
                       "rating": [4.0, 3.0, 5.0], "timestamp": [1, 2, 3]})  # fmt: skip
    model = make_model("bias").fit(Dataset.from_frames(df, None, RatingScale(), "text-ids"))
    reg = Registry(tmp_path / "reg")
    with pytest.raises(DataValidationError, match="text user ids \\(e.g. 'u1'\\)"):
        reg.publish(model)
    assert reg.current() is None and not any((tmp_path / "reg" / "versions").glob("v*"))
    big = df.with_columns(pl.Series("user_id", [1, 1, 2**60]), pl.Series("movie_id", [1, 2, 1]))  # beyond 2**53 - 1
    model = make_model("bias").fit(Dataset.from_frames(big, None, RatingScale(), "big-ids"))
    with pytest.raises(DataValidationError, match=f"ids from 1 to {2**53 - 1}; this data has user id {2**60}"):
        reg.publish(model)


def test_current_is_as_readable_as_the_versions_it_names(tmp_path: Path, model_a: Recommender) -> None:
    """``CURRENT`` came from mkstemp (0600): a service running as another user could read the versions, not it."""
    import stat

    reg = Registry(tmp_path / "reg")
    version = reg.publish(model_a)
    folder = stat.S_IMODE((tmp_path / "reg" / "versions" / version).stat().st_mode)
    pointer = stat.S_IMODE((tmp_path / "reg" / "CURRENT").stat().st_mode)
    assert folder == 0o755 and pointer == folder & 0o666 == 0o644


def test_save_makes_every_file_and_folder_durable_before_the_rename(
    tmp_path: Path, model_a: Recommender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file, the folder, then (after the rename) its parent are fsynced, not only model.json."""
    import os

    synced: list[str] = []
    renamed: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: renamed.append(str(b)) or real_replace(a, b))
    out = artifact.save(model_a, tmp_path / "m")
    files = sorted(p.name for p in out.iterdir())
    assert {"model.json", "arrays.npz", "users.parquet", "items.parquet", "movies.parquet"} <= set(files)
    before = synced[: len(files) + 1]  # what was synced before the rename, in the temporary folder
    assert sorted(Path(p).name for p in before[:-1]) == files and Path(before[-1]).name.startswith(".m-tmp-")
    assert renamed == [str(out)] and synced[len(files) + 1 :] == [str(tmp_path)]
