"""The `iven-gql` command: migrate, export-schema, create-admin, serve (run as real processes):
start-up errors as one line, a clean exit on SIGTERM/SIGINT, IVEN_VAR_DIR isolation, --help."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from iven_gql import startup
from iven_gql.cli import build_parser
from iven_gql.config import Settings
from schema import SDL_PATH
from stores.migrations.runner import alembic_config
from tests.support.processes import START_DEADLINE_S


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iven_gql.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def fresh_env(tmp_path: Path) -> dict[str, str]:
    return {
        "IVEN_VAR_DIR": str(tmp_path / "var"),
        "IVEN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "IVEN_UPLOADS_DIR": str(tmp_path / "uploads"),
        "IVEN_JWT_SECRET": "cli-test-secret-0123456789abcdef0123",
        "IVEN_MONGODB_URL": "",
        "IVEN_REDIS_URL": "",
        # the embedded briskdb listener starts with the command: on a busy two-core machine
        # that can take longer than the default 5 s (as in the settings fixture)
        "IVEN_STORE_CONNECT_TIMEOUT_S": "60",
    }


def test_migrate_and_export_schema(fresh_env, tmp_path):
    migrated = run_cli("migrate", env=fresh_env)
    assert migrated.returncode == 0, migrated.stderr

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert f"revision {head}" in migrated.stdout
    again = run_cli("migrate", env=fresh_env)  # idempotent
    assert again.returncode == 0, again.stderr

    out = tmp_path / "schema.graphql"
    exported = run_cli("export-schema", "--output", str(out), env=fresh_env)
    assert exported.returncode == 0, exported.stderr
    assert out.read_text() == SDL_PATH.read_text()


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_one_line(result: subprocess.CompletedProcess[str], *parts: str) -> str:
    """A start-up error: a non-zero exit and exactly one line on stderr, holding `parts`."""
    assert result.returncode != 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("iven-gql: cannot start: "), line
    assert "Traceback" not in line and "\\n" not in line
    for part in parts:
        assert part in line, line
    return line


def test_migrate_reports_an_unreachable_database(fresh_env):
    env = {
        **fresh_env,
        "IVEN_DATABASE_URL": f"mysql+aiomysql://root:pw123@127.0.0.1:{closed_port()}/x",
        "IVEN_STORE_CONNECT_TIMEOUT_S": "1",
    }
    line = assert_one_line(
        run_cli("migrate", env=env), "MySQL is not reachable", "IVEN_DATABASE_URL"
    )
    assert "pw123" not in line


def test_serve_with_an_unreachable_redis_says_so_in_one_line(fresh_env):
    port = closed_port()
    env = {**fresh_env, "IVEN_REDIS_URL": f"redis://:hunter2@127.0.0.1:{port}/0"}
    line = assert_one_line(
        run_cli("serve", "--port", "0", env=env),
        f"Redis is not reachable at 127.0.0.1:{port}",
        "start it, or fix IVEN_REDIS_URL",
    )
    assert "hunter2" not in line


def test_serve_with_an_unreachable_mongodb_says_so_in_one_line(fresh_env):
    port = closed_port()
    env = {
        **fresh_env,
        "IVEN_MONGODB_URL": f"mongodb://app:s3cret@127.0.0.1:{port}/",
        "IVEN_STORE_CONNECT_TIMEOUT_S": "1",
    }
    line = assert_one_line(
        run_cli("serve", "--port", "0", env=env),
        f"MongoDB is not reachable at 127.0.0.1:{port}",
        "fix IVEN_MONGODB_URL",
    )
    assert "s3cret" not in line


@pytest.mark.skipif(
    os.environ.get("IVEN_TEST_BACKEND") != "services", reason="needs the services backend set"
)
def test_serve_on_a_missing_mysql_database_names_it_and_the_fix(fresh_env):
    server = os.environ.get("IVEN_TEST_MYSQL_URL", "mysql+aiomysql://root@127.0.0.1:3306")
    name = f"iven_missing_{uuid.uuid4().hex[:8]}"
    env = {**fresh_env, "IVEN_DATABASE_URL": f"{server.rstrip('/')}/{name}"}
    assert_one_line(
        run_cli("serve", "--port", "0", env=env),
        f'MySQL database "{name}" does not exist',
        f"create it (CREATE DATABASE {name}) or fix IVEN_DATABASE_URL",
    )


def test_bad_settings_are_one_line_each_naming_the_variable(fresh_env):
    env = {
        **fresh_env,
        "IVEN_RATE_LOGIN_IP": "fifty",
        "IVEN_SMTP_URL": "mailto:x@example.com",
        "IVEN_DATABASE_URL": "postgres://iven:pw123@db/iven",
    }
    result = run_cli("serve", "--port", "0", env=env)
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 3, result.stderr
    for line, variable in zip(
        sorted(lines), ["IVEN_DATABASE_URL", "IVEN_RATE_LOGIN_IP", "IVEN_SMTP_URL"], strict=True
    ):
        assert line.startswith(f"iven-gql: cannot start: {variable}="), line
        assert f"fix {variable}" in line
    assert "pw123" not in result.stderr and "Traceback" not in result.stderr


def test_create_admin(fresh_env):
    env = {**fresh_env, "IVEN_ADMIN_PASSWORD": "admin-password-1"}
    assert run_cli("migrate", env=env).returncode == 0
    made = run_cli("create-admin", "--email", "Boss@Example.com", "--username", "boss", env=env)
    assert made.returncode == 0, made.stderr
    assert "admin account ready: boss <boss@example.com>" in made.stdout
    weak = run_cli(
        "create-admin",
        "--email",
        "x@example.com",
        "--username",
        "xx",
        env={**env, "IVEN_ADMIN_PASSWORD": "short"},
    )
    assert weak.returncode == 1 and "Traceback" not in weak.stderr


def test_production_refuses_to_start_with_defaults(fresh_env):
    env = {k: v for k, v in fresh_env.items() if k != "IVEN_JWT_SECRET"}
    result = run_cli("serve", "--port", "1", env={**env, "IVEN_ENV": "production"})
    assert result.returncode != 0
    assert "refusing to start in production" in result.stderr


def test_rebuild_projections_and_the_standalone_dispatcher(fresh_env):
    assert run_cli("migrate", env=fresh_env).returncode == 0
    rebuilt = run_cli("rebuild-projections", env=fresh_env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt 0 user and 0 event snapshots" in rebuilt.stdout

    proc = subprocess.Popen(
        [sys.executable, "-m", "iven_gql.cli", "dispatcher"],
        env={**os.environ, **fresh_env},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120  # generous: a busy machine is slow
        lines = []
        assert proc.stderr is not None
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if "outbox dispatcher running" in line or not line:
                break
        assert any("outbox dispatcher running" in line for line in lines), lines
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_migrations_build_exactly_the_models(fresh_env, tmp_path):
    """What `migrate` creates is what the SQLModel tables declare (tables, columns, indexes)."""

    assert run_cli("migrate", env=fresh_env).returncode == 0
    engine = create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    assert diff == []


@contextlib.contextmanager
def serving(
    env: dict[str, str], cwd: Path, log: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A real `iven-gql serve` process with only the IVEN_* settings in `env`, ready (GET
    /readyz answered 200); killed if still running at the end."""
    port = closed_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "iven_gql.cli", "serve", "--port", str(port)],
            env={**{k: v for k, v in os.environ.items() if not k.startswith("IVEN_")}, **env},
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the server did not become ready"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for(condition: object, what: str, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


REGISTER = """mutation {
  register(input: {username: "alice", email: "alice@example.com", password: "correct-horse-9",
                   firstName: "Alice", lastName: "Liddell"}) { errors { code } }
}"""


def test_servers_with_their_own_var_dir_share_nothing_and_stop_cleanly_on_a_signal(tmp_path):
    """Two servers told only IVEN_VAR_DIR (no database URL, uploads folder or secret) keep every
    local file under their own var dir, none under the working directory; SIGTERM and SIGINT
    stop each with exit 0 and the shutdown logged."""
    env = {"IVEN_LOG_LEVEL": "INFO", "IVEN_STORE_CONNECT_TIMEOUT_S": "60"}
    one, two = tmp_path / "one", tmp_path / "two"
    logs = {one: tmp_path / "one.log", two: tmp_path / "two.log"}
    with (
        serving({**env, "IVEN_VAR_DIR": str(one)}, tmp_path, logs[one]) as (first, first_url),
        serving({**env, "IVEN_VAR_DIR": str(two)}, tmp_path, logs[two]) as (second, second_url),
    ):
        for url in (first_url, second_url):
            answer = httpx.post(f"{url}/graphql", json={"query": REGISTER}, timeout=60)
            # the same username on both: their databases are not one
            assert answer.json()["data"]["register"]["errors"] == [], answer.text
        for var in (one, two):
            wait_for(lambda var=var: list((var / "outbox").glob("*.eml")), f"no mail in {var}")
        first.send_signal(signal.SIGTERM)
        second.send_signal(signal.SIGINT)
        assert first.wait(timeout=60) == 0, logs[one].read_text()[-3000:]
        assert second.wait(timeout=60) == 0, logs[two].read_text()[-3000:]

    for var, stop in ((one, "SIGTERM"), (two, "SIGINT")):
        for local in ("iven.db", "briskdb", "jwt-secret", "outbox", "uploads"):
            assert (var / local).exists(), f"{local} is not under {var}"
        log = logs[var].read_text()
        assert f'"msg": "shutting down", "signal": "{stop}"' in log, log[-3000:]
        assert f'"msg": "server stopped", "signal": "{stop}"' in log, log[-3000:]
        assert "Traceback" not in log
    assert (one / "jwt-secret").read_text() != (two / "jwt-secret").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "one.log", "two", "two.log"]


COMMANDS = [
    "serve",
    "migrate",
    "export-schema",
    "create-admin",
    "dispatcher",
    "rebuild-projections",
    "sweep-uploads",
    "briskdb",
]


def test_help_lists_every_setting_with_its_variable_and_default():
    shown = run_cli("--help", env={}, timeout=60)
    assert shown.returncode == 0, shown.stderr
    for name, info in Settings.model_fields.items():
        assert info.description, f"{name} has no description (the string under its field)"
        assert f"IVEN_{name.upper()} (default: " in shown.stdout, name
    assert "IVEN_STORE_CONNECT_TIMEOUT_S (default: 5.0)" in shown.stdout
    assert "IVEN_DATABASE_URL (default: sqlite+aiosqlite:///./var/iven.db)" in shown.stdout
    assert "IVEN_MONGODB_URL (default: unset)" in shown.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_help_shows_its_defaults_and_settings(command):
    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    sub = commands.choices[command]
    text = sub.format_help()
    for action in sub._actions:
        if action.default not in (None, False, "==SUPPRESS==") and action.option_strings:
            assert f"default: {action.default}" in text, (command, action.dest)
    if command == "export-schema":
        assert "IVEN_" not in text  # it reads no setting
    else:
        assert "IVEN_VAR_DIR (default: ./var)" in text
    if command in ("serve", "dispatcher", "create-admin"):
        assert "IVEN_REDIS_URL (default: unset)" in text


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (1049, "Unknown database 'iven'", 'MySQL database "iven" does not exist on db:3307'),
        (1045, "Access denied for user 'app'@'x'", 'MySQL on db:3307 refused user "app"'),
        (2003, "Can't connect to MySQL server on 'db'", "MySQL is not reachable on db:3307"),
    ],
)
def test_mysql_failures_name_the_cause_and_the_fix(code, message, expected):
    """What the server says for each MySQL answer: the driver's error (code, message), wrapped
    by SQLAlchemy (the services run checks the first against a real server)."""
    url = "mysql+aiomysql://app:pw123@db:3307/iven"
    wrapped = OperationalError("SELECT 1", None, Exception(code, message))
    line = str(startup.sql_failure(url, wrapped))
    assert line.startswith(expected), line
    assert "IVEN_DATABASE_URL" in line and "pw123" not in line and "SELECT" not in line
