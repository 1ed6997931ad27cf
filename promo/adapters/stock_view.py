"""The in-memory stock view every process keeps: columnar, compact, caught up by sequence.

Positions live in parallel numpy arrays sorted by a 64-bit key (product id in the high
bits, location id in the low 24 bits): 8 bytes of key and four int32 columns, 24 bytes a
position. The write path keeps every level within plus or minus MAX_LEVEL, which int32
holds; should the log hold larger levels all the same (written before that bound, or by
hand), the columns widen to int64 rather than overflow. Positions first seen after the last merge wait in a small dict until the next
merge. Open reservations with an expiry and pending inbound receipts, which are few, are
kept in plain Python structures beside the arrays.

For recommendations, which ask "which of these hundreds of products are in stock here?",
the locations asked about recently also get an in-stock flag per product (a bool array
indexed by product id, about 1 byte per product and location), built on first use and
kept current as events apply and reservations expire.
"""
from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import heapq
import logging
import operator
import threading
from typing import Any, Iterable, Sequence

import numpy as np
from cachetools import LRUCache

from promo.adapters.stock_log import LogRow
from promo.domain.stock import Position

log = logging.getLogger("promo.stock.view")

LOCATION_BITS = 24
LOCATION_MASK = (1 << LOCATION_BITS) - 1
MERGE_THRESHOLD = 4096
COLUMNS = ("on_hand", "reserved", "safety_stock", "inbound")
# Locations whose per-product in-stock flags are kept (least recently asked dropped first).
IN_STOCK_LOCATIONS = 512


_POSITION_AND_DELTAS = operator.itemgetter(*(LogRow._fields.index(name) for name in (
    "product_id", "location_id", "delta_on_hand", "delta_reserved", "delta_safety_stock", "delta_inbound")))
_INT32 = np.iinfo(np.int32)


def _fits_int32(values: np.ndarray) -> bool:
    return not len(values) or (int(values.min()) >= _INT32.min and int(values.max()) <= _INT32.max)


def position_key(product_id: int, location_id: int) -> int:
    return (product_id << LOCATION_BITS) | location_id


def split_key(key: int) -> tuple[int, int]:
    return key >> LOCATION_BITS, key & LOCATION_MASK


@dataclasses.dataclass(frozen=True)
class PositionState:
    product_id: int
    location_id: int
    on_hand: int
    reserved: int          # open, unexpired reservations
    safety_stock: int
    inbound: int

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved - self.safety_stock)


def _timestamp(value: dt.datetime | None) -> float | None:
    return None if value is None else value.timestamp()


class StockView:
    """Thread-safe; the follower writes, request threads read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys = np.empty(0, dtype=np.int64)
        self._values = {name: np.empty(0, dtype=np.int32) for name in COLUMNS}
        self._recent: dict[int, list[int]] = {}
        self._reservations: dict[str, tuple[int, int, float | None]] = {}   # id -> key, quantity, expiry
        self._expiry_heap: list[tuple[float, str]] = []
        self._expired: dict[str, int] = {}                                  # id -> key of expired, still open
        self._expired_by_key: dict[int, int] = {}
        # key -> {id: (quantity, expiry)} of open reservations that expire: a writer asks
        # "expired at this instant?" exactly, whatever instant readers have moved on to.
        self._expiring: dict[int, dict[str, tuple[int, float]]] = {}
        self._inbound: dict[int, list[list[Any]]] = {}                      # key -> [[eta, quantity], ...]
        self._in_stock: LRUCache[int, np.ndarray] = LRUCache(maxsize=IN_STOCK_LOCATIONS)
        # Per location and per product, the count of changes at the last one that touched
        # it (events, expiries), and an epoch bumped by every load: together they version
        # what is available at a set of locations, or of a set of products, so answers
        # derived from it can be cached or skipped.
        self._changes = 0
        self._changed_at: dict[int, int] = {}
        self._product_changed_at: dict[int, int] = {}
        self._epoch = 0
        self.as_of_seq = 0

    # --- loading and applying -------------------------------------------------------------

    def load(self, arrays: dict[str, np.ndarray], reservations: Iterable[Sequence[Any]],
             inbound: Iterable[Sequence[Any]], as_of_seq: int, trailing: np.ndarray | None = None) -> None:
        """Replace everything with a snapshot taken at ``as_of_seq``: the positions table
        (``arrays``) plus ``trailing``, the deltas of the log rows it does not hold yet
        (rows of product_id, location_id and the four deltas)."""
        keys = (arrays["product_id"].astype(np.int64) << LOCATION_BITS) | arrays["location_id"].astype(np.int64)
        order = np.argsort(keys, kind="stable")
        wide = not all(_fits_int32(arrays[name]) for name in COLUMNS)
        if wide:
            log.warning("stock levels past 32 bits in the snapshot; the view holds them as int64")
        values = {name: arrays[name][order].astype(np.int64 if wide else np.int32) for name in COLUMNS}
        with self._lock:
            self._keys = keys[order]
            self._values = values
            self._recent = {}
            self._reservations, self._expiry_heap = {}, []
            self._expired, self._expired_by_key, self._expiring = {}, {}, {}
            for reservation_id, product_id, location_id, quantity, expires_at in reservations:
                self._open_reservation(reservation_id, position_key(product_id, location_id), quantity, expires_at)
            self._inbound = {}
            for product_id, location_id, eta, seq, pending, inbound_id in inbound:
                self._add_inbound(position_key(product_id, location_id), eta, seq, pending, inbound_id)
            self._in_stock.clear()
            self._epoch += 1
            self._changed_at, self._product_changed_at = {}, {}
            if trailing is not None and len(trailing):
                self._add_many((trailing[:, 0] << LOCATION_BITS) | trailing[:, 1], trailing[:, 2:])
                if self._recent:
                    self._merge_recent()
            self.as_of_seq = as_of_seq

    def apply(self, rows: Sequence[LogRow]) -> None:
        """Apply logged events, in sequence order.

        The deltas are summed per position and added with numpy (addition does not care
        about order); only reservations and inbound receipts, which keep per-item state,
        are followed event by event.
        """
        if not rows:
            return
        applied = [row for row in rows if row.refusal is None]
        numbers = np.array(list(map(_POSITION_AND_DELTAS, applied)), dtype=np.int64).reshape(-1, 6)
        keys = (numbers[:, 0] << LOCATION_BITS) | numbers[:, 1]
        deltas = numbers[:, 2:]
        # Only events with a reservation or inbound keep per-item state.
        itemised = [row for row in applied if row.reservation_id is not None or row.delta_inbound]
        with self._lock:
            self._add_many(keys, deltas)
            self._refresh_in_stock(keys)
            for row in itemised:
                key = position_key(row.product_id, row.location_id)
                if row.type == "reserve":
                    self._open_reservation(row.reservation_id, key, row.quantity, row.expires_at)
                elif row.delta_reserved < 0 and row.reservation_id:
                    self._close_reservation(row.reservation_id)
                if row.type == "inbound" and row.delta_inbound > 0:
                    self._add_inbound(key, row.eta, row.seq, row.delta_inbound, row.inbound_id)
                elif row.delta_inbound < 0:
                    self._consume_inbound(key, -row.delta_inbound, row.inbound_id)
            self.as_of_seq = rows[-1].seq
            if len(self._recent) >= MERGE_THRESHOLD:
                self._merge_recent()

    def _add_many(self, keys: np.ndarray, deltas: np.ndarray) -> None:
        if not len(keys):
            return
        index = np.searchsorted(self._keys, keys)
        inside = index < len(self._keys)
        found = np.zeros(len(keys), dtype=bool)
        found[inside] = self._keys[index[inside]] == keys[inside]
        at = index[found]
        for i, name in enumerate(COLUMNS):
            column = deltas[found, i]
            if column.any():
                values = self._values[name]
                if values.dtype == np.int32 and not self._sums_fit_int32(values[at], column):
                    self._widen()
                    values = self._values[name]
                np.add.at(values, at, column.astype(values.dtype))
        recent = self._recent
        for key, row in zip(keys[~found].tolist(), deltas[~found].tolist()):
            stored = recent.get(key)
            if stored is None:
                recent[key] = row
            else:
                for i, delta in enumerate(row):
                    stored[i] += delta

    @staticmethod
    def _sums_fit_int32(current: np.ndarray, deltas: np.ndarray) -> bool:
        """Whether adding ``deltas`` (some to the same position) to ``current`` surely stays
        within int32: the largest level touched plus every delta's size."""
        reach = int(np.abs(current.astype(np.int64)).max()) + int(np.abs(deltas).sum())
        return reach <= _INT32.max

    def _widen(self) -> None:
        log.warning("stock levels past 32 bits in the log; the view now holds them as int64")
        self._values = {name: values.astype(np.int64) for name, values in self._values.items()}

    def _index(self, key: int) -> int:
        index = int(np.searchsorted(self._keys, key))
        return index if index < len(self._keys) and self._keys[index] == key else -1

    def _merge_recent(self) -> None:
        # Sorting only the new keys and inserting them costs one pass over the arrays,
        # where sorting everything again would cost ~60 ms at a million positions.
        keys = np.fromiter(self._recent, dtype=np.int64, count=len(self._recent))
        rows = np.array(list(self._recent.values()), dtype=np.int64).reshape(-1, 4)
        if self._values["on_hand"].dtype == np.int32 and not _fits_int32(rows):
            self._widen()
        rows = rows.astype(self._values["on_hand"].dtype)
        order = np.argsort(keys)
        keys, rows = keys[order], rows[order]
        at = np.searchsorted(self._keys, keys)
        self._keys = np.insert(self._keys, at, keys)
        for i, name in enumerate(COLUMNS):
            self._values[name] = np.insert(self._values[name], at, rows[:, i])
        self._recent = {}

    def _open_reservation(self, reservation_id: str, key: int, quantity: int, expires_at: dt.datetime | None) -> None:
        expiry = _timestamp(expires_at)
        self._reservations[reservation_id] = (key, quantity, expiry)
        if expiry is not None:
            heapq.heappush(self._expiry_heap, (expiry, reservation_id))
            self._expiring.setdefault(key, {})[reservation_id] = (quantity, expiry)

    def _close_reservation(self, reservation_id: str) -> None:
        found = self._reservations.pop(reservation_id, None)
        if found and found[2] is not None:
            expiring = self._expiring[found[0]]
            del expiring[reservation_id]
            if not expiring:
                del self._expiring[found[0]]
        if found and reservation_id in self._expired:
            key = self._expired.pop(reservation_id)
            self._expired_by_key[key] -= found[1]
            self._refresh_in_stock(np.array([key], dtype=np.int64))

    def _add_inbound(self, key: int, eta: dt.datetime, seq: int, pending: int, inbound_id: str) -> None:
        # Ordered as the database orders them (eta, then inbound id), for the earliest-first
        # rule: both know an inbound's id, whichever of its events came first.
        bisect.insort(self._inbound.setdefault(key, []), [eta, inbound_id, pending, seq])

    def _consume_inbound(self, key: int, quantity: int, inbound_id: str | None) -> None:
        """A named receipt reduces its inbound; an unnamed one the earliest first."""
        pending = self._inbound.get(key, [])
        for entry in [e for e in pending if e[1] == inbound_id] if inbound_id else list(pending):
            if quantity <= 0:
                break
            used = min(entry[2], quantity)
            entry[2] -= used
            quantity -= used
            if entry[2] == 0:
                pending.remove(entry)

    def _expire_until(self, now: float) -> None:
        """Reservations past their expiry stop counting; nothing is written anywhere."""
        heap = self._expiry_heap
        changed = []
        while heap and heap[0][0] <= now:
            _, reservation_id = heapq.heappop(heap)
            found = self._reservations.get(reservation_id)
            if found and reservation_id not in self._expired:
                self._expired[reservation_id] = found[0]
                self._expired_by_key[found[0]] = self._expired_by_key.get(found[0], 0) + found[1]
                changed.append(found[0])
        if changed:
            self._refresh_in_stock(np.array(changed, dtype=np.int64))

    # --- the write path's reads (SQLite: the writer holds the database's write lock) -----

    def positions_for_write(self, keys: Sequence[int], now: dt.datetime,
                            unapplied: Sequence[LogRow] = ()) -> list[Position]:
        """The stored state of each position key (zero if unknown) once the committed log
        rows ``unapplied`` (LOG_COLUMNS, following on from the view) are counted, with the
        part of its reserved quantity that has expired at ``now``: what the positions and
        reservations tables hold. In the order of ``keys``; the view itself is unchanged."""
        moment = now.timestamp()
        wanted = np.fromiter(keys, dtype=np.int64, count=len(keys))
        with self._lock:
            stored = self._keys
            if len(stored) and len(wanted):
                index = np.minimum(np.searchsorted(stored, wanted), len(stored) - 1)
                found = stored[index] == wanted
                rows = np.stack([np.where(found, self._values[name][index], 0) for name in COLUMNS], axis=1).tolist()
            else:
                rows = [[0, 0, 0, 0] for _ in keys]
            recent = self._recent
            positions = [Position(*recent.get(key, row)) for key, row in zip(keys, rows)]
            expired = self._expired_at(keys, moment)
        closed = self._count_unapplied(keys, positions, expired, unapplied, moment)
        for position, key in zip(positions, keys):
            held = expired.get(key)
            if held:
                position.expired_reserved = sum(quantity for rid, quantity in held.items() if rid not in closed)
        return positions

    def _expired_at(self, keys: Sequence[int], moment: float) -> dict[int, dict[str, int]]:
        """key -> {id: quantity} of the open reservations on ``keys`` expired at ``moment``
        (a copy); lock held."""
        heap = self._expiry_heap
        if not self._expired and (not heap or heap[0][0] > moment):
            return {}     # none has expired yet: the common case, and no per-key work
        expiring = self._expiring
        found = {key: {rid: quantity for rid, (quantity, expiry) in expiring[key].items() if expiry <= moment}
                 for key in keys if key in expiring}
        return {key: held for key, held in found.items() if held}

    @staticmethod
    def _count_unapplied(keys: Sequence[int], positions: list[Position], expired: dict[int, dict[str, int]],
                         unapplied: Sequence[LogRow], moment: float) -> set[str]:
        """Add the unapplied rows' deltas to ``positions`` and the reservations they opened
        that have expired at ``moment`` to ``expired``; return the ids of reservations
        they closed."""
        closed: set[str] = set()
        if not unapplied:
            return closed
        at = {key: i for i, key in enumerate(keys)}
        for row in unapplied:
            if row.refusal is not None:          # refused: changed nothing
                continue
            key = position_key(row.product_id, row.location_id)
            i = at.get(key)
            if i is not None:
                position = positions[i]
                position.on_hand += row.delta_on_hand
                position.reserved += row.delta_reserved
                position.safety_stock += row.delta_safety_stock
                position.inbound += row.delta_inbound
            if row.reservation_id is not None:   # a reservation opened or closed
                if row.type == "reserve":
                    if i is not None and row.expires_at is not None and row.expires_at.timestamp() <= moment:
                        expired.setdefault(key, {})[row.reservation_id] = row.quantity
                elif row.delta_reserved < 0:
                    closed.add(row.reservation_id)
        return closed

    # --- in-stock flags per location ----------------------------------------------------

    def _available_of(self, keys: np.ndarray) -> np.ndarray:
        """Available quantity of each position key (0 for unknown ones); lock held."""
        available = np.zeros(len(keys), dtype=np.int64)
        stored = self._keys
        if len(stored) and len(keys):
            index = np.minimum(np.searchsorted(stored, keys), len(stored) - 1)
            found = stored[index] == keys
            values = self._values
            available = np.where(found, values["on_hand"][index].astype(np.int64)
                                 - values["reserved"][index] - values["safety_stock"][index], 0)
        # Positions changed since the last merge, and expired reservations, are few: find
        # them among the keys rather than looking every key up.
        if self._recent:
            recent = np.fromiter(self._recent.keys(), dtype=np.int64, count=len(self._recent))
            for i in np.nonzero(np.isin(keys, recent))[0].tolist():
                row = self._recent[int(keys[i])]
                available[i] = row[0] - row[1] - row[2]
        if self._expired_by_key:
            expired = np.fromiter(self._expired_by_key.keys(), dtype=np.int64, count=len(self._expired_by_key))
            for i in np.nonzero(np.isin(keys, expired))[0].tolist():
                available[i] += self._expired_by_key[int(keys[i])]
        return available

    def available_of_pairs(self, pairs: Sequence[tuple[int, int]], now: dt.datetime | None = None
                           ) -> tuple[int, np.ndarray]:
        """(as_of_seq, on hand - reserved - safety stock of each (product, location), not
        clamped at zero), read together: the levels are exactly those after that seq."""
        keys = np.array([position_key(p, loc) for p, loc in pairs], dtype=np.int64)
        with self._lock:
            self._expire_until((now or dt.datetime.now(dt.timezone.utc)).timestamp())
            return self.as_of_seq, self._available_of(keys)

    def available_matrix(self, product_ids: Sequence[int], location_ids: Sequence[int],
                         now: dt.datetime | None = None) -> np.ndarray:
        """Available units (never below zero) of every product at every location, as a
        products x locations array: what a campaign's stock check sets against demand."""
        products = np.asarray(product_ids, dtype=np.int64).reshape(-1, 1)
        locations = np.asarray(location_ids, dtype=np.int64).reshape(1, -1)
        keys = ((products << LOCATION_BITS) | locations).ravel()
        with self._lock:
            self._expire_until((now or dt.datetime.now(dt.timezone.utc)).timestamp())
            available = self._available_of(keys)
        return np.maximum(available, 0).reshape(products.shape[0], locations.shape[1])

    def _location_flags(self, location_id: int) -> np.ndarray:
        """In-stock flag per product id at one location, built on first use; lock held."""
        flags = self._in_stock.get(location_id)
        if flags is None:
            here = self._keys[(self._keys & LOCATION_MASK) == location_id]
            recent = [key for key in self._recent if key & LOCATION_MASK == location_id]
            keys = np.concatenate([here, np.array(recent, dtype=np.int64)])
            products = keys >> LOCATION_BITS
            flags = np.zeros(int(products.max()) + 1 if len(products) else 0, dtype=bool)
            flags[products] = self._available_of(keys) > 0
            self._in_stock[location_id] = flags
        return flags

    def _refresh_in_stock(self, keys: np.ndarray) -> None:
        """Bring the flags of the cached locations up to date for these positions, and
        note the change at their locations."""
        if not len(keys):
            return
        locations = keys & LOCATION_MASK
        self._changes += 1
        self._changed_at.update(dict.fromkeys(np.unique(locations).tolist(), self._changes))
        self._product_changed_at.update(dict.fromkeys(np.unique(keys >> LOCATION_BITS).tolist(), self._changes))
        if not self._in_stock:
            return
        cached = np.fromiter(self._in_stock.keys(), dtype=np.int64, count=len(self._in_stock))
        touched = np.isin(locations, cached)
        if not touched.any():
            return
        keys, locations = keys[touched], locations[touched]
        in_stock = self._available_of(keys) > 0
        for location_id in np.unique(locations).tolist():
            here = locations == location_id
            products = keys[here] >> LOCATION_BITS
            flags = self._in_stock[location_id]
            if products.max() >= len(flags):
                flags = np.concatenate([flags, np.zeros(int(products.max()) + 1 - len(flags), dtype=bool)])
                self._in_stock[location_id] = flags
            flags[products] = in_stock[here]

    # --- reading --------------------------------------------------------------------------

    def _state(self, key: int, row: Sequence[int]) -> PositionState:
        product_id, location_id = split_key(key)
        return PositionState(product_id, location_id, int(row[0]), int(row[1]) - self._expired_by_key.get(key, 0),
                             int(row[2]), int(row[3]))

    def position(self, product_id: int, location_id: int, now: dt.datetime | None = None) -> PositionState:
        key = position_key(product_id, location_id)
        with self._lock:
            self._expire_until((now or dt.datetime.now(dt.timezone.utc)).timestamp())
            index = self._index(key)
            if index >= 0:
                return self._state(key, [self._values[name][index] for name in COLUMNS])
            return self._state(key, self._recent.get(key, [0, 0, 0, 0]))

    def positions_of_products(self, product_ids: Iterable[int], now: dt.datetime | None = None) -> list[PositionState]:
        """Every known position of the given products, in (product, location) order."""
        found: list[PositionState] = []
        with self._lock:
            self._expire_until((now or dt.datetime.now(dt.timezone.utc)).timestamp())
            for product_id in sorted(set(product_ids)):
                low, high = product_id << LOCATION_BITS, (product_id + 1) << LOCATION_BITS
                start, stop = np.searchsorted(self._keys, [low, high])
                rows = {int(k): [self._values[n][i] for n in COLUMNS]
                        for i, k in zip(range(start, stop), self._keys[start:stop])}
                rows.update({k: v for k, v in self._recent.items() if low <= k < high})
                found.extend(self._state(k, rows[k]) for k in sorted(rows))
        return found

    def positions_at_location(self, location_id: int, now: dt.datetime | None = None) -> list[PositionState]:
        with self._lock:
            self._expire_until((now or dt.datetime.now(dt.timezone.utc)).timestamp())
            indexes = np.nonzero((self._keys & LOCATION_MASK) == location_id)[0]
            rows = {int(self._keys[i]): [self._values[n][i] for n in COLUMNS] for i in indexes}
            rows.update({k: v for k, v in self._recent.items() if (k & LOCATION_MASK) == location_id})
            return [self._state(k, rows[k]) for k in sorted(rows)]

    def in_stock(self, product_ids: np.ndarray, location_ids: Iterable[int],
                 now: dt.datetime | None = None) -> np.ndarray:
        """For each product, whether any of ``location_ids`` has some available now."""
        products = np.asarray(product_ids, dtype=np.int64)
        result = np.zeros(len(products), dtype=bool)
        with self._lock:
            self._expire_until((now or dt.datetime.now(dt.timezone.utc)).timestamp())
            for location_id in location_ids:
                flags = self._location_flags(location_id)
                inside = products < len(flags)
                result[inside] |= flags[products[inside]]
        return result

    def location_versions(self, location_ids: Sequence[int], now: dt.datetime | None = None) -> tuple[int, ...]:
        """A tuple that changes whenever anything available at one of ``location_ids``
        may have changed (an event there, an expired reservation, a new snapshot)."""
        with self._lock:
            self._expire_until((now or dt.datetime.now(dt.timezone.utc)).timestamp())
            changed_at = self._changed_at
            return (self._epoch, *(changed_at.get(location_id, 0) for location_id in location_ids))

    def product_versions(self, product_ids: Sequence[int], now: dt.datetime | None = None) -> tuple[int, ...]:
        """A tuple that changes whenever anything available of one of ``product_ids``, at
        any location, may have changed (an event, an expired reservation, a new snapshot)."""
        with self._lock:
            self._expire_until((now or dt.datetime.now(dt.timezone.utc)).timestamp())
            changed_at = self._product_changed_at
            return (self._epoch, *(changed_at.get(product_id, 0) for product_id in product_ids))

    def next_inbound(self, product_id: int, location_id: int) -> list[tuple[dt.datetime, int]]:
        with self._lock:
            return [(eta, pending) for eta, _, pending, _ in self._inbound.get(position_key(product_id, location_id), [])]

    def all_positions(self) -> tuple[int, dict[tuple[int, int], tuple[int, ...]]]:
        """(as_of_seq, every position's stored columns), for verification; reserved here
        counts every open reservation, as the positions table does."""
        with self._lock:
            columns = [self._values[n].tolist() for n in COLUMNS]
            rows = {split_key(k): tuple(column[i] for column in columns) for i, k in enumerate(self._keys.tolist())}
            rows.update({split_key(k): tuple(v) for k, v in self._recent.items()})
            return self.as_of_seq, rows

    def open_reservations(self) -> dict[str, tuple[int, int, int, float | None]]:
        """Every open reservation the view follows: id -> (product_id, location_id,
        quantity, expiry as a Unix time or None), for verification."""
        with self._lock:
            return {rid: (*split_key(key), quantity, expiry)
                    for rid, (key, quantity, expiry) in self._reservations.items()}

    def size(self) -> int:
        with self._lock:
            return len(self._keys) + len(self._recent)

    def nbytes(self) -> int:
        """Memory held by the position columns (the per-position cost)."""
        with self._lock:
            return int(self._keys.nbytes + sum(v.nbytes for v in self._values.values()))
