"""The `promo` command: database, API keys, demo data, stock checks, models."""
from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from typing import TYPE_CHECKING, Any

import click

from promo.config import ConfigError
from promo.domain.access import Role
from promo.domain.errors import InvalidInput, PromoError

if TYPE_CHECKING:
    from promo.bootstrap import Runtime

# Every command imports what it needs inside its own body: the database layer, pandas and
# scikit-learn cost seconds to import, and `promo --help` or `promo keys list` need none
# of it (bench/cli_startup.py measures start-up; docs/benchmarks.md has the figures).


class _Context:
    """Builds the runtime on first use, so `promo --help` needs no database."""

    def __init__(self) -> None:
        self._runtime: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            from promo.bootstrap import bootstrap

            try:
                self._runtime = bootstrap()
            except ConfigError as exc:
                raise click.ClickException(f"configuration error: {exc}") from None
            # Close the database connections when the command ends, however it ends.
            click.get_current_context().find_root().call_on_close(self._close)
        return self._runtime

    def _close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None


pass_context = click.make_pass_decorator(_Context, ensure=True)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except PromoError as exc:
        details = [f"  {field}: {'; '.join(messages)}" for field, messages in getattr(exc, "errors", {}).items()
                   if isinstance(messages, list)]
        click.echo("\n".join([f"promo: {exc.message}", *details]), err=True)
        sys.exit(1)
    except Exception as exc:
        # A database error (most often: the schema is not there yet) gets one line, not a
        # traceback; sqlalchemy is not imported here, for `promo --help`'s sake.
        if not type(exc).__module__.startswith("sqlalchemy"):
            raise
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        click.echo(f"promo: database error: {reason}\n  is the schema there? `promo db upgrade` "
                   "(or `make run`) creates it", err=True)
        sys.exit(1)


@click.group()
@click.version_option(package_name="promo")
def cli() -> None:
    """promo: stock-aware promotion targeting and personalisation."""


# --- database -------------------------------------------------------------------------

@cli.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@pass_context
def db_upgrade(ctx: _Context, revision: str) -> None:
    """Apply migrations up to REVISION."""
    from promo.adapters import migrations

    migrations.upgrade(ctx.runtime.engine, revision)
    click.echo(f"database at revision {migrations.current_revision(ctx.runtime.engine)}")


@db.command("current")
@pass_context
def db_current(ctx: _Context) -> None:
    """Show the database's revision and whether it is the code's head."""
    from promo.adapters import migrations

    engine = ctx.runtime.engine
    current, head = migrations.current_revision(engine), migrations.head_revision(engine)
    click.echo(f"current: {current or '(none: empty database)'}\nhead:    {head}")
    if current != head:
        click.echo(migrations.UPGRADE_HINT)
        sys.exit(1)


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the change does.")
@pass_context
def db_revision(ctx: _Context, message: str) -> None:
    """(Developers) autogenerate a migration from the ORM mappings; review it before committing."""
    from promo.adapters import migrations

    migrations.new_revision(ctx.runtime.engine, message)


# --- API keys -------------------------------------------------------------------------

@cli.group()
def keys() -> None:
    """API keys (stored hashed; a key is shown once, when created)."""


def _print_new_key(view: dict[str, Any], token: str) -> None:
    click.echo(f"{view['name']:<20} role={view['role']:<10} {token}")


@keys.command("create")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", required=True, help="Unique name, used to revoke the key.")
@click.option("--replace", is_flag=True,
              help="If a key has this name, give it a new secret and this role (the old secret stops working).")
@click.option("--token-only", is_flag=True, help="Print only the key, for KEY=$(promo keys create ...).")
@pass_context
def keys_create(ctx: _Context, role: str, name: str, replace: bool, token_only: bool) -> None:
    """Create a key and print it (this is the only time it is shown)."""
    from promo.services import api_keys

    view, token = api_keys.create_key(ctx.runtime.unit_of_work(write=True), name=name, role=role, replace=replace)
    if token_only:
        click.echo(token)
    else:
        _print_new_key(view, token)


@keys.command("list")
@pass_context
def keys_list(ctx: _Context) -> None:
    """List keys (names, roles, state; never the secrets)."""
    from promo.services import api_keys

    for key in api_keys.list_keys(ctx.runtime.unit_of_work()):
        state = f"revoked {key['revoked_at']:%Y-%m-%d %H:%M}" if key["revoked_at"] else "active"
        click.echo(f"{key['name']:<20} {key['role']:<10} promo_{key['prefix']}_…  "
                   f"created {key['created_at']:%Y-%m-%d %H:%M}  {state}")


@keys.command("revoke")
@click.argument("name")
@pass_context
def keys_revoke(ctx: _Context, name: str) -> None:
    """Revoke the key called NAME; it stops working at once."""
    from promo.services import api_keys

    api_keys.revoke_key(ctx.runtime.unit_of_work(write=True), name)
    click.echo(f"revoked {name}")


@keys.command("demo")
@pass_context
def keys_demo(ctx: _Context) -> None:
    """Create one demo key per role (demo-<role>) unless they exist."""
    from promo.services import api_keys

    created = api_keys.ensure_demo_keys(lambda: ctx.runtime.unit_of_work(write=True))
    if created:
        click.echo("Demo API keys (shown only now; keep them):")
        for view, token in created:
            _print_new_key(view, token)
    else:
        click.echo("Demo API keys exist already (their secrets were shown when they were created). "
                   "Make another with: promo keys create --role admin --name me")


# --- demo data ------------------------------------------------------------------------

@cli.group()
def demo() -> None:
    """The Complete Journey demo dataset."""


@demo.command("load")
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Load only what happened before this date of the dataset (YYYY-MM-DD, e.g. 2017-11-06).")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already holds products.")
@click.option("--keep-dates", is_flag=True,
              help="Store the dataset's own dates (2017) instead of moving them to end yesterday.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@pass_context
def demo_load(ctx: _Context, as_of: dt.datetime | None, if_empty: bool, keep_dates: bool, quiet: bool) -> None:
    """Load The Complete Journey (2,469 households, 92k products, 1.47M purchases).

    Its dates are moved forward by whole weeks so that what is loaded ends yesterday
    (weekdays stay); the shift is recorded, and --as-of, `promo evaluate` cut-offs and
    `promo train --until` keep taking the dataset's own dates."""
    from promo.services import demo_data

    as_of_utc = as_of.replace(tzinfo=dt.timezone.utc) if as_of else None
    report = demo_data.load_demo(ctx.runtime, as_of=as_of_utc, if_empty=if_empty, progress=not quiet,
                                 move_dates=not keep_dates)
    click.echo(report.summary())


def _dataset_date(ctx: _Context, value: dt.datetime) -> dt.datetime:
    """A date of the demo dataset's own timeline (naive, from the command line) as stored:
    the demo is stored moved into the present (zero shift without demo data)."""
    from promo.services import demo_clock

    return demo_clock.to_stored(ctx.runtime.unit_of_work(), value.replace(tzinfo=dt.timezone.utc))


@demo.command("replay")
@click.option("--from-week", type=click.IntRange(1, 53), default=45, show_default=True,
              help="First week of the dataset to replay (weeks 1-53).")
@click.option("--speed", type=click.FloatRange(min=0), default=3600.0, show_default=True,
              help="Dataset seconds per real second (0: as fast as possible).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Stop after this many sales.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@pass_context
def demo_replay(ctx: _Context, from_week: int, speed: float, limit: int | None, quiet: bool) -> None:
    """Replay the dataset's later purchases as live `sale` stock events (Ctrl-C stops)."""
    from promo.services import demo_data

    report = demo_data.replay(ctx.runtime, from_week=from_week, speed=speed, limit=limit, progress=not quiet)
    click.echo(report.summary())


# --- models ---------------------------------------------------------------------------

MODEL_CHOICE = click.Choice(["recommender", "response"])


@cli.command("train")
@click.option("--model", "names", type=MODEL_CHOICE, multiple=True,
              help="Train only this model (repeatable); default: all.")
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Learn only from what happened before this date (YYYY-MM-DD; on the demo, a date of "
                   "the dataset, like `promo evaluate --cutoff`).")
@click.option("--no-activate", is_flag=True, help="Save the new versions without serving them.")
@click.option("--if-missing", is_flag=True, help="Do nothing for a model that has an active version already.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@pass_context
def train_command(ctx: _Context, names: tuple[str, ...], until: dt.datetime | None, no_activate: bool,
                  if_missing: bool, quiet: bool) -> None:
    """Train the recommender and the redemption-response model on the stored history."""
    from tqdm import tqdm

    from promo.services import training

    names = names or training.MODEL_NAMES
    if if_missing:
        with ctx.runtime.unit_of_work() as uow:
            active = uow.active_models.all()
        names = tuple(name for name in names if name not in active)
        if not names:
            click.echo("every model has an active version; nothing trained (drop --if-missing to retrain)")
            return
    with tqdm(total=1 + len(names), desc="train", unit="step", disable=quiet,
              bar_format="{desc}: {n}/{total} steps |{bar}| {elapsed} {postfix}") as bar:
        bar.set_postfix_str("reading the history")
        data = training.load_training_data(ctx.runtime, _dataset_date(ctx, until) if until else None)
        bar.update(1)
        trained, skipped = [], []
        for name in names:
            bar.set_postfix_str(f"fitting {name}")
            try:
                trained += training.train(ctx.runtime, [name], activate=not no_activate, data=data)
            except InvalidInput as exc:   # e.g. no campaign history yet: the other model still trains
                skipped.append(f"{name} not trained: {exc.message}")
            bar.update(1)
        bar.set_postfix_str("done")
    for model in trained:
        state = "active" if model.activated else "saved, not active"
        rows = ", ".join(f"{count:,} {what}" for what, count in (model.metadata.get("rows") or {}).items())
        click.echo(f"{model.name} {model.version}: fitted in {model.seconds:.1f}s on {rows} ({state})")
    for message in skipped:
        click.echo(message, err=True)
    # `make run` trains --if-missing: a model the data cannot train yet must not stop the service.
    if skipped and not if_missing:
        sys.exit(1)


@cli.command("evaluate")
@click.option("--cutoff", "cutoffs", type=click.DateTime(formats=["%Y-%m-%d"]), multiple=True,
              help="A recommender cut-off (repeatable): models learn before it and are judged on the "
                   "--horizon-days after it. Default: --cutoffs weekly ones ending a horizon before the "
                   "end of the history.")
@click.option("--cutoffs", "cutoff_count", type=click.IntRange(1, 52), default=4, show_default=True,
              help="How many weekly cut-offs when no --cutoff is given.")
@click.option("--horizon-days", type=click.FloatRange(1, 365), default=7.0, show_default=True,
              help="Days after each cut-off whose purchases are judged.")
@click.option("--response-cutoff", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Hold out only campaigns starting on or after this date (default: every campaign with "
                   "enough redeemers and an earlier one to learn from).")
@click.option("--min-redeemers", type=click.IntRange(1), default=10, show_default=True,
              help="Campaigns with fewer redeemers are learned from but not held out.")
@click.option("--k", type=click.IntRange(1, 100), default=10, show_default=True, help="Recommendations judged.")
@click.option("--replicates", type=click.IntRange(100), default=1000, show_default=True,
              help="Bootstrap replicates of the intervals.")
@click.option("--no-als", is_flag=True, help="Leave out implicit's ALS (needs `pip install promo[bench]`).")
@click.option("--markdown", is_flag=True, help="Print the tables as Markdown (for docs/personalisation.md).")
@click.option("--quiet", is_flag=True, help="No progress messages.")
@pass_context
def evaluate_command(ctx: _Context, cutoffs: tuple[dt.datetime, ...], cutoff_count: int, horizon_days: float,
                     response_cutoff: dt.datetime | None, min_redeemers: int, k: int, replicates: int,
                     no_als: bool, markdown: bool, quiet: bool) -> None:
    """Our recommender and response model against the strongest simple rules, over several
    cut-offs and held-out campaigns, with 95% bootstrap intervals.

    Dates are the dataset's own: on the demo (stored moved into the present) the cut-offs
    given are translated, and the report shows the dataset's dates, so the figures and the
    tables are those of the unmoved data."""
    from promo.services import demo_clock, evaluation

    say = (lambda _message: None) if quiet else (lambda message: click.echo(f"evaluate: {message}", err=True))
    shift = demo_clock.shift_of(ctx.runtime.unit_of_work())
    if shift:
        say(f"the demo is stored {shift.days // 7} weeks later than its dataset; dates are the dataset's, "
            "translated")
    result = evaluation.evaluate(
        ctx.runtime, cutoffs=[_dataset_date(ctx, cutoff) for cutoff in cutoffs],
        cutoff_count=cutoff_count, horizon_days=horizon_days,
        response_cutoff=None if response_cutoff is None else _dataset_date(ctx, response_cutoff),
        min_redeemers=min_redeemers, k=k, als=not no_als, replicates=replicates, say=say,
        shown_earlier_by=shift)
    result = dataclasses.replace(result, shown_earlier_by=shift)
    click.echo(evaluation.as_markdown(result) if markdown else evaluation.as_text(result))
    shortfalls = result.shortfalls()
    click.echo("\nours beats every baseline on every line and meets every goal" if not shortfalls
               else "\nshortfalls:\n  " + "\n  ".join(shortfalls))


@cli.group()
def models() -> None:
    """Trained model versions (artefacts under model_dir)."""


@models.command("list")
@pass_context
def models_list(ctx: _Context) -> None:
    """Every stored version, newest last; * marks the active one."""
    from promo.services import training

    listed = training.list_models(ctx.runtime)
    if not listed:
        click.echo(f"no models in {ctx.runtime.settings.model_dir}; run `promo train`")
        return
    for entry in listed:
        mark = "*" if entry["active"] else " "
        if entry.get("missing"):
            click.echo(f"{mark} {entry['name']:<12} {entry['version']:<20} (active, but its files are missing)")
            continue
        window = entry.get("window") or {}
        click.echo(f"{mark} {entry['name']:<12} {entry['version']:<20} trained {entry['trained_at']}  "
                   f"data {window.get('from')} .. {window.get('until')}  {entry['rows']}")


@models.command("activate")
@click.argument("name", type=MODEL_CHOICE)
@click.argument("version")
@pass_context
def models_activate(ctx: _Context, name: str, version: str) -> None:
    """Serve VERSION of NAME; running workers switch within model_check_interval_ms."""
    from promo.services import training

    training.activate_version(ctx.runtime, name, version)
    click.echo(f"{name} {version} is active; running workers switch to it within "
               f"{ctx.runtime.settings.model_check_interval_ms} ms")


# --- stock ----------------------------------------------------------------------------

@cli.group()
def stock() -> None:
    """Stock log and positions."""


@stock.command("verify")
@click.option("--url", default=None, help="Also compare a running service's in-memory view (base URL).")
@click.option("--key", envvar="PROMO_API_KEY", default=None, help="Admin API key for --url (or PROMO_API_KEY).")
@pass_context
def stock_verify(ctx: _Context, url: str | None, key: str | None) -> None:
    """Rebuild positions from the log and compare with the positions table (and a live view).

    Prints every difference; exits 1 if there is any.
    """
    from promo.services import stock as stock_service

    report = stock_service.verify(ctx.runtime.unit_of_work())
    click.echo(f"log at seq {report['as_of_seq']} (positions table written up to {report['positions_seq']}): "
               f"{report['positions']} positions, {report['negative_on_hand']} with negative on-hand, "
               f"{report['anomalies']} anomalous events")
    problems = _print_differences("log replayed vs positions table", report["log_vs_table"])
    for event in report["unreadable"]:
        click.echo(f"unreadable log event at seq {event['seq']} (event_id {event['event_id']!r}): {event['problem']}; "
                   f"followers apply {'its position deltas' if event['deltas_applied'] else 'nothing of it'} "
                   "and go on")
    if report["unreadable_events"] > len(report["unreadable"]):
        click.echo(f"... {report['unreadable_events'] - len(report['unreadable'])} more unreadable log events")
    problems += report["unreadable_events"]
    if url:
        problems += _verify_live_view(url, key)
    if problems:
        sys.exit(1)
    click.echo("ok: no differences")


@stock.command("snapshot")
@pass_context
def stock_snapshot(ctx: _Context) -> None:
    """Write the positions table up to the log's head now.

    On SQLite the table trails the log by up to `stock_positions_lag` events (the service
    and `stock verify` add them); run this before reading the table with SQL.
    """
    from promo.services import stock as stock_service

    result = stock_service.bring_positions_forward(ctx.runtime.unit_of_work(write=True))
    click.echo(f"positions table holds the log up to seq {result['positions_seq']} "
               f"({result['events_added']} events added)")


def _print_differences(title: str, differences: list[dict[str, Any]] | None) -> int:
    if differences is None:
        click.echo(f"{title}: could not compare (the log kept moving)")
        return 1
    for d in differences:
        click.echo(f"{title}: product {d['product_id']} at location {d['location_id']}: "
                   f"expected (on_hand, reserved, safety, inbound) {d['expected']}, found {d['found']}")
    return len(differences)


def _verify_live_view(url: str, key: str | None) -> int:
    import json
    import urllib.error
    import urllib.request

    if not key:
        raise click.ClickException("--url needs an admin key (--key or PROMO_API_KEY)")
    request = urllib.request.Request(url.rstrip("/") + "/v1/admin/stock/verify",
                                     headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            live = json.load(response)
    except (urllib.error.URLError, OSError) as exc:
        raise click.ClickException(f"cannot reach {url}: {exc}") from None
    click.echo(f"live view of {url} at seq {live.get('view_as_of_seq')}")
    return _print_differences("positions table vs live view", live.get("view_vs_table"))


# Command groups kept in modules of their own (imported last: they add to `cli`).
from promo import cli_users, cli_webhooks  # noqa: E402,F401
