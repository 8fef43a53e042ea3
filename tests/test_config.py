"""Settings: defaults, environment, overrides, and clear refusals."""

from __future__ import annotations

import pytest

from headwater.config import Settings
from headwater.errors import ConfigError


def test_precedence_is_flag_then_environment_then_default() -> None:
    env = {"HEADWATER_PORT": "9000", "HEADWATER_DB": "env.db"}
    settings = Settings.from_env({"port": 9100, "db": None}, environ=env)
    assert (settings.port, settings.db, settings.host) == (9100, "env.db", "127.0.0.1")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HEADWATER_PORT": "abc"}, "setting port (HEADWATER_PORT): expected int, got 'abc'"),
        ({"HEADWATER_WORKERS": "0"}, "setting workers must be at least 1, got 0"),
        ({"HEADWATER_MAX_FUTURE_SKEW_SECONDS": "-1"}, "must not be negative"),
        ({"HEADWATER_SQLITE_SYNCHRONOUS": "OFF"}, "sqlite_synchronous must be FULL"),
        ({"HEADWATER_LOG_LEVEL": "loud"}, "log_level must be DEBUG"),
        (
            {"HEADWATER_ACCESS_LOG": "maybe"},
            "setting access_log (HEADWATER_ACCESS_LOG): expected true or false, got 'maybe'",
        ),
        ({"HEADWATER_HEADER_TIMEOUT_SECONDS": "0"}, "header_timeout_seconds must be more than 0"),
    ],
)
def test_invalid_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env(environ=env)


@pytest.mark.parametrize(
    ("raw", "value"), [("true", True), ("ON", True), ("1", True), ("no", False), ("0", False)]
)
def test_switches_read_the_usual_spellings(raw: str, value: bool) -> None:
    # Issue 11: access_log and reuse_port are the first on/off settings.
    env = {"HEADWATER_ACCESS_LOG": raw, "HEADWATER_REUSE_PORT": raw}
    settings = Settings.from_env(environ=env)
    assert (settings.access_log, settings.reuse_port) == (value, value)


def test_database_urls() -> None:
    assert Settings(database_url="sqlite:///tmp/x.db").store == ("sqlite", "tmp/x.db")
    assert Settings(db="a.db").store == ("sqlite", "a.db")
    url = "postgresql://hw:secret@db:5432/hw"
    assert Settings(database_url=url).store == ("postgres", url)
    assert Settings(database_url=url).store_label == "postgresql://hw:***@db:5432/hw"
    with pytest.raises(ConfigError, match="expected postgresql://… or sqlite:///PATH"):
        _ = Settings(database_url="mysql://x").store


def test_worker_environment_round_trips() -> None:
    settings = Settings(port=9123, writer_max_wait_ms=1.5, access_log=False, reuse_port=True)
    assert Settings.from_env(environ=settings.as_env()) == settings
