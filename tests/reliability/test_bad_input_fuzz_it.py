"""A schemathesis fuzz run of the real HTTP intake (on the real Kafka), driven by its own
OpenAPI document: schema-conforming and schema-violating requests to every operation, with a
valid token and without. No answer may be a 5xx, and the intake must go on serving."""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.reliability.conftest_bad_input import IntakeServer, valid_report

pytestmark = pytest.mark.integration

EXAMPLES = {"POST": 150, "GET": 25}


@pytest.fixture(scope="module")
def schema(bad_input_intake: IntakeServer) -> Any:
    with bad_input_intake.client() as client:
        response = client.get("/openapi.json", headers=bad_input_intake.auth)
    assert response.status_code == 200, response.text
    return schemathesis.openapi.from_dict(response.json())


def operations(schema: Any) -> list[Any]:
    found = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in found} >= {"POST /v1/reports"}
    return found


def fuzz(
    operation: Any,
    mode: GenerationMode,
    intake: IntakeServer,
    seen: dict[int, int],
    failures: list[str],
) -> None:
    """Up to EXAMPLES requests to one operation, each with or without a valid token."""
    label = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=EXAMPLES.get(operation.method.upper(), 25),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), authorised=st.booleans())
    def call(case: Any, authorised: bool) -> None:
        headers = dict(intake.auth) if authorised else {}
        response = case.call(base_url=intake.base_url, headers=headers, timeout=60)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            failures.append(
                f"{label} -> {response.status_code}: {case.body!r:.300} {response.text[:300]}"
            )

    try:
        call()
    except Unsatisfiable:
        # Negative mode on an operation without a body or parameters: nothing to break.
        assert mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET", label


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_makes_the_intake_fail(
    mode: GenerationMode, schema: Any, bad_input_intake: IntakeServer
) -> None:
    intake = bad_input_intake
    seen: dict[int, int] = {}
    failures: list[str] = []
    for operation in operations(schema):
        fuzz(operation, mode, intake, seen, failures)
    assert not failures, "\n".join(failures[:10])
    assert sum(seen.values()) >= 50, seen
    assert any(400 <= status < 500 for status in seen), seen
    # The intake still takes a valid report after the run.
    with intake.client() as client:
        report = valid_report()
        answer = client.post("/v1/reports", content=json.dumps(report), headers=intake.auth)
    assert answer.status_code == 202, answer.text
