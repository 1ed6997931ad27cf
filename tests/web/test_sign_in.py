"""Staff sign-in to the web app (/app) through the Flask test client: accounts made by
the CLI with a slow password hash, sessions, CSRF on every form, sign-out, expiry, the
end of sessions when a password changes or an account is disabled, and rate-limited
failures."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from promo import create_app
from promo.adapters.orm import StaffUser
from promo.api.context import EXTENSION
from promo.services import staff

PASSWORD = "correct horse battery"


@pytest.fixture
def anna(runtime) -> staff.Person:
    return staff.create_user(runtime.unit_of_work(write=True), email="Anna@Shop.example", name="Anna Marketing",
                             role="marketing", password=PASSWORD)


def token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def signed_out(client) -> bool:
    """Whether a page that needs a person sends this client to the sign-in page."""
    answer = client.get("/app/campaigns")
    return answer.status_code == 302 and answer.headers["Location"].startswith("/app/sign-in")


def sign_in(client, email="anna@shop.example", password=PASSWORD, next_path=""):
    page = client.get("/app/sign-in")
    assert page.status_code == 200
    return client.post("/app/sign-in", data={"email": email, "password": password, "next": next_path,
                                              "csrf_token": token(page.get_data(as_text=True))})


def test_a_person_signs_in_sees_their_page_and_signs_out(client, anna):
    assert signed_out(client)          # to the sign-in page

    signed = sign_in(client, email="ANNA@shop.example ")

    assert signed.status_code == 302 and signed.headers["Location"] == "/app/"
    cookie = signed.headers["Set-Cookie"]
    assert "promo_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    home = client.get("/app/", follow_redirects=True)
    assert home.status_code == 200 and "Anna Marketing" in home.get_data(as_text=True)
    assert home.headers["X-Frame-Options"] == "DENY" and "default-src 'self'" in home.headers["Content-Security-Policy"]

    out = client.post("/app/sign-out", data={"csrf_token": token(home.get_data(as_text=True))})
    assert out.status_code == 302
    assert signed_out(client)


def test_the_password_is_stored_only_as_a_slow_hash(runtime, anna):
    with runtime.unit_of_work() as uow:
        stored = uow.session.scalars(select(StaffUser.password_hash)).one()
    assert stored.startswith("scrypt:") and PASSWORD not in stored


def test_a_wrong_password_or_unknown_account_signs_nobody_in(client, anna):
    for email, password in (("anna@shop.example", "wrong password!"), ("nobody@shop.example", PASSWORD)):
        answer = sign_in(client, email=email, password=password)
        assert answer.status_code == 200
        assert "do not match an active account" in answer.get_data(as_text=True)
        assert signed_out(client)


def test_every_form_needs_its_csrf_token(client, anna):
    refused = client.post("/app/sign-in", data={"email": "anna@shop.example", "password": PASSWORD})
    assert refused.status_code == 400 and "Form expired" in refused.get_data(as_text=True)
    assert signed_out(client)

    sign_in(client)
    assert client.post("/app/sign-out", data={}).status_code == 400       # no token: still signed in
    assert client.get("/app/campaigns").status_code == 200


def test_failed_sign_ins_are_limited_per_account(client, runtime, anna, monkeypatch):
    monkeypatch.setattr(runtime.sign_in_attempts, "limit", 3)
    for _ in range(3):
        sign_in(client, password="not the password")

    locked = sign_in(client)          # the right password, too late

    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    assert signed_out(client)


@pytest.fixture
def other_worker(settings_overrides):
    """A second worker (or instance): its own app on the same database."""
    app = create_app(settings_overrides)
    try:
        yield app.test_client()
    finally:
        app.extensions[EXTENSION].close()


@pytest.mark.settings(sign_in_attempt_limit=3)
def test_failed_sign_ins_count_across_workers(client, other_worker, anna):
    sign_in(client, password="not the password")
    sign_in(other_worker, password="not the password")
    sign_in(client, password="still not it")

    # Three failures in all, though no worker saw three: both refuse, the right password too.
    for worker in (other_worker, client):
        locked = sign_in(worker)
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
        assert "Too many failed sign-ins" in locked.get_data(as_text=True)
    assert signed_out(client) and signed_out(other_worker)


def test_changing_the_password_or_disabling_the_account_ends_its_sessions(client, runtime, anna):
    sign_in(client)
    assert client.get("/app/campaigns").status_code == 200

    staff.set_password(runtime.unit_of_work(write=True), "anna@shop.example", "a brand new passphrase")
    assert signed_out(client)
    assert sign_in(client, password="a brand new passphrase").status_code == 302
    assert client.get("/app/campaigns").status_code == 200

    staff.disable(runtime.unit_of_work(write=True), "anna@shop.example")
    assert signed_out(client)
    assert "do not match" in sign_in(client, password="a brand new passphrase").get_data(as_text=True)


def test_a_session_expires(app, client, anna):
    import datetime as dt

    app.config["PERMANENT_SESSION_LIFETIME"] = dt.timedelta(seconds=1)
    sign_in(client)
    assert client.get("/app/campaigns").status_code == 200
    import time

    time.sleep(2.1)
    assert signed_out(client)


def test_after_sign_in_only_a_path_of_this_site_is_followed(client, anna):
    assert sign_in(client, next_path="/app/?x=1").headers["Location"] == "/app/?x=1"
    client.post("/app/sign-out", data={"csrf_token": token(client.get("/app/campaigns").get_data(as_text=True))})
    assert sign_in(client, next_path="https://evil.example/").headers["Location"] == "/app/"
    client.post("/app/sign-out", data={"csrf_token": token(client.get("/app/campaigns").get_data(as_text=True))})
    assert sign_in(client, next_path="//evil.example/").headers["Location"] == "/app/"
    client.post("/app/sign-out", data={"csrf_token": token(client.get("/app/campaigns").get_data(as_text=True))})
    assert sign_in(client, next_path="/\\evil.example/").headers["Location"] == "/app/"


def test_accounts_are_validated(runtime, anna):
    from promo.domain.errors import Conflict, InvalidInput

    with pytest.raises(InvalidInput) as bad:
        staff.create_user(runtime.unit_of_work(write=True), email="not-an-email", name="", role="root",
                          password="short")
    assert set(bad.value.errors) == {"email", "name", "role", "password"}
    with pytest.raises(Conflict):
        staff.create_user(runtime.unit_of_work(write=True), email="anna@SHOP.example", name="Again",
                          role="admin", password=PASSWORD)


def test_the_cli_creates_lists_and_disables_accounts(cli_runner, database_url, runtime):
    from promo.cli import cli
    from promo.domain.errors import InvalidInput

    env = {"PROMO_DATABASE_URL": database_url, "PROMO_ENV": "test", "PROMO_LOG_LEVEL": "WARNING", "PROMO_CONFIG": None}

    def promo(*args: str, stdin: str | None = None):
        return cli_runner.invoke(cli, list(args), env=env, input=stdin)

    made = promo("users", "create", "--email", "ops@shop.example", "--name", "Ops", "--role", "admin",
                 "--password-stdin", stdin=f"{PASSWORD}\n")
    assert made.exit_code == 0, made.output
    listed = promo("users", "list")
    assert "ops@shop.example" in listed.output and "admin" in listed.output and PASSWORD not in listed.output
    assert staff.authenticate(runtime.unit_of_work(write=True), "ops@shop.example", PASSWORD) is not None
    assert promo("users", "disable", "ops@shop.example").exit_code == 0
    assert staff.authenticate(runtime.unit_of_work(write=True), "ops@shop.example", PASSWORD) is None
    short = promo("users", "create", "--email", "x@shop.example", "--name", "X", "--role", "marketing",
                  "--password-stdin", stdin="short\n")
    assert short.exit_code == 1 and isinstance(short.exception, InvalidInput)
    assert "password" in short.exception.errors


def test_the_demo_accounts_are_made_once_and_their_passwords_shown_once(cli_runner, database_url, runtime):
    from promo.cli import cli

    env = {"PROMO_DATABASE_URL": database_url, "PROMO_ENV": "test", "PROMO_LOG_LEVEL": "WARNING", "PROMO_CONFIG": None}

    first = cli_runner.invoke(cli, ["users", "demo"], env=env)
    again = cli_runner.invoke(cli, ["users", "demo"], env=env)

    assert first.exit_code == 0 and again.exit_code == 0, first.output
    shown = dict(re.findall(r"(\S+@demo\.example)\s+\w+\s+password (\S+)", first.output))
    assert set(shown) == {"marketing@demo.example", "admin@demo.example"}
    for email, password in shown.items():
        assert staff.authenticate(runtime.unit_of_work(write=True), email, password) is not None
    assert "exist already" in again.output and "password " not in again.output.split("(")[0]
    with runtime.unit_of_work() as uow:
        stored = [u.password_hash for u in uow.session.scalars(select(StaffUser))]
    assert all(password not in hashed for hashed in stored for password in shown.values())
