"""Every route in /openapi.json, fuzzed by schemathesis against a real `tally serve` with data in it.

The contract, for every request schemathesis makes from the document (values that fit its schemas,
and, for the JSON API, values that break them): the node never answers 5xx, it answers only the
statuses and content types the document lists for the route, each body matches its documented
schema (a refusal is the JSON Error), and a request the document calls invalid is refused (4xx).
The document fuzzed is the one the node serves; the node holds members, payments, a poll, an
enterprise with an open offer, and their ids are given as examples of the path parameters, so the
routes that look things up have things to find. POST /replication/* is left out: pushes are being changed to need a
signed peer request, and their refusals of garbage are tested in tests/replication/.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from tallystick.node.http.openapi import document

from helpers.nodes import NodeProcess

from .test_hostile_http_params import Populated, populate

# Examples per route and generation mode: enough to meet every parameter's edges (the coverage
# phase adds the boundaries of every documented range), few enough for two slow cores.
examples_per_route = 10

checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def populated(node: NodeProcess) -> Populated:
    return populate(node)


def real_path_parameters(populated: Populated) -> dict[str, list[dict[str, Any]]]:
    """For each route with path parameters, values that name something this node holds."""
    node = populated.node
    return {
        "/api/members/{reference}": [{"reference": populated.alice}, {"reference": "Alice"}],
        "/api/members/{reference}/holdings": [{"reference": populated.alice}],
        "/api/members/{reference}/history": [{"reference": populated.alice}],
        "/api/members/{reference}/delegations": [{"reference": populated.alice}],
        "/api/decisions/{decision}": [{"decision": populated.decision}],
        "/api/offers/{offer}": [{"offer": populated.offer}],
        "/api/enterprises/{reference}": [{"reference": "Bakery"}],
        "/api/enterprises/{reference}/captable.csv": [{"reference": "Bakery"}],
        "/api/enterprises/{reference}/book/{share_class}": [{"reference": "Bakery", "share_class": 0},
                                                            {"reference": "Bakery", "share_class": 1}],
        "/members/{reference}": [{"reference": populated.alice}],
        "/enterprises/{reference}": [{"reference": "Bakery"}],
        "/replication/feeds/{feed}": [{"feed": node.feed_text}],
    }


@pytest.fixture(scope="module")
def served_schema(populated: Populated) -> schemathesis.BaseSchema:
    """The document the running node serves at /openapi.json, the one its users read."""
    return schemathesis.openapi.from_dict(populated.node.get("/openapi.json"))


# Every route in the document but POST /replication/*, with values that fit its schemas; and,
# for each route that takes any parameter or body, with values that break them.
routes = [
    pytest.param(path, method, mode, id=f"{method.upper()} {path} {mode.value}")
    for path, item in document()["paths"].items()
    for method, operation in item.items()
    if not (method == "post" and path.startswith("/replication/"))
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode == GenerationMode.POSITIVE or operation.get("parameters") or operation.get("requestBody")
]


def test_the_served_document_is_the_one_node_openapi_builds(populated: Populated) -> None:
    assert populated.node.get("/openapi.json") == json.loads(json.dumps(document()))


def rejected_even_if_too_large(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """A request the document calls invalid is refused: a body over the route's limit (413
    too_large, documented on every route that reads a body) is refused before it is read, so
    whatever an invalid field held, schemathesis's own list of refusals lacks it."""
    if response.status_code == 413:
        return True
    return negative_data_rejection(ctx, response, case)


@pytest.mark.parametrize(("path", "method", "mode"), routes)
def test_no_route_answers_5xx_or_outside_its_documented_schemas(
    served_schema: schemathesis.BaseSchema, populated: Populated, path: str, method: str, mode: GenerationMode
) -> None:
    operation = served_schema[path][method.upper()]
    strategies = [operation.as_strategy(generation_mode=mode)]
    strategies += [operation.as_strategy(generation_mode=mode, path_parameters=values)
                   for values in real_path_parameters(populated).get(path, [])]
    # A request the document calls invalid must be refused; the pages ignore what they cannot read.
    refused = [rejected_even_if_too_large] if mode == GenerationMode.NEGATIVE and path.startswith(("/api/", "/replication/")) else []

    @given(case=st.one_of(strategies))
    @settings(max_examples=examples_per_route * len(strategies), deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def request_answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=populated.node.url, checks=checks + refused)

    request_answers_as_documented()
