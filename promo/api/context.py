"""What a view may reach of the process: the runtime and a fresh unit of work."""
from __future__ import annotations

from flask import current_app

from promo.bootstrap import Runtime
from promo.services.unit_of_work import UnitOfWork

EXTENSION = "promo"


def runtime() -> Runtime:
    return current_app.extensions[EXTENSION]


def uow(*, write: bool = False) -> UnitOfWork:
    return runtime().unit_of_work(write=write)
