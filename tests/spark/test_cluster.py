"""Integration: a real standalone Spark cluster on 127.0.0.1 (master + worker from PySpark's own
distribution), `movierec train --engine spark --spark-master spark://...` through it, artifact checked,
cluster shut down even when the test fails."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from movierec import load, recommend
from movierec.data import synthetic_ratings
from tests.spark.conftest import SPARK_MARKS, require_spark

pytestmark = SPARK_MARKS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check, proc: subprocess.Popen, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


def _state(ui_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as resp:
        return json.loads(resp.read())


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """Master and one worker (2 cores, 1 GB) on 127.0.0.1; both stopped in ``finally``."""
    require_spark()
    import pyspark

    spark_home = Path(pyspark.__file__).parent
    spark_class = str(spark_home / "bin" / "spark-class")
    env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_LOG_DIR": str(tmp_path / "logs"), "SPARK_WORKER_DIR": str(tmp_path / "work")}  # fmt: skip
    port, ui, worker_ui = _free_port(), _free_port(), _free_port()
    url = f"spark://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    log = open(tmp_path / "cluster.log", "wb")  # noqa: SIM115 - closed in finally
    try:
        master = subprocess.Popen([spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                   "--port", str(port), "--webui-port", str(ui)],
                                  env=env, stdout=log, stderr=log)  # fmt: skip
        procs.append(master)
        _wait("Spark master", lambda: _state(ui)["status"] == "ALIVE", master)
        worker = subprocess.Popen([spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                                   "--cores", "2", "--memory", "1g", "--webui-port", str(worker_ui), url],
                                  env=env, stdout=log, stderr=log)  # fmt: skip
        procs.append(worker)
        _wait("Spark worker", lambda: _state(ui)["aliveworkers"] >= 1, worker)
        yield url, ui
    finally:
        for proc in reversed(procs):  # worker first, then master
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()
    assert all(p.poll() is not None for p in procs)


def test_train_on_a_standalone_cluster(cluster: tuple[str, int], tmp_path: Path) -> None:
    url, ui = cluster
    ratings = synthetic_ratings(1284, n_users=60, n_items=40, seed=8)  # what 3,000 asked used to give
    csv = tmp_path / "ratings.csv"
    ratings.rename({"user_id": "userId", "movie_id": "movieId"}).write_csv(csv)
    cmd = [sys.executable, "-m", "movierec", "train", "--engine", "spark", "--model", "als", "--spark-master", url,
           "--spark-conf", "spark.executor.memory=512m", "--spark-conf", "spark.cores.max=2",
           "--spark-conf", "spark.ui.enabled=false", "--spark-conf", "spark.sql.shuffle.partitions=2",
           "--data", str(csv), "--out", str(tmp_path / "model"), "--factors", "4", "--iterations", "2",
           "--json"]  # fmt: skip
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["metrics"]["engine"] == "spark" and summary["metrics"]["spark_master"] == url
    model = load(tmp_path / "model")
    assert model.n_users == 60 and model.user_factors_.shape == (60, 4)
    assert len(recommend(model, int(model.users_.ids[0]), k=5, min_ratings=0)) == 5
    apps = _state(ui)["completedapps"] + _state(ui)["activeapps"]
    assert any(a["name"] == "movierec" for a in apps)  # the job really ran on this cluster
