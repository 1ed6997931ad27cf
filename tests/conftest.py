"""Fixtures shared by every test.

The suite runs on SQLite by default and on PostgreSQL when PROMO_TEST_DATABASE_URL names
one (`make test-pg` does). The schema is migrated once per session; each test then starts
from empty tables (rows are deleted after it), never from a recreated schema.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Iterator

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from promo import create_app
from promo.adapters import migrations
from promo.adapters.orm import Base
from promo.api.context import EXTENSION
from promo.bootstrap import Runtime
from promo.services import api_keys

PG_URL = os.environ.get("PROMO_TEST_DATABASE_URL")


def database_kind() -> str:
    return "postgresql" if PG_URL else "sqlite"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for the whole session."""
    url = PG_URL or f"sqlite:///{tmp_path_factory.mktemp('db') / 'promo-test.db'}"
    engine = create_engine(url)
    try:
        migrations.upgrade(engine)
    finally:
        engine.dispose()
    yield url


# Tables whose rows the migrations create and the tests must keep.
SEEDED = {"stock_sequence"}


def empty_all_tables(engine: Engine) -> None:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables) if table.name not in SEEDED]
    for attempt in range(5):
        try:
            with engine.begin() as connection:
                if engine.dialect.name == "postgresql":
                    connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
                else:
                    for name in tables:
                        connection.execute(text(f"DELETE FROM {name}"))
                connection.execute(text("UPDATE stock_sequence SET last_seq = 0, positions_seq = 0"))
            return
        except OperationalError as error:
            # On PostgreSQL, TRUNCATE takes every table's exclusive lock one by one while
            # the app's background threads (stock follower, model checks) may be reading
            # two of them: the database breaks the deadlock by failing one side. Try again.
            if "deadlock detected" not in str(error) or attempt == 4:
                raise
            time.sleep(0.1 * (attempt + 1))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "settings(**values): override settings for the app this test builds")


@pytest.fixture
def settings_overrides(database_url: str, request: pytest.FixtureRequest, tmp_path) -> dict[str, object]:
    """Settings for the `app` fixture; `@pytest.mark.settings(max_batch_items=3)` changes some."""
    marker = request.node.get_closest_marker("settings")
    return {"env": "test", "database_url": database_url, "log_level": "WARNING",
            "model_dir": str(tmp_path / "models"), "model_check_interval_ms": 100,
            # Tests drive the campaign watch by calling its tick; those that want the
            # thread set a short interval.
            "campaign_watch_interval_ms": 3_600_000,
            # Likewise the serving snapshot: tests call runtime.serving.refresh(). Writes
            # made outside the app (the CLI, direct inserts) reach it only then, so
            # recommendations are computed afresh unless a test asks for the cache.
            "serving_refresh_ms": 3_600_000, "recommendation_answer_cache": 0,
            # Tests that rank audiences build the scoring state when they rank.
            "audience_warm_up": 0,
            **(marker.kwargs if marker else {})}


@pytest.fixture
def app(settings_overrides: dict[str, object]) -> Iterator[Flask]:
    app = create_app(settings_overrides)
    runtime: Runtime = app.extensions[EXTENSION]
    try:
        yield app
    finally:
        # Closed first: closing writes the buffered exposures, which must not outlive the test.
        runtime.close()
        empty_all_tables(runtime.engine)
        runtime.engine.dispose()


@pytest.fixture
def runtime(app: Flask) -> Runtime:
    return app.extensions[EXTENSION]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def cli_runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def headers_for(runtime: Runtime) -> Callable[[str], dict[str, str]]:
    """Authorization headers for a fresh key of the given role."""
    made: dict[str, dict[str, str]] = {}

    def make(role: str) -> dict[str, str]:
        if role not in made:
            _, token = api_keys.create_key(runtime.unit_of_work(write=True), name=f"test-{role}", role=role)
            made[role] = {"Authorization": f"Bearer {token}"}
        return made[role]

    return make


@pytest.fixture
def admin(headers_for: Callable[[str], dict[str, str]]) -> dict[str, str]:
    return headers_for("admin")


@pytest.fixture
def marketing(headers_for: Callable[[str], dict[str, str]]) -> dict[str, str]:
    return headers_for("marketing")


@pytest.fixture
def channel(headers_for: Callable[[str], dict[str, str]]) -> dict[str, str]:
    return headers_for("channel")


@pytest.fixture
def row_count(runtime: Runtime) -> Callable[[str], int]:
    """How many rows a table holds now, read straight from the database."""
    def count(table: str) -> int:
        assert table in Base.metadata.tables
        with runtime.engine.connect() as connection:
            return connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()

    return count
