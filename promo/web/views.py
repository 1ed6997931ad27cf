"""The web app's pages. Views only read the form, call a service and render."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError

from promo.api.context import runtime, uow
from promo.api.errors import STATUS_OF
from promo.api.schemas import UNSTORABLE
from promo.domain.campaigns import CHANNELS
from promo.domain.errors import PromoError, TooManyRequests
from promo.services import campaigns as campaign_service
from promo.services import customers as customer_service
from promo.services import staff
from promo.services.campaign_coverage import coverage_badges
from promo.services.offers import offers_for_customer
from promo.services.profiles import segment_rules
from promo.services.recommendations import recommend_served
from promo.services.stock_watch import promoted_low_stock
from promo.web.people import SignedIn, admin_required

blueprint = Blueprint("web", __name__, url_prefix="/app", template_folder="templates", static_folder="static")

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@blueprint.before_request
def _check_requests():  # type: ignore[no-untyped-def]
    if request.method == "POST":
        from promo.web import csrf

        csrf.protect()
    # No browser sends these, and PostgreSQL cannot even compare a text with them: refused
    # here once rather than in every query a page makes.
    given = [value for source in (request.args, request.form) for _, values in source.lists() for value in values]
    given += (request.view_args or {}).values()
    if any(isinstance(value, str) and UNSTORABLE.search(value) for value in given):
        return render_template("error.html", title="Unreadable request",
                               message="This address or form holds characters the app does not accept "
                                       "(NUL or a lone surrogate)."), 400
    return None


@blueprint.after_request
def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@blueprint.errorhandler(PromoError)
def _refused(error: PromoError):  # type: ignore[no-untyped-def]
    status = next(code for kind, code in STATUS_OF if isinstance(error, kind))
    title = {404: "Not found", 403: "Not allowed"}.get(status, "That did not work")
    return render_template("error.html", title=title, message=error.message), status


@blueprint.errorhandler(CSRFError)
def _csrf_failed(error: CSRFError):  # type: ignore[no-untyped-def]
    return render_template("error.html", title="Form expired",
                           message="This form was not sent by this page (or it expired). Reload the page and "
                                   "try again."), 400


def _safe_next(target: str | None) -> str:
    """Only a page of this app: never send a person elsewhere after signing in (browsers
    read a backslash as a slash, so "/\\evil.example" would leave the site)."""
    if target and target.startswith("/app/") and "\\" not in target and not urlsplit(target).netloc:
        return target
    return url_for("web.home")


@blueprint.route("/sign-in", methods=["GET", "POST"])
def sign_in():  # type: ignore[no-untyped-def]
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(url_for("web.home"))
        return render_template("sign_in.html", email="", error=None, next=request.args.get("next", ""))
    email = (request.form.get("email") or "").strip()[:254]
    password = request.form.get("password") or ""
    attempts = runtime().sign_in_attempts
    subjects = [f"account:{email.lower()}", f"address:{request.remote_addr}"]
    try:
        attempts.check(subjects)
    except TooManyRequests as refused:
        page = render_template("sign_in.html", email=email, next=request.form.get("next", ""),
                               error=f"Too many failed sign-ins. Try again in {refused.retry_after} seconds.")
        return page, 429, {"Retry-After": str(refused.retry_after)}
    person = staff.authenticate(uow(write=True), email, password)
    if person is None:
        attempts.wrong(subjects)
        return render_template("sign_in.html", email=email, next=request.form.get("next", ""),
                               error="That email and password do not match an active account."), 200
    session.clear()                    # a fresh session (and CSRF token) for the person
    session.permanent = True
    login_user(SignedIn(person))
    return redirect(_safe_next(request.form.get("next")))


@blueprint.route("/sign-out", methods=["POST"])
def sign_out():  # type: ignore[no-untyped-def]
    logout_user()
    session.clear()
    return redirect(url_for("web.sign_in"))


@blueprint.route("/")
@login_required
def home():  # type: ignore[no-untyped-def]
    return redirect(url_for("web.campaigns_list"))


PAGE_SIZE = 25
STATUS_CHOICES = ("", "draft", "scheduled", "active", "paused", "ended", "archived")


@blueprint.route("/campaigns")
@login_required
def campaigns_list():  # type: ignore[no-untyped-def]
    """Every campaign, newest first, with its status, schedule, channels, live stock
    coverage, redemptions against the cap and budget used; filters and search."""
    status = request.args.get("status", "")
    status = status if status in STATUS_CHOICES else ""
    text = (request.args.get("q") or "").strip()[:200] or None
    page = campaign_service.list_campaigns(uow(), after=_id_after(request.args.get("after", "")), limit=PAGE_SIZE,
                                           status=status or None, text=text)
    badges = coverage_badges(runtime(), [c["id"] for c in page.items])
    return render_template("campaigns.html", campaigns=page.items, badges=badges, status=status, q=text or "",
                           statuses=STATUS_CHOICES, next_after=page.next_after)


def _id_after(text: str) -> str | None:
    """The list's "next page" link carries the last id shown; anything else (a hand-made
    URL: letters, other scripts' digits, a number past any id) starts from the top."""
    return text if text.isascii() and text.isdigit() and len(text) <= 18 else None


@blueprint.route("/customers")
@login_required
def customer_lookup():  # type: ignore[no-untyped-def]
    """A customer as the shop sees them: profile, segments, recommendations and current
    offers at a channel and location (by default their home store). Looking records no
    exposure: staff are not shoppers."""
    wanted = (request.args.get("customer") or "").strip()[:64]
    channel = request.args.get("channel", "store")
    channel = channel if channel in CHANNELS else "store"
    location = (request.args.get("location") or "").strip()[:64] or None
    found: dict[str, object] = {"customer": None, "recommendations": None, "offers": None, "problem": None}
    if wanted:
        try:
            found["customer"] = customer_service.get_customer(uow(), wanted, segment_rules(runtime().settings))
            profile = found["customer"]["profile"] or {}                        # type: ignore[index]
            location = location or profile.get("home_store")
            found["recommendations"] = recommend_served(runtime(), wanted, channel=channel, location=location,
                                                        record=False)
            found["offers"] = offers_for_customer(runtime(), wanted, channel=channel, location=location,
                                                  record=False)
        except PromoError as problem:
            found["problem"] = problem.message
    return render_template("customer.html", wanted=wanted, channel=channel, location=location or "",
                           channels=CHANNELS, **found)


@blueprint.route("/stock-watch")
@login_required
def stock_watch():  # type: ignore[no-untyped-def]
    """Promoted products low or out of stock, by location; the page refreshes its table
    from the feed below every few seconds (static/stock-watch.js)."""
    return render_template("stock_watch.html", watch=promoted_low_stock(runtime()))


@blueprint.route("/stock-watch.json")
@login_required
def stock_watch_feed():  # type: ignore[no-untyped-def]
    return jsonify(promoted_low_stock(runtime()))


@blueprint.route("/people")
@admin_required
def people():  # type: ignore[no-untyped-def]
    """Staff accounts (admins only): who may sign in, with what role; disabling one ends
    its sessions. Accounts are created with `promo users create`."""
    return render_template("people.html", people=staff.list_users(uow()))


@blueprint.route("/people/disable", methods=["POST"])
@admin_required
def disable_person():  # type: ignore[no-untyped-def]
    email = (request.form.get("email") or "").strip()[:254]
    if email.lower() == current_user.person.email:
        flash("You cannot disable your own account here.", "error")
    else:
        staff.disable(uow(write=True), email)
        flash(f"{email} is disabled: their sessions have ended.", "ok")
    return redirect(url_for("web.people"), 303)
