"""/openapi.json types /api/community's answer field by field, and a running node's answer fits it.

How this works: the document's schema for GET /api/community is compiled with jsonschema_rs (what
schemathesis validates with) and checked against what a real `tally serve` answers; the schema
allows no field it does not name, so a field added to the handler and not to the document fails
here, and so does a field the document names and the node does not send.
"""

from __future__ import annotations

import jsonschema_rs
from tallystick.node.http.openapi import document

from helpers.nodes import NodeProcess


def community_schema() -> dict:
    return document()["paths"]["/api/community"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]


def test_the_community_schema_names_every_field_and_allows_no_other() -> None:
    schema = community_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(schema["properties"])
    assert schema["properties"]["unit"]["additionalProperties"] is False


def test_a_running_nodes_community_fits_its_schema(node: NodeProcess) -> None:
    node.admit("counted")
    answer = node.get("/api/community")
    jsonschema_rs.validator_for(community_schema()).validate(answer)
    assert answer["members"] >= 1 and answer["node"] == node.feed_text


def test_a_bare_object_does_not_fit_the_community_schema() -> None:
    assert not jsonschema_rs.validator_for(community_schema()).is_valid({})
