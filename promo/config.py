"""Settings: config/default.toml, then the file named by PROMO_CONFIG, then PROMO_* variables.

Every setting is declared once, as a field of :class:`Settings`, and documented once, in
``config/default.toml``; the defaults live only in that file.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from typing import Any, Mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "config" / "default.toml"
ENV_PREFIX = "PROMO_"
ENVIRONMENTS = ("development", "test", "production")
INSECURE_SECRET_KEYS = {"dev-insecure-secret-change-me", "CHANGE-ME", ""}


class ConfigError(Exception):
    """A setting is missing or invalid; the message names it."""


@dataclasses.dataclass(frozen=True)
class Settings:
    env: str
    database_url: str
    secret_key: str
    model_dir: str
    max_request_bytes: int
    max_batch_items: int
    default_page_size: int
    max_page_size: int
    log_level: str
    pool_size: int
    pool_max_overflow: int
    sqlite_busy_timeout_ms: int
    sqlite_cache_mb: int
    stock_poll_interval_ms: int
    stock_max_lag_ms: int
    stock_max_wait_ms: int
    stock_positions_lag: int
    low_stock_threshold: int
    segment_new_days: int
    segment_lapsing_days: int
    segment_loyal_min_visits: int
    segment_loyal_visits_per_30_days: int
    segment_big_basket_value: int
    model_check_interval_ms: int
    campaign_watch_interval_ms: int
    api_key_refresh_ms: int
    serving_refresh_ms: int
    offer_audience_refresh_ms: int
    audience_warm_up: int
    exposure_flush_ms: int
    exposure_batch_size: int
    expose_worker_id: int
    recommendation_answer_cache: int
    redemption_hold_minutes: int
    code_guess_limit: int
    code_guess_window_s: int
    web_session_hours: int
    web_secure_cookies: int
    sign_in_attempt_limit: int
    sign_in_window_s: int
    api_rate_per_key: int
    api_burst_per_key: int
    webhook_sender_threads: int
    webhook_poll_interval_ms: int
    webhook_batch_size: int
    webhook_timeout_ms: int
    webhook_lease_ms: int
    webhook_max_attempts: int
    webhook_max_age_seconds: int
    webhook_backoff_base_ms: int
    webhook_backoff_max_ms: int

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def validate(self) -> "Settings":
        if self.env not in ENVIRONMENTS:
            raise ConfigError(f"setting 'env' must be one of {', '.join(ENVIRONMENTS)}, not {self.env!r}")
        if self.is_production and self.secret_key in INSECURE_SECRET_KEYS:
            raise ConfigError(
                "setting 'secret_key' must be set to a real secret in production "
                "(PROMO_SECRET_KEY or secret_key in the PROMO_CONFIG file)"
            )
        if self.is_production and len(self.secret_key) < 32:
            raise ConfigError("setting 'secret_key' must be at least 32 characters in production")
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise ConfigError("setting 'database_url' must be a sqlite:// or postgresql+psycopg:// URL")
        for name in ("max_request_bytes", "max_batch_items", "default_page_size", "max_page_size", "pool_size",
                     "stock_poll_interval_ms", "stock_max_lag_ms", "segment_new_days", "segment_lapsing_days",
                     "segment_loyal_min_visits", "segment_loyal_visits_per_30_days", "segment_big_basket_value",
                     "model_check_interval_ms", "stock_positions_lag", "sqlite_cache_mb", "campaign_watch_interval_ms",
                     "api_key_refresh_ms", "serving_refresh_ms", "offer_audience_refresh_ms", "exposure_flush_ms",
                     "exposure_batch_size", "redemption_hold_minutes", "code_guess_limit",
                     "code_guess_window_s", "web_session_hours", "sign_in_attempt_limit", "sign_in_window_s",
                     "webhook_poll_interval_ms", "webhook_batch_size", "webhook_timeout_ms",
                     "webhook_lease_ms", "webhook_max_attempts", "webhook_max_age_seconds",
                     "webhook_backoff_base_ms", "webhook_backoff_max_ms"):
            if getattr(self, name) < 1:
                raise ConfigError(f"setting {name!r} must be at least 1")
        if self.api_rate_per_key < 0 or self.api_burst_per_key < 1:
            raise ConfigError("setting 'api_rate_per_key' must not be negative (0: no limit), "
                              "'api_burst_per_key' at least 1")
        if self.stock_max_wait_ms < 0 or self.low_stock_threshold < 0:
            raise ConfigError("settings 'stock_max_wait_ms' and 'low_stock_threshold' must not be negative")
        for name in ("expose_worker_id", "recommendation_answer_cache", "web_secure_cookies", "audience_warm_up"):
            if getattr(self, name) not in (0, 1):
                raise ConfigError(f"setting {name!r} must be 0 or 1")
        if self.webhook_sender_threads < 0:
            raise ConfigError("setting 'webhook_sender_threads' must not be negative (0: this process sends none)")
        if self.webhook_lease_ms < 4 * self.webhook_timeout_ms:
            # A lease shorter than a send could let a second sender take a row still in flight.
            raise ConfigError("setting 'webhook_lease_ms' must be at least 4 times 'webhook_timeout_ms'")
        if self.webhook_backoff_base_ms > self.webhook_backoff_max_ms:
            raise ConfigError("setting 'webhook_backoff_base_ms' must not exceed 'webhook_backoff_max_ms'")
        if self.default_page_size > self.max_page_size:
            raise ConfigError("setting 'default_page_size' must not exceed 'max_page_size'")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(f"setting 'log_level' is not a logging level: {self.log_level!r}")
        return self


def _coerce(name: str, kind: type, raw: Any, source: str) -> Any:
    if kind is int:
        # A bool is an int to Python, and int() would silently truncate 2.5 (and crash on inf).
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ConfigError(f"setting {name!r} from {source} must be a whole number, not {raw!r}")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {name!r} from {source} must be a whole number, not {raw!r}") from None
    if not isinstance(raw, str):
        raise ConfigError(f"setting {name!r} from {source} must be a string, not {raw!r}")
    return raw


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build validated settings; ``overrides`` (used by tests) win over everything."""
    environ = os.environ if environ is None else environ
    fields = {f.name: f.type for f in dataclasses.fields(Settings)}
    kinds = {name: int if kind in ("int", int) else str for name, kind in fields.items()}

    layers: list[tuple[str, Mapping[str, Any]]] = [(str(DEFAULT_CONFIG_FILE), _read_toml(DEFAULT_CONFIG_FILE))]
    if environ.get("PROMO_CONFIG"):
        path = Path(environ["PROMO_CONFIG"])
        layers.append((str(path), _read_toml(path)))
    layers.append(("the environment", {
        name: environ[ENV_PREFIX + name.upper()] for name in fields if ENV_PREFIX + name.upper() in environ
    }))
    if overrides:
        layers.append(("overrides", overrides))

    values: dict[str, Any] = {}
    for source, layer in layers:
        for name, raw in layer.items():
            if name not in fields:
                raise ConfigError(f"unknown setting {name!r} in {source}")
            values[name] = _coerce(name, kinds[name], raw, source)
    missing = sorted(set(fields) - set(values))
    if missing:
        raise ConfigError(f"settings missing from {DEFAULT_CONFIG_FILE}: {', '.join(missing)}")
    return Settings(**values).validate()
