"""Alembic, driven from code: upgrade, current revision, and whether the schema is current."""
from __future__ import annotations

import functools

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from promo.config import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
UPGRADE_HINT = "run `promo db upgrade` (or `make run`, which does it) first"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option(
        "file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s")
    config.attributes["engine"] = engine
    return config


def head_revision(engine: Engine) -> str | None:
    return _code_head()


@functools.cache
def _code_head() -> str | None:
    # The code's head cannot change while a process runs; reading the migration scripts
    # once spares every /readyz probe a directory scan.
    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()  # type: ignore[arg-type]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_problem(engine: Engine) -> str | None:
    """Why this database cannot be served by this code, or None when its schema is current."""
    current, head = current_revision(engine), head_revision(engine)
    if current == head:
        return None
    return f"the database is at schema revision {current}, this code needs {head}: {UPGRADE_HINT}"


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def new_revision(engine: Engine, message: str) -> None:
    """Autogenerate a revision from the difference between the mappings and the database."""
    command.revision(alembic_config(engine), message=message, autogenerate=True)
