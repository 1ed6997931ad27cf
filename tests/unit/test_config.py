"""Settings: config/default.toml, then PROMO_CONFIG, then PROMO_* variables, then overrides."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from promo.config import DEFAULT_CONFIG_FILE, ConfigError, Settings, load_settings

REAL_SECRET = "a-real-secret-that-is-long-enough-for-production"


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "promo.toml"
    path.write_text(text)
    return str(path)


def test_defaults_come_from_the_default_file():
    defaults = tomllib.loads(DEFAULT_CONFIG_FILE.read_text())

    settings = load_settings(environ={})

    assert isinstance(settings, Settings)
    assert settings.env == defaults["env"] == "development"
    assert settings.database_url == defaults["database_url"]
    assert settings.max_batch_items == defaults["max_batch_items"]
    assert settings.max_page_size == defaults["max_page_size"]


def test_the_default_file_documents_every_setting_and_nothing_else():
    defaults = tomllib.loads(DEFAULT_CONFIG_FILE.read_text())

    assert set(defaults) == {field for field in Settings.__dataclass_fields__}


def test_a_promo_config_file_layers_on_top_of_the_defaults(tmp_path):
    path = write_config(tmp_path, 'max_batch_items = 50\nmodel_dir = "/srv/models"\n')

    settings = load_settings(environ={"PROMO_CONFIG": path})

    assert settings.max_batch_items == 50
    assert settings.model_dir == "/srv/models"
    # What the file does not name keeps its default.
    assert settings.max_page_size == load_settings(environ={}).max_page_size


def test_an_environment_variable_wins_over_the_config_file(tmp_path):
    path = write_config(tmp_path, 'database_url = "sqlite:///from-file.db"\n')

    settings = load_settings(environ={"PROMO_CONFIG": path, "PROMO_DATABASE_URL": "sqlite:///from-env.db"})

    assert settings.database_url == "sqlite:///from-env.db"


@pytest.mark.parametrize(("variable", "setting", "value"), [
    ("PROMO_DATABASE_URL", "database_url", "postgresql+psycopg://promo@db.example:5432/promo"),
    ("PROMO_SECRET_KEY", "secret_key", "s3cret-from-the-environment"),
    ("PROMO_MODEL_DIR", "model_dir", "/var/lib/promo/models"),
    ("PROMO_ENV", "env", "test"),
])
def test_a_promo_variable_overrides_its_one_setting(variable, setting, value):
    defaults = load_settings(environ={})

    settings = load_settings(environ={variable: value})

    assert getattr(settings, setting) == value
    others = {name for name in Settings.__dataclass_fields__ if name != setting}
    assert {name: getattr(settings, name) for name in others} == {name: getattr(defaults, name) for name in others}


def test_explicit_overrides_win_over_the_environment():
    settings = load_settings({"max_batch_items": 7}, environ={"PROMO_MAX_BATCH_ITEMS": "9"})

    assert settings.max_batch_items == 7


def test_whole_numbers_from_the_environment_become_integers():
    settings = load_settings(environ={"PROMO_MAX_BATCH_ITEMS": "250", "PROMO_POOL_SIZE": "3"})

    assert settings.max_batch_items == 250 and isinstance(settings.max_batch_items, int)
    assert settings.pool_size == 3


def test_a_bad_whole_number_in_the_environment_is_an_error_naming_the_setting():
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"PROMO_MAX_BATCH_ITEMS": "lots"})

    message = str(caught.value)
    assert "'max_batch_items'" in message
    assert "the environment" in message
    assert "'lots'" in message


@pytest.mark.parametrize("line", ['max_page_size = "many"', "max_page_size = true", "max_page_size = 2.5"])
def test_a_bad_whole_number_in_a_file_is_an_error_naming_the_setting_and_the_file(tmp_path, line):
    path = write_config(tmp_path, line + "\n")

    with pytest.raises(ConfigError, match="'max_page_size'") as caught:
        load_settings(environ={"PROMO_CONFIG": path})

    assert path in str(caught.value)


def test_a_whole_number_written_in_exponent_form_in_a_file_is_accepted(tmp_path):
    path = write_config(tmp_path, "max_batch_items = 2e3\n")

    assert load_settings(environ={"PROMO_CONFIG": path}).max_batch_items == 2000


def test_a_string_setting_given_a_number_in_a_file_is_an_error(tmp_path):
    path = write_config(tmp_path, "secret_key = 12345\n")

    with pytest.raises(ConfigError, match="'secret_key'.*must be a string"):
        load_settings(environ={"PROMO_CONFIG": path})


def test_an_unknown_setting_in_a_file_is_an_error_naming_it(tmp_path):
    path = write_config(tmp_path, 'max_batch_items = 10\ncolour = "blue"\n')

    with pytest.raises(ConfigError, match="unknown setting 'colour'") as caught:
        load_settings(environ={"PROMO_CONFIG": path})

    assert path in str(caught.value)


def test_a_promo_config_naming_a_missing_file_is_an_error(tmp_path):
    missing = str(tmp_path / "nowhere.toml")

    with pytest.raises(ConfigError, match="config file not found") as caught:
        load_settings(environ={"PROMO_CONFIG": missing})

    assert missing in str(caught.value)


def test_a_promo_config_file_that_is_not_toml_is_an_error(tmp_path):
    path = write_config(tmp_path, "max_batch_items = = 3\n")

    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(environ={"PROMO_CONFIG": path})


def test_promo_variables_that_are_not_settings_are_ignored():
    # The test harness itself sets PROMO_TEST_DATABASE_URL and PROMO_PG_URL.
    settings = load_settings(environ={"PROMO_TEST_DATABASE_URL": "x", "PROMO_PG_URL": "y"})

    assert settings == load_settings(environ={})


def test_production_with_the_default_secret_key_refuses_with_a_one_line_message():
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"PROMO_ENV": "production"})

    message = str(caught.value)
    assert "'secret_key'" in message
    assert "PROMO_SECRET_KEY" in message
    assert "\n" not in message


def test_production_with_the_example_files_placeholder_secret_refuses(tmp_path):
    example = DEFAULT_CONFIG_FILE.parent / "production.example.toml"

    with pytest.raises(ConfigError, match="'secret_key'"):
        load_settings(environ={"PROMO_CONFIG": str(example)})


def test_production_with_a_short_secret_key_refuses():
    with pytest.raises(ConfigError, match="at least 32 characters"):
        load_settings(environ={"PROMO_ENV": "production", "PROMO_SECRET_KEY": "short-but-not-default"})


def test_production_with_a_real_secret_key_starts():
    settings = load_settings(environ={"PROMO_ENV": "production", "PROMO_SECRET_KEY": REAL_SECRET})

    assert settings.is_production
    assert settings.secret_key == REAL_SECRET


def test_the_default_secret_key_is_accepted_outside_production():
    assert load_settings(environ={"PROMO_ENV": "development"}).secret_key == "dev-insecure-secret-change-me"


def test_an_invalid_env_value_is_an_error_listing_the_choices():
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"PROMO_ENV": "staging"})

    message = str(caught.value)
    assert "'env'" in message and "'staging'" in message
    assert "development, test, production" in message


@pytest.mark.parametrize(("environ", "named"), [
    ({"PROMO_DATABASE_URL": "mysql://promo@localhost/promo"}, "'database_url'"),
    ({"PROMO_MAX_BATCH_ITEMS": "0"}, "'max_batch_items'"),
    ({"PROMO_STOCK_POSITIONS_LAG": "0"}, "'stock_positions_lag'"),
    ({"PROMO_DEFAULT_PAGE_SIZE": "500", "PROMO_MAX_PAGE_SIZE": "100"}, "'default_page_size'"),
    ({"PROMO_LOG_LEVEL": "LOUD"}, "'log_level'"),
    ({"PROMO_WEBHOOK_LEASE_MS": "10000", "PROMO_WEBHOOK_TIMEOUT_MS": "5000"}, "'webhook_lease_ms'"),
    ({"PROMO_WEBHOOK_SENDER_THREADS": "-1"}, "'webhook_sender_threads'"),
    ({"PROMO_WEBHOOK_MAX_ATTEMPTS": "0"}, "'webhook_max_attempts'"),
    ({"PROMO_WEBHOOK_BACKOFF_BASE_MS": "5000", "PROMO_WEBHOOK_BACKOFF_MAX_MS": "1000"}, "'webhook_backoff_base_ms'"),
])
def test_values_that_break_a_rule_are_errors_naming_the_setting(environ, named):
    with pytest.raises(ConfigError, match=named):
        load_settings(environ=environ)
