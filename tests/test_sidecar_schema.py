"""The OpenAPI document against the live server, with schemathesis.

Every operation gets generated valid and invalid requests; each answer must
be no 5xx, a documented status with the documented content type, headers
and body, and invalid requests must be refused with a 4xx. Bounded: a fixed
number of examples per operation, no shrinking database, well under a minute.
"""

from __future__ import annotations

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from test_sidecar_api import add_attendee, add_event, new_api

from backside_caldav.server import LIMIT_REQUEST_LINE

EXAMPLES = 20
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


def test_openapi_document_matches_the_server(server, database_url, sql) -> None:
    api = new_api(server, database_url, sql)
    # Real rows, so the operations on one event also answer 200 and not only 404.
    event = add_event(sql, api, "Board meeting", location="Room 1",
                      rrule="FREQ=WEEKLY;COUNT=20", start="2026-03-02T09:00:00Z",
                      end="2026-03-02T10:00:00Z")
    add_attendee(sql, api, event, "ann@example.com")
    api.post(f"/events/{event}/links", {"entity_type": "deal", "entity_id": "D-1"})
    # Calendars of their own for the operations that change or delete one, so
    # the generated requests also reach a real calendar (and the default stays).
    patched, deleted = (api.post("/calendars", {"name": n}).json()["id"] for n in ("P", "D"))
    add_event(sql, api, "Keeps it busy", calendar_id=deleted)

    schema = schemathesis.openapi.from_url(api.base + "/openapi.json")
    base_url = api.base
    headers = {"Authorization": f"Bearer {api.key}"}
    session = requests.Session()
    operations = [result.ok() for result in schema.get_all_operations()]
    # Everything but the document itself, which schemathesis leaves out.
    assert len(operations) == 13, " ".join(o.label for o in operations)
    week = {"start": "2026-03-01T00:00:00Z", "end": "2026-03-08T00:00:00Z"}
    # Beside fully generated requests, some with a few fields pinned to real values,
    # so generation also reaches the code behind a valid range or an existing event.
    pinned: dict[str, list[dict]] = {
        "GET /freebusy": [{"query": week}],
        "POST /availability/check": [{"body": week}],
        "GET /events/search": [{"query": {"q": "board", **week}}],
    }
    for operation in operations:
        variants: list[dict] = [{}, *pinned.get(operation.label, [])]
        if "{event_id}" in operation.path:
            variants.append({"path_parameters": {"event_id": event}})
        if "{calendar_id}" in operation.path:
            calendar = {"GET": api.calendar_id, "PATCH": patched}.get(operation.method.upper(),
                                                                      deleted)
            variants.append({"path_parameters": {"calendar_id": calendar}})
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            checks = CHECKS + ([negative_data_rejection] if mode.is_negative else [])
            for variant in variants if mode.is_positive else variants[:1]:
                exercise(operation.as_strategy(generation_mode=mode, **variant), checks,
                         session, base_url, headers)


def exercise(strategy, checks: list, session: requests.Session, base_url: str,
             headers: dict[str, str]) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        # Sent with requests directly: schemathesis' own transport trips over
        # urllib3-future (pulled in by caldav's niquests), which replaces urllib3.
        # When the headers are the invalid part (e.g. the API key left out on
        # purpose), adding our key back would make the request valid again.
        components = case.meta.components if case.meta is not None else {}
        invalid_headers = any(location == ParameterLocation.HEADER and info.mode.is_negative
                              for location, info in components.items())
        sent_headers = {} if invalid_headers else headers
        kwargs = case.as_transport_kwargs(base_url=base_url, headers=sent_headers)
        response = session.request(**kwargs, timeout=30)
        if response.status_code == 414:
            # Refused by the HTTP server before the app, by design: only for lines
            # over its limit (generated lists far over maxItems).
            assert len(response.request.url) > LIMIT_REQUEST_LINE - 100
            assert response.headers["Content-Type"] == "application/problem+json"
            return
        case.validate_response(response, checks=checks, headers=sent_headers,
                               transport_kwargs=kwargs)

    run()
