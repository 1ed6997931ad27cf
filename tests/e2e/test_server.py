"""The service as `make run` starts it: gunicorn with two workers, real HTTP."""
from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import pytest
from sqlalchemy import create_engine

from promo.adapters import migrations
from promo.bootstrap import bootstrap
from promo.config import load_settings
from promo.services import api_keys, catalog, interactions, stock, training

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).parent / "gunicorn")

pytestmark = pytest.mark.slow
DAY = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.timezone.utc)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(database_url: str, port: int, tmp_path: Path, **settings: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PROMO_DATABASE_URL": database_url, "PROMO_BIND": f"127.0.0.1:{port}",
           "PROMO_ENV": "test", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
           **{f"PROMO_{name.upper()}": value for name, value in settings.items()}}
    return subprocess.Popen([GUNICORN, "-c", "config/gunicorn.conf.py"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def call(port: int, method: str, path: str, body: object = None, key: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def answered_by(port: int, path: str, key: str) -> tuple[str, dict]:
    """(the worker that answered, its JSON answer) for a GET on a server started with
    expose_worker_id=1, which names the answering worker in X-Promo-Worker."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return response.headers["X-Promo-Worker"], json.loads(response.read())


def until_both_workers(ask: Callable[[], tuple[str, dict]], condition: Callable[[dict], bool], what: str,
                       timeout: float = 15) -> None:
    """Ask until each of the two workers has answered as ``condition`` wants (the latest
    answer of each counts): a change is proven in both only when both were seen with it."""
    started = time.monotonic()
    satisfied: set[str] = set()
    while len(satisfied) < 2:
        assert time.monotonic() - started < timeout, f"both workers did not show {what} in {timeout:.0f} s"
        worker, answer = ask()
        if condition(answer):
            satisfied.add(worker)
        else:
            satisfied.discard(worker)


def assert_views_equal_the_database(port: int, key: str, database_url: str) -> str:
    """`promo stock verify` against a running server: its workers' views against the log."""
    verified = subprocess.run(
        [str(Path(sys.executable).parent / "promo"), "stock", "verify", "--url", f"http://127.0.0.1:{port}",
         "--key", key], cwd=ROOT, env={**os.environ, "PROMO_DATABASE_URL": database_url},
        capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    return verified.stdout


def wait_until_up(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, server.stdout.read().decode()  # type: ignore[union-attr]
        try:
            if call(port, "GET", "/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not come up in 30 s")


def admin_key(database_url: str) -> str:
    runtime = bootstrap(load_settings({"database_url": database_url, "env": "test"}))
    try:
        return api_keys.create_key(runtime.unit_of_work(write=True), name="e2e", role="admin")[1]
    finally:
        runtime.close()


def test_gunicorn_serves_the_api_with_two_workers_and_sums_their_metrics(app, database_url, tmp_path):
    key = admin_key(database_url)
    port = free_port()
    server = start_server(database_url, port, tmp_path, expose_worker_id="1")
    asked = 0

    def product() -> tuple[str, dict]:
        nonlocal asked
        asked += 1
        return answered_by(port, "/v1/products/e2e-1", key)

    try:
        wait_until_up(port, server)
        status, _ = call(port, "PUT", "/v1/products", [{"sku": "e2e-1", "name": "Tea", "price": 2.5, "currency": "USD"}], key)
        assert status == 200
        until_both_workers(product, lambda a: a["name"] == "Tea", "the product")
        assert call(port, "GET", "/v1/products/e2e-1")[0] == 401
        assert call(port, "GET", "/readyz")[0] == 200

        status, body = call(port, "POST", "/v1/stock/events", {"events": [
            {"event_id": "e2e-s1", "sku": "e2e-1", "location": "L1", "type": "receipt", "quantity": 4,
             "occurred_at": "2026-11-25T10:00:00Z"}]}, key)
        assert status == 422  # no location L1 yet: all or nothing
        call(port, "PUT", "/v1/locations", [{"code": "L1", "name": "L1", "kind": "store", "channels": ["store"]}], key)
        status, body = call(port, "POST", "/v1/stock/events", {"events": [
            {"event_id": "e2e-s1", "sku": "e2e-1", "location": "L1", "type": "receipt", "quantity": 4,
             "occurred_at": "2026-11-25T10:00:00Z"}]}, key)
        seq = json.loads(body)["last_seq"]
        # Each worker, whichever answers, sees the write at once (min_seq), both shown
        until_both_workers(lambda: answered_by(port, f"/v1/products/e2e-1/stock?min_seq={seq}", key),
                           lambda a: a["locations"][0]["on_hand"] == 4, "the stock event", timeout=5)
        verified = assert_views_equal_the_database(port, key, database_url)
        assert "live view" in verified and "ok: no differences" in verified

        metrics = call(port, "GET", "/metrics")[1].decode()
        line = next(l for l in metrics.splitlines()
                    if l.startswith("promo_http_requests_total{") and 'endpoint="/v1/products/<id:sku>"' in l
                    and 'method="GET"' in l and 'status="200"' in l)
        assert float(line.rsplit(" ", 1)[1]) == asked       # summed over both workers
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    log_lines = [l for l in output.splitlines() if l.strip()]
    assert log_lines and all(json.loads(l) for l in log_lines)  # every log line is a JSON object
    assert any(json.loads(l).get("request_id") for l in log_lines)


def test_gunicorn_refuses_an_unmigrated_database_and_names_the_command(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    create_engine(url).dispose()
    server = start_server(url, free_port(), tmp_path)
    output = server.communicate(timeout=60)[0].decode()
    assert server.returncode != 0
    assert "promo db upgrade" in output


def test_an_unmigrated_database_becomes_servable_after_promo_db_upgrade(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = {**os.environ, "PROMO_DATABASE_URL": url}
    promo = str(Path(sys.executable).parent / "promo")
    subprocess.run([promo, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    engine = create_engine(url)
    try:
        assert migrations.schema_problem(engine) is None
    finally:
        engine.dispose()


def test_both_gunicorn_workers_switch_to_a_newly_activated_model_without_a_restart(app, database_url, tmp_path):
    models = str(tmp_path / "models")
    runtime = bootstrap(load_settings({"database_url": database_url, "env": "test", "model_dir": models}))
    try:
        _, key = api_keys.create_key(runtime.unit_of_work(write=True), name="e2e", role="channel")
        catalog.upsert_locations(runtime.unit_of_work(write=True),
                                 [{"code": "S1", "name": "S1", "kind": "store", "channels": ["store"]}])
        catalog.upsert_products(runtime.unit_of_work(write=True),
                                [{"sku": sku, "name": sku, "price": 1.0, "currency": "USD"} for sku in ("tea", "jam")])
        stock.ingest_events(runtime.unit_of_work(write=True), runtime.stock, [
            {"event_id": f"c-{sku}", "sku": sku, "location": "S1", "type": "count", "quantity": 9,
             "occurred_at": DAY} for sku in ("tea", "jam")])
        interactions.record_interactions(runtime.unit_of_work(write=True), [
            {"event_id": f"p{day}", "customer": "ann", "sku": "tea", "type": "purchase", "channel": "store",
             "location": "S1", "occurred_at": DAY - dt.timedelta(days=day)} for day in range(1, 20)])
        (first,) = training.train(runtime, ["recommender"])
        (second,) = training.train(runtime, ["recommender"], activate=False)
    finally:
        runtime.close()
    port = free_port()
    server = start_server(database_url, port, tmp_path, model_dir=models, model_check_interval_ms="200",
                          expose_worker_id="1", log_level="WARNING")

    def ask() -> tuple[str, dict]:
        worker, answer = answered_by(port, "/v1/customers/ann/recommendations?channel=store&location=S1", key)
        assert [item["sku"] for item in answer["items"]][:1] == ["tea"]
        return worker, answer

    try:
        wait_until_up(port, server)
        until_both_workers(ask, lambda a: a["model"]["version"] == first.version, f"version {first.version}")

        runtime = bootstrap(load_settings({"database_url": database_url, "env": "test", "model_dir": models}))
        training.activate_version(runtime, "recommender", second.version)
        runtime.close()

        until_both_workers(ask, lambda a: a["model"]["version"] == second.version, f"version {second.version}")
        assert {ask()[1]["model"]["version"] for _ in range(20)} == {second.version}    # and stay on it
    finally:
        server.terminate()
        server.communicate(timeout=30)


def worker_pids(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


def test_hostile_values_leave_every_worker_able_to_follow_even_after_a_kill(app, database_url, tmp_path):
    """The issue's own scenario, over real HTTP: levels pushed to the bound and past it,
    datetimes out of range, then a worker killed and restarted by gunicorn: it loads its
    view, is ready, and serves the right stock."""
    key = admin_key(database_url)
    port = free_port()
    server = start_server(database_url, port, tmp_path)
    try:
        wait_until_up(port, server)
        call(port, "PUT", "/v1/locations", [{"code": "L1", "name": "L1", "kind": "store", "channels": ["store"]}], key)
        call(port, "PUT", "/v1/products", [{"sku": "big", "name": "Big", "price": 1, "currency": "USD"}], key)
        receipts = [{"event_id": f"r{n}", "sku": "big", "location": "L1", "type": "receipt",
                     "quantity": 100_000_000, "occurred_at": "2026-11-25T10:00:00Z"} for n in range(22)]
        status, body = call(port, "POST", "/v1/stock/events", {"events": receipts}, key)
        answer = json.loads(body)
        assert status == 200 and answer["accepted"] == 10
        assert {r["reason"] for r in answer["refused"]} == {"level_out_of_range"} and len(answer["refused"]) == 12
        for moment in ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-12:00"):
            status, _ = call(port, "POST", "/v1/stock/events", {"events": [
                {"event_id": "x", "sku": "big", "location": "L1", "type": "reserve", "quantity": 1,
                 "reservation_id": "r", "expires_at": moment, "occurred_at": "2026-11-25T10:00:00Z"}]}, key)
            assert status == 422
        status, body = call(port, "POST", "/v1/stock/events", {"events": [
            {"event_id": "s1", "sku": "big", "location": "L1", "type": "sale", "quantity": 44,
             "occurred_at": "2026-11-25T10:00:00Z"}]}, key)
        seq = json.loads(body)["last_seq"]

        before = worker_pids(server.pid)
        os.kill(sorted(before)[0], 9)
        deadline = time.monotonic() + 30
        while (len(worker_pids(server.pid)) < 2 or worker_pids(server.pid) == before) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert worker_pids(server.pid) != before, "gunicorn did not start a new worker"

        for _ in range(20):   # both workers, the new one included
            status, body = call(port, "GET", "/readyz")
            assert status == 200, body
            status, body = call(port, "GET", f"/v1/availability?sku=big&channel=store&location=L1&min_seq={seq}",
                                key=key)
            answer = json.loads(body)
            assert (answer["available_now"], answer["quantity_now"]) == (True, 1_000_000_000 - 44), answer
        assert_views_equal_the_database(port, key, database_url)
    finally:
        server.terminate()
        server.communicate(timeout=30)
