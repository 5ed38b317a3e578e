"""Schemathesis against the API's own OpenAPI spec: no request, valid or not, gets a 5xx.

Every operation of the spec, with generated path, query and body values — those the schema
allows (positive) and those it forbids (negative) — sent as the admin, who may call
everything, to the app in process over a registry holding the sample district, a device and
an open incident.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.unit.test_property_support import ADMIN, ServedApi, served_api

ORIGIN = "http://gateway.test"  # the spec's paths carry the /api/v1 prefix
PER_OPERATION = settings(
    max_examples=15,
    deadline=2000,
    database=None,
    suppress_health_check=list(HealthCheck),  # generation speed is schemathesis' business
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApi]:
    with served_api(tmp_path_factory.mktemp("schemathesis")) as served:
        yield served


def call(api: ServedApi, case: schemathesis.Case) -> int:
    sent = case.as_transport_kwargs(base_url=ORIGIN, headers=ADMIN)
    body = {k: sent[k] for k in ("json", "files") if sent.get(k) is not None}
    if sent.get("data") is not None:
        body["content"] = sent["data"]
    response = api.request(
        sent["method"], sent["url"], params=sent.get("params"), headers=sent["headers"], **body
    )
    case.validate_response(response, checks=[not_a_server_error])
    return response.status_code


def _can_be_wrong(operation: Any) -> bool:
    """Negative data needs something to get wrong: a parameter or a body."""
    return any(True for _ in operation.iter_parameters()) or len(operation.body) > 0


@pytest.mark.parametrize("mode", list(GenerationMode), ids=str)
def test_no_request_gets_a_server_error(api: ServedApi, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_dict(api.app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20  # the spec was read, and holds the whole API
    answered: set[str] = set()
    sent_wrong = 0

    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not _can_be_wrong(operation):
            continue

        @PER_OPERATION
        @given(case=operation.as_strategy(generation_mode=mode))
        def one(case: schemathesis.Case) -> None:
            if call(api, case) < 300:
                answered.add(case.operation.label)

        try:
            one()
            sent_wrong += 1
        except Unsatisfiable:
            # Schemathesis finds nothing to violate in, say, a free-text path parameter: the
            # positive run covers that operation.
            assert mode is GenerationMode.NEGATIVE, operation.label
    if mode is GenerationMode.POSITIVE:  # the requests reach real handlers, not just 404s
        assert len(answered) >= 10, answered
    else:
        assert sent_wrong >= 10
