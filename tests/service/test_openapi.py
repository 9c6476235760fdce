"""Schemathesis against the live server's OpenAPI schema: the schema says exactly what the service accepts.

Operations are listed at collection time from a model-less app (the same routes); each test then
takes its operation from the live server's ``/openapi.json``, which carries the served model's
rules (rating scale, genres). Conformance checks, not only "no 5xx": valid data (by the schema)
is accepted (2xx, or 404/409 for ids that do not exist), invalid data is rejected with a 4xx,
every answer matches its declared status, content type, headers and body schema. Each operation
gets a bounded number of generated examples, so the module runs in about a minute.

Every operation runs against SQLite and against PostgreSQL (``postgres`` marker). Operations that
declare the bearer scheme (the user routes, sign-up) run three times: without a
token, with the admin token, and with a created user's token, the ``user_id`` of positive examples
set to that user's so the authorized paths are exercised too (401/403/404 are conforming answers).

Two rules JSON Schema cannot state are stated in the operations' descriptions and left out of
the positive examples (``UNSTATED``): one rating per film in ``POST /v1/recommendations``, and
at most ``MAX_PAIR_USERS`` distinct users in ``POST /v1/predictions``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from movierec.service import Settings, create_app
from movierec.service.schemas import MAX_PAIR_USERS
from tests.service.conftest import ADMIN, ThreadServer, _fresh_pg, make_server

SCHEMA = schemathesis.openapi.from_dict(create_app(Settings(registry=None, database_url="sqlite://")).openapi())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]
EXAMPLES = 25


def test_every_route_is_covered() -> None:
    assert len(OPERATIONS) >= 15


def _has_inputs(op: schemathesis.APIOperation) -> bool:
    return bool(op.path_parameters or op.query or op.body)


def within_unstated_rules(case: schemathesis.Case) -> bool:
    """False for a body that breaks a rule the schema can only describe in words (see the module docstring)."""
    body: Any = case.body
    if not isinstance(body, dict):
        return True
    ratings = body.get("ratings")
    if isinstance(ratings, list):
        films = [_id(r.get("movie_id")) for r in ratings if isinstance(r, dict)]
        if len(films) != len(set(films)):
            return False
    pairs = body.get("pairs")
    if isinstance(pairs, list):
        return len({_id(p.get("user_id")) for p in pairs if isinstance(p, dict)}) <= MAX_PAIR_USERS
    return True


def _id(value: Any) -> str:
    """An id as the service reads it: a whole JSON number is the integer (2.0 is film 2)."""
    if isinstance(value, float) and value.is_integer():
        return repr(int(value))
    return repr(value)


def _auths(op: schemathesis.APIOperation) -> list[str]:
    return ["none", "admin", "user"] if op.definition.raw.get("security") else ["none"]


MODES = [(op, GenerationMode.POSITIVE) for op in OPERATIONS] + [
    (op, GenerationMode.NEGATIVE)
    for op in OPERATIONS
    if _has_inputs(op)  # nothing to break without inputs
]
CASES = [(op, mode, auth) for op, mode in MODES for auth in _auths(op)]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api_server(
    request: pytest.FixtureRequest, shared_registry: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadServer]:
    """A live server on the shared registry and a fresh database of each engine: the same checks on both."""
    urls = iter([f"sqlite:///{tmp_path_factory.mktemp('db') / 'ratings.db'}"]) if request.param == "sqlite" else _fresh_pg()
    for url in urls:  # a PostgreSQL database is dropped when the loop ends
        with make_server(shared_registry, url) as srv:
            yield srv


@pytest.fixture(scope="module")
def live_schema(api_server: ThreadServer) -> Any:
    return schemathesis.openapi.from_dict(httpx.get(api_server.url + "/openapi.json").json())


@pytest.fixture(scope="module")
def account(api_server: ThreadServer) -> dict[str, Any]:
    """A user created on the live server, with one rating (so its reads have something to answer)."""
    made = httpx.post(api_server.url + "/v1/users").json()
    headers = {"Authorization": f"Bearer {made['token']}"}
    httpx.put(f"{api_server.url}/v1/users/{made['user_id']}/ratings/1", json={"rating": 4}, headers=headers)
    return {"user_id": made["user_id"], "headers": headers}


@pytest.mark.parametrize(
    ("operation", "mode", "auth"), CASES, ids=[f"{op.label} {mode.value} {auth}" for op, mode, auth in CASES]
)
def test_operation_conforms(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    auth: str,
    api_server: ThreadServer,
    live_schema: Any,
    account: dict[str, Any],
) -> None:
    live = live_schema.find_operation_by_label(operation.label)
    strategy = live.as_strategy(generation_mode=mode)
    if mode == GenerationMode.POSITIVE:
        strategy = strategy.filter(within_unstated_rules)
    headers = {"none": {}, "admin": ADMIN, "user": account["headers"]}[auth]

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
    )
    def check(case: schemathesis.Case) -> None:
        if auth == "user" and mode == GenerationMode.POSITIVE and "user_id" in (case.path_parameters or {}):
            case.path_parameters["user_id"] = account["user_id"]
        case.call_and_validate(base_url=api_server.url, checks=CHECKS, headers=headers, timeout=30)

    check()


def test_the_schema_states_the_served_models_rules(client: httpx.Client, model_a) -> None:
    """Rating on the model's scale (0.5-5 in halves, not 0-10); genres of the served films, any case, or blank."""
    import re

    schema = client.get("/openapi.json").json()
    rating = schema["components"]["schemas"]["RatingIn"]["properties"]["rating"]
    assert (rating["minimum"], rating["maximum"], rating["multipleOf"]) == (0.5, 5.0, 0.5)
    genre = next(p for p in schema["paths"]["/v1/movies"]["get"]["parameters"] if p["name"] == "genre")["schema"]
    for value, accepted in [("Drama", True), ("sci-FI", True), ("", True), ("Westerns", False), ("Drama2", False)]:
        assert bool(re.fullmatch(genre["pattern"], value)) is accepted, value
        status = client.get("/v1/movies", params={"genre": value, "limit": 1}).status_code
        assert status == (200 if accepted else 422), value
    for value, status in [(0, 422), (0.5, 200), (5, 200), (7, 422), (2.25, 422)]:
        r = client.put("/v1/users/77/ratings/1", json={"rating": value}, headers=ADMIN)  # 77: a training user
        assert r.status_code == status, value


def test_an_undocumented_method_is_405_naming_every_documented_one(client: httpx.Client) -> None:
    """``Allow`` lists every method of the path (it once listed only the first route's, e.g. only GET)."""
    schema = client.get("/openapi.json").json()
    for template, operations in schema["paths"].items():
        path = template.replace("{user_id}", "1").replace("{movie_id}", "1")
        documented = sorted(m.upper() for m in operations)
        for method in sorted({"GET", "PUT", "POST", "DELETE", "PATCH"} - set(documented)):
            r = client.request(method, path)
            assert r.status_code == 405, (method, path)
            assert sorted(m.strip() for m in r.headers["allow"].split(",")) == documented, (method, path)


@pytest.mark.parametrize(
    "query",
    [
        "k=abc&k=3",  # a repeated parameter once took the last value silently
        "k=3&k=3",
        "k=%C2%A03",  # a no-break space before the digit: Python's int() strips it
        "k=3.0",
        "k=1_0",
        "k=%203",
    ],
)
def test_query_integers_are_plain_digits_given_once(client: httpx.Client, query: str) -> None:
    r = client.get(f"/v1/users/1/recommendations?{query}")
    assert r.status_code == 422, r.text
    assert client.get("/v1/users/1/recommendations?k=3").status_code == 200


def test_a_whole_json_number_is_an_integer_as_the_schema_says(client: httpx.Client) -> None:
    """JSON Schema's "integer" includes 285.0, so the service takes it (285.5, "285" and true stay refused)."""
    for user, status in [(285.0, 200), (285, 200), (285.5, 422), ("285", 422), (True, 422)]:
        r = client.post("/v1/predictions", json={"pairs": [{"user_id": user, "movie_id": 1}]})
        assert r.status_code == status, (user, r.text)
