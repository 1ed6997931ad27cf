"""Browser tests: Playwright for Python driving Debian's Chromium (never a downloaded
build) against a real server (gunicorn, two workers) on loopback.

Every page a test opens is watched: a console error, an uncaught script error or a
response with a 4xx or 5xx status fails the test, unless the test says it expects that
status. Without Chromium the tests are skipped, except where PROMO_REQUIRE_BROWSER=1
makes that a failure: `.ci/run` installs Chromium and sets it, so CI always runs them. Screenshots go to docs/screenshots when
PROMO_SCREENSHOTS=1 (`make screenshots`), else to the test's temporary directory.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.test_server import admin_key, free_port, start_server, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str | None:
    return os.environ.get("PROMO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    executable = chromium()
    if executable is None:
        message = "Chromium is not installed (apt-get install chromium); .ci/run installs it"
        if os.environ.get("PROMO_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


class WatchedPages:
    """Opens pages that record what went wrong on them."""

    def __init__(self, browser: object, base_url: str):
        self.browser = browser
        self.base_url = base_url
        self.problems: list[str] = []
        self.expected_statuses: set[tuple[str, int]] = set()
        self.contexts: list[object] = []

    def expect_status(self, path: str, status: int) -> None:
        """A test that provokes an error page says so, path and status."""
        self.expected_statuses.add((path, status))

    def new_page(self, *, width: int = 1280, height: int = 900):  # type: ignore[no-untyped-def]
        context = self.browser.new_context(base_url=self.base_url,  # type: ignore[attr-defined]
                                           viewport={"width": width, "height": height})
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda message: self._check_console(page, message))
        page.on("pageerror", lambda error: self.problems.append(f"script error on {page.url}: {error}"))
        page.on("response", self._check_response)
        return page

    def _check_console(self, page, message) -> None:  # type: ignore[no-untyped-def]
        # Chromium also logs each 4xx/5xx response as a console error: the responses are
        # checked below, where a test may say it expects one.
        if message.type == "error" and not message.text.startswith("Failed to load resource: the server responded"):
            self.problems.append(f"console error on {page.url}: {message.text}")

    def _check_response(self, response) -> None:  # type: ignore[no-untyped-def]
        if response.status < 400:
            return
        path = response.url.removeprefix(self.base_url).split("?")[0]
        if (path, response.status) not in self.expected_statuses:
            self.problems.append(f"{response.status} for {response.request.method} {path}")

    def close(self) -> None:
        for context in self.contexts:
            context.close()  # type: ignore[attr-defined]


@pytest.fixture
def server(app, database_url, tmp_path) -> Iterator[dict[str, object]]:
    """A fresh server on loopback, its address, and an admin API key for the test's set-up."""
    key = admin_key(database_url)
    port = free_port()
    process = start_server(database_url, port, tmp_path, campaign_watch_interval_ms="100")
    try:
        wait_until_up(port, process)
        yield {"port": port, "url": f"http://127.0.0.1:{port}", "key": key}
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "Traceback" not in output, output[-3000:]


@pytest.fixture
def pages(browser, server) -> Iterator[WatchedPages]:
    watched = WatchedPages(browser, str(server["url"]))
    yield watched
    watched.close()
    assert not watched.problems, "\n".join(watched.problems)


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """Where this run's screenshots go: the docs when asked, else a temporary directory."""
    folder = ROOT / "docs" / "screenshots" if os.environ.get("PROMO_SCREENSHOTS") == "1" else tmp_path / "shots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
