"""`promo users`: the staff accounts that sign in to the marketing web app."""
from __future__ import annotations

import sys

import click

from promo.cli import _Context, cli, pass_context

PASSWORD_HELP = ("Read the password from standard input (one line) instead of asking for it; "
                 "for scripts: printf '%s\\n' \"$PASSWORD\" | promo users create ... --password-stdin")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@cli.group()
def users() -> None:
    """Staff accounts for the web app (people sign in; machines use API keys)."""


@users.command("create")
@click.option("--email", required=True, help="The account's sign-in name (any letter case).")
@click.option("--name", required=True, help="How the web app and the audit log name the person.")
@click.option("--role", required=True, type=click.Choice(("marketing", "admin")))
@click.option("--password-stdin", is_flag=True, help=PASSWORD_HELP)
@pass_context
def users_create(ctx: _Context, email: str, name: str, role: str, password_stdin: bool) -> None:
    """Create an account (the password is stored only as a slow hash; 12 characters or more)."""
    from promo.services import staff

    person = staff.create_user(ctx.runtime.unit_of_work(write=True), email=email, name=name, role=role,
                               password=_password(password_stdin))
    click.echo(f"created {person.email} ({person.role})")


@users.command("list")
@pass_context
def users_list(ctx: _Context) -> None:
    """List accounts (never their passwords)."""
    from promo.services import staff

    for user in staff.list_users(ctx.runtime.unit_of_work()):
        last = f"{user['last_sign_in_at']:%Y-%m-%d %H:%M}" if user["last_sign_in_at"] else "never"
        click.echo(f"{user['email']:<32} {user['role']:<10} {'active' if user['active'] else 'disabled':<9} "
                   f"last sign-in {last}  {user['name']}")


@users.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help=PASSWORD_HELP)
@pass_context
def users_set_password(ctx: _Context, email: str, password_stdin: bool) -> None:
    """Give an account a new password; its open sessions end."""
    from promo.services import staff

    staff.set_password(ctx.runtime.unit_of_work(write=True), email, _password(password_stdin))
    click.echo(f"new password for {email.strip().lower()}; its sessions have ended")


@users.command("disable")
@click.argument("email")
@pass_context
def users_disable(ctx: _Context, email: str) -> None:
    """Disable an account: it can no longer sign in, and its open sessions end."""
    from promo.services import staff

    staff.disable(ctx.runtime.unit_of_work(write=True), email)
    click.echo(f"disabled {email.strip().lower()}")


@users.command("demo")
@pass_context
def users_demo(ctx: _Context) -> None:
    """Create the demo accounts (marketing@demo.example, admin@demo.example) unless they exist."""
    from promo.services import staff

    created = staff.ensure_demo_users(lambda: ctx.runtime.unit_of_work(write=True))
    if created:
        click.echo("Demo web app accounts (passwords shown only now; sign in at /app/):")
        for person, password in created:
            click.echo(f"  {person.email:<24} {person.role:<10} password {password}")
    else:
        click.echo("Demo web app accounts exist already (their passwords were shown when they were created). "
                   "Give one a new password with: promo users set-password marketing@demo.example")
