"""Campaigns: build, list, edit, copy, check against live stock, move through their
lifecycle, read their audit history and export their audience (role marketing or admin)."""
from __future__ import annotations

from flask import Response, g, stream_with_context
from flask.views import MethodView

from promo.api.auth import requires
from promo.api.campaign_schemas import (
    ActivationSchema,
    AudiencePageSchema,
    AudienceQuerySchema,
    CampaignHistorySchema,
    CampaignPageSchema,
    CampaignPatchSchema,
    CampaignQuerySchema,
    CampaignSchema,
    CampaignWriteSchema,
    CampaignReportSchema,
    CheckReportSchema,
    ReportQuerySchema,
    TransitionSchema,
)
from promo.api.context import runtime, uow
from promo.api.pagination import page_args, page_body
from promo.api.parsing import Blueprint
from promo.api.schemas import PageQuerySchema
from promo.domain.access import Permission
from promo.services import campaign_audience_export, campaign_check, campaign_lifecycle, campaign_reports, \
    campaigns

blp = Blueprint("campaigns", __name__, url_prefix="/v1/campaigns", description="Campaigns")


def actor() -> str:
    return g.api_key_name


@blp.route("")
class Campaigns(MethodView):
    @requires(Permission.MARKETING_WRITE)
    @blp.arguments(CampaignWriteSchema)
    @blp.response(201, CampaignSchema)
    def post(self, body):
        """Create a draft campaign

        Products are resolved to a sku set now (`products.resolved` says how many); unknown
        skus, locations that serve none of the channels and a rule that matches nothing
        are 422s naming the field. Nothing is written unless everything is valid."""
        return campaigns.create_campaign(uow(write=True), body, actor=actor())

    @requires(Permission.MARKETING_WRITE)
    @blp.arguments(CampaignQuerySchema, location="query")
    @blp.response(200, CampaignPageSchema)
    def get(self, args):
        """List campaigns, newest first, with their results (targeted, redeemed, rate)"""
        after, limit = page_args(args, "campaigns")
        page = campaigns.list_campaigns(uow(), after=after, limit=limit, status=args.get("status"),
                                        text=args.get("q"), source=args.get("source"))
        return page_body(page, "campaigns")


@blp.route("/<id:code>")
class CampaignById(MethodView):
    @requires(Permission.MARKETING_WRITE)
    @blp.response(200, CampaignSchema)
    def get(self, code):
        """One campaign"""
        return campaigns.get_campaign(uow(), code)

    @requires(Permission.MARKETING_WRITE)
    @blp.arguments(CampaignPatchSchema(partial=True))
    @blp.response(200, CampaignSchema)
    def patch(self, changes, code):
        """Change some fields; which ones depends on the status

        Draft and scheduled: anything. Active and paused: name, description, ends_at (still
        in the future), limits, priority, exclusive, stock_policy; their products,
        discount, targeting, channels, locations, holdout and start stay as customers may
        have seen them (409 `not_editable` naming the fields). Ended: name and description.
        Archived: nothing. 409 `concurrent_change` if it changed meanwhile."""
        return campaigns.update_campaign(uow(write=True), code, changes, actor=actor())


@blp.route("/<id:code>/copy")
class CampaignCopy(MethodView):
    @requires(Permission.MARKETING_WRITE)
    @blp.response(201, CampaignSchema)
    def post(self, code):
        """Start a new draft from any campaign (the demo's imported ones included)"""
        return campaigns.copy_campaign(uow(write=True), code, actor=actor())


@blp.route("/<id:code>/check")
class CampaignCheck(MethodView):
    @requires(Permission.MARKETING_WRITE)
    @blp.response(200, CheckReportSchema)
    def post(self, code):
        """Check the campaign against live stock (any status, drafts included); writes nothing

        Audience after holdout, expected redemptions (response model, or a historical rate
        without one), expected units per sku and location against available-to-promise:
        `ok | at_risk | short` per pair (worst first, at most 500 listed; `counts` and
        `by_location` cover all), the verdict under the stock policy, and the stock
        `as_of_seq` it read."""
        return campaign_check.run_check(runtime(), code).report


def _transition(action: str, summary: str, doc: str):  # type: ignore[no-untyped-def]
    schema = ActivationSchema if action in campaign_lifecycle.GOING_LIVE else TransitionSchema

    @requires(Permission.MARKETING_WRITE)
    @blp.arguments(schema)
    @blp.response(200, CampaignSchema)
    def post(self, body, code):  # type: ignore[no-untyped-def]
        override = body.get("override")
        return campaign_lifecycle.transition(runtime(), code, action, actor=actor(), reason=body.get("reason"),
                                             override_reason=override["reason"] if override else None)

    post.__doc__ = f"{summary}\n\n{doc}"
    return type(f"Campaign{action.title()}", (MethodView,), {"post": post})


TRANSITION_DOCS = {
    "schedule": ("Schedule a draft: it starts and ends on its dates by itself",
                 "At its start the stock check runs; if the stock cannot carry it, it is paused by the stock "
                 "instead (and resumes on restock when its policy says so)."),
    "activate": ("Activate now, after the stock check",
                 "409 `stock_insufficient` with the check's report in `details` when the stock policy is not met "
                 "(the refusal is audited); `{\"override\": {\"reason\": \"...\"}}` activates anyway and audits "
                 "it. 409 `not_started` before starts_at (schedule it instead), `campaign_over` after ends_at."),
    "pause": ("Pause a running campaign", "Only a person resumes a campaign a person paused."),
    "resume": ("Resume a paused campaign, after the stock check", "Refused and overridden like activate."),
    "end": ("End a scheduled, running or paused campaign", "Ended is final: copy it to run it again."),
    "archive": ("Archive a draft or ended campaign", "It stays listed (`?status=archived` finds it) and nothing "
                "about it can change any more; copy it to start again."),
}

for _action, (_summary, _doc) in TRANSITION_DOCS.items():
    blp.route(f"/<id:code>/{_action}")(_transition(_action, _summary, _doc))


@blp.route("/<id:code>/history")
class CampaignHistory(MethodView):
    @requires(Permission.MARKETING_WRITE)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, CampaignHistorySchema)
    def get(self, args, code):
        """The audit log: every edit and transition, who, when, why, before and after

        Automatic transitions name `system` and the stock sequence number behind them."""
        after, limit = page_args(args, f"campaign-history:{code}")
        return page_body(campaigns.history(uow(), code, after=after, limit=limit), f"campaign-history:{code}")


@blp.route("/<id:code>/audience")
class CampaignAudience(MethodView):
    @requires(Permission.MARKETING_WRITE)
    @blp.arguments(AudienceQuerySchema, location="query")
    @blp.response(200, AudiencePageSchema)
    def get(self, args, code):
        """Every eligible customer, best first by the response model (uplift when it has it)

        Each with its probability, whether the holdout keeps them out, and why they
        qualify; opted-out customers never appear. `format=csv` streams the whole audience
        as CSV (no paging)."""
        if args["format"] == "csv":
            rows = campaign_audience_export.csv_rows(runtime(), code)
            return Response(stream_with_context(rows), mimetype="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="audience-{code}.csv"'})
        listing = f"campaign-audience:{code}"
        after, limit = page_args(args, listing)
        summary, page = campaign_audience_export.audience_page(runtime(), code, after=after, limit=limit)
        return {"audience": summary, **page_body(page, listing)}


@blp.route("/<id:code>/report")
class CampaignReport(MethodView):
    @requires(Permission.MARKETING_WRITE)
    @blp.arguments(ReportQuerySchema, location="query")
    @blp.response(200, CampaignReportSchema)
    def get(self, args, code):
        """Results: exposures, clicks, redemptions, revenue, discount, what is left; uplift against the holdout

        The outcome compared is "bought a promoted product during the campaign" (a held-out
        customer never gets the coupon, so redemption cannot be compared): treated rate minus
        holdout rate, with a 95% interval. Per channel and location; the timeline of
        transitions and stock events. Attribution: redemptions citing an offer, and those
        by customers served the campaign before they redeemed. `format=csv` for a CSV."""
        found = campaign_reports.report(runtime(), code)
        if args["format"] == "csv":
            return Response(campaign_reports.csv_lines(found), mimetype="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="report-{code}.csv"'})
        return found
