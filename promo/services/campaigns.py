"""Campaign use cases for marketing: create, edit, read, list, copy and the audit history.

Transitions (schedule, activate, pause...) are in campaign_lifecycle, the stock check in
campaign_check. Every edit is one transaction with its audit entry, written only if the
campaign is still at the revision it was read at.
"""
from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Mapping

from promo.adapters.orm import Campaign, CampaignEvent, utcnow
from promo.domain.campaigns import Discount, StockPolicy, discount_errors, fields_not_editable
from promo.domain.errors import Conflict, InvalidInput, NotFound
from promo.services.pages import Page, page_of
from promo.services.unit_of_work import UnitOfWork

LIMIT_FIELDS = ("max_redemptions", "per_customer", "budget")


def new_code() -> str:
    return f"cmp-{secrets.token_hex(6)}"


def campaign_or_404(uow: UnitOfWork, code: str) -> Campaign:
    """The campaign with this id, or NotFound (404)."""
    campaign = uow.campaigns.get(code)
    if campaign is None:
        raise NotFound(f"no campaign with id {code!r}")
    return campaign


# --- reading ------------------------------------------------------------------------------

def campaign_view(campaign: Campaign, products: int, results: dict[str, int],
                  location_codes: Mapping[int, str]) -> dict[str, Any]:
    rule = campaign.products or {}
    targeted = results["targeted"]
    return {
        "id": campaign.code, "name": campaign.name, "description": campaign.description or "",
        "status": campaign.status, "source": campaign.source, "type": campaign.type,
        "starts_at": campaign.starts_at, "ends_at": campaign.ends_at,
        "channels": list(campaign.channels or ()),
        "locations": None if campaign.location_ids is None
        else [location_codes.get(i, str(i)) for i in campaign.location_ids],
        "products": {"skus": rule.get("skus", []), "categories": rule.get("categories", []),
                     "brands": rule.get("brands", []), "resolved": products},
        "discount": campaign.discount,
        "targeting": campaign.targeting or {"type": "everyone"},
        "limits": {name: getattr(campaign, name) for name in LIMIT_FIELDS},
        "priority": campaign.priority, "exclusive": campaign.exclusive,
        "holdout_percent": campaign.holdout_percent,
        "stock_policy": StockPolicy.of(campaign.stock_policy).as_dict(),
        "paused_by": campaign.paused_by, "stock_override": campaign.stock_override,
        "expected_redemptions": campaign.expected_redemptions,
        "results": {**results, "redemption_rate": round(results["redeemers"] / targeted, 4) if targeted else None,
                    "discount_spent": (campaign.discount_spent_cents or 0) / 100},
        "revision": campaign.revision, "created_by": campaign.created_by,
        "created_at": campaign.created_at, "updated_at": campaign.updated_at,
    }


def _views(uow: UnitOfWork, campaigns: list[Campaign]) -> list[dict[str, Any]]:
    ids = [c.id for c in campaigns]
    counts = uow.campaigns.product_counts(ids)
    results = uow.campaigns.results(ids)
    codes = uow.locations.codes_by_id({i for c in campaigns for i in (c.location_ids or ())})
    return [campaign_view(c, counts.get(c.id, 0), results[c.id], codes) for c in campaigns]


def get_campaign(uow: UnitOfWork, code: str) -> dict[str, Any]:
    with uow:
        return _views(uow, [campaign_or_404(uow, code)])[0]


def list_campaigns(uow: UnitOfWork, *, after: str | None, limit: int, status: str | None = None,
                   text: str | None = None, source: str | None = None) -> Page[dict[str, Any]]:
    """Newest first; ``text`` searches names and descriptions (and matches an exact id)."""
    with uow:
        rows = uow.campaigns.page(after=after, limit=limit + 1, status=status, text=text, source=source)
        page = page_of(rows, limit, key=lambda c: str(c.id), view=lambda c: c)
        return Page(items=_views(uow, page.items), next_after=page.next_after)


def event_view(event: CampaignEvent) -> dict[str, Any]:
    return {"id": event.id, "at": event.at, "actor": event.actor, "action": event.action, "reason": event.reason,
            "before": event.before, "after": event.after, "stock_seq": event.stock_seq, "details": event.details}


def history(uow: UnitOfWork, code: str, *, after: str | None, limit: int) -> Page[dict[str, Any]]:
    """The campaign's audit log, oldest first."""
    with uow:
        campaign = campaign_or_404(uow, code)
        rows = uow.campaigns.events(campaign.id, after=after, limit=limit + 1)
        return page_of(rows, limit, key=lambda e: str(e.id), view=event_view)


def latest_history(uow: UnitOfWork, code: str, *, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The newest ``limit`` entries of the audit log, newest first, and how many there are."""
    with uow:
        rows, total = uow.campaigns.latest_events(campaign_or_404(uow, code).id, limit)
        return [event_view(e) for e in rows], total


# --- writing ------------------------------------------------------------------------------

def _resolve_products(uow: UnitOfWork, rule: Mapping[str, Any], errors: dict[str, Any]) -> list[int]:
    skus = list(dict.fromkeys(rule.get("skus") or ()))
    found = uow.products.ids_for(skus)
    unknown = [sku for sku in skus if sku not in found]
    if unknown:
        shown = ", ".join(repr(s) for s in unknown[:20]) + (f" and {len(unknown) - 20} more" if len(unknown) > 20 else "")
        errors["products"] = {"skus": [f"unknown skus: {shown}"]}
        return []
    ids = set(found.values()) | set(uow.campaigns.products_matching(
        categories=rule.get("categories") or (), brands=rule.get("brands") or ()))
    if not ids:
        errors["products"] = {"_schema": ["these skus, categories and brands match no product"]}
    return sorted(ids)


def _resolve_locations(uow: UnitOfWork, codes: list[str] | None, channels: list[str],
                       errors: dict[str, Any]) -> list[int] | None:
    if codes is None:
        return None
    wanted = list(dict.fromkeys(codes))
    found = {loc.code: loc for loc in (uow.locations.get(code) for code in wanted) if loc is not None}
    problems = [f"unknown location {code!r}" for code in wanted if code not in found]
    problems += [f"location {code!r} serves none of the campaign's channels {channels}"
                 for code, loc in found.items() if not set(loc.channels or ()).intersection(channels)]
    if problems:
        errors["locations"] = problems
        return None
    return sorted(found[code].id for code in wanted)


def _row_values(uow: UnitOfWork, body: Mapping[str, Any], errors: dict[str, Any]) -> tuple[dict[str, Any], list[int] | None]:
    """Row values for the given fields of a campaign body (checked against the database),
    and the resolved product ids when ``products`` is among them."""
    values: dict[str, Any] = {}
    product_ids = None
    for name in ("name", "description", "starts_at", "ends_at", "channels", "priority", "exclusive",
                 "holdout_percent"):
        if name in body:
            values[name] = body[name]
    if "locations" in body:
        values["location_ids"] = _resolve_locations(uow, body["locations"], body.get("channels") or [], errors)
    if "products" in body:
        rule = {key: list(dict.fromkeys(body["products"].get(key) or ())) for key in ("skus", "categories", "brands")}
        values["products"] = rule
        product_ids = _resolve_products(uow, rule, errors)
    if "discount" in body:
        problems = discount_errors(body["discount"]) if body["discount"] is not None else []
        if problems:
            errors["discount"] = problems
        else:
            values["discount"] = Discount.of(body["discount"]).as_dict() if body["discount"] else None
    if "targeting" in body:
        values["targeting"] = {k: v for k, v in body["targeting"].items() if v not in (None, [])}
    if "limits" in body:
        values.update({name: (body["limits"] or {}).get(name) for name in LIMIT_FIELDS})
    if "stock_policy" in body:
        values["stock_policy"] = StockPolicy.of(body["stock_policy"]).as_dict()
    return values, product_ids


def _draft_values(uow: UnitOfWork, body: Mapping[str, Any]) -> tuple[dict[str, Any], list[int]]:
    """A whole campaign body's row values and product ids; 422 naming every field that the
    catalog or the locations refuse."""
    errors: dict[str, Any] = {}
    values, product_ids = _row_values(uow, {"locations": None, "stock_policy": None, **body}, errors)
    if errors:
        raise InvalidInput("the campaign is invalid; nothing was written", errors)
    return values, product_ids or []


def unsaved_campaign(uow: UnitOfWork, body: Mapping[str, Any]) -> tuple[Campaign, list[int]]:
    """The draft a body would create, never added to the session (the builder's preview
    checks it against stock before anything is written), and its product ids."""
    values, product_ids = _draft_values(uow, body)
    return Campaign(**values, code="preview", status="draft", source="api", revision=0, attributes={}), product_ids


def create_campaign(uow: UnitOfWork, body: Mapping[str, Any], *, actor: str) -> dict[str, Any]:
    """A new draft; 422 naming every field that the catalog or the locations refuse."""
    with uow:
        values, product_ids = _draft_values(uow, body)
        now = utcnow()
        campaign = uow.campaigns.add({**values, "code": new_code(), "status": "draft", "source": "api",
                                      "created_by": actor, "created_at": now, "updated_at": now,
                                      "revision": 1, "attributes": {}})
        uow.campaigns.replace_products(campaign.id, product_ids)
        uow.campaigns.add_event(campaign.id, actor=actor, action="created", after=_audited(uow, campaign))
        uow.commit()
        return _views(uow, [campaign])[0]


def _audited(uow: UnitOfWork, campaign: Campaign, names: Any = None) -> dict[str, Any]:
    """What the audit log keeps of a campaign's fields (JSON-ready, locations by code)."""
    columns = ["name", "description", "status", "starts_at", "ends_at", "channels", "location_ids", "products",
               "discount", "targeting", *LIMIT_FIELDS, "priority", "exclusive", "holdout_percent", "stock_policy"]
    picked = {name: getattr(campaign, name) for name in columns if names is None or name in names}
    if "location_ids" in picked:
        ids = picked.pop("location_ids")
        codes = uow.locations.codes_by_id(ids or ())
        picked["locations"] = None if ids is None else [codes.get(i, str(i)) for i in ids]
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in picked.items()}


def _columns_of(fields: Any) -> set[str]:
    mapping = {"locations": "location_ids", "limits": set(LIMIT_FIELDS)}
    found: set[str] = set()
    for name in fields:
        column = mapping.get(name, name)
        found |= column if isinstance(column, set) else {column}
    return found


def update_campaign(uow: UnitOfWork, code: str, changes: Mapping[str, Any], *, actor: str,
                    now: dt.datetime | None = None, expected_revision: int | None = None) -> dict[str, Any]:
    """Change some fields; what may change depends on the status (domain.campaigns.EDITABLE).

    409 ``not_editable`` naming the fields the status forbids; 422 for values the
    campaign's other fields or the catalog refuse; 409 ``concurrent_change`` if someone
    changed the campaign meanwhile, or since ``expected_revision`` (the revision a form
    was filled in from): read it again and retry."""
    now = now or utcnow()
    with uow:
        campaign = campaign_or_404(uow, code)
        if expected_revision is not None and campaign.revision != expected_revision:
            raise Conflict("the campaign changed since this form was opened; open it again", reason="concurrent_change")
        refused = fields_not_editable(campaign.status, changes)
        if campaign.source != "api":
            refused = sorted(set(changes) - {"name", "description"})
        if refused:
            raise Conflict(f"a {campaign.status} campaign cannot change {', '.join(refused)}"
                           + (" (imported campaigns are read-only but for name and description)"
                              if campaign.source != "api" else ""), reason="not_editable")
        errors: dict[str, Any] = {}
        changes = dict(changes)
        # Limits and the stock policy change key by key: what a PATCH leaves out stays.
        if "limits" in changes:
            changes["limits"] = {**{name: getattr(campaign, name) for name in LIMIT_FIELDS}, **changes["limits"]}
        if "stock_policy" in changes:
            changes["stock_policy"] = {**StockPolicy.of(campaign.stock_policy).as_dict(), **changes["stock_policy"]}
        merged = {"channels": campaign.channels, **changes}
        if "channels" in changes and "locations" not in changes and campaign.location_ids is not None:
            merged["locations"] = list(uow.locations.codes_by_id(campaign.location_ids).values())
        values, product_ids = _row_values(uow, merged, errors)
        values = {k: v for k, v in values.items() if k in _columns_of(merged.keys())}
        starts_at, ends_at = values.get("starts_at", campaign.starts_at), values.get("ends_at", campaign.ends_at)
        if ends_at <= starts_at:
            errors["ends_at"] = ["must be after starts_at"]
        if campaign.status in ("active", "paused") and "ends_at" in changes and ends_at <= now:
            errors["ends_at"] = ["a running campaign's end must be in the future (end it instead)"]
        if errors:
            raise InvalidInput("the changes are invalid; nothing was written", errors)
        changed = {k for k, v in values.items() if getattr(campaign, k) != v}
        before = _audited(uow, campaign, changed)
        if not uow.campaigns.change(campaign.id, campaign.revision, values):
            raise Conflict("the campaign changed meanwhile; read it again and retry", reason="concurrent_change")
        if product_ids is not None:
            uow.campaigns.replace_products(campaign.id, product_ids)
        uow.session.refresh(campaign)
        if changed:
            uow.campaigns.add_event(campaign.id, actor=actor, action="updated", before=before,
                                    after=_audited(uow, campaign, changed))
        uow.commit()
        return _views(uow, [campaign])[0]


def copy_campaign(uow: UnitOfWork, code: str, *, actor: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """A new draft with the campaign's settings. Imported campaigns have no discount and
    products only as a sku set: the copy lists those skus and needs a discount before it
    can go live. A copy of a campaign whose dates are past runs for as long, from
    tomorrow (00:00 UTC)."""
    now = now or utcnow()
    with uow:
        source = campaign_or_404(uow, code)
        product_ids = uow.campaigns.product_ids(source.id)
        starts_at, ends_at = source.starts_at, source.ends_at
        if starts_at < now:
            tomorrow = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
            starts_at, ends_at = tomorrow, tomorrow + (source.ends_at - source.starts_at)
        rule = source.products or {}
        if source.source != "api":
            rule = {"skus": sorted(uow.campaigns.product_skus(source.id)), "categories": [], "brands": []}
        values = {name: getattr(source, name) for name in (
            "description", "location_ids", "discount", "targeting", *LIMIT_FIELDS, "priority", "exclusive",
            "holdout_percent", "stock_policy", "type")}
        campaign = uow.campaigns.add({
            **values, "code": new_code(), "name": f"Copy of {source.name}"[:200], "status": "draft", "source": "api",
            "starts_at": starts_at, "ends_at": ends_at, "channels": list(source.channels or ()) or ["store", "web", "mobile"],
            "products": rule, "stock_policy": StockPolicy.of(source.stock_policy).as_dict(),
            "targeting": source.targeting or {"type": "everyone"},
            "created_by": actor, "created_at": now, "updated_at": now, "revision": 1, "attributes": {}})
        uow.campaigns.replace_products(campaign.id, product_ids)
        uow.campaigns.add_event(campaign.id, actor=actor, action="created", reason=f"copy of {source.code}",
                                after=_audited(uow, campaign))
        uow.commit()
        return _views(uow, [campaign])[0]

