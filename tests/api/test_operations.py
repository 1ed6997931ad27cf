"""Operational endpoints: readiness, Prometheus metrics, the OpenAPI description and /docs."""
from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from promo.adapters.migrations import head_revision
from promo.api.health import READINESS_CHECKS


def requests_counted(client, endpoint: str, method: str, status: str) -> float:
    """promo_http_requests_total{method, endpoint, status} as /metrics reports it now."""
    response = client.get("/metrics")
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        if family.name == "promo_http_requests":
            for sample in family.samples:
                if sample.name == "promo_http_requests_total" and sample.labels == {
                        "method": method, "endpoint": endpoint, "status": status}:
                    return sample.value
    return 0.0


def test_healthz_says_the_process_is_alive(client):
    response = client.get("/healthz")

    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_is_ready_on_the_migrated_database(client, runtime):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json["status"] == "ready"
    assert response.json["checks"]["database"]["ok"] is True
    assert head_revision(runtime.engine) in response.json["checks"]["database"]["detail"]


def test_readyz_is_503_when_a_check_fails(app, client):
    app.extensions[READINESS_CHECKS]["stock_view"] = lambda: (False, "lagging 40 s behind")

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json["status"] == "not ready"
    assert response.json["checks"]["stock_view"] == {"ok": False, "detail": "lagging 40 s behind"}
    assert response.json["checks"]["database"]["ok"] is True


def test_metrics_are_prometheus_text(client):
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "# TYPE promo_http_requests_total counter" in response.get_data(as_text=True)
    assert "promo_http_request_duration_seconds_bucket" in response.get_data(as_text=True)


def test_metrics_count_requests_by_route_pattern_and_status(client, admin):
    before_ok = requests_counted(client, "/v1/products/<id:sku>", "GET", "200")
    before_missing = requests_counted(client, "/v1/products/<id:sku>", "GET", "404")
    client.put("/v1/products", json=[{"sku": "m1", "name": "Milk", "price": 1, "currency": "USD"}], headers=admin)

    client.get("/v1/products/m1", headers=admin)
    client.get("/v1/products/nope", headers=admin)
    client.get("/v1/products/nada", headers=admin)

    assert requests_counted(client, "/v1/products/<id:sku>", "GET", "200") == before_ok + 1
    assert requests_counted(client, "/v1/products/<id:sku>", "GET", "404") == before_missing + 2
    text = client.get("/metrics").get_data(as_text=True)
    assert 'endpoint="/v1/products/<id:sku>"' in text
    # One series per route, not per sku: an attacker cannot blow up the label set.
    assert "/v1/products/nope" not in text


def test_unmatched_paths_share_one_metrics_label(client):
    before = requests_counted(client, "unmatched", "GET", "404")

    client.get("/random-1")
    client.get("/random-2")

    assert requests_counted(client, "unmatched", "GET", "404") == before + 2


def test_openapi_lists_every_v1_route_and_declares_bearer_auth(app, client):
    response = client.get("/openapi.json")

    assert response.status_code == 200
    spec = response.json
    routes = {re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule): rule.methods - {"HEAD", "OPTIONS"}
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/v1")}
    assert routes and set(routes) <= set(spec["paths"])
    for path, methods in routes.items():
        assert {m.lower() for m in methods} <= set(spec["paths"][path]), path
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert spec["security"] == [{"bearerAuth": []}]


def test_openapi_describes_the_error_body(client):
    spec = client.get("/openapi.json").json

    error = spec["components"]["schemas"]["Error"]["properties"]
    assert {"code", "status", "message", "errors", "reason"} <= set(error)


def test_docs_page_loads_swagger_ui_from_this_server(client):
    response = client.get("/docs")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in html
    assert "/openapi.json" in html
    # Nothing fetched from a CDN: the page must work offline.
    assert not re.search(r"""(src|href)=["']https?://""", html)


def test_docs_assets_are_served_from_the_installed_package(client):
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        with client.get(f"/docs/assets/{asset}") as response:
            assert response.status_code == 200, asset
            assert len(response.get_data()) > 1000, asset


def test_docs_assets_do_not_leave_their_directory(client):
    with client.get("/docs/assets/../../__init__.py") as response:
        assert response.status_code == 404


def test_readyz_probes_log_no_alembic_lines(client, caplog):
    caplog.set_level("INFO")

    for _ in range(3):
        assert client.get("/readyz").status_code == 200

    assert [record.getMessage() for record in caplog.records if record.name.startswith("alembic")] == []
    assert [record.getMessage() for record in caplog.records if record.name == "promo.request"] == ["request"] * 3


def test_readyz_waits_for_the_first_serving_snapshot_and_then_says_what_it_holds(settings_overrides):
    from promo import create_app
    from promo.api.context import EXTENSION

    app = create_app(settings_overrides)
    runtime = app.extensions[EXTENSION]
    try:
        assert runtime.serving.ready(10)
        runtime.serving.stop()              # no refresher from here on: this test decides
        runtime.serving._ready.clear()      # as in a process whose first refresh is still running
        loading = app.test_client().get("/readyz")
        runtime.serving.refresh()
        ready = app.test_client().get("/readyz")
    finally:
        runtime.close()

    assert loading.status_code == 503
    assert loading.json["checks"]["serving"] == {"ok": False, "detail": "loading the live campaigns for offers"}
    assert ready.status_code == 200 and ready.json["checks"]["serving"]["detail"].startswith("0 live campaigns")
