"""The models each process serves, following the active versions recorded in the database.

`promo models activate` (or `promo train`) changes a row in ``active_models``; every
process checks that row every ``model_check_interval_ms`` on a background thread, loads
the new artefact there and swaps it in whole, so request threads never wait for a load
and never see half a model. If an artefact cannot be loaded, the process keeps serving
what it had (or the popularity fallback) and logs why.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from typing import Any, Callable

from sqlalchemy.orm import Session, sessionmaker

from promo import metrics
from promo.adapters.model_store import Artefact, ArtefactError, ModelStore
from promo.adapters.repositories import ActiveModelRepository
from promo.services.background import log_failure

log = logging.getLogger(__name__)

RECOMMENDER = "recommender"
RESPONSE = "response"


def _build_recommender(artefact: Artefact) -> Any:
    from promo.ml.recommender import Recommender

    return Recommender.from_arrays(artefact.arrays, artefact.params)


def _build_response(artefact: Artefact) -> Any:
    from promo.ml.response import ResponseModel

    return ResponseModel.from_arrays(artefact.arrays, artefact.params)


BUILDERS: dict[str, Callable[[Artefact], Any]] = {RECOMMENDER: _build_recommender, RESPONSE: _build_response}


@dataclasses.dataclass(frozen=True)
class ServedModel:
    name: str
    version: str
    estimator: Any
    metadata: dict[str, Any]


class ModelServer:
    def __init__(self, store: ModelStore, session_factory: sessionmaker[Session], check_interval: float):
        self.store = store
        self._session_factory = session_factory
        self._interval = check_interval
        self._served: dict[str, ServedModel] = {}
        self._failed: dict[str, str] = {}       # name -> version that failed to load
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def get(self, name: str) -> ServedModel | None:
        """The model serving ``name`` in this process, or None when there is none yet."""
        return self._served.get(name)

    def refresh(self) -> None:
        """Load whatever version is active now and not yet served (the thread calls this)."""
        with self._session_factory() as session:
            active = ActiveModelRepository(session).all()
        for name, version in active.items():
            served = self._served.get(name)
            if name not in BUILDERS or (served and served.version == version) or self._failed.get(name) == version:
                continue
            try:
                artefact = self.store.load(name, version)
                model = ServedModel(name, version, BUILDERS[name](artefact), artefact.metadata)
            except (ArtefactError, ValueError, KeyError, OSError) as exc:
                self._failed[name] = version
                metrics.MODEL_LOAD_FAILURES.labels(name).inc()
                log.error("cannot load model %s version %s; still serving %s: %s", name, version,
                          served.version if served else "the fallback", exc)
                continue
            self._served = {**self._served, name: model}   # one reference swap: readers never see a mix
            self._failed.pop(name, None)
            trained_at = model.metadata.get("trained_at")
            if trained_at:
                metrics.MODEL_SERVED_AT.labels(name).set(dt.datetime.fromisoformat(trained_at).timestamp())
            log.info("serving model %s version %s", name, version)

    def start(self) -> None:
        self.refresh_quietly()
        self._thread = threading.Thread(target=self._run, name="promo-models", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def refresh_quietly(self) -> None:
        try:
            self.refresh()
        except Exception as failed:  # noqa: BLE001 - a database hiccup must not kill the thread
            log_failure(log, "checking the active models failed; will retry", failed)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.refresh_quietly()
