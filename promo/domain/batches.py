"""Rules shared by every bulk write."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence


def repeated_key_errors(items: Sequence[Mapping[str, Any]], field: str) -> dict[int, dict[str, list[str]]]:
    """Per-index errors for items whose ``field`` value already appeared earlier in the batch."""
    first_seen: dict[Any, int] = {}
    errors: dict[int, dict[str, list[str]]] = {}
    for index, item in enumerate(items):
        value = item[field]
        if value in first_seen:
            errors[index] = {field: [f"{value!r} appears more than once in this batch (first at item {first_seen[value]})"]}
        else:
            first_seen[value] = index
    return errors


def conflicting_repeat_errors(items: Sequence[Mapping[str, Any]], field: str) -> dict[int, dict[str, list[str]]]:
    """Per-index errors for items that repeat an earlier item's ``field`` (an event_id)
    with different content: an exact repeat is a retry and harmless, a different one
    under the same id is a producer's bug that would otherwise be dropped silently."""
    first_seen: dict[Any, int] = {}
    errors: dict[int, dict[str, list[str]]] = {}
    for index, item in enumerate(items):
        value = item[field]
        first = first_seen.setdefault(value, index)
        if first != index and item != items[first]:
            errors[index] = {field: [f"{value!r} repeats item {first} of this batch with different content"]}
    return errors


def unknown_reference_errors(items: Sequence[Mapping[str, Any]], field: str, known: Iterable[Any],
                             describe: Callable[[Any], str]) -> dict[int, dict[str, list[str]]]:
    """Per-index errors for items whose ``field`` (when given) is not among ``known``."""
    known = set(known)
    return {
        index: {field: [describe(item[field])]}
        for index, item in enumerate(items)
        if item.get(field) is not None and item[field] not in known
    }


def merge_item_errors(*error_maps: Mapping[int, Mapping[str, list[str]]]) -> dict[int, dict[str, list[str]]]:
    merged: dict[int, dict[str, list[str]]] = {}
    for errors in error_maps:
        for index, fields in errors.items():
            for field, messages in fields.items():
                merged.setdefault(index, {}).setdefault(field, []).extend(messages)
    return dict(sorted(merged.items()))


def channel_mismatch_errors(items: Sequence[Mapping[str, Any]],
                            channels_of: Mapping[str, Iterable[str]]) -> dict[int, dict[str, list[str]]]:
    """Per-index errors for items at a known location that does not serve their channel
    (a purchase "on the web" at a store is a mistake the reports would carry)."""
    errors: dict[int, dict[str, list[str]]] = {}
    for index, item in enumerate(items):
        location = item.get("location")
        if location is None or location not in channels_of:
            continue
        served = list(channels_of[location])
        if item.get("channel") not in served:
            errors[index] = {"location": [f"location {location!r} does not serve channel {item.get('channel')!r} "
                                          f"(it serves {', '.join(served) or 'none'})"]}
    return errors
