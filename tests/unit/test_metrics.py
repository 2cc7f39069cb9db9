"""Metrics' ports and labels (issue 18.1): no id of a person, room or transaction in a label."""

from __future__ import annotations

from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from appservice.server import _route_of
from kernel.config import MetricsConfig, SchoolConfig
from kernel.metrics import HttpMetrics


def test_each_component_has_its_own_port_after_the_first() -> None:
    metrics = MetricsConfig(enabled=True, first_port=9400)
    ports = [metrics.port(c) for c in ("synapse", "appservice", "diary", "bots", "call_bridge")]
    assert ports == [9400, 9401, 9402, 9403, 9404]
    assert [metrics.port("call_bridge_worker", i) for i in range(3)] == [9405, 9406, 9407]


def test_metrics_are_off_unless_configured() -> None:
    assert SchoolConfig(server_name="school.example").metrics_urls == {}
    on = SchoolConfig.model_validate(
        {"server_name": "school.example", "metrics": {"enabled": True}, "bots": {"enabled": False}}
    )
    assert set(on.metrics_urls) == {
        "synapse",
        "appservice",
        "diary",
        "call_bridge",
        "call_bridge_worker_0",
        "call_bridge_worker_1",
    }


def test_the_appservice_labels_a_request_by_its_route_never_its_ids() -> None:
    path = b"/_matrix/app/v1/transactions/1234"
    assert _route_of(path, True) == "/_matrix/app/v1/transactions/{txnId}"
    users = b"/_matrix/app/v1/users/@s1:school.example"
    assert _route_of(users, True) == "/_matrix/app/v1/users/{userId}"
    assert _route_of(b"/_parta/v1/may_enter", True) == "/_parta/v1/may_enter"
    assert _route_of(b"/wp-admin/!room:x", True) == "other"
    assert _route_of(b"/_parta/v1/link", False) == "/_parta/v1/link"


def test_a_starlette_request_is_counted_by_its_route_template() -> None:
    async def lesson(request: Request) -> Response:
        return PlainTextResponse(request.path_params["lesson_id"])

    app = Starlette(
        routes=[Route("/lesson/{lesson_id}", lesson)],
        middleware=[Middleware(HttpMetrics, component="unit_test")],
    )
    with TestClient(app) as http:
        assert http.get("/lesson/math@2026-12-05").status_code == 200
        assert http.get("/nothing/s1-secret").status_code == 404
    name = "parta_unit_test_http_requests_total"
    seen = REGISTRY.get_sample_value(
        name, {"method": "GET", "route": "/lesson/{lesson_id}", "code": "200"}
    )
    assert seen == 1
    assert REGISTRY.get_sample_value(name, {"method": "GET", "route": "other", "code": "404"}) == 1
    exposed = " ".join(
        str(s.labels)
        for m in REGISTRY.collect()
        if m.name.startswith("parta_unit_test")
        for s in m.samples
    )
    assert "math@" not in exposed
    assert "s1-secret" not in exposed
