"""The schema: migrations match the mappings, run both ways, and an old schema is refused."""
from __future__ import annotations

import importlib
import sys
import uuid
from typing import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from promo import create_app
from promo.adapters import migrations
from promo.adapters.orm import Base
from promo.api.context import EXTENSION
from promo.cli import cli

TABLES = set(Base.metadata.tables)
# Not imported from promo.wsgi: importing that module builds the app.
WORKER_BOOT_ERROR = 3


@pytest.fixture
def fresh_database_url(tmp_path, database_url) -> Iterator[str]:
    """A new, empty database of the kind the suite runs on (nothing migrated)."""
    if make_url(database_url).get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"promo_fresh_{uuid.uuid4().hex[:12]}"
    server = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
        with server.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    finally:
        server.dispose()


@pytest.fixture
def engine_for():
    made = []

    def make(url: str):
        made.append(create_engine(url))
        return made[-1]

    yield make
    for engine in made:
        engine.dispose()


@pytest.fixture
def import_wsgi(monkeypatch):
    """Import promo.wsgi afresh (it builds the app at import) with the given environment."""
    monkeypatch.setenv("PROMO_ENV", "test")
    monkeypatch.setenv("PROMO_LOG_LEVEL", "WARNING")
    monkeypatch.delenv("PROMO_CONFIG", raising=False)
    built = []

    def load(**environ: str):
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        sys.modules.pop("promo.wsgi", None)
        module = importlib.import_module("promo.wsgi")
        built.append(module.app)
        return module

    yield load
    sys.modules.pop("promo.wsgi", None)
    for app in built:
        app.extensions[EXTENSION].close()


def test_the_migrations_create_exactly_what_the_mappings_describe(database_url, engine_for):
    with engine_for(database_url).connect() as connection:
        drift = compare_metadata(MigrationContext.configure(connection), Base.metadata)

    assert drift == []


def test_the_test_database_is_at_the_head_revision(database_url, engine_for):
    engine = engine_for(database_url)

    assert migrations.current_revision(engine) == migrations.head_revision(engine) is not None
    assert migrations.schema_problem(engine) is None


def test_an_unmigrated_database_is_a_schema_problem_naming_the_fix(fresh_database_url, engine_for):
    problem = migrations.schema_problem(engine_for(fresh_database_url))

    assert problem is not None
    assert "promo db upgrade" in problem


def test_readyz_is_503_on_an_unmigrated_database(fresh_database_url):
    app = create_app({"env": "test", "database_url": fresh_database_url, "log_level": "WARNING"})
    try:
        response = app.test_client().get("/readyz")
    finally:
        app.extensions[EXTENSION].close()

    assert response.status_code == 503
    assert response.json["checks"]["database"]["ok"] is False
    assert "promo db upgrade" in response.json["checks"]["database"]["detail"]


def test_readyz_is_503_when_the_database_cannot_be_reached(tmp_path):
    # A directory where the SQLite file should be: every connection attempt fails.
    (tmp_path / "db").mkdir()
    app = create_app({"env": "test", "database_url": f"sqlite:///{tmp_path / 'db'}", "log_level": "WARNING"})
    try:
        response = app.test_client().get("/readyz")
    finally:
        app.extensions[EXTENSION].close()

    assert response.status_code == 503
    assert response.json["checks"]["database"]["detail"].startswith("database unreachable")


def test_the_wsgi_entry_point_refuses_an_unmigrated_database(import_wsgi, fresh_database_url, capsys):
    with pytest.raises(SystemExit) as exited:
        import_wsgi(PROMO_DATABASE_URL=fresh_database_url)

    # The code that makes gunicorn stop instead of restarting the worker forever.
    assert exited.value.code == WORKER_BOOT_ERROR
    message = capsys.readouterr().err
    assert message.startswith("promo: refusing to serve")
    assert "promo db upgrade" in message


def test_the_wsgi_entry_point_refuses_a_bad_configuration(import_wsgi, database_url, capsys):
    with pytest.raises(SystemExit) as exited:
        import_wsgi(PROMO_DATABASE_URL=database_url, PROMO_ENV="production")

    assert exited.value.code == WORKER_BOOT_ERROR
    assert capsys.readouterr().err.startswith("promo: configuration error: setting 'secret_key'")


def test_the_wsgi_entry_point_serves_a_migrated_database(import_wsgi, database_url):
    module = import_wsgi(PROMO_DATABASE_URL=database_url)

    assert module.app.test_client().get("/readyz").status_code == 200


def test_migrations_upgrade_downgrade_to_base_and_upgrade_again(fresh_database_url, engine_for):
    engine = engine_for(fresh_database_url)

    migrations.upgrade(engine)
    assert TABLES <= set(inspect(engine).get_table_names())
    assert migrations.schema_problem(engine) is None

    migrations.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) & TABLES == set()
    assert migrations.current_revision(engine) is None

    migrations.upgrade(engine)
    assert TABLES <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_promo_db_current_and_upgrade_bring_an_empty_database_to_head(fresh_database_url, cli_runner, engine_for):
    env = {"PROMO_DATABASE_URL": fresh_database_url, "PROMO_ENV": "test", "PROMO_LOG_LEVEL": "WARNING",
           "PROMO_CONFIG": None}
    head = migrations.head_revision(engine_for(fresh_database_url))

    before = cli_runner.invoke(cli, ["db", "current"], env=env)
    assert before.exit_code == 1
    assert "(none: empty database)" in before.output and "promo db upgrade" in before.output

    upgraded = cli_runner.invoke(cli, ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    assert f"database at revision {head}" in upgraded.output

    after = cli_runner.invoke(cli, ["db", "current"], env=env)
    assert after.exit_code == 0
    assert f"current: {head}" in after.output


def test_the_positions_seq_migration_keeps_the_positions_table_whole_both_ways(fresh_database_url, engine_for):
    engine = engine_for(fresh_database_url)
    migrations.upgrade(engine, "a41f7c9e2b10")
    with engine.begin() as connection:   # a table current with a log of 2 events
        connection.execute(text("INSERT INTO products (id, sku, name, price, currency, attributes, updated_at) "
                                "VALUES (1, 'p1', 'P1', 1, 'USD', '{}', '2026-01-01 00:00:00')"))
        connection.execute(text("INSERT INTO locations (id, code, name, kind, channels, lead_time_days, updated_at) "
                                "VALUES (1, 'L1', 'L1', 'store', '[]', 0, '2026-01-01 00:00:00')"))
        connection.execute(text("UPDATE stock_sequence SET last_seq = 2"))

    migrations.upgrade(engine, "c3d9e2f41a7b")
    with engine.begin() as connection:
        assert connection.execute(text("SELECT positions_seq FROM stock_sequence")).scalar_one() == 2
        # Then a table trailing by one logged event, as the SQLite write path leaves it.
        connection.execute(text(
            "INSERT INTO stock_events (seq, event_id, product_id, location_id, type, quantity, occurred_at, "
            "recorded_at, anomaly, delta_on_hand, delta_reserved, delta_safety_stock, delta_inbound) VALUES "
            "(3, 'e3', 1, 1, 'receipt', 4, '2026-01-01 00:00:00', '2026-01-01 00:00:00', false, 4, 0, 0, 0)"))
        connection.execute(text("UPDATE stock_sequence SET last_seq = 3"))

    migrations.downgrade(engine, "a41f7c9e2b10")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT product_id, location_id, on_hand, last_seq FROM stock_positions"))
        assert [tuple(r) for r in rows] == [(1, 1, 4, 3)]
