"""User accounts over a live server: tokens shown once, who may read and write whose ratings, no implicit
users, rate limits of the writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from movierec.store import db
from tests.service.conftest import ADMIN, ThreadServer, make_server

TRAINING_USER = 3  # a MovieLens user of the served model


@pytest.fixture(scope="module")
def accounts(shared_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadServer, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('accounts') / 'ratings.db'}"
    with make_server(shared_registry, url) as srv:
        yield srv, url


@pytest.fixture(scope="module")
def c(accounts: tuple[ThreadServer, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=accounts[0].url, timeout=30) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_user(c: httpx.Client) -> tuple[int, dict[str, str]]:
    r = c.post("/v1/users")
    assert r.status_code == 201, r.text
    return r.json()["user_id"], bearer(r.json()["token"])


def test_sign_up_gives_an_id_and_a_token_that_is_stored_only_as_a_salted_hash(
    c: httpx.Client, accounts: tuple[ThreadServer, str]
) -> None:
    first, second = c.post("/v1/users").json(), c.post("/v1/users").json()
    assert set(first) == {"user_id", "token"} and second["user_id"] == first["user_id"] + 1
    assert len(first["token"]) == 43 and first["token"] != second["token"]
    eng = db.make_engine(accounts[1])
    with eng.connect() as conn:
        rows = dict(conn.execute(text("SELECT user_id, token_hash FROM users WHERE token_hash IS NOT NULL")).all())
    eng.dispose()
    stored = rows[first["user_id"]]
    assert first["token"] not in stored and stored.startswith("scrypt$16384$8$1$")
    assert stored.split("$")[4] != rows[second["user_id"]].split("$")[4]  # a salt per user


def test_a_user_reads_and_writes_only_with_their_own_token(c: httpx.Client) -> None:
    user, mine = new_user(c)
    _, theirs = new_user(c)
    r = c.put(f"/v1/users/{user}/ratings/1", json={"rating": 4.5}, headers=mine)
    assert r.status_code == 200 and r.json()["rating"] == 4.5
    assert c.get(f"/v1/users/{user}/ratings", headers=mine).json()["ratings"][0]["movie_id"] == 1
    for headers, status in (({}, 401), (bearer("x" * 43), 401), ({"Authorization": "Basic abc"}, 401), (theirs, 403)):
        r = c.get(f"/v1/users/{user}/ratings", headers=headers)
        assert r.status_code == status, (headers, r.text)
        if status == 401:
            assert r.headers["www-authenticate"] == "Bearer" and r.json()["error"]["code"] == "unauthorized"
        else:
            assert r.json()["error"]["code"] == "forbidden" and "another user" in r.json()["error"]["message"]
    assert c.put(f"/v1/users/{user}/ratings/2", json={"rating": 1}, headers=theirs).status_code == 403
    assert [x["movie_id"] for x in c.get(f"/v1/users/{user}/ratings", headers=ADMIN).json()["ratings"]] == [1]


def test_a_put_to_an_id_never_issued_is_unknown_and_cannot_exhaust_the_ids(c: httpx.Client) -> None:
    """One unauthenticated PUT at Number.MAX_SAFE_INTEGER once created that user, and every sign-up after
    it answered 409: the web page told every new visitor "the service is not available"."""
    for headers in ({}, ADMIN):
        r = c.put("/v1/users/9007199254740991/ratings/1", json={"rating": 4}, headers=headers)
        assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_user", r.text
    r = c.post("/v1/users")
    assert r.status_code == 201 and r.json()["user_id"] < 9007199254740991
    assert c.get("/v1/users/9007199254740991/ratings", headers=ADMIN).status_code == 404


def test_training_users_are_readable_without_a_token_and_writable_only_by_the_admin(c: httpx.Client) -> None:
    assert c.get(f"/v1/users/{TRAINING_USER}/recommendations", params={"k": 3}).status_code == 200
    assert c.get(f"/v1/users/{TRAINING_USER}/ratings").json()["n_training_ratings"] > 0
    _, someone = new_user(c)
    for headers, status in (({}, 401), (someone, 403), (bearer("y" * 43), 401)):
        assert c.put(f"/v1/users/{TRAINING_USER}/ratings/1", json={"rating": 2}, headers=headers).status_code == status
    assert c.put(f"/v1/users/{TRAINING_USER}/ratings/1", json={"rating": 2}, headers=ADMIN).status_code == 200
    assert c.get(f"/v1/users/{TRAINING_USER}/ratings/1").json()["rating"] == 2  # still readable without a token
    assert c.delete(f"/v1/users/{TRAINING_USER}/ratings/1").status_code == 401
    assert c.delete(f"/v1/users/{TRAINING_USER}/ratings", headers=ADMIN).status_code == 204


def routes(user: int) -> list[tuple[str, str, dict[str, float] | None, bool]]:
    """Every user route: (method, path, body, is_write)."""
    return [
        ("GET", f"/v1/users/{user}/ratings", None, False),
        ("GET", f"/v1/users/{user}/ratings/1", None, False),
        ("GET", f"/v1/users/{user}/recommendations?k=3", None, False),
        ("PUT", f"/v1/users/{user}/ratings/1", {"rating": 4.0}, True),
        ("DELETE", f"/v1/users/{user}/ratings/1", None, True),
        ("DELETE", f"/v1/users/{user}/ratings", None, True),
    ]


@pytest.mark.parametrize("who", ["none", "other", "own", "admin"])
@pytest.mark.parametrize("kind", ["created", "training"])
def test_security_matrix_over_every_user_route(c: httpx.Client, kind: str, who: str) -> None:
    """Each route, for a created and a training user, with no token, another user's, the user's own, the admin's."""
    created, own = new_user(c)
    _, other = new_user(c)
    user = created if kind == "created" else TRAINING_USER
    headers = {"none": {}, "other": other, "own": own if kind == "created" else {}, "admin": ADMIN}[who]
    c.put(f"/v1/users/{user}/ratings/1", json={"rating": 3.0}, headers=ADMIN).raise_for_status()  # something to read
    for method, path, body, write in routes(user):
        r = c.request(method, path, json=body, headers=headers)
        assert r.status_code < 500, (method, path, r.text)
        if kind == "training" and not write:
            allowed = True  # training users stay readable
        elif kind == "training":
            allowed = who == "admin"
        else:
            allowed = who in ("own", "admin")
        if allowed:
            assert r.status_code in (200, 204), (method, path, who, r.text)
        else:
            expected = 403 if who == "other" else 401
            assert r.status_code == expected, (method, path, who, r.text)
            assert r.json()["error"]["code"] == ("forbidden" if expected == 403 else "unauthorized")
    c.delete(f"/v1/users/{user}/ratings", headers=ADMIN)


def test_every_user_route_declares_the_bearer_scheme(c: httpx.Client) -> None:
    schema = c.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["userToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["userToken"]["description"],
    }
    for path, operations in schema["paths"].items():
        if path.startswith("/v1/users/{user_id}"):
            for method, op in operations.items():
                optional = method == "get"  # training users' reads need no token
                assert op["security"] == [{"userToken": []}] + [{}] * optional, (method, path)
                assert {"401", "403", "404"} <= set(op["responses"]), (method, path)
                assert ("429" in op["responses"]) is not optional, (method, path)


def test_a_token_issued_by_the_cli_replaces_the_old_one(c: httpx.Client, accounts: tuple[ThreadServer, str]) -> None:
    from typer.testing import CliRunner

    from movierec.cli.main import app

    user, old = new_user(c)
    assert c.get(f"/v1/users/{user}/ratings", headers=old).status_code == 200  # verified and cached
    r = CliRunner().invoke(app, ["db", "issue-token", "--db", accounts[1], "--user", str(user)])
    assert r.exit_code == 0, r.output
    new = r.stdout.strip()
    assert len(new) == 43
    assert c.get(f"/v1/users/{user}/ratings", headers=old).status_code == 401  # the cache does not outlive it
    assert c.get(f"/v1/users/{user}/ratings", headers=bearer(new)).status_code == 200
    missing = CliRunner().invoke(app, ["db", "issue-token", "--db", accounts[1], "--user", "9007199254740991"])
    assert missing.exit_code != 0 and "user 9007199254740991 is not stored" in missing.output
    assert "Traceback" not in missing.output


@pytest.mark.slow
def test_writes_and_sign_ups_are_rate_limited_with_retry_after(shared_registry: Path, sqlite_url: str) -> None:
    limits = {"rate_writes_per_min": 60, "rate_signups_per_min": 6, "rate_burst": 3}
    with make_server(shared_registry, sqlite_url, **limits) as srv, httpx.Client(base_url=srv.url) as c:
        made = [c.post("/v1/users") for _ in range(4)]
        assert [r.status_code for r in made] == [201, 201, 201, 429]
        refused = made[-1]
        assert refused.json()["error"]["code"] == "rate_limited" and 1 <= int(refused.headers["retry-after"]) <= 10
        assert c.post("/v1/users", headers=ADMIN).status_code == 201  # the admin is never limited
        user, token = made[0].json()["user_id"], bearer(made[0].json()["token"])
        writes = [c.put(f"/v1/users/{user}/ratings/{m}", json={"rating": 4}, headers=token) for m in (1, 2, 3, 5)]
        assert [r.status_code for r in writes] == [200, 200, 200, 429]
        assert writes[-1].headers["retry-after"] == "1"  # 60 a minute: one a second
        for _ in range(5):  # reads are never limited
            assert c.get(f"/v1/users/{user}/recommendations", headers=token).status_code == 200
        assert c.put(f"/v1/users/{user}/ratings/5", json={"rating": 4}, headers=ADMIN).status_code == 200
        assert c.get(f"/v1/users/{user}/ratings", headers=token).json()["ratings"][-1]["movie_id"] == 5
        other = bearer(made[1].json()["token"])  # the address's bucket is spent: another token from it waits too
        r = c.put(f"/v1/users/{made[1].json()['user_id']}/ratings/1", json={"rating": 4}, headers=other)
        assert r.status_code == 429
        elsewhere = httpx.HTTPTransport(local_address="127.0.0.2")  # another client address
        with httpx.Client(base_url=srv.url, transport=elsewhere) as far:
            r = far.put(f"/v1/users/{made[1].json()['user_id']}/ratings/1", json={"rating": 4}, headers=other)
            assert r.status_code == 200  # a fresh address and a fresh token
            r = far.put(f"/v1/users/{user}/ratings/7", json={"rating": 4}, headers=token)
            assert r.status_code == 429  # the spent token is limited from any address


def test_rate_limit_defaults_are_documented_values() -> None:
    from movierec.service.settings import Settings

    s = Settings()
    assert (s.rate_writes_per_min, s.rate_signups_per_min, s.rate_burst) == (60, 10, 30)


def test_a_bad_user_id_on_a_write_route_is_reported_once(c: httpx.Client) -> None:
    for user in ("0", str(2**63), "1e3"):
        r = c.put(f"/v1/users/{user}/ratings/1", json={"rating": 4}, headers=ADMIN)
        message = r.json()["error"]["message"]
        assert r.status_code == 422 and message.count("path.user_id") == 1, message
