"""Wiring that both the web app and the CLI need: settings -> engine -> sessions."""
from __future__ import annotations

import dataclasses

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from promo.adapters.database import create_db_engine, create_session_factory
from promo.config import Settings, load_settings
from promo.services.unit_of_work import UnitOfWork


@dataclasses.dataclass
class Runtime:
    """What one process holds for its lifetime."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]

    def unit_of_work(self, *, write: bool = False) -> UnitOfWork:
        return UnitOfWork(self.session_factory, write=write)

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(settings: Settings | None = None) -> Runtime:
    settings = settings or load_settings()
    engine = create_db_engine(settings)
    return Runtime(settings=settings, engine=engine, session_factory=create_session_factory(engine))
