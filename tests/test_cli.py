"""The `iven-gql` command: migrate, export-schema, create-admin (run as real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlmodel import SQLModel

from schema import SDL_PATH
from stores.migrations.runner import alembic_config


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


def test_migrate_reports_an_unreachable_database(fresh_env):
    env = {
        **fresh_env,
        "IVEN_DATABASE_URL": "mysql+aiomysql://root:pw123@127.0.0.1:1/x",
        "IVEN_STORE_CONNECT_TIMEOUT_S": "1",
    }
    result = run_cli("migrate", env=env)
    assert result.returncode == 1
    assert "migration failed" in result.stderr and "pw123" not in result.stderr
    assert "Traceback" not in result.stderr


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
