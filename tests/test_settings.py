"""Settings are checked when the process starts: a bad rate spec, URL or log level is refused
at once, naming the setting, instead of failing on the first request that uses it."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from iven_gql.config import Settings


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


def test_serve_stops_at_once_on_a_bad_setting(tmp_path: object) -> None:
    env = {**os.environ, "IVEN_RATE_LOGIN_IP": "fifty", "IVEN_VAR_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "iven_gql.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert "configuration error" in proc.stderr and "rate_login_ip" in proc.stderr
