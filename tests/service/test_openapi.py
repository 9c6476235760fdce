"""Schemathesis against the OpenAPI schema on a live server: no 5xx, every response matches the schema.

The schema is taken from the app itself at collection time (one test per
operation); the requests go over HTTP to a live server. Each operation gets a
bounded number of generated examples (valid and invalid), so the module runs
in about a minute.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from movierec.service import Settings, create_app
from tests.service.conftest import ThreadServer

SCHEMA = schemathesis.openapi.from_dict(create_app(Settings(registry=None, database_url="sqlite://")).openapi())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
EXAMPLES = 25


def test_every_route_is_covered() -> None:
    assert len(OPERATIONS) >= 15


def _has_inputs(op: schemathesis.APIOperation) -> bool:
    return bool(op.path_parameters or op.query or op.body)


CASES = [(op, GenerationMode.POSITIVE) for op in OPERATIONS] + [
    (op, GenerationMode.NEGATIVE)
    for op in OPERATIONS
    if _has_inputs(op)  # nothing to break without inputs
]


@pytest.mark.parametrize(("operation", "mode"), CASES, ids=[f"{op.label} {mode.value}" for op, mode in CASES])
def test_operation_conforms(operation: schemathesis.APIOperation, mode: GenerationMode, server: ThreadServer) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=server.url, checks=CHECKS, timeout=30)

    check()
