"""Exposure logging, outcome attribution, events and online metrics, over a live server and a real database."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from movierec.service.exposures import ExposureLog
from movierec.store import db, outcomes
from tests.service.conftest import ADMIN, make_server


def wait_for_exposures(url: str, n: int, timeout: float = 10.0) -> list[db.Exposure]:
    """The exposures table once it holds ``n`` rows (the writer inserts every half second)."""
    eng = db.make_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with eng.connect() as c:
                rows = list(c.execute(select(db.Exposure).order_by(db.Exposure.shown_at)).all())
            if len(rows) >= n or time.monotonic() > deadline:
                return rows  # type: ignore[return-value]
            time.sleep(0.05)
    finally:
        eng.dispose()


@pytest.mark.slow
def test_every_recommendation_answer_has_a_request_id_and_is_logged_with_its_films_in_rank_order(
    shared_registry: Path, db_url: str
) -> None:
    with make_server(shared_registry, db_url) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        user = c.get("/v1/users/1/recommendations", params={"k": 5}).json()
        anon = c.post("/v1/recommendations", json={"ratings": [{"movie_id": 1, "rating": 5}], "k": 3}).json()
        rows = wait_for_exposures(db_url, 2)
        metrics = c.get("/v1/metrics").text
    assert all(re.fullmatch("[0-9a-f]{32}", b["request_id"]) for b in (user, anon))
    assert user["request_id"] != anon["request_id"] and user["arm"] is None and anon["arm"] is None
    by_id = {r.request_id: r for r in rows}
    assert set(by_id) == {user["request_id"], anon["request_id"]}
    logged = by_id[user["request_id"]]
    assert logged.user_id == 1 and logged.model_version == "v000001" and logged.arm is None
    assert outcomes.decode_movies(logged.movie_ids) == [r["movie_id"] for r in user["recommendations"]]
    assert by_id[anon["request_id"]].user_id is None
    assert abs(logged.shown_at - time.time()) < 60
    assert 'movierec_exposures_logged_total{version="v000001"} 2.0' in metrics


@pytest.mark.slow
def test_exposures_still_queued_at_shutdown_are_written(shared_registry: Path, sqlite_url: str) -> None:
    with make_server(shared_registry, sqlite_url) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        ids = [c.get(f"/v1/users/{u}/recommendations").json()["request_id"] for u in range(1, 21)]
    rows = wait_for_exposures(sqlite_url, 20, timeout=0)  # the server is gone: no writer could add more
    assert sorted(r.request_id for r in rows) == sorted(ids)


@pytest.mark.slow
def test_a_later_rating_of_a_shown_film_is_attributed_and_counted_in_the_daily_metrics(
    shared_registry: Path, db_url: str
) -> None:
    with make_server(shared_registry, db_url) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        made = c.post("/v1/users").json()
        user, token = made["user_id"], {"Authorization": f"Bearer {made['token']}"}
        assert (
            c.put(f"/v1/users/{user}/ratings/1", json={"rating": 5.0}, headers=token).status_code == 200
        )  # no outcome
        shown = c.get(f"/v1/users/{user}/recommendations", params={"k": 5}, headers=token).json()
        films = [r["movie_id"] for r in shown["recommendations"]]
        second = c.get("/v1/users/2/recommendations", params={"k": 5}).json()  # an exposure without an outcome
        other = next(m for m in (2, 3, 4, 5, 6, 7, 8) if m not in films)
        assert c.put(f"/v1/users/{user}/ratings/{films[2]}", json={"rating": 3.5}, headers=token).status_code == 200
        assert c.put(f"/v1/users/{user}/ratings/{other}", json={"rating": 1.0}, headers=ADMIN).status_code == 200
        wait_for_exposures(db_url, 2)
        scraped = c.get("/v1/metrics").text  # today's online metrics, as `movierec outcomes` computes them
        assert 'movierec_online_exposures{version="v000001"} 2.0' in scraped
        assert 'movierec_online_hit_rate{version="v000001"} 0.5' in scraped
        assert 'movierec_online_mean_rating{version="v000001"} 3.5' in scraped
    eng = db.make_engine(db_url)
    try:
        exposures = outcomes.exposures_frame(eng)
        attributed = outcomes.attributed_ratings(eng, exposures)
        assert attributed.select("request_id", "user_id", "movie_id", "rating").rows() == [
            (shown["request_id"], user, films[2], 3.5)
        ]
        (day,) = outcomes.daily_metrics(eng)
        n_films = outcomes.catalogue_size(eng)
        distinct = len(set(films) | {r["movie_id"] for r in second["recommendations"]})
        assert n_films > 9000
        assert day == {
            "model_version": "v000001", "day": dt.datetime.now(dt.UTC).date().isoformat(), "exposures": 2,
            "user_exposures": 2, "hit_rate": 0.5, "mean_rating": 3.5, "coverage": pytest.approx(distinct / n_films),
            "clicks": 0, "dismissals": 0,
        }  # fmt: skip
        assert outcomes.daily_metrics(eng, since=dt.date.today() + dt.timedelta(days=1)) == []
    finally:
        eng.dispose()


@pytest.mark.slow
def test_events_name_a_shown_film_of_a_known_answer_else_404_or_422(shared_registry: Path, db_url: str) -> None:
    with make_server(shared_registry, db_url) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        body = c.get("/v1/users/1/recommendations", params={"k": 3}).json()
        rid, film = body["request_id"], body["recommendations"][0]["movie_id"]
        r = c.post("/v1/events", json={"request_id": rid, "movie_id": film, "type": "clicked"})  # still queued: flushed
        assert r.status_code == 201 and r.json()["type"] == "clicked" and r.json()["movie_id"] == film
        c.post("/v1/events", json={"request_id": rid, "movie_id": film, "type": "dismissed"})
        again = c.post("/v1/events", json={"request_id": rid, "movie_id": film, "type": "clicked"})
        assert again.status_code == 201 and again.json()["at"] == r.json()["at"]  # recorded once
        unknown = c.post("/v1/events", json={"request_id": "0" * 32, "movie_id": film, "type": "clicked"})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_request"
        assert "request_id" in unknown.json()["error"]["message"]
        not_shown = c.post("/v1/events", json={"request_id": rid, "movie_id": 999_999, "type": "clicked"})
        assert not_shown.status_code == 404 and "was not in the answer" in not_shown.json()["error"]["message"]
        for bad in ({"request_id": rid, "movie_id": film, "type": "liked"}, {"request_id": "x", "movie_id": film,
                    "type": "clicked"}, {"request_id": rid, "type": "clicked"}):  # fmt: skip
            r = c.post("/v1/events", json=bad)
            assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", r.text
    eng = db.make_engine(db_url)
    try:
        (day,) = outcomes.daily_metrics(eng)
        assert (day["clicks"], day["dismissals"]) == (1, 1)
    finally:
        eng.dispose()


def test_attribution_takes_the_most_recent_exposure_within_the_window(tmp_path: Path) -> None:
    eng = db.make_engine(f"sqlite:///{tmp_path / 'o.db'}")
    db.init_db(eng)
    db.sync_movies(eng, _catalogue(5))
    row = db.upsert_rating(eng, 7, 3, 4.0)
    t = float(row.created_at)
    week = outcomes.ATTRIBUTION_WINDOW_S
    outcomes.insert_exposures(eng, [
        ("a" * 32, 7, "v1", None, None, t - week - 60, [3, 4]),  # outside the window
        ("b" * 32, 7, "v1", None, None, t - 3600, [1, 3]),  # the most recent that showed film 3
        ("c" * 32, 7, "v2", None, None, t - 60, [1, 2]),  # more recent, but film 3 not shown
        ("d" * 32, 8, "v2", None, None, t - 60, [3]),  # another user
        ("e" * 32, 7, "v2", None, None, t + 0.5, [3]),  # after the rating (same second counts: see below)
    ])  # fmt: skip
    frame = outcomes.exposures_frame(eng)
    hits = outcomes.attributed_ratings(eng, frame.filter(frame["request_id"] != "e" * 32))
    assert hits["request_id"].to_list() == ["b" * 32]
    late = outcomes.attributed_ratings(eng, frame.filter(frame["request_id"] == "e" * 32))
    assert late["request_id"].to_list() == ["e" * 32]  # created_at is whole seconds: the same second counts
    wide = outcomes.attributed_ratings(eng, frame.filter(frame["request_id"] == "a" * 32), window_s=week + 120)
    assert wide["request_id"].to_list() == ["a" * 32]
    eng.dispose()


def test_a_full_queue_drops_and_counts_and_a_refused_batch_is_counted_not_raised(tmp_path: Path) -> None:
    eng = db.make_engine(f"sqlite:///{tmp_path / 'q.db'}")
    db.init_db(eng)
    log = ExposureLog(eng, max_queue=2)
    for n in range(3):
        log.record(f"{n:032x}", 1, "v1", None, None, [1, 2])
    assert log.pending() == 2 and log.dropped == {("v1", "queue_full"): 1}
    assert log.flush() == 2 and log.logged == {"v1": 2} and log.pending() == 0
    log.record(f"{0:032x}", 1, "v1", None, None, [1])  # a duplicate request id: the database refuses the batch
    assert log.flush() == 0 and log.dropped[("v1", "write_failed")] == 1
    with eng.connect() as c:
        assert c.execute(text("SELECT count(*) FROM exposures")).scalar() == 2
    eng.dispose()


def _catalogue(n: int):  # type: ignore[no-untyped-def]
    import polars as pl

    return pl.DataFrame(
        {"movie_id": list(range(1, n + 1)), "title": [f"film {m}" for m in range(1, n + 1)], "year": [2000] * n,
         "genres": [["Drama"]] * n}
    )  # fmt: skip


def test_an_empty_list_is_an_exposure_of_no_film(tmp_path: Path) -> None:
    """A list can come back empty (nothing passes the guard): it counts as shown, with no film and no hit."""
    eng = db.make_engine(f"sqlite:///{tmp_path / 'o.db'}")
    db.init_db(eng)
    db.sync_movies(eng, _catalogue(5))
    t = float(db.upsert_rating(eng, 7, 3, 4.0).created_at)
    outcomes.insert_exposures(eng, [("a" * 32, 7, "v1", None, None, t - 60, []),
                                    ("b" * 32, 7, "v1", None, None, t - 30, [3])])  # fmt: skip
    frame = outcomes.exposures_frame(eng)
    assert outcomes.attributed_ratings(eng, frame)["request_id"].to_list() == ["b" * 32]
    (day,) = outcomes.daily_metrics(eng)
    assert day["exposures"] == 2 and day["hit_rate"] == 0.5 and day["coverage"] == pytest.approx(1 / 5)
    eng.dispose()
