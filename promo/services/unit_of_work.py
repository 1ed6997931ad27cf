"""The unit of work: one database transaction and the repositories that work inside it."""
from __future__ import annotations

from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from promo.adapters.campaign_repository import CampaignRepository
from promo.adapters.checkout_repository import CheckoutRepository
from promo.adapters.database import WRITE_INTENT, WriteGate
from promo.adapters.profile_repository import ProfileRepository
from promo.adapters.repositories import (
    ActiveModelRepository,
    ApiKeyRepository,
    CustomerRepository,
    DatasetTimelineRepository,
    FailedAttemptRepository,
    InteractionRepository,
    LocationRepository,
    ProductRepository,
    StaffRepository,
)
from promo.adapters.webhook_repository import WebhookRepository


class UnitOfWork:
    """``with uow: ...; uow.commit()``. Leaving the block without commit rolls back.

    ``write=True`` declares up front that the transaction will write, so SQLite takes its
    write lock at BEGIN (BEGIN IMMEDIATE) rather than failing on a later lock upgrade.
    """

    session: Session

    def __init__(self, session_factory: sessionmaker[Session], *, write: bool = False,
                 gate: WriteGate | None = None):
        self._session_factory = session_factory
        self._write = write
        self._gate = gate if write else None

    def __enter__(self) -> "UnitOfWork":
        self.session = self._session_factory()
        self._gate_held = False
        if self._write:
            if self._gate is not None:
                self._gate.acquire()
                self._gate_held = True
            self.session.connection(execution_options={WRITE_INTENT: True})
        self.products = ProductRepository(self.session)
        self.locations = LocationRepository(self.session)
        self.customers = CustomerRepository(self.session)
        self.interactions = InteractionRepository(self.session)
        self.api_keys = ApiKeyRepository(self.session)
        self.staff = StaffRepository(self.session)
        self.attempts = FailedAttemptRepository(self.session)
        self.profiles = ProfileRepository(self.session)
        self.campaigns = CampaignRepository(self.session)
        self.checkout = CheckoutRepository(self.session)
        self.active_models = ActiveModelRepository(self.session)
        self.timelines = DatasetTimelineRepository(self.session)
        self.webhooks = WebhookRepository(self.session)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.session.rollback()
            self.session.close()
        finally:
            self._release_gate()

    def reading(self) -> "UnitOfWork":
        """A read-only unit of work on the same database, for reads that can be done
        before this one takes the write lock."""
        return UnitOfWork(self._session_factory)

    def commit(self) -> None:
        self.session.commit()
        self._release_gate()

    def _release_gate(self) -> None:
        if self._gate_held:
            self._gate_held = False
            self._gate.release()  # type: ignore[union-attr]

    def rollback(self) -> None:
        self.session.rollback()
