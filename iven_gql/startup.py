"""Start-up errors an operator reads: one line naming the store (or setting), the cause and the
fix, never a traceback and never a password (`iven-gql: cannot start: …`)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from pydantic_settings import SettingsError

from iven_gql.config import redact_url

# MySQL server errors (and the client's own) that have a fix of their own
MYSQL_UNKNOWN_DATABASE = 1049
MYSQL_ACCESS_DENIED = (1044, 1045, 1698)
MYSQL_UNREACHABLE = (2002, 2003, 2005, 2006, 2013)
MONGODB_AUTH_FAILED = 18
CAUSE_CHARS = 160


class StartupError(RuntimeError):
    """A store, folder or setting that stops the process from starting; `str()` is the line."""


class StoreUnavailable(StartupError):
    """A store that cannot be reached or used."""


def cause(exc: BaseException) -> str:
    """The first line of an exception, short: driver messages can run to kilobytes (pymongo's
    topology description). Timeouts often carry no message: their name says it."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError) and not str(exc):
        return "timed out"
    orig = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    args: tuple[Any, ...] = getattr(orig, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):  # PyMySQL: (code, message)
        text = str(args[1])
    else:
        text = str(orig) or type(orig).__name__
    text = text.splitlines()[0] if text.strip() else type(orig).__name__
    text = text.split(" (configured timeouts", 1)[0].split(", Timeout: ", 1)[0]
    return text if len(text) <= CAUSE_CHARS else text[: CAUSE_CHARS - 1] + "…"


def _error_code(exc: BaseException) -> int | None:
    orig = getattr(exc, "orig", None) or exc
    args: tuple[Any, ...] = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    code = getattr(orig, "code", None)
    return code if isinstance(code, int) else None


def _host(url: str, default_port: int) -> str:
    try:
        parts = urlsplit(url)
        return f"{parts.hostname or 'localhost'}:{parts.port or default_port}"
    except ValueError:
        return redact_url(url)


def sql_failure(url: str, exc: BaseException) -> StoreUnavailable:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1].split("?", 1)[0]
        return StoreUnavailable(
            f'SQLite database "{path}" cannot be opened ({cause(exc)}) — make its folder '
            "writable, or fix IVEN_DATABASE_URL / IVEN_VAR_DIR"
        )
    where = _host(url, 3306)
    database = urlsplit(url).path.lstrip("/") or "?"
    user = urlsplit(url).username or ""
    code = _error_code(exc)
    if code == MYSQL_UNKNOWN_DATABASE:
        return StoreUnavailable(
            f'MySQL database "{database}" does not exist on {where} — create it '
            f"(CREATE DATABASE {database}) or fix IVEN_DATABASE_URL"
        )
    if code in MYSQL_ACCESS_DENIED:
        return StoreUnavailable(
            f'MySQL on {where} refused user "{user}" for database "{database}" ({cause(exc)}) — '
            "fix the user or password in IVEN_DATABASE_URL, or grant it access"
        )
    if code in MYSQL_UNREACHABLE or isinstance(exc, OSError | TimeoutError | asyncio.TimeoutError):
        return StoreUnavailable(
            f"MySQL is not reachable on {where} ({cause(exc)}) — start it, or fix "
            f"IVEN_DATABASE_URL={redact_url(url)}"
        )
    return StoreUnavailable(
        f'MySQL database "{database}" on {where} failed ({type(exc).__name__}: {cause(exc)}) '
        "— check IVEN_DATABASE_URL"
    )


def migration_failure(url: str, exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(
        f"applying the migrations to {redact_url(url)} failed ({type(exc).__name__}: "
        f"{cause(exc)}) — fix the database, or set IVEN_RUN_MIGRATIONS_ON_START=false and run "
        "`iven-gql migrate` to see the migration at fault"
    )


def embedded_mongodb_failure(data: Path, exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(
        f'the embedded document store (briskdb) cannot start with its data in "{data}" '
        f"({cause(exc)}) — make IVEN_VAR_DIR writable, or set IVEN_MONGODB_URL"
    )


def mongodb_failure(url: str, exc: BaseException, *, embedded: bool) -> StoreUnavailable:
    if embedded:
        return StoreUnavailable(
            f"the embedded document store (briskdb) at {_host(url, 27017)} did not answer "
            f"({cause(exc)}) — retry with a longer IVEN_STORE_CONNECT_TIMEOUT_S, or set "
            "IVEN_MONGODB_URL"
        )
    if _error_code(exc) == MONGODB_AUTH_FAILED:
        return StoreUnavailable(
            f"MongoDB at {_host(url, 27017)} refused the credentials ({cause(exc)}) — fix "
            "the user or password in IVEN_MONGODB_URL"
        )
    return StoreUnavailable(
        f"MongoDB is not reachable at {_host(url, 27017)} ({cause(exc)}) — start it, or fix "
        f"IVEN_MONGODB_URL={redact_url(url)} (unset: an embedded briskdb listener, development "
        "only)"
    )


def mongodb_indexes_failure(url: str, exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(
        f"MongoDB at {_host(url, 27017)} answered, but creating its indexes failed "
        f"({type(exc).__name__}: {cause(exc)}) — check the user's rights on "
        "IVEN_MONGODB_DATABASE, or retry with a longer IVEN_STORE_CONNECT_TIMEOUT_S"
    )


def redis_failure(url: str, exc: BaseException) -> StoreUnavailable:
    if "auth" in type(exc).__name__.lower() or "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
        return StoreUnavailable(
            f"Redis at {_host(url, 6379)} refused the credentials ({cause(exc)}) — fix the "
            "password in IVEN_REDIS_URL"
        )
    return StoreUnavailable(
        f"Redis is not reachable at {_host(url, 6379)} ({cause(exc)}) — start it, or fix "
        f"IVEN_REDIS_URL={redact_url(url)} (unset: an in-process Redis, one process only)"
    )


def folder_failure(what: str, setting: str, exc: BaseException) -> StartupError:
    where = getattr(exc, "filename", None)
    place = f' "{where}"' if where else ""
    return StartupError(f"cannot write {what}{place} ({cause(exc)}) — make {setting} writable")


async def within(
    timeout: float, coro: Any, failure: Callable[[BaseException], StartupError]
) -> Any:
    """`coro`'s result, or `failure(exc)` raised when it fails or takes longer than `timeout`."""
    try:
        return await asyncio.wait_for(coro, timeout)
    except Exception as exc:  # noqa: BLE001 - any failure to reach a store means unavailable
        raise failure(exc) from None


SECRET_FIELDS = {"jwt_secret"}
URL_FIELDS = {"database_url", "mongodb_url", "redis_url", "smtp_url", "public_url"}
VALUE_CHARS = 60


def _shown(field: str, value: Any) -> str:
    """A bad value as the operator typed it, but never a secret or a URL's password."""
    if field in SECRET_FIELDS:
        return "(hidden)"
    text = redact_url(value) if field in URL_FIELDS and isinstance(value, str) else str(value)
    if len(text) > VALUE_CHARS:
        text = text[: VALUE_CHARS - 1] + "…"
    return f'"{text}"'


def settings_problems(error: ValidationError | SettingsError) -> list[str]:
    """One line per bad setting, named by its variable; the production refusal (about several
    settings together) gives one line per missing setting."""
    if isinstance(error, SettingsError):  # a value pydantic-settings could not even decode
        named = re.search(r'field "(\w+)"', str(error))
        variable = f"IVEN_{named.group(1).upper()}" if named else "a setting"
        return [
            f"{variable} cannot be decoded: a list or object setting takes JSON, e.g. "
            f'["https://app.example.com"] — fix {variable} (environment or .env)'
        ]
    lines: list[str] = []
    for problem in error.errors(include_url=False):
        message = str(problem["msg"]).removeprefix("Value error, ")
        loc = problem.get("loc") or ()
        if loc:
            field = str(loc[0])
            variable = f"IVEN_{field.upper()}"
            lines.append(
                f"{variable}={_shown(field, problem.get('input'))} is not valid: {message} — "
                f"fix {variable} (environment or .env)"
            )
            continue
        head, _, rest = message.partition(": ")
        parts = rest.split("; ") if rest else [message]
        lines.extend(f"{head}: {part}" if rest else part for part in parts)
    return lines
