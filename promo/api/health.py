"""Public operational endpoints: liveness, readiness, metrics, and the docs page's assets."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, send_from_directory
from sqlalchemy import text

from promo.adapters.migrations import head_revision, schema_problem
from promo.api.context import runtime
from promo.observability import metrics_response

blueprint = Blueprint("operations", __name__)

# A readiness check is a callable answering (ok, detail). Capabilities add their own (the
# stock view's lag, for one) to app.extensions[READINESS_CHECKS].
READINESS_CHECKS = "promo.readiness_checks"


def database_check() -> tuple[bool, str]:
    engine = runtime().engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        problem = schema_problem(engine)
    except Exception as exc:  # any failure to reach the database means not ready
        return False, f"database unreachable: {type(exc).__name__}"
    return (False, problem) if problem else (True, f"schema at {head_revision(engine)}")


def stock_view_check() -> tuple[bool, str]:
    stock, settings = runtime().stock, runtime().settings
    lag = stock.follower.lag_seconds
    detail = f"as_of_seq {stock.view.as_of_seq}, {stock.view.size()} positions, caught up {lag:.3f}s ago"
    if lag > settings.stock_max_lag_ms / 1000:
        return False, f"stock view behind the log for more than {settings.stock_max_lag_ms} ms ({detail})"
    follower = stock.follower
    if follower.unreadable_count:
        # Still ready: the view followed past them with their position deltas, so what it
        # serves agrees with the positions table; taking every worker out of service for
        # one bad row would be the greater harm. The operator is told here, in the log
        # and by promo_stock_unreadable_events_total.
        first = follower.unreadable[0]
        detail += (f"; followed past {follower.unreadable_count} logged event(s) it could not read, the first "
                   f"at seq {first.seq} ({first.problem}): run promo stock verify")
    return True, detail


STARTING_WAIT_SECONDS = 1.0


def serving_check() -> tuple[bool, str]:
    """Offers need the first serving snapshot; a process still building it is not ready."""
    state = runtime().serving
    # A process starting up finishes its first refresh in milliseconds: wait that long
    # rather than send a probe away on a race.
    if not state.ready(STARTING_WAIT_SECONDS):
        return False, "loading the live campaigns for offers"
    snapshot = state.campaigns
    return True, (f"{len(snapshot.campaigns)} live campaigns, {len(state.audiences)} audiences resolved, "
                  f"{runtime().exposures.pending} "
                  "exposures waiting to be written")


@blueprint.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """The process is alive and answering."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz():  # type: ignore[no-untyped-def]
    """Ready to serve: the database answers and its schema is current (503 otherwise)."""
    checks = {name: check() for name, check in current_app.extensions[READINESS_CHECKS].items()}
    ready = all(ok for ok, _ in checks.values())
    body = {"status": "ready" if ready else "not ready",
            "checks": {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()}}
    return jsonify(body), 200 if ready else 503


@blueprint.get("/metrics")
def metrics():  # type: ignore[no-untyped-def]
    """Prometheus metrics."""
    return metrics_response()


@blueprint.get("/docs/assets/<path:filename>")
def docs_asset(filename: str):  # type: ignore[no-untyped-def]
    """Swagger UI's files, served from the installed package so /docs works offline."""
    from swagger_ui_bundle import swagger_ui_path

    return send_from_directory(str(swagger_ui_path), filename, max_age=86400)
