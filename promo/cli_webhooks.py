"""`promo webhooks`: operating the webhook outbox from the command line."""
from __future__ import annotations

import click

from promo.cli import _Context, cli, pass_context


@cli.group()
def webhooks() -> None:
    """Webhook endpoints and their outbox (register them through /v1/webhooks)."""


@webhooks.command("send-due")
@pass_context
def webhooks_send_due(ctx: _Context) -> None:
    """Send every delivery due now, once, and report (for cron, tests and operations).

    Safe next to running services: each delivery is claimed by one sender at a time.
    """
    report = ctx.runtime.webhooks.send_due()
    click.echo(f"claimed {report.claimed}: delivered {report.delivered}, to retry {report.retried}, "
               f"given up {report.failed}" + (f", lease lost {report.lost_claims}" if report.lost_claims else ""))


@webhooks.command("pending")
@pass_context
def webhooks_pending(ctx: _Context) -> None:
    """How many deliveries wait in the outbox."""
    from promo.services import webhooks as service

    click.echo(service.pending_count(ctx.runtime.unit_of_work()))
