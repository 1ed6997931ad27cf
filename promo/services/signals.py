"""In-process publish/subscribe for domain signals raised after a commit.

The stock use cases publish only after their transaction has committed, so a subscriber
never acts on a change that was rolled back. A signal reaches only the process that made
the change, and is lost if that process dies right after the commit: campaigns therefore
do not act on signals but on the durable stock log and the live view every process
follows (promo/services/campaign_watch.py). Signals suit in-process reactions that may be
lost, such as refreshing a cache early.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from collections import defaultdict
from typing import Any, Callable

log = logging.getLogger("promo.signals")


@dataclasses.dataclass(frozen=True)
class Signal:
    kind: str
    payload: dict[str, Any]


Handler = Callable[[Signal], None]


class SignalBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._lock = threading.Lock()

    def subscribe(self, kind: str, handler: Handler) -> None:
        with self._lock:
            self._handlers[kind].append(handler)

    def wanted(self) -> set[str]:
        """The kinds someone listens to (publishers skip building the others)."""
        with self._lock:
            return {kind for kind, handlers in self._handlers.items() if handlers}

    def publish(self, signals: list[Signal]) -> None:
        """Call every subscriber; one failing handler neither stops the others nor the caller."""
        for signal in signals:
            with self._lock:
                handlers = list(self._handlers.get(signal.kind, ()))
            for handler in handlers:
                try:
                    handler(signal)
                except Exception:
                    log.exception("signal handler failed", extra={"signal": signal.kind})
