"""Operating the served service: metrics that survive a second start, quiet routine logs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_server import call, free_port, start_server, wait_until_up

pytestmark = pytest.mark.slow


def healthz_requests_counted(port: int) -> float:
    status, body = call(port, "GET", "/metrics")
    assert status == 200
    for line in body.decode().splitlines():
        if (line.startswith("promo_http_requests_total{") and 'endpoint="/healthz"' in line
                and 'status="200"' in line):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_second_server_started_on_the_same_bind_leaves_the_running_servers_metrics_alone(database_url, tmp_path):
    port = free_port()
    running = start_server(database_url, port, tmp_path)
    try:
        wait_until_up(port, running)
        for _ in range(5):
            assert call(port, "GET", "/healthz")[0] == 200
        before = healthz_requests_counted(port)
        assert before >= 5

        # Same bind, same metrics directory: it cannot bind, and gives up.
        second = start_server(database_url, port, tmp_path)
        output = second.communicate(timeout=90)[0].decode()
        assert second.returncode != 0, output
        assert running.poll() is None

        for _ in range(3):
            assert call(port, "GET", "/healthz")[0] == 200
        assert healthz_requests_counted(port) == before + 3
    finally:
        running.terminate()
        running.communicate(timeout=30)


def test_worker_starts_and_readiness_probes_log_no_alembic_lines(database_url, tmp_path):
    port = free_port()
    server = start_server(database_url, port, tmp_path)
    try:
        wait_until_up(port, server)
        for _ in range(5):
            assert call(port, "GET", "/readyz")[0] == 200
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    entries = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert [entry for entry in entries if entry["logger"].startswith("alembic")] == []
    assert sum(1 for entry in entries if entry.get("path") == "/readyz") == 5


def libraries_mapped_by(pid: int) -> set[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name for name in ("pandas", "sklearn", "scipy", "sqlalchemy") if f"/site-packages/{name}/" in maps}


@pytest.mark.parametrize(("preload", "in_master"), [("1", {"pandas", "sklearn", "scipy", "sqlalchemy"}), ("0", set())])
def test_the_gunicorn_master_imports_the_libraries_before_forking_unless_told_not_to(database_url, tmp_path, preload,
                                                                                     in_master):
    port = free_port()
    server = start_server(database_url, port, tmp_path, preload=preload)
    try:
        wait_until_up(port, server)
        assert call(port, "GET", "/readyz")[0] == 200

        assert libraries_mapped_by(server.pid) == in_master
        # The master counts nothing: every Prometheus file belongs to a worker.
        (directory,) = (tmp_path / "metrics").glob("master-*")
        assert directory.name == f"master-{server.pid}"
        assert not [path.name for path in directory.iterdir() if path.stem.endswith(f"_{server.pid}")]
    finally:
        server.terminate()
        server.communicate(timeout=30)
