"""The /v1 API over a live Uvicorn server: behaviour, error bodies, limits, security defaults."""

from __future__ import annotations

from pathlib import Path

import httpx
import polars as pl
import pytest

from movierec.config import ALSConfig
from movierec.ranking import recommend
from movierec.service.schemas import MAX_RATINGS
from tests.service.conftest import ADMIN, EVIL_MOVIE, EVIL_TITLE, make_server

NEW_USER = 1_000_001  # not a MovieLens user, never issued


def new_user(client: httpx.Client) -> tuple[int, dict[str, str]]:
    """A user made by ``POST /v1/users`` and the headers carrying its token."""
    made = client.post("/v1/users").json()
    return made["user_id"], {"Authorization": f"Bearer {made['token']}"}


def error_code(r: httpx.Response) -> str:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return body["error"]["code"]


def test_movie_search_and_lookup(client: httpx.Client) -> None:
    page = client.get("/v1/movies", params={"query": "MATRIX", "limit": 5}).json()
    titles = [m["title"] for m in page["movies"]]
    assert titles[0] == "Matrix, The (1999)"  # most-rated first
    assert all("matrix" in t.lower() for t in titles) and page["total"] >= 3
    counts = [m["n_ratings"] for m in page["movies"]]
    assert counts == sorted(counts, reverse=True)
    drama = client.get("/v1/movies", params={"genre": "drama", "limit": 100}).json()["movies"]
    assert drama and all("Drama" in m["genres"] for m in drama)
    assert client.get(f"/v1/movies/{EVIL_MOVIE}").json()["title"] == EVIL_TITLE  # stored and returned verbatim
    assert error_code(client.get("/v1/movies/999999999")) == "unknown_movie"


def test_similar_movies(client: httpx.Client) -> None:
    body = client.get("/v1/movies/3114/similar", params={"k": 5}).json()  # Toy Story 2
    ids = [m["movie_id"] for m in body["similar"]]
    assert len(ids) == 5 and 3114 not in ids and EVIL_MOVIE in ids  # Toy Story is Toy Story 2's neighbour
    sims = [m["similarity"] for m in body["similar"]]
    assert sims == sorted(sims, reverse=True) and all(0 < s <= 1 for s in sims)


def test_training_user_recommendations_match_the_library(client: httpx.Client, model_a) -> None:
    body = client.get("/v1/users/1/recommendations", params={"k": 7}).json()
    expected = recommend(model_a, 1, k=7)
    assert [r["movie_id"] for r in body["recommendations"]] == [r.movie_id for r in expected]
    assert body["model_version"] == "v000001" and body["min_ratings"] == 20
    for r in body["recommendations"]:
        assert r["n_ratings"] >= 20 and 0.5 <= r["predicted_rating"] <= 5
        assert r["explanation"].startswith("Because you rated ") and r["because"]
        rated = set(model_a.items_.to_ids(model_a.user_state(1).rated_items(0)[0]))
        assert all(b["movie_id"] in rated for b in r["because"])  # from the user's own ratings


def test_rank_by_chooses_the_ordering_and_is_reported(client: httpx.Client, model_a) -> None:
    default = client.get("/v1/users/1/recommendations", params={"k": 7}).json()
    by_rating = client.get("/v1/users/1/recommendations", params={"k": 7, "rank_by": "rating"}).json()
    assert default["rank_by"] == "confidence" and by_rating["rank_by"] == "rating"  # the als default, then asked
    assert [r["movie_id"] for r in by_rating["recommendations"]] == [
        r.movie_id for r in recommend(model_a, 1, k=7, rank_by="rating")
    ]
    assert [r["movie_id"] for r in by_rating["recommendations"]] != [r["movie_id"] for r in default["recommendations"]]
    anon = client.post("/v1/recommendations", json={"ratings": [{"movie_id": 1, "rating": 5}], "k": 5, "rank_by": "rating"})
    assert anon.status_code == 200 and anon.json()["rank_by"] == "rating"


def test_a_write_changes_recommendations_immediately(client: httpx.Client, model_a) -> None:
    assert error_code(client.get(f"/v1/users/{NEW_USER}/recommendations")) == "unknown_user"
    user, token = new_user(client)
    with httpx.Client(base_url=client.base_url, headers=token, timeout=30) as mine:
        # Five animated family films: the fold-in must move the list toward them.
        for movie in (1, 2355, 3114, 4886, 6377):
            r = mine.put(f"/v1/users/{user}/ratings/{movie}", json={"rating": 5})
            assert r.status_code == 200 and r.json()["rating"] == 5
        ratings = mine.get(f"/v1/users/{user}/ratings").json()
        assert [r["movie_id"] for r in ratings["ratings"]] == [1, 2355, 3114, 4886, 6377]
        assert ratings["n_training_ratings"] == 0
        first = mine.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()["recommendations"]
        assert not {r["movie_id"] for r in first} & {1, 2355, 3114, 4886, 6377}  # rated films are excluded
        folded = recommend(model_a, ratings=[(m, 5.0) for m in (1, 2355, 3114, 4886, 6377)], k=10)
        assert [r["movie_id"] for r in first] == [r.movie_id for r in folded]  # the library's fold-in, exactly
        cold = recommend(model_a, None, k=10)
        assert [r["movie_id"] for r in first] != [r.movie_id for r in cold]
        assert any("Toy Story" in r["explanation"] for r in first)
        # A sixth rating changes the very next answer (no retrain).
        top = first[0]["movie_id"]
        mine.put(f"/v1/users/{user}/ratings/{top}", json={"rating": 0.5})
        after = mine.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()["recommendations"]
        assert top not in [r["movie_id"] for r in after]
        # Update in place, then delete.
        assert mine.put(f"/v1/users/{user}/ratings/1", json={"rating": 4.5}).json()["rating"] == 4.5
        assert mine.get(f"/v1/users/{user}/ratings/1").json()["rating"] == 4.5
        assert mine.delete(f"/v1/users/{user}/ratings/1").status_code == 204
        assert error_code(mine.get(f"/v1/users/{user}/ratings/1")) == "unknown_rating"
        assert error_code(mine.delete(f"/v1/users/{user}/ratings/1")) == "unknown_rating"
        assert mine.delete(f"/v1/users/{user}/ratings").status_code == 204
        assert mine.get(f"/v1/users/{user}/ratings").json()["ratings"] == []


def test_database_ratings_override_a_training_users_own(client: httpx.Client, model_a) -> None:
    user = 4
    state = model_a.user_state(user)
    rated_idx, rated_values = state.rated_items(0)
    liked = model_a.items_.to_ids(rated_idx[rated_values == 5])
    assert len(liked) >= 10
    pair = {"pairs": [{"user_id": user, "movie_id": 2571}]}
    before = client.post("/v1/predictions", json=pair).json()["predictions"][0]["predicted_rating"]
    for m in liked:  # the user now hates every film they loved
        client.put(f"/v1/users/{user}/ratings/{m}", json={"rating": 0.5}, headers=ADMIN)  # a training user
    after = client.post("/v1/predictions", json=pair).json()["predictions"][0]["predicted_rating"]
    assert after < before - 0.3
    assert client.get(f"/v1/users/{user}/ratings").json()["n_training_ratings"] == rated_idx.size
    client.delete(f"/v1/users/{user}/ratings", headers=ADMIN)


def test_anonymous_recommendations_store_nothing(client: httpx.Client) -> None:
    body = {"ratings": [{"movie_id": 1, "rating": 5}, {"movie_id": 296, "rating": 1}], "k": 5, "min_ratings": 50}
    r = client.post("/v1/recommendations", json=body).json()
    assert r["user_id"] is None and len(r["recommendations"]) == 5 and r["min_ratings"] == 50
    assert all(x["n_ratings"] >= 50 and x["movie_id"] not in (1, 296) for x in r["recommendations"])
    assert client.get("/v1/movies/1").status_code == 200
    ok = {"ratings": [{"movie_id": 1, "rating": 4}] * 1, "k": 3}
    assert client.post("/v1/recommendations", json=ok).status_code == 200
    too_many = {"ratings": [{"movie_id": i + 1, "rating": 3} for i in range(MAX_RATINGS + 1)]}
    assert error_code(client.post("/v1/recommendations", json=too_many)) == "invalid_request"
    dup = {"ratings": [{"movie_id": 1, "rating": 4}, {"movie_id": 1, "rating": 3}]}
    assert error_code(client.post("/v1/recommendations", json=dup)) == "invalid_input"
    assert (
        error_code(client.post("/v1/recommendations", json={"ratings": [{"movie_id": 999999999, "rating": 3}]}))
        == "unknown_movie"
    )


def test_anonymous_errors_name_every_bad_row_and_unusable_films_are_reported(client: httpx.Client, model_a) -> None:
    bad = {"ratings": [{"movie_id": 1, "rating": 4.5}, {"movie_id": 2, "rating": 4.25}, {"movie_id": 1, "rating": 3},
                       {"movie_id": 3, "rating": 9}]}  # fmt: skip
    r = client.post("/v1/recommendations", json=bad)
    message = r.json()["error"]["message"]
    assert r.status_code == 422 and not any(part.startswith("ratings.0.") for part in message.split("; "))  # row 0 is fine
    assert "ratings.1.rating: rating 4.25 is not on the scale" in message
    assert "ratings.2.movie_id: film 1 is already rated at ratings.0" in message and "ratings.3.rating: rating 9" in message
    r = client.post("/v1/recommendations", json={"ratings": [{"movie_id": 1, "rating": 4}, {"movie_id": 999999999, "rating": 3}]})
    assert r.status_code == 404 and "ratings.1.movie_id: unknown movie id 999999999" in r.json()["error"]["message"]
    # A catalogue film without training ratings has no factors: the reply says it was not used.
    total = client.get("/v1/movies", params={"limit": 1}).json()["total"]
    last = client.get("/v1/movies", params={"limit": 1, "offset": total - 1}).json()["movies"][0]  # least-rated
    assert last["n_ratings"] == 0 and last["movie_id"] not in model_a.items_
    r = client.post("/v1/recommendations", json={"ratings": [{"movie_id": 1, "rating": 5}, {"movie_id": last["movie_id"], "rating": 4}]})
    assert r.status_code == 200 and r.json()["ignored_movie_ids"] == [last["movie_id"]]
    r = client.post("/v1/recommendations", json={"ratings": [{"movie_id": 1, "rating": 5}]})
    assert r.json()["ignored_movie_ids"] == []
    user, token = new_user(client)  # the same on a stored user's list
    for m in (1, last["movie_id"]):
        assert client.put(f"/v1/users/{user}/ratings/{m}", json={"rating": 4}, headers=token).status_code == 200
    recs = client.get(f"/v1/users/{user}/recommendations", headers=token)
    assert recs.json()["ignored_movie_ids"] == [last["movie_id"]]
    blank = client.get(f"/v1/users/{user}/recommendations", params={"genre": " "}, headers=token)
    assert blank.status_code == 200  # blank: no filter
    client.delete(f"/v1/users/{user}/ratings", headers=token)
    r = client.post("/v1/predictions", json={"pairs": [{"user_id": 1, "movie_id": 1}, {"user_id": 1, "movie_id": 999999998},
                                                       {"user_id": 1, "movie_id": 999999999}]})  # fmt: skip
    assert r.status_code == 404 and "pairs.1.movie_id" in r.text and "pairs.2.movie_id" in r.text


def test_predictions_and_cold_start(client: httpx.Client, model_a) -> None:
    pairs = [{"user_id": 1, "movie_id": 1}, {"user_id": 5_000_000, "movie_id": 1}]
    preds = client.post("/v1/predictions", json={"pairs": pairs}).json()["predictions"]
    expected = model_a.predict([1], [1]).rating[0]
    assert preds[0]["predicted_rating"] == pytest.approx(float(expected), abs=1e-3) and not preds[0]["cold_start"]
    assert preds[1]["cold_start"]


def test_predictions_for_many_users_match_one_user_at_a_time(client: httpx.Client, model_a) -> None:
    """The batched path (one query, one block, a fold-in per stored user) gives each user's own answer.

    Users: training users without stored ratings, a training user and a new user with stored ratings,
    an unknown user; films: rated, unrated, and one without training ratings. Then the work bound.
    """
    from movierec.service.schemas import MAX_PAIR_USERS

    client.put("/v1/users/2/ratings/1", json={"rating": 0.5}, headers=ADMIN).raise_for_status()  # over user 2's own
    stored, token = new_user(client)
    client.put(f"/v1/users/{stored}/ratings/50", json={"rating": 5.0}, headers=token).raise_for_status()
    no_training = int(model_a.movies_.filter(~pl.col("movie_id").is_in(model_a.items_.ids.implode()))["movie_id"][0])
    users = [1, 2, 3, stored, 6_000_000, 4, 1]
    films = [1, 50, 2571, no_training]
    pairs = [{"user_id": u, "movie_id": m} for u in users for m in films]
    together = client.post("/v1/predictions", json={"pairs": pairs}).json()["predictions"]
    alone = [client.post("/v1/predictions", json={"pairs": [p]}).json()["predictions"][0] for p in pairs]
    assert together == alone
    assert [p["cold_start"] for p in together if p["user_id"] == 6_000_000] == [True] * 4
    assert all(p["cold_start"] for p in together if p["movie_id"] == no_training)
    assert not any(p["cold_start"] for p in together if p["user_id"] in (1, 2) and p["movie_id"] != no_training)
    two = {p["movie_id"]: p["predicted_rating"] for p in together if p["user_id"] == 2}
    assert two[1] != pytest.approx(float(model_a.predict([2], [1]).rating[0]), abs=1e-3)  # stored rating folded in
    many = [{"user_id": 10_000_000 + u, "movie_id": 1} for u in range(MAX_PAIR_USERS + 1)]
    r = client.post("/v1/predictions", json={"pairs": many})
    assert r.status_code == 422 and f"{MAX_PAIR_USERS + 1} distinct users; at most {MAX_PAIR_USERS}" in r.text
    assert client.post("/v1/predictions", json={"pairs": many[:-1]}).status_code == 200


BAD = [
    ("GET", "/v1/movies?limit=0", None, 422),
    ("GET", "/v1/movies?limit=abc", None, 422),
    ("GET", "/v1/movies?offset=-1", None, 422),
    ("GET", "/v1/movies/0", None, 422),
    ("GET", "/v1/movies/99999999999999999999999", None, 422),
    ("GET", "/v1/movies/1/similar?k=1000", None, 422),
    ("GET", "/v1/users/1/recommendations?k=0", None, 422),
    ("GET", "/v1/users/1/recommendations?min_ratings=-3", None, 422),
    ("GET", "/v1/users/1/recommendations?rank_by=popularity", None, 422),
    ("GET", "/v1/users/424242424/recommendations", None, 404),
    ("GET", "/v1/users/1/recommendations?genre=Westerns", None, 422),  # a typo, not an empty list
    ("GET", "/v1/movies?genre=Westerns", None, 422),
    ("PUT", "/v1/users/9223372036854775807/ratings/1", b'{"rating": 4}', 422),  # once broke POST /v1/users (500)
    ("PUT", "/v1/users/9007199254740992/ratings/1", b'{"rating": 4}', 422),  # 2**53: beyond JavaScript's exact ints
    ("GET", "/v1/users/424242424/ratings", None, 404),
    ("DELETE", "/v1/users/424242424/ratings", None, 404),
    ("PUT", "/v1/users/7/ratings/1", b"not json", 422),
    ("PUT", "/v1/users/7/ratings/1", b'{"rating": "five"}', 422),
    ("PUT", "/v1/users/7/ratings/1", b'{"rating": true}', 422),
    ("PUT", "/v1/users/7/ratings/1", b'{"rating": "4"}', 422),
    ("PUT", "/v1/users/7/ratings/1", b'{"rating": 5, "extra": 1}', 422),
    ("PUT", "/v1/users/7/ratings/1", b'{"rating": NaN}', 422),
    ("PUT", "/v1/users/7/ratings/1", b'{"rating": 3.7}', 422),
    ("PUT", "/v1/users/7/ratings/1", b'{"rating": 0}', 422),
    ("PUT", "/v1/users/7/ratings/1", b"[]", 422),
    ("PUT", "/v1/users/7/ratings/999999999", b'{"rating": 3}', 404),
    ("POST", "/v1/recommendations", b'{"ratings": "x"}', 422),
    ("POST", "/v1/recommendations", b'{"ratings": [{"movie_id": 1, "rating": 9}]}', 422),
    ("POST", "/v1/predictions", b'{"pairs": [{"user_id": 1}]}', 422),
    ("POST", "/v1/predictions", b'{"pairs": [{"user_id": "1", "movie_id": 1}]}', 422),  # JSON types as documented
    ("POST", "/v1/recommendations", b'{"ratings": [{"movie_id": "1", "rating": 4}]}', 422),
    ("POST", "/v1/recommendations", b'{"ratings": [{"movie_id": 1, "rating": 4}], "k": "5"}', 422),
    ("POST", "/v1/predictions", b'{"pairs": [{"user_id": 1, "movie_id": 999999999}]}', 404),
    ("POST", "/v1/movies", b"{}", 405),
    ("GET", "/v1/nowhere", None, 404),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), BAD, ids=[f"{m} {p} {b!r}" for m, p, b, _ in BAD])
def test_bad_input_is_a_client_error_never_500(
    client: httpx.Client, method: str, path: str, body: bytes | None, status: int
) -> None:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    r = client.request(method, path, content=body, headers={**headers, **ADMIN})  # may write to any known user
    assert r.status_code == status, r.text
    error_code(r)


@pytest.mark.slow
def test_oversized_bodies_get_413(client: httpx.Client) -> None:
    big = b'{"ratings": [' + b'{"movie_id": 1, "rating": 4},' * 40_000 + b"]}"
    r = client.post("/v1/recommendations", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and error_code(r) == "payload_too_large"

    def chunks():  # no Content-Length: the limit applies while the body streams
        yield b'{"ratings": ['
        for _ in range(40_000):
            yield b'{"movie_id": 1, "rating": 4},'
        yield b"]}"

    r = client.post("/v1/recommendations", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and error_code(r) == "payload_too_large"


def test_admin_needs_the_bearer_token(client: httpx.Client) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        r = client.post("/v1/admin/reload", headers=headers)
        assert r.status_code == 401 and error_code(r) == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
    r = client.post("/v1/admin/reload", headers={"Authorization": "Bearer s3cret"})
    assert r.json() == {"changed": False, "version": "v000001", "error": None}


def test_cors_is_off_by_default(client: httpx.Client) -> None:
    r = client.get("/v1/health", headers={"Origin": "https://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    pre = client.options(
        "/v1/movies", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in pre.headers


def test_model_health_ready_metrics(client: httpx.Client, model_a) -> None:
    info = client.get("/v1/model").json()
    assert info["version"] == "v000001" and info["config"]["n_factors"] == 16 and info["n_items"] == model_a.n_items
    assert info["trained_at"] and "train_rmse" in info["metrics"]
    assert client.get("/v1/health").json() == {"status": "ok"}
    assert client.get("/v1/ready").json()["model_version"] == "v000001"
    text = client.get("/v1/metrics").text
    before = _count(
        text, 'movierec_http_requests_total{method="GET",route="/v1/users/{user_id}/recommendations",status="200"}'
    )
    client.get("/v1/users/1/recommendations")
    text = client.get("/v1/metrics").text
    assert (
        _count(
            text, 'movierec_http_requests_total{method="GET",route="/v1/users/{user_id}/recommendations",status="200"}'
        )
        == before + 1
    )
    assert (
        'movierec_http_request_duration_seconds_bucket{le="0.01",method="GET",route="/v1/users/{user_id}/recommendations"}'
        in text
    )
    assert 'movierec_model_info{version="v000001"} 1.0' in text


def _count(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_without_a_model_routes_answer_503(tmp_path: Path, sqlite_url: str) -> None:
    with make_server(tmp_path / "empty-registry", sqlite_url) as srv, httpx.Client(base_url=srv.url) as c:
        assert c.get("/v1/health").status_code == 200
        for path in ("/v1/ready", "/v1/model", "/v1/movies", "/v1/users/1/recommendations"):
            r = c.get(path)
            assert r.status_code == 503 and error_code(r) == "no_model", path


def test_web_page_is_served(client: httpx.Client) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in r.text and "/static/app.js" in r.text
    head = client.head("/")  # uptime checkers use HEAD
    assert head.status_code == 200 and head.content == b""
    js = client.get("/static/app.js").text
    assert "innerHTML" not in js  # titles are only ever written as text


def test_swagger_ui_is_served_from_the_vendored_copy(client: httpx.Client) -> None:
    """/docs names only the service's own files (no CDN), and those files are served."""
    r = client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "cdn.jsdelivr" not in r.text and "/openapi.json" in r.text
    for path, kind in (
        ("/static/swagger/swagger-ui-bundle.js", "javascript"),
        ("/static/swagger/swagger-ui.css", "text/css"),
        ("/static/swagger/favicon-32x32.png", "image/png"),
    ):
        assert path in r.text
        asset = client.get(path)
        assert asset.status_code == 200 and kind in asset.headers["content-type"] and asset.content, path
    assert client.get("/openapi.json").status_code == 200


def test_the_hybrid_model_is_served_through_the_same_protocol(ml_small, tmp_path: Path, sqlite_url: str) -> None:
    """The default model will be "hybrid" (ranking score is not a rating): predictions must still be stars."""
    from movierec.models import make_model
    from movierec.store.registry import Registry

    small = {"n_factors": 16, "n_iter": 5}
    model = make_model("hybrid", {"explicit": small, "implicit": small}).fit(ml_small)
    Registry(tmp_path / "reg").publish(model)
    with make_server(tmp_path / "reg", sqlite_url) as srv, httpx.Client(base_url=srv.url) as c:
        recs = c.get("/v1/users/1/recommendations", params={"k": 5}).json()
        assert [r["movie_id"] for r in recs["recommendations"]] == [r.movie_id for r in recommend(model, 1, k=5)]
        pairs = [{"user_id": 1, "movie_id": m} for m in (1, 50, 2571)]
        got = [p["predicted_rating"] for p in c.post("/v1/predictions", json={"pairs": pairs}).json()["predictions"]]
        want = model.predict([1, 1, 1], [1, 50, 2571]).rating
        assert got == pytest.approx([float(w) for w in want], abs=1e-3)


def test_the_default_model_serves_the_lists_of_the_library_and_of_the_batch_path(ml_small, tmp_path) -> None:
    """One scoring path: the service, ``recommend`` (one user) and ``recommend_batch`` give the hybrid's same lists."""
    from movierec import recommend_batch
    from movierec.models import Hybrid, HybridConfig, ImplicitConfig
    from movierec.store.registry import Registry
    from tests.service.conftest import make_server

    small = HybridConfig(explicit=ALSConfig(n_factors=8, n_iter=3), implicit=ImplicitConfig(n_factors=8, n_iter=3))
    model = Hybrid(small).fit(ml_small)
    Registry(tmp_path / "reg").publish(model)
    users = [1, 7, 42, 600]
    batch = recommend_batch(model, users, k=6)
    with make_server(tmp_path / "reg", f"sqlite:///{tmp_path / 'db.sqlite'}") as srv, httpx.Client(base_url=srv.url) as c:
        for user in users:
            served = c.get(f"/v1/users/{user}/recommendations", params={"k": 6}).json()
            library = recommend(model, user, k=6)
            assert served["rank_by"] == "score" and served["min_ratings"] == 5
            assert [r["movie_id"] for r in served["recommendations"]] == [r.movie_id for r in library]
            assert batch.filter(pl.col("user_id") == user).sort("rank")["movie_id"].to_list() == [r.movie_id for r in library]


def test_title_search_matches_composed_and_decomposed_accents_in_any_case(tmp_path: Path, sqlite_url: str) -> None:
    """A decomposed title (macOS exports) is found by a typed query and vice versa (pelias/api#600,
    open-webui/open-webui#29102); titles are stored and served in one form, NFC."""
    import unicodedata

    from sqlalchemy import text

    from movierec.data import Dataset
    from movierec.models import make_model
    from movierec.store import db
    from movierec.store.registry import Registry

    nfd = lambda s: unicodedata.normalize("NFD", s)  # noqa: E731
    movies = pl.DataFrame({"movie_id": [10, 20, 30], "title": [nfd("Amélie Cañón (2001)"), "Léon Épée (1994)",
                           "Plain Title (1999)"], "year": [2001, 1994, 1999], "genres": [["Comedy"]] * 3})  # fmt: skip
    ratings = pl.DataFrame({"user_id": [1, 1, 2, 2, 3], "movie_id": [10, 20, 10, 30, 20],
                            "rating": [4.0, 3.5, 5.0, 2.0, 4.5], "timestamp": [1, 2, 3, 4, 5]})  # fmt: skip
    model = make_model("bias").fit(Dataset.from_frames(ratings, movies, name="accents"))
    Registry(tmp_path / "reg").publish(model)
    with make_server(tmp_path / "reg", sqlite_url) as srv, httpx.Client(base_url=srv.url) as c:
        for query, film in [("amélie", 10), ("AMÉLIE", 10), ("cañón", 10), ("léon", 20), ("ÉPÉE", 20)]:
            for form in ("NFC", "NFD"):
                found = c.get("/v1/movies", params={"query": unicodedata.normalize(form, query)}).json()["movies"]
                assert [m["movie_id"] for m in found] == [film], (query, form)
        served = c.get("/v1/movies/10").json()["title"]
        assert served == "Amélie Cañón (2001)" and unicodedata.is_normalized("NFC", served)
    eng = db.make_engine(sqlite_url)
    with eng.connect() as conn:
        stored = conn.execute(text("SELECT title FROM movies WHERE movie_id = 10")).scalar()
    assert stored == unicodedata.normalize("NFC", stored) == "Amélie Cañón (2001)"
    eng.dispose()


@pytest.mark.parametrize("query", ["amélie", "AMÉLIE", "école", "École"])
def test_accented_titles_of_movielens_are_found_in_any_case(client: httpx.Client, query: str) -> None:
    import unicodedata

    for form in ("NFC", "NFD"):
        found = client.get("/v1/movies", params={"query": unicodedata.normalize(form, query)}).json()["movies"]
        titles = [unicodedata.normalize("NFC", m["title"]).casefold() for m in found]
        assert titles and all(query.casefold() in t for t in titles), (query, form)


def test_a_short_list_says_why_in_its_note_as_the_cli_and_python_do(client: httpx.Client) -> None:
    full = client.post("/v1/recommendations", json={"ratings": [{"movie_id": 1, "rating": 5}], "k": 5}).json()
    assert len(full["recommendations"]) == 5 and full["note"] is None
    guarded = client.post("/v1/recommendations", json={"ratings": [{"movie_id": 1, "rating": 5}], "k": 5,
                                                       "min_ratings": 10**6}).json()  # fmt: skip
    assert guarded["recommendations"] == [] and guarded["note"].startswith("no film has at least 1000000 training")


def test_a_body_sent_without_a_json_content_type_says_which_header_to_send(client: httpx.Client) -> None:
    user, auth = new_user(client)
    body = b'{"rating": 4.5}'  # what `curl -d` sends, as application/x-www-form-urlencoded
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = client.put(f"/v1/users/{user}/ratings/1", content=body, headers={**auth, **form})
    assert r.status_code == 422 and error_code(r) == "invalid_request"
    message = r.json()["error"]["message"]
    assert "Content-Type: application/json" in message and "application/x-www-form-urlencoded" in message
    r = client.post("/v1/events", content=b'{"request_id": "' + b"0" * 32 + b'", "movie_id": 1, "type": "clicked"}')
    assert r.status_code == 422 and "no Content-Type" in r.json()["error"]["message"]
    r = client.put(f"/v1/users/{user}/ratings/1", content=body, headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["rating"] == 4.5
    bad = client.put(f"/v1/users/{user}/ratings/1", json={"rating": "4"}, headers=auth)  # JSON sent: no header hint
    assert bad.status_code == 422 and "Content-Type" not in bad.json()["error"]["message"]
