"""Schemathesis against the served OpenAPI document: no server errors, responses match it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.service import start_service
from vms_desktop.runtime import Runtime


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

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers={"Authorization": "Bearer fuzz-token"})

        check()
        tested.append(operation.label)
    assert len(tested) >= 8, tested
