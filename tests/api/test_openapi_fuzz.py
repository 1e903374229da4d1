"""Schemathesis against the served OpenAPI document: no server errors, responses match it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from pydantic import TypeAdapter, ValidationError
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support.service import start_service
from vms_desktop.api.routes.archive import MAX_WINDOW
from vms_desktop.api.schemas import UtcDatetime
from vms_desktop.runtime import Runtime

_MOMENT = TypeAdapter(UtcDatetime)

# Answers that never end (an event stream): a fuzzer reading them whole would wait forever.
# Their parameters and answers are checked in tests/api/test_event_stream.py.
ENDLESS = {"GET /events/stream"}


def _breaks_the_window_rule(case: schemathesis.Case, answer: object) -> bool:
    """Whether a 422 is the archive window's rule refusing a window that breaks it.

    The rule (end after start, at most MAX_WINDOW later) binds two parameters, which OpenAPI
    cannot state: a schema-valid window may break it, and is then refused naming ``end``.
    """
    query = case.query or {}
    try:
        start: datetime = _MOMENT.validate_python(query.get("start"))
        end: datetime = _MOMENT.validate_python(query.get("end"))
    except ValidationError:
        return False
    broken = end <= start or end - start > MAX_WINDOW
    named = isinstance(answer, dict) and [p.get("loc") for p in answer.get("detail", [])] == [
        ["query", "end"]
    ]
    return broken and named


def _accepted_unless_the_window_rule_is_broken(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """Schema-valid requests are accepted, but for a window refused by its own rule."""
    if response.status_code == 422 and _breaks_the_window_rule(case, response.json()):
        return None
    return positive_data_acceptance(ctx, response, case)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    runtime = start_service(
        tmp_path_factory.mktemp("fuzz"),
        CAMERA_CAM01_URL="demo://?width=320&height=240",
        API_TOKEN="fuzz-token",
    )
    yield runtime
    runtime.stop()


def test_no_server_errors_and_responses_match_the_schema(running: Runtime) -> None:
    assert running.api is not None
    schema = schemathesis.openapi.from_url(
        running.api.base_url + "/openapi.json",
        headers={"Authorization": "Bearer fuzz-token"},
    )
    tested = []
    # Driven through Hypothesis directly: one property per operation.
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in ENDLESS:
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers={"Authorization": "Bearer fuzz-token"},
                excluded_checks=[positive_data_acceptance],
                additional_checks=[_accepted_unless_the_window_rule_is_broken],
            )

        check()
        tested.append(operation.label)
    assert len(tested) >= 8, tested
