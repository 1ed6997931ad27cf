"""The campaign builder's form: flat HTML fields to the API's campaign body.

The body is checked by the API's own schema (CampaignWriteSchema), so a person in the web
app and a machine on /v1 meet the same rules and the same messages. Only the fields of
the chosen targeting type and discount type are sent: the form keeps the others while a
person switches back and forth, and the schema would rightly refuse them together.
"""
from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any, Mapping

from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from promo.api.campaign_schemas import CampaignWriteSchema

PROFILE_FIELDS = ("min_visits", "min_spend", "max_days_since_purchase")
LIMIT_FIELDS = ("max_redemptions", "per_customer", "budget")
# A form sent with the default policy unchanged says "on"; an unticked box sends nothing.
TICKED = "on"


def _text(form: Mapping[str, Any], name: str) -> str:
    return (form.get(name) or "").strip()


def _number(text: str) -> int | float | str:
    """What a number field typed means: the API's schema wants JSON numbers, and says what
    is wrong with text that is none (kept as typed so that it can)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def _given(form: Mapping[str, Any], names: tuple[str, ...], prefix: str = "") -> dict[str, int | float | str]:
    """The number fields among ``names`` that were filled in."""
    return {name: _number(_text(form, prefix + name)) for name in names if _text(form, prefix + name)}


def _listed(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _utc(local: str) -> str:
    """A datetime-local field's value (read as UTC, which the page says) in ISO form."""
    return f"{local}:00+00:00" if len(local) == 16 else local


def raw_body(form: "MultiDict[str, str]") -> dict[str, Any]:
    """The campaign body a form describes, still as text (the schema types it)."""
    body: dict[str, Any] = {
        "name": _text(form, "name"),
        "channels": form.getlist("channel"),
        "products": {"skus": form.getlist("sku"), "categories": form.getlist("category"),
                     "brands": form.getlist("brand")},
        "exclusive": form.get("exclusive") == TICKED,
    }
    if _text(form, "description"):
        body["description"] = _text(form, "description")
    body.update(_given(form, ("priority", "holdout_percent")))
    for name in ("starts_at", "ends_at"):
        if _text(form, name):
            body[name] = _utc(_text(form, name))
    # Always said, empty as null: clearing the field of a saved campaign means every
    # location serving its channels again.
    body["locations"] = _listed(_text(form, "locations")) or None
    kind = _text(form, "discount_type")
    body["discount"] = {"type": kind, **_given(form, ("buy", "get") if kind == "buy_x_get_y" else ("value",),
                                               "discount_")}
    body["targeting"] = _targeting(form)
    limits = _given(form, LIMIT_FIELDS)
    if limits:
        body["limits"] = limits
    body["stock_policy"] = {**_given(form, ("min_cover_ratio", "min_available_per_location")),
                            "resume_on_restock": form.get("resume_on_restock") == TICKED}
    if _text(form, "on_stockout"):
        body["stock_policy"]["on_stockout"] = _text(form, "on_stockout")
    return body


def _targeting(form: "MultiDict[str, str]") -> dict[str, Any]:
    kind = _text(form, "targeting_type") or "everyone"
    if kind == "profile":
        found: dict[str, Any] = {"type": kind, **_given(form, PROFILE_FIELDS)}
        if form.getlist("segment"):
            found["segments"] = form.getlist("segment")
        if _listed(_text(form, "top_category")):
            found["top_category"] = _listed(_text(form, "top_category"))
        return found
    if kind == "model":
        return {"type": kind, **_given(form, ("top_percent", "min_probability"))}
    return {"type": kind}


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """{"discount": {"value": [...]}} -> {"discount.value": [...]}; a list of messages stays."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, inner in messages.items():
            flat.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(messages, (list, tuple)) and all(isinstance(m, str) for m in messages):
        return {prefix or "_form": list(messages)}
    if isinstance(messages, (list, tuple)):
        flat = {}
        for index, inner in enumerate(messages):
            flat.update(_flatten(inner, f"{prefix}.{index}"))
        return flat
    return {prefix or "_form": [str(messages)]}


def load(form: "MultiDict[str, str]") -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """(the typed campaign body, {}) or (None, {"dotted.field": [messages]})."""
    try:
        return CampaignWriteSchema().load(raw_body(form)), {}
    except ValidationError as invalid:
        return None, _flatten(invalid.messages)


def field_errors(errors: Mapping[str, Any]) -> dict[str, list[str]]:
    """A service's 422 details (nested like the body) as the form shows them."""
    return _flatten(errors)


def starting_values(now: dt.datetime) -> "MultiDict[str, str]":
    """A new campaign's form: from now (so that it can be activated at once) for two weeks,
    in store, 10% off, everyone, a 10% holdout to measure it, the default stock policy."""
    start = now.replace(second=0, microsecond=0)
    end = start + dt.timedelta(days=14)
    return MultiDict([
        ("starts_at", start.strftime("%Y-%m-%dT%H:%M")), ("ends_at", end.strftime("%Y-%m-%dT%H:%M")),
        ("channel", "store"), ("discount_type", "percent"), ("discount_value", "10"),
        ("targeting_type", "everyone"), ("top_percent", "20"), ("holdout_percent", "10"), ("priority", "0"),
        ("min_cover_ratio", "1"), ("min_available_per_location", "1"), ("on_stockout", "exclude_product"),
        ("resume_on_restock", TICKED),
    ])


def values_of(campaign: Mapping[str, Any]) -> "MultiDict[str, str]":
    """A saved campaign (as the services show it) as the builder's form, to edit it."""
    def shown(value: Any) -> str:
        # Numbers as a person types them, whatever the database returned (75, not 75.00 or 75.0).
        if value is None:
            return ""
        if isinstance(value, (float, Decimal)) and not isinstance(value, bool):
            return format(Decimal(str(value)).normalize(), "f")
        return str(value)

    discount = campaign.get("discount") or {}
    targeting = campaign.get("targeting") or {"type": "everyone"}
    policy = campaign.get("stock_policy") or {}
    pairs: list[tuple[str, str]] = [
        ("name", campaign["name"]), ("description", campaign.get("description") or ""),
        ("starts_at", campaign["starts_at"].strftime("%Y-%m-%dT%H:%M")),
        ("ends_at", campaign["ends_at"].strftime("%Y-%m-%dT%H:%M")),
        ("locations", ", ".join(campaign.get("locations") or ())),
        ("discount_type", shown(discount.get("type"))),
        *((f"discount_{k}", shown(discount.get(k))) for k in ("value", "buy", "get")),
        ("targeting_type", targeting["type"]), ("top_category", ", ".join(targeting.get("top_category") or ())),
        *((k, shown(targeting.get(k))) for k in (*PROFILE_FIELDS, "top_percent", "min_probability")),
        *((k, shown((campaign.get("limits") or {}).get(k))) for k in LIMIT_FIELDS),
        ("priority", shown(campaign.get("priority"))), ("holdout_percent", shown(campaign.get("holdout_percent"))),
        ("min_cover_ratio", shown(policy.get("min_cover_ratio"))),
        ("min_available_per_location", shown(policy.get("min_available_per_location"))),
        ("on_stockout", shown(policy.get("on_stockout"))),
    ]
    pairs += [("channel", c) for c in campaign.get("channels") or ()]
    pairs += [("segment", s) for s in targeting.get("segments") or ()]
    for key, field in (("skus", "sku"), ("categories", "category"), ("brands", "brand")):
        pairs += [(field, value) for value in campaign["products"].get(key) or ()]
    if campaign.get("exclusive"):
        pairs.append(("exclusive", TICKED))
    if policy.get("resume_on_restock"):
        pairs.append(("resume_on_restock", TICKED))
    return MultiDict(pairs)
