"""The service as `make run` starts it: gunicorn with two workers, real HTTP."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from promo.adapters import migrations
from promo.bootstrap import bootstrap
from promo.config import load_settings
from promo.services import api_keys

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).parent / "gunicorn")

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(database_url: str, port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PROMO_DATABASE_URL": database_url, "PROMO_BIND": f"127.0.0.1:{port}",
           "PROMO_ENV": "test", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
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


def test_gunicorn_serves_the_api_with_two_workers_and_sums_their_metrics(app, database_url, tmp_path):
    runtime = bootstrap(load_settings({"database_url": database_url, "env": "test"}))
    _, key = api_keys.create_key(runtime.unit_of_work(write=True), name="e2e", role="admin")
    runtime.close()
    port = free_port()
    server = start_server(database_url, port, tmp_path)
    try:
        wait_until_up(port, server)
        status, _ = call(port, "PUT", "/v1/products", [{"sku": "e2e-1", "name": "Tea", "price": 2.5, "currency": "USD"}], key)
        assert status == 200
        for _ in range(20):  # spread over both workers
            status, body = call(port, "GET", "/v1/products/e2e-1", key=key)
            assert status == 200 and json.loads(body)["name"] == "Tea"
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
        for _ in range(6):  # whichever worker answers, it sees the write (min_seq)
            status, body = call(port, "GET", f"/v1/stock/e2e-1?min_seq={seq}", key=key)
            assert json.loads(body)["locations"][0]["on_hand"] == 4
        verified = subprocess.run(
            [str(Path(sys.executable).parent / "promo"), "stock", "verify", "--url", f"http://127.0.0.1:{port}",
             "--key", key], cwd=ROOT, env={**os.environ, "PROMO_DATABASE_URL": database_url},
            capture_output=True, text=True, timeout=60)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "live view" in verified.stdout and "ok: no differences" in verified.stdout

        metrics = call(port, "GET", "/metrics")[1].decode()
        line = next(l for l in metrics.splitlines()
                    if l.startswith("promo_http_requests_total{") and "/v1/products/<string:sku>" in l and 'status="200"' in l)
        assert float(line.rsplit(" ", 1)[1]) == 20.0
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
