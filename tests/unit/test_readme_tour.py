"""The README tour as tests/readme_tour.py reads and checks it (the run against a server on
the demo data is `.venv/bin/python -m tests.readme_tour`, which .ci/run calls)."""
from __future__ import annotations

import http.server
import os
import subprocess
import threading

import pytest

from tests.readme_tour import README, checked_script, steps, tour_block


@pytest.fixture
def tour():
    return steps(tour_block(README.read_text()))


def test_the_readme_tour_is_found_and_every_curl_in_it_has_a_documented_status(tour):
    curls = [step for step in tour if step.is_curl]

    assert len(curls) >= 8
    assert all(100 <= step.expected_status <= 599 for step in curls)
    assert [step.expected_status for step in curls].count(422) >= 1   # the errors example


def test_every_curl_of_the_tour_goes_to_the_base_variable(tour):
    assert tour[0].text.startswith("BASE=${BASE:-http://127.0.0.1:8000}")
    for step in tour:
        if step.is_curl:
            assert '"$BASE/' in step.text and "localhost:" not in step.text, step.text


def test_the_tour_makes_its_key_so_that_it_runs_twice_and_a_failure_is_not_piped_away(tour):
    (key,) = [step.text for step in tour if step.text.startswith("KEY=")]

    assert "--replace" in key and "--token-only" in key
    assert "|" not in key


@pytest.fixture
def static_server(tmp_path):
    (tmp_path / "here").write_text("hello")
    quiet = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *args: None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *args: quiet(*args, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run(block: str, base: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", checked_script(steps(block))], env={**os.environ, "BASE": base},
                          capture_output=True, text=True, timeout=60)


def test_the_checked_tour_passes_when_every_call_answers_its_documented_status(static_server):
    result = run('curl -s "$BASE/here"\ncurl -s "$BASE/gone"\n# -> 404 not there\n', static_server)

    assert result.returncode == 0, result.stderr
    assert "hello" in result.stdout
    assert "step 2: HTTP 404 as documented" in result.stderr


def test_the_checked_tour_stops_at_a_call_that_answers_another_status(static_server):
    result = run('curl -s "$BASE/gone"\n# -> {"ok": true}\necho never\n', static_server)

    assert result.returncode == 1
    assert "step 1: HTTP 404, the README documents 200" in result.stderr
    assert "never" not in result.stdout


def test_the_checked_tour_stops_at_a_failing_command_inside_a_substitution(static_server):
    result = run('KEY=$(false)\necho "never $KEY"\n', static_server)

    assert result.returncode != 0
    assert "never" not in result.stdout


def test_a_statement_runs_on_over_lines_inside_quotes_and_after_backslashes():
    block = "curl -s -X PUT \"$BASE/x\" \\\n  -d '[{\"a\": 1,\n   \"b\": 2}]'\n# -> 201 made\nH=\"h\"\n"

    parsed = steps(block)

    assert [(step.is_curl, step.expected_status) for step in parsed] == [(True, 201), (False, None)]
    assert parsed[0].text.endswith("\"b\": 2}]'")
