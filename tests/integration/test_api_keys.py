"""API keys through the service and the `promo keys` commands, on the real database."""
from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import text

from promo.cli import cli
from promo.domain.access import Role
from promo.domain.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound
from promo.services import api_keys

TOKEN = re.compile(r"promo_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def promo(cli_runner, database_url, runtime):  # runtime: its teardown empties the tables afterwards
    """Run `promo ...` against the test database, as an operator would."""
    env = {"PROMO_DATABASE_URL": database_url, "PROMO_ENV": "test", "PROMO_LOG_LEVEL": "WARNING", "PROMO_CONFIG": None}

    def run(*args: str):
        return cli_runner.invoke(cli, list(args), env=env)

    return run


def stored_api_keys(runtime) -> str:
    """Everything the api_keys table holds, as one string."""
    with runtime.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM api_keys")).all()
    return "\n".join(" ".join(str(value) for value in row) for row in rows)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the service ----------------------------------------------------------------------

def test_a_created_key_authenticates_as_its_name_and_role(runtime):
    view, token = api_keys.create_key(runtime.unit_of_work(write=True), name="shop-web", role="channel")

    assert TOKEN.fullmatch(token)
    assert view["name"] == "shop-web" and view["role"] == "channel" and view["revoked_at"] is None
    assert api_keys.authenticate(runtime.unit_of_work(), token) == ("shop-web", Role.CHANNEL)


def test_the_database_never_holds_the_secret_of_a_key(runtime):
    _, token = api_keys.create_key(runtime.unit_of_work(write=True), name="shop-web", role="channel")
    secret = token.split("_", 2)[2]

    stored = stored_api_keys(runtime)
    assert "shop-web" in stored
    assert secret not in stored
    assert token not in stored


def test_a_second_key_with_a_taken_name_is_a_conflict(runtime):
    api_keys.create_key(runtime.unit_of_work(write=True), name="ops", role="admin")

    with pytest.raises(Conflict) as caught:
        api_keys.create_key(runtime.unit_of_work(write=True), name="ops", role="marketing")

    assert caught.value.reason == "key_name_taken"
    assert [key["role"] for key in api_keys.list_keys(runtime.unit_of_work())] == ["admin"]


@pytest.mark.parametrize(("name", "role", "field"), [
    ("ops", "superuser", "role"),
    ("", "admin", "name"),
    ("has spaces", "admin", "name"),
    ("-leading-dash", "admin", "name"),
])
def test_a_key_with_a_bad_name_or_role_is_refused(runtime, name, role, field):
    with pytest.raises(InvalidInput) as caught:
        api_keys.create_key(runtime.unit_of_work(write=True), name=name, role=role)

    assert field in caught.value.errors
    assert api_keys.list_keys(runtime.unit_of_work()) == []


def test_revoking_an_unknown_key_is_not_found(runtime):
    with pytest.raises(NotFound):
        api_keys.revoke_key(runtime.unit_of_work(write=True), "nobody")


def test_revoking_twice_keeps_the_first_revocation_time(runtime):
    api_keys.create_key(runtime.unit_of_work(write=True), name="ops", role="admin")

    first = api_keys.revoke_key(runtime.unit_of_work(write=True), "ops")
    second = api_keys.revoke_key(runtime.unit_of_work(write=True), "ops")

    assert first["revoked_at"] is not None
    assert second["revoked_at"] == first["revoked_at"]


def test_a_revoked_key_no_longer_authenticates(runtime):
    _, token = api_keys.create_key(runtime.unit_of_work(write=True), name="ops", role="admin")
    api_keys.revoke_key(runtime.unit_of_work(write=True), "ops")

    with pytest.raises(AuthenticationFailed, match="revoked"):
        api_keys.authenticate(runtime.unit_of_work(), token)


# --- the `promo keys` commands --------------------------------------------------------

def test_keys_create_prints_a_key_that_works_once_and_only_then(promo, client):
    result = promo("keys", "create", "--role", "inventory", "--name", "erp")

    assert result.exit_code == 0, result.output
    tokens = TOKEN.findall(result.output)
    assert len(tokens) == 1
    assert "erp" in result.output and "inventory" in result.output
    assert client.put("/v1/products", json=[{"sku": "1", "name": "Milk", "price": 1, "currency": "USD"}],
                      headers=bearer(tokens[0])).status_code == 200
    assert tokens[0] not in promo("keys", "list").output


def test_keys_create_stores_no_secret(promo, runtime):
    result = promo("keys", "create", "--role", "admin", "--name", "ops")
    token = TOKEN.search(result.output).group(0)

    assert token.split("_", 2)[2] not in stored_api_keys(runtime)


def test_keys_create_with_a_taken_name_fails_and_keeps_the_first_key(promo, client):
    first = TOKEN.search(promo("keys", "create", "--role", "admin", "--name", "ops").output).group(0)

    again = promo("keys", "create", "--role", "marketing", "--name", "ops")

    assert again.exit_code != 0
    assert isinstance(again.exception, Conflict) and again.exception.reason == "key_name_taken"
    assert TOKEN.search(again.output) is None
    assert client.get("/v1/customers", headers=bearer(first)).status_code == 200


def test_keys_create_refuses_a_role_that_does_not_exist(promo):
    result = promo("keys", "create", "--role", "root", "--name", "ops")

    assert result.exit_code == 2
    assert "root" in result.output
    assert "ops" not in promo("keys", "list").output


def test_the_promo_command_reports_a_taken_name_on_one_line_and_exits_1(promo, database_url, monkeypatch, capsys):
    from promo.cli import main

    assert promo("keys", "create", "--role", "admin", "--name", "ops").exit_code == 0
    monkeypatch.setenv("PROMO_DATABASE_URL", database_url)
    monkeypatch.setenv("PROMO_ENV", "test")
    monkeypatch.setenv("PROMO_LOG_LEVEL", "WARNING")
    monkeypatch.delenv("PROMO_CONFIG", raising=False)
    monkeypatch.setattr("sys.argv", ["promo", "keys", "create", "--role", "admin", "--name", "ops"])

    with pytest.raises(SystemExit) as exited:
        main()

    assert exited.value.code == 1
    assert capsys.readouterr().err == "promo: a key named 'ops' exists already\n"


def test_keys_list_shows_names_and_roles_but_no_secrets(promo):
    tokens = [TOKEN.search(promo("keys", "create", "--role", role, "--name", name).output).group(0)
              for role, name in [("admin", "ops"), ("channel", "web-shop")]]

    listing = promo("keys", "list")

    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:2] == ["ops", "admin"] and "active" in lines[0]
    assert lines[1].split()[:2] == ["web-shop", "channel"]
    for token in tokens:
        assert token.split("_", 2)[2] not in listing.output


@pytest.mark.settings(api_key_refresh_ms=200)
def test_keys_revoke_makes_the_key_fail_within_the_refresh_delay(promo, client):
    token = TOKEN.search(promo("keys", "create", "--role", "admin", "--name", "ops").output).group(0)
    assert client.get("/v1/products", headers=bearer(token)).status_code == 200

    result = promo("keys", "revoke", "ops")

    assert result.exit_code == 0 and "revoked ops" in result.output
    time.sleep(0.25)
    response = client.get("/v1/products", headers=bearer(token))
    assert response.status_code == 401
    assert "revoked" in response.json["message"]
    assert "revoked" in promo("keys", "list").output


def test_keys_revoke_of_an_unknown_name_fails(promo):
    result = promo("keys", "revoke", "nobody")

    assert result.exit_code != 0
    assert isinstance(result.exception, NotFound)


def test_keys_demo_creates_one_key_per_role_once(promo, client):
    first = promo("keys", "demo")

    assert first.exit_code == 0, first.output
    tokens = TOKEN.findall(first.output)
    assert len(tokens) == len(Role) == 4
    for role in Role:
        assert f"demo-{role.value}" in first.output
    assert all(client.get("/v1/products", headers=bearer(token)).status_code == 200 for token in tokens)

    second = promo("keys", "demo")

    assert second.exit_code == 0
    assert TOKEN.findall(second.output) == []
    assert "exist already" in second.output
    assert len(promo("keys", "list").output.splitlines()) == 4


def test_keys_demo_fills_in_only_the_missing_roles(promo):
    promo("keys", "create", "--role", "admin", "--name", "demo-admin")

    result = promo("keys", "demo")

    assert len(TOKEN.findall(result.output)) == 3
    assert "demo-admin" not in result.output


def test_the_keys_commands_need_no_database_for_help(cli_runner):
    result = cli_runner.invoke(cli, ["keys", "--help"], env={"PROMO_DATABASE_URL": "postgresql+psycopg://nowhere/x"})

    assert result.exit_code == 0
    assert "create" in result.output and "revoke" in result.output


def test_keys_create_with_replace_gives_a_taken_name_a_new_secret_and_the_old_one_stops_working(promo, client):
    first = TOKEN.search(promo("keys", "create", "--role", "admin", "--name", "tour").output).group(0)

    again = promo("keys", "create", "--role", "marketing", "--name", "tour", "--replace")

    assert again.exit_code == 0, again.output
    second = TOKEN.search(again.output).group(0)
    assert second != first
    assert client.get("/v1/customers", headers=bearer(first)).status_code == 401
    assert client.get("/v1/customers", headers=bearer(second)).status_code == 200
    assert client.put("/v1/products", json=[], headers=bearer(second)).status_code == 403   # now marketing
    assert [line.split()[:2] for line in promo("keys", "list").output.splitlines()] == [["tour", "marketing"]]


def test_keys_create_with_replace_makes_a_revoked_key_active_again(promo, client):
    promo("keys", "create", "--role", "admin", "--name", "tour")
    promo("keys", "revoke", "tour")

    token = TOKEN.search(promo("keys", "create", "--role", "admin", "--name", "tour", "--replace").output).group(0)

    assert client.get("/v1/customers", headers=bearer(token)).status_code == 200
    assert "active" in promo("keys", "list").output


def test_keys_create_with_replace_creates_a_key_whose_name_is_free(promo, client):
    result = promo("keys", "create", "--role", "admin", "--name", "fresh", "--replace")

    assert result.exit_code == 0
    assert client.get("/v1/customers", headers=bearer(TOKEN.search(result.output).group(0))).status_code == 200


def test_keys_create_with_token_only_prints_the_key_alone(promo, client):
    result = promo("keys", "create", "--role", "admin", "--name", "ops", "--token-only")

    assert result.exit_code == 0
    assert TOKEN.fullmatch(result.output.strip())
    assert client.get("/v1/customers", headers=bearer(result.output.strip())).status_code == 200


def test_a_promo_command_on_a_database_without_the_schema_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    from promo.cli import main

    monkeypatch.setenv("PROMO_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("PROMO_ENV", "test")
    monkeypatch.delenv("PROMO_CONFIG", raising=False)
    monkeypatch.setattr("sys.argv", ["promo", "keys", "create", "--role", "admin", "--name", "tour", "--token-only"])

    with pytest.raises(SystemExit) as exited:
        main()

    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("promo: database error: no such table: api_keys\n")
    assert "promo db upgrade" in captured.err and "Traceback" not in captured.err


# --- the per-process key ring --------------------------------------------------------------

@pytest.mark.settings(api_key_refresh_ms=300)
def test_requests_authenticate_from_memory_and_a_revocation_holds_within_the_refresh_delay(
        client, runtime, row_count):
    _, token = api_keys.create_key(runtime.unit_of_work(write=True), name="shop", role="channel")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/locations", headers=headers).status_code == 200     # a new key works at once

    api_keys.revoke_key(runtime.unit_of_work(write=True), "shop")
    revoked_at = time.monotonic()
    answers = []
    while True:
        status = client.get("/v1/locations", headers=headers).status_code
        answers.append((time.monotonic() - revoked_at, status))
        if status == 401:
            break
        # The refresh delay, plus slack for a busy machine; a key ring that never read the
        # keys again would answer 200 for a minute.
        assert time.monotonic() - revoked_at < 0.3 + 1.5, answers
    assert answers[-1][0] <= 0.3 + 1.5


@pytest.mark.settings(api_key_refresh_ms=60_000)
def test_a_replaced_key_works_at_once_and_its_old_secret_stops_within_the_refresh_delay(client, runtime):
    _, old = api_keys.create_key(runtime.unit_of_work(write=True), name="ci", role="admin")
    assert client.get("/v1/locations", headers={"Authorization": f"Bearer {old}"}).status_code == 200
    _, new = api_keys.create_key(runtime.unit_of_work(write=True), name="ci", role="admin", replace=True)

    assert client.get("/v1/locations", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    # The old prefix is still in this process's ring until it reads the keys again.
    runtime.keys.refresh_seconds = 0
    assert client.get("/v1/locations", headers={"Authorization": f"Bearer {old}"}).status_code == 401


def test_a_wrong_secret_for_a_known_prefix_is_refused_from_memory(client, runtime):
    _, token = api_keys.create_key(runtime.unit_of_work(write=True), name="ops", role="admin")
    assert client.get("/v1/locations", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = client.get("/v1/locations", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401 and response.json["message"] == "unknown API key"


def unreachable_database():
    """A session factory for a PostgreSQL server that is not there: every connection is refused."""
    from promo.adapters.database import create_db_engine, create_session_factory
    from promo.config import load_settings

    return create_session_factory(create_db_engine(load_settings(
        {"database_url": "postgresql://promo@127.0.0.1:1/promo"}, environ={})))


def test_while_the_database_is_away_the_keys_held_keep_working_and_an_unknown_one_cannot_be_checked(runtime):
    from promo.adapters.database import DATABASE_DOWN
    from promo.services.unit_of_work import UnitOfWork

    _, till = api_keys.create_key(runtime.unit_of_work(write=True), name="till", role="channel")
    database = [runtime.session_factory]
    ring = api_keys.KeyRing(lambda: UnitOfWork(database[0]), refresh_seconds=0)    # reads again every time
    assert ring.authenticate(till) == ("till", Role.CHANNEL)
    _, kiosk = api_keys.create_key(runtime.unit_of_work(write=True), name="kiosk", role="channel")

    database[0] = unreachable_database()
    assert ring.authenticate(till) == ("till", Role.CHANNEL)          # the keys held
    with pytest.raises(DATABASE_DOWN):
        ring.authenticate(kiosk)                                       # created since: it cannot be checked
    with pytest.raises(AuthenticationFailed):
        ring.authenticate(till[:-4] + ("AAAA" if not till.endswith("AAAA") else "BBBB"))   # still checked

    database[0] = runtime.session_factory
    assert ring.authenticate(kiosk) == ("kiosk", Role.CHANNEL)


def test_a_key_ring_that_never_read_the_keys_fails_while_the_database_is_away(runtime):
    from promo.adapters.database import DATABASE_DOWN
    from promo.services.unit_of_work import UnitOfWork

    _, till = api_keys.create_key(runtime.unit_of_work(write=True), name="till", role="channel")
    away = unreachable_database()
    ring = api_keys.KeyRing(lambda: UnitOfWork(away), refresh_seconds=1)
    with pytest.raises(DATABASE_DOWN):
        ring.authenticate(till)
