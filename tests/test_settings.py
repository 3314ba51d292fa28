"""Settings are checked when the process starts: a bad rate spec, URL or log level is refused
at once, naming the setting, instead of failing on the first request that uses it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from iven_gql.config import Settings
from iven_gql.startup import settings_problems


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("rate_login_ip", "10-900"),
        ("rate_chat_send", "0/10"),
        ("rate_register_email", "5/"),
        ("redis_url", "http://127.0.0.1:6379"),
        ("mongodb_url", "127.0.0.1:27017"),
        ("database_url", "postgres://db/iven"),
        ("smtp_url", "mailto:x@example.com"),
        ("public_url", "ftp://iven.test"),
        ("log_level", "loud"),
    ],
)
def test_a_bad_value_is_refused_naming_the_setting(setting: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        fields: dict[str, Any] = {setting: value}  # any one setting, by name
        Settings(**fields)
    assert caught.value.errors()[0]["loc"] == (setting,)


def test_good_values_are_kept() -> None:
    settings = Settings(
        rate_chat_send="5/10",
        log_level="debug",
        redis_url="rediss://cache:6380/2",
        mongodb_url="mongodb+srv://cluster.example/iven",
        database_url="mysql+aiomysql://root@127.0.0.1/iven",
        smtp_url="",
    )
    assert settings.log_level == "DEBUG"
    assert settings.rate_chat_send == "5/10"
    assert settings.smtp_url is None


def test_var_dir_moves_the_default_database_and_uploads(tmp_path):
    moved = Settings(var_dir=tmp_path / "v", _env_file=None)
    assert moved.database_url == f"sqlite+aiosqlite:///{tmp_path / 'v' / 'iven.db'}"
    assert moved.uploads_dir == tmp_path / "v" / "uploads"
    kept = Settings(
        var_dir=tmp_path / "v", uploads_dir=tmp_path / "u", database_url="", _env_file=None
    )
    assert kept.uploads_dir == tmp_path / "u"
    assert kept.database_url == moved.database_url  # empty is unset
    default = Settings(_env_file=None)
    assert default.database_url == "sqlite+aiosqlite:///./var/iven.db"
    assert default.uploads_dir == Path("uploads")  # the zero-configuration layout is kept


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("IVEN_RATE_LOGIN_IP", "fifty", 'IVEN_RATE_LOGIN_IP="fifty" is not valid: '),
        ("IVEN_REDIS_URL", "http://u:pw123@cache:6379", 'IVEN_REDIS_URL="http://u:***@cache'),
        ("IVEN_CORS_ORIGINS", "[not json", 'IVEN_CORS_ORIGINS="[not json" is not valid: '),
    ],
)
def test_a_bad_variable_is_one_line_naming_it(monkeypatch, variable, value, expected):
    monkeypatch.setenv(variable, value)
    with pytest.raises((ValidationError, SettingsError)) as caught:
        Settings(_env_file=None)
    error = caught.value
    assert isinstance(error, ValidationError | SettingsError)
    [line] = settings_problems(error)
    assert line.startswith(expected) and line.endswith(f"fix {variable} (environment or .env)")
    assert "pw123" not in line


def test_the_production_refusal_is_one_line_per_missing_setting(monkeypatch):
    monkeypatch.setenv("IVEN_ENV", "production")
    monkeypatch.setenv("IVEN_JWT_SECRET", "too-short-secret")
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)
    lines = settings_problems(caught.value)
    assert len(lines) == 5 and all(
        line.startswith("refusing to start in production") for line in lines
    )
    assert any("IVEN_PUBLIC_URL" in line for line in lines)
    assert "too-short-secret" not in "".join(lines)
