#!/usr/bin/env python
"""Anonymous `articles(first: 20)` on MariaDB: served from the Redis read cache against read
from MySQL every time, in the same run.

Run on demand (never part of the test suite), from the project's virtualenv, with MariaDB/MySQL
and Redis running:

    python bench/bench_articles.py [--duration 10] [--connections 32] [--articles 60]
                                   [--generator auto|wrk|python] [--keep]

What it does:
  1. a fresh database (--database, default iven_bench_articles) on --mysql-url, the Redis db of
     --redis-url (default db 13) flushed, a briskdb listener (`iven-gql briskdb`) on a free port;
  2. starts the server (this script with --serve: `create_app` under uvicorn, one worker, asyncio,
     httptools, as `iven-gql serve` does) with the article cache switched off
     (`deps.state["article_cache_off"]`, resolvers/articles.py), creates an admin
     (`iven-gql create-admin`), signs in and seeds through the GraphQL API: --articles articles
     with ~3 KB Markdown bodies (headings, lists, links, code, a table) and 1-3 tags each, each
     published;
  3. checks the answer (20 articles, no errors), prints the SQL statements of one request from
     the server's JSON log line, and measures it: (a) uncached;
  4. restarts the server with the cache on (the same stores), checks the same answer and that a
     second request sends no SQL, and measures: (b) cached;
  5. prints both rates and (b) / (a) with an informational PASS/FAIL for >= 3x (exit code 0
     either way; 1 if the bench itself could not run), then drops the database and flushes the
     Redis db (unless --keep).

Load generation, server handling and result parsing come from bench_me.py (wrk when on PATH,
else its asyncio HTTP/1.1 client in this process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_event_page import (
    flush_redis,
    generator,
    operation_lines,
    recreate_database,
    server_errors,
    sql_url,
    wait_port,
)
from bench.harness import (
    PY,
    WARMUP_S,
    BenchAbort,
    Result,
    Server,
    Target,
    fmt,
    free_port,
    graphql,
    http_post,
    iven_command,
    measure,
)

TARGET_RATIO = 3.0  # cached req/s >= 3 x uncached req/s
PAGE = 20
LIST_QUERY = """query Articles { articles(first: 20) { edges { node {
  id slug title summary bodyHtml tags publishedAt } } } }"""
TAGS = ["release", "events", "security", "mobile", "tips", "community", "api", "design"]
WORDS = [
    "event",
    "friends",
    "weekend",
    "budget",
    "share",
    "expense",
    "photo",
    "album",
    "chat",
    "invite",
    "schedule",
    "plan",
    "trip",
    "dinner",
    "picnic",
    "concert",
    "hiking",
    "beach",
    "museum",
    "ticket",
    "reminder",
    "notification",
    "update",
    "privacy",
    "location",
    "upload",
    "settle",
    "balance",
    "organizer",
    "participant",
    "calendar",
    "timezone",
    "release",
    "feature",
    "improvement",
    "performance",
    "cache",
    "database",
    "server",
    "client",
    "offline",
]


# --------------------------------------------------------------------------- the server


def serve(port: int, cache: bool, loop: str = "asyncio") -> int:
    """The IVEN app under uvicorn as `iven-gql serve` runs it (one worker), with the article
    cache on or off."""
    import uvicorn

    from iven_gql.app import create_app
    from iven_gql.config import Settings
    from iven_gql.logs import configure
    from resolvers.article_cache import CACHE_OFF

    settings = Settings()
    configure(settings.log_level)
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            loop=loop,
            http="httptools",
            ws="websockets-sansio",
            log_config=None,
            access_log=False,
            lifespan="on",
        )
    )

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started:
            app.state.deps.state[CACHE_OFF] = not cache
            print(f"article cache {'on' if cache else 'off'}", flush=True)
        await task

    if loop == "uvloop":
        import uvloop

        uvloop.run(run())
    else:
        asyncio.run(run())
    return 0


def iven_env(tmp: Path, args: argparse.Namespace, mongo_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("IVEN_SMTP_URL", None)
    env.update(
        {
            "IVEN_DATABASE_URL": sql_url(args.mysql_url, args.database),
            "IVEN_REDIS_URL": args.redis_url,
            "IVEN_MONGODB_URL": f"mongodb://127.0.0.1:{mongo_port}/?maxPoolSize=4",
            "IVEN_VAR_DIR": str(tmp / "var"),
            "IVEN_UPLOADS_DIR": str(tmp / "uploads"),
            "IVEN_RUN_MIGRATIONS_ON_START": "true",
        }
    )
    env.setdefault("IVEN_LOG_LEVEL", "INFO")  # the operation line carries the statement count
    (tmp / "var").mkdir(parents=True, exist_ok=True)
    (tmp / "uploads").mkdir(exist_ok=True)
    return env


# --------------------------------------------------------------------------- seeding (API)


def markdown_body(rng: random.Random, n: int) -> str:
    """About 3 KB of Markdown: what a news article looks like."""

    def sentence() -> str:
        words = rng.choices(WORDS, k=rng.randint(8, 16))
        return " ".join(words).capitalize() + "."

    def paragraph() -> str:
        text = " ".join(sentence() for _ in range(rng.randint(3, 5)))
        return text.replace(" cache ", " **cache** ", 1).replace(" plan ", " *plan* ", 1)

    parts = [
        f"## What changed in release {n}",
        paragraph(),
        paragraph(),
        "### Highlights",
        "\n".join(f"- {sentence()}" for _ in range(4)),
        (
            f"Read the [documentation](https://iven.example/docs/{n}) or "
            f"[write to us](mailto:team@iven.example)."
        ),
        paragraph(),
        "```python\nquery = client.articles(first=20)\nfor a in query:\n    print(a.title)\n```",
        "| Feature | Status |\n| --- | --- |\n| Chat | ~~beta~~ stable |\n| Albums | new |",
        "### Next",
        paragraph(),
        f"> {sentence()}",
    ]
    body = "\n\n".join(parts)
    while len(body) < 2900:
        body += "\n\n" + paragraph()
    return body


def seed(url: str, env: dict[str, str], tmp: Path, count: int) -> tuple[float, int]:
    """An admin (`iven-gql create-admin`, then `login`) and `count` published articles."""
    start = time.perf_counter()
    suffix = secrets.token_hex(3)
    email, password = f"bench-admin-{suffix}@example.com", "bench-pass-" + secrets.token_hex(8)
    made = subprocess.run(
        [*iven_command(), "create-admin", "--email", email, "--username", f"bench_admin_{suffix}"],
        env={**env, "IVEN_ADMIN_PASSWORD": password},
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if made.returncode != 0:
        raise BenchAbort(f"create-admin failed ({made.returncode}):\n{made.stdout}\n{made.stderr}")
    login = graphql(
        url,
        """mutation($input: LoginInput!) { login(input: $input) {
        accessToken errors { code message } } }""",
        {"input": {"email": email, "password": password}},
    )["login"]
    if login["errors"] or not login["accessToken"]:
        raise BenchAbort(f"login failed: {login}")
    auth = {"Authorization": f"Bearer {login['accessToken']}"}
    rng = random.Random(7)
    size = 0
    for n in range(count):
        body = markdown_body(rng, n)
        size += len(body)
        created = graphql(
            url,
            """mutation($input: CreateArticleInput!) {
            createArticle(input: $input) { article { id } errors { code field message } } }""",
            {
                "input": {
                    "title": f"IVEN news {n}: {' '.join(rng.choices(WORDS, k=4))}",
                    "summary": " ".join(rng.choices(WORDS, k=25)),
                    "body": body,
                    "tags": rng.sample(TAGS, rng.randint(1, 3)),
                }
            },
            auth,
        )["createArticle"]
        if created["errors"]:
            raise BenchAbort(f"createArticle failed: {created['errors']}")
        published = graphql(
            url,
            """mutation($id: ID!) { publishArticle(input: {id: $id}) {
            article { status } errors { code message } } }""",
            {"id": created["article"]["id"]},
            auth,
        )["publishArticle"]
        if published["errors"] or published["article"]["status"] != "PUBLISHED":
            raise BenchAbort(f"publishArticle failed: {published}")
    return time.perf_counter() - start, size // max(1, count)


# --------------------------------------------------------------------------- checks


def logged_request(target: Target, log_path: Path) -> tuple[bytes, dict[str, Any] | None]:
    """One list request, checked; with the server's operation log line for it."""
    offset = log_path.stat().st_size if log_path.exists() else 0
    status, raw = http_post(target.url, target.body, target.headers, timeout=30)
    try:
        doc = json.loads(raw)
        edges = doc["data"]["articles"]["edges"]
    except (ValueError, KeyError, TypeError):
        raise BenchAbort(f"wrong answer (HTTP {status}): {raw[:1000]!r}") from None
    if status != 200 or doc.get("errors") or len(edges) != PAGE:
        raise BenchAbort(f"wrong answer (HTTP {status}, {len(edges)} articles): {raw[:1000]!r}")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        found = [e for e in operation_lines(log_path, offset) if e.get("operation") == "Articles"]
        if found:
            return raw, found[-1]
        time.sleep(0.05)
    return raw, None


def statements(line: dict[str, Any] | None) -> str:
    if line is None:
        return "no log line"
    return f"{line.get('statements')} SQL statements, {line.get('duration_ms')} ms"


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=10, help="seconds per measurement (10)")
    p.add_argument("--connections", type=int, default=32, help="concurrent connections (32)")
    p.add_argument("--articles", type=int, default=60, help="published articles seeded (60)")
    p.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop of the IVEN server (asyncio)",
    )
    p.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk if on PATH (auto), or bench_me's asyncio one",
    )
    p.add_argument(
        "--mysql-url",
        default=os.environ.get("IVEN_BENCH_MYSQL_URL", "mysql+aiomysql://root@127.0.0.1:3306"),
        help="server URL without a database (mysql+aiomysql://root@127.0.0.1:3306)",
    )
    p.add_argument(
        "--database",
        default="iven_bench_articles",
        help="database to (re)create (iven_bench_articles)",
    )
    p.add_argument(
        "--redis-url",
        default=os.environ.get("IVEN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
        help="Redis database, flushed first (redis://127.0.0.1:6379/13)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the database, the Redis data and the temporary directory (logs)",
    )
    p.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    p.add_argument("--no-cache", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.duration < 1 or args.connections < 1 or args.articles < PAGE:
        p.error(f"--duration and --connections must be positive, --articles at least {PAGE}")
    return args


def report(
    results: list[Result], args: argparse.Namespace, generator_info: str, notes: list[str]
) -> None:
    print()
    print(
        f"generator: {generator_info}; warm-up {WARMUP_S} s; measured {args.duration} s; "
        f"{args.connections} connections"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}; one uvicorn worker, one server at a time"
    )
    for note in notes:
        print(f"note: {note}")
    print()
    head = (
        f"{'target':<40} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'non-2xx':>8} {'sock err':>8} {'bad':>5}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r.label:<40} {r.rps:>9,.0f} {fmt(r.p50_ms):>8} {fmt(r.p99_ms):>8} "
            f"{fmt(r.max_ms, 1):>8} {r.non_2xx:>8} {r.socket_errors:>8} "
            f"{(r.bad if r.bad >= 0 else '-')!s:>5}"
            + (f"  {'; '.join(r.notes)}" if r.notes else "")
        )
    by = {r.key: r for r in results}
    uncached, cached = by.get("uncached"), by.get("cached")
    if uncached is not None and cached is not None and uncached.rps:
        ratio = cached.rps / uncached.rps
        verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
        print(
            f"\nratio cached / uncached (req/s): {ratio:.2f}x   target >= {TARGET_RATIO}x: "
            f"{verdict}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        return serve(args.serve, cache=not args.no_cache, loop=args.loop)
    generator_info = generator(args)
    tmp = Path(tempfile.mkdtemp(prefix="iven-bench-articles-"))
    print(f"bench_articles: {generator_info}; temporary directory {tmp}")
    results: list[Result] = []
    notes: list[str] = []
    listener: Server | None = None
    database_made = False
    failed = False
    try:
        recreate_database(args.mysql_url, args.database)
        database_made = True
        flush_redis(args.redis_url)
        mongo_port = free_port()
        listener = Server(
            "briskdb listener",
            [
                *iven_command(),
                "briskdb",
                "--host",
                "127.0.0.1",
                "--port",
                str(mongo_port),
                "--data",
                str(tmp / "briskdb"),
            ],
            dict(os.environ),
            tmp,
            tmp / "briskdb.log",
        )
        listener.start()
        wait_port(listener, mongo_port)
        env = iven_env(tmp, args, mongo_port)
        notes.append(
            f"stores: {env['IVEN_DATABASE_URL']}, {env['IVEN_REDIS_URL']}; "
            f"IVEN_LOG_LEVEL={env['IVEN_LOG_LEVEL']}"
        )
        body = json.dumps({"query": LIST_QUERY, "operationName": "Articles"}).encode()
        expected: dict[str, bytes] = {}

        for key, cache in (("uncached", False), ("cached", True)):
            port = free_port()
            log_path = tmp / f"iven-{key}.log"
            argv = [PY, str(Path(__file__).resolve()), "--serve", str(port), "--loop", args.loop]
            server = Server(
                f"IVEN ({key})", argv + ([] if cache else ["--no-cache"]), env, tmp, log_path
            )
            target = Target(
                key,
                f"IVEN articles(first: 20), {key}",
                args.loop,
                f"http://127.0.0.1:{port}/graphql",
                body,
                {},
                '"publishedAt"',
            )

            def prepare(t: Target, key: str = key, log_path: Path = log_path) -> None:
                if key == "uncached":
                    try:
                        seconds, average = seed(t.url, env, tmp, args.articles)
                    except BenchAbort as exc:
                        errors = server_errors(log_path)
                        raise BenchAbort(
                            f"{exc}\n--- server errors ---\n{errors}" if errors else str(exc)
                        ) from exc
                    notes.append(
                        f"seeded {args.articles} published articles through the API "
                        f"in {seconds:.1f} s (Markdown bodies of {average:,} "
                        f"characters on average)"
                    )
                first, line1 = logged_request(t, log_path)
                second, line2 = logged_request(t, log_path)
                if first != second or expected.setdefault("body", first) != first:
                    raise BenchAbort(f"{key}: answers differ between requests or servers")
                notes.append(
                    f"{key}: first request {statements(line1)}; second request "
                    f"{statements(line2)}; answer {len(first):,} bytes"
                )
                if key == "cached" and line2 is not None and line2.get("statements") != 0:
                    raise BenchAbort(f"the cached server still sent SQL: {line2}")
                # every measured answer must end like the verified one (complete answers)
                t.expect = first[-80:].decode()

            results.append(measure(server, target, args, tmp, prepare, ready_timeout=120.0))
    except BenchAbort as exc:
        failed = True
        print(f"\nbench_articles: ABORTED: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        failed = True
        print("\nbench_articles: interrupted", file=sys.stderr)
    finally:
        if listener is not None:
            listener.stop()
        if not args.keep and database_made:
            for cleanup in (
                lambda: recreate_database(args.mysql_url, args.database, create=False),
                lambda: flush_redis(args.redis_url),
            ):
                try:
                    cleanup()
                except BenchAbort as exc:
                    print(f"bench_articles: {exc}", file=sys.stderr)
    if results or not failed:
        report(results, args, generator_info, notes)
    if failed or args.keep:
        print(
            f"\nlogs kept in {tmp}"
            + (f"; database {args.database} kept" if args.keep and database_made else "")
        )
        return 1 if failed else 0
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
