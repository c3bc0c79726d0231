"""The calls' part of the committed OpenAPI schema: the mint answer's call, the endpoints and their codes."""

from pathlib import Path

import yaml

SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[3] / "docs" / "openapi.yaml").read_text())


def resolved(prop):
    reference = prop["allOf"][0]["$ref"] if "allOf" in prop else prop["$ref"]
    return SCHEMA["components"]["schemas"][reference.rsplit("/", 1)[-1]]


def codes(path, method, status):
    description = SCHEMA["paths"][path][method]["responses"][str(status)]["description"]
    return {part.split("`")[1] for part in description.split("\n\n")}


def test_the_mint_answer_names_its_call():
    call = resolved(SCHEMA["components"]["schemas"]["RealtimeSession"]["properties"]["call"])
    assert sorted(call["required"]) == ["id", "limits", "ref", "report_url"]
    assert call["properties"]["report_url"]["nullable"] is True
    limits = resolved(call["properties"]["limits"])
    assert set(limits["properties"]) == {"max_call_seconds", "idle_seconds"}
    assert "budget_exceeded" in codes("/api/v1/realtime_session", "post", 402)


def test_the_calls_endpoints_and_their_error_codes():
    assert {"call_ref_invalid", "call_id_invalid"} <= codes("/api/v1/calls/report", "post", 400)
    assert "call_ref_forbidden" in codes("/api/v1/calls/report", "post", 403)
    assert "call_not_found" in codes("/api/v1/calls/report", "post", 404)
    assert "call_already_reported" in codes("/api/v1/calls/report", "post", 409)
    assert "call_not_found" in codes("/api/v1/calls/{id}", "get", 404)
    listing = SCHEMA["paths"]["/api/v1/calls"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"page", "page_size"}
    page = resolved(listing["responses"]["200"]["content"]["application/json"]["schema"])
    assert {"count", "next", "previous", "results"} <= set(page["properties"])
    detail = resolved(
        SCHEMA["paths"]["/api/v1/calls/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    )
    assert "transcript" in detail["properties"]
    assert "/api/v1/usage" in SCHEMA["paths"]
