"""The web app's campaign pages: the builder (with its live audience and stock panel and
its product picker), a campaign's page (results, charts, timeline, audit history), its
transitions with the stock check's refusal and override, and its audience export.

Views read the form, call the services the API calls, and render. What a person does is
audited under their email, as the API audits a key under its name.
"""
from __future__ import annotations

import datetime as dt

from flask import Response, flash, jsonify, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from promo.api.context import runtime, uow
from promo.domain.campaigns import ACTIONS, CHANNELS, DISCOUNT_TYPES, ON_STOCKOUT, TARGETING_TYPES
from promo.domain.errors import Conflict, InvalidInput, PromoError
from promo.domain.profiles import SEGMENTS
from promo.services import campaign_audience_export, campaign_check, campaign_lifecycle, campaigns, catalog
from promo.services.campaign_overview import overview
from promo.web import campaign_form, charts
from promo.web.views import blueprint

STOCK_REFUSED = "stock_insufficient"
EDITABLE_IN_BUILDER = ("draft", "scheduled")
# How many of the check's pairs the builder's panel and a refusal list (worst first).
PAIRS_SHOWN = 25


def _actor() -> str:
    return current_user.person.email


def _builder(form: "MultiDict[str, str]", errors: dict[str, list[str]], status: int = 200, *,  # type: ignore[no-untyped-def]
             editing: str | None = None):
    picked = catalog.products_by_sku(uow(), form.getlist("sku"))["items"] if form.getlist("sku") else []
    if editing:
        labels = {"heading": "Edit campaign", "submit": "Save changes",
                  "action": url_for("web.campaign_edit", code=editing)}
    else:
        labels = {"heading": "New campaign", "submit": "Save draft", "action": url_for("web.campaign_new")}
    page = render_template("campaign_new.html", form=form, errors=errors, picked=picked, channels=CHANNELS,
                           discount_types=DISCOUNT_TYPES, targeting_types=TARGETING_TYPES, segments=SEGMENTS,
                           on_stockout=ON_STOCKOUT, **labels)
    return page, status


@blueprint.route("/campaigns/new", methods=["GET", "POST"])
@login_required
def campaign_new():  # type: ignore[no-untyped-def]
    """The builder: a draft is saved only when the whole form is valid."""
    if request.method == "GET":
        return _builder(campaign_form.starting_values(dt.datetime.now(dt.timezone.utc)), {})
    body, errors = campaign_form.load(request.form)
    if body is None:
        return _builder(request.form, errors, 422)
    try:
        created = campaigns.create_campaign(uow(write=True), body, actor=_actor())
    except InvalidInput as refused:
        return _builder(request.form, campaign_form.field_errors(refused.errors), 422)
    flash(f"Draft “{created['name']}” saved. Check its stock, then schedule or activate it.", "ok")
    return redirect(url_for("web.campaign_page", code=created["id"]), 303)


@blueprint.route("/campaigns/<code>/edit", methods=["GET", "POST"])
@login_required
def campaign_edit(code: str):  # type: ignore[no-untyped-def]
    """The builder on a draft or scheduled campaign (once customers may have seen it, its
    offer stays as it was: the API's PATCH changes what may still change)."""
    if request.method == "GET":
        found = campaigns.get_campaign(uow(), code)
        if found["status"] not in EDITABLE_IN_BUILDER:
            flash(f"A {found['status']} campaign is not edited in the builder.", "error")
            return redirect(url_for("web.campaign_page", code=code), 303)
        form = campaign_form.values_of(found)
        form.add("revision", str(found["revision"]))
        return _builder(form, {}, editing=code)
    body, errors = campaign_form.load(request.form)
    if body is None:
        return _builder(request.form, errors, 422, editing=code)
    revision = request.form.get("revision", "")
    try:
        campaigns.update_campaign(uow(write=True), code, body, actor=_actor(),
                                  expected_revision=int(revision) if revision.isdigit() else None)
    except InvalidInput as refused:
        return _builder(request.form, campaign_form.field_errors(refused.errors), 422, editing=code)
    except Conflict as refused:
        flash(refused.message, "error")
    else:
        flash("Changes saved.", "ok")
    return redirect(url_for("web.campaign_page", code=code), 303)


@blueprint.route("/campaigns/<code>/copy", methods=["POST"])
@login_required
def campaign_copy(code: str):  # type: ignore[no-untyped-def]
    """A new draft from any campaign (the demo's history included), opened in the builder."""
    copied = campaigns.copy_campaign(uow(write=True), code, actor=_actor())
    flash(f"Copied into a new draft, “{copied['name']}”: change what you need and save.", "ok")
    return redirect(url_for("web.campaign_edit", code=copied["id"]), 303)


@blueprint.route("/campaigns/preview", methods=["POST"])
@login_required
def campaign_preview():  # type: ignore[no-untyped-def]
    """The builder's side panel: audience, expected redemptions and the stock check of the
    form as it stands, or what is wrong with it. Writes nothing."""
    body, errors = campaign_form.load(request.form)
    if body is None:
        return jsonify({"errors": errors})
    try:
        report = campaign_check.preview(runtime(), body)
    except InvalidInput as refused:
        return jsonify({"errors": campaign_form.field_errors(refused.errors)})
    except Conflict as refused:
        return jsonify({"errors": {"_form": [refused.message]}})
    report["positions"] = report["positions"][:PAIRS_SHOWN]
    return jsonify({"check": {**report, "checked_at": report["checked_at"].isoformat()}})


@blueprint.route("/products/search")
@login_required
def product_search():  # type: ignore[no-untyped-def]
    """The product picker: products, categories and brands for what was typed."""
    return jsonify(catalog.pick_products(uow(), (request.args.get("q") or "")[:200]))


def _campaign_page(code: str, refusal: dict | None = None):  # type: ignore[no-untyped-def]
    found = overview(runtime(), code)
    return render_template("campaign.html", refusal=refusal, pairs_shown=PAIRS_SHOWN, charts=charts, **found)


@blueprint.route("/campaigns/<code>")
@login_required
def campaign_page(code: str):  # type: ignore[no-untyped-def]
    return _campaign_page(code)


@blueprint.route("/campaigns/<code>/status.json")
@login_required
def campaign_status(code: str):  # type: ignore[no-untyped-def]
    """What the campaign's page polls to notice a change made elsewhere (an automatic pause
    by the stock watch, say) and reload itself."""
    found = campaigns.get_campaign(uow(), code)
    return jsonify({"status": found["status"], "paused_by": found["paused_by"], "revision": found["revision"]})


@blueprint.route("/campaigns/<code>/<action>", methods=["POST"])
@login_required
def campaign_transition(code: str, action: str):  # type: ignore[no-untyped-def]
    """Schedule, activate, pause, resume, end or archive. A refusal by the stock check is
    shown on the campaign's page with the short products and locations and the override,
    which needs a reason."""
    if action not in ACTIONS:
        return render_template("error.html", title="Not found", message="There is no such action."), 404
    reason = (request.form.get("reason") or "").strip()[:2000] or None
    override = request.form.get("override") == "yes"
    if override and reason is None:
        flash("An override needs a reason: it is kept in the audit log.", "error")
        return redirect(url_for("web.campaign_page", code=code), 303)
    try:
        campaign_lifecycle.transition(runtime(), code, action, actor=_actor(), reason=None if override else reason,
                                      override_reason=reason if override else None)
    except Conflict as refused:
        if refused.reason == STOCK_REFUSED and refused.details is not None:
            return _campaign_page(code, refusal={"action": action, **refused.details})
        flash(refused.message, "error")
    except PromoError as refused:
        flash(refused.message, "error")
    else:
        flash(f"Campaign {campaign_lifecycle.PAST_TENSE[action]}" + (" with a stock override." if override else "."),
              "ok")
    return redirect(url_for("web.campaign_page", code=code), 303)


@blueprint.route("/campaigns/<code>/audience.csv")
@login_required
def campaign_audience_csv(code: str):  # type: ignore[no-untyped-def]
    campaigns.get_campaign(uow(), code)                        # 404 before the stream starts
    rows = campaign_audience_export.csv_rows(runtime(), code)
    return Response(stream_with_context(rows), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="audience-{code}.csv"'})
