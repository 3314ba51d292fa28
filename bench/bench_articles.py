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
     (`deps.services.article_cache_off`, resolvers/article_cache.py), creates an admin
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

Load generation, server handling and result parsing come from bench/harness.py (wrk when on
PATH, else its asyncio HTTP/1.1 client in this process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench import harness
from bench.harness import BenchAbort, Result, Target
from iven_gql.app import create_app
from iven_gql.config import Settings
from iven_gql.logs import configure

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
            app.state.deps.services.article_cache_off = not cache
            print(f"article cache {'on' if cache else 'off'}", flush=True)
        await task

    if loop == "uvloop":
        import uvloop  # noqa: PLC0415  optional (the bench extra), only with --loop uvloop

        uvloop.run(run())
    else:
        asyncio.run(run())
    return 0


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
        [
            *harness.iven_command(),
            "create-admin",
            "--email",
            email,
            "--username",
            f"bench_admin_{suffix}",
        ],
        env={**env, "IVEN_ADMIN_PASSWORD": password},
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if made.returncode != 0:
        raise BenchAbort(f"create-admin failed ({made.returncode}):\n{made.stdout}\n{made.stderr}")
    login = harness.graphql(
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
        created = harness.graphql(
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
        published = harness.graphql(
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
    status, raw, line = harness.logged_post(target, log_path, "Articles")
    try:
        doc = json.loads(raw)
        edges = doc["data"]["articles"]["edges"]
    except (ValueError, KeyError, TypeError):
        raise BenchAbort(f"wrong answer (HTTP {status}): {raw[:1000]!r}") from None
    if status != 200 or doc.get("errors") or len(edges) != PAGE:
        raise BenchAbort(f"wrong answer (HTTP {status}, {len(edges)} articles): {raw[:1000]!r}")
    return raw, line


def statements(line: dict[str, Any] | None) -> str:
    if line is None:
        return "no log line"
    return f"{line.get('statements')} SQL statements, {line.get('duration_ms')} ms"


# --------------------------------------------------------------------------- scenario


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_load_options(p)
    p.add_argument("--articles", type=int, default=60, help="published articles seeded (60)")
    p.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop of the IVEN server (asyncio)",
    )
    harness.add_store_options(p, "iven_bench_articles", redis_db=13)
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
    harness.print_header(
        generator_info, args, notes, servers="one uvicorn worker, one server at a time"
    )
    harness.print_results(results, harness.Columns(label=40, rps=9, bad=5, loop=False))
    by = {r.key: r for r in results}
    uncached, cached = by.get("uncached"), by.get("cached")
    if uncached is not None and cached is not None and uncached.rps:
        ratio = cached.rps / uncached.rps
        print(
            f"\nratio cached / uncached (req/s): {ratio:.2f}x   target >= {TARGET_RATIO}x: "
            f"{harness.verdict(ratio, TARGET_RATIO)}"
        )


class Scenario:
    """The uncached server (seeds the articles), then the cached one, on the same stores."""

    def __init__(self, args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> None:
        self.args = args
        self.tmp = tmp
        self.env = env
        self.notes: list[str] = []
        self.expected: dict[str, bytes] = {}
        self.body = json.dumps({"query": LIST_QUERY, "operationName": "Articles"}).encode()

    def seed(self, url: str, log_path: Path) -> None:
        try:
            seconds, average = seed(url, self.env, self.tmp, self.args.articles)
        except BenchAbort as exc:
            raise harness.with_server_errors(exc, log_path) from exc
        self.notes.append(
            f"seeded {self.args.articles} published articles through the API "
            f"in {seconds:.1f} s (Markdown bodies of {average:,} "
            f"characters on average)"
        )

    def check(self, t: Target, key: str, log_path: Path) -> None:
        first, line1 = logged_request(t, log_path)
        second, line2 = logged_request(t, log_path)
        if first != second or self.expected.setdefault("body", first) != first:
            raise BenchAbort(f"{key}: answers differ between requests or servers")
        self.notes.append(
            f"{key}: first request {statements(line1)}; second request "
            f"{statements(line2)}; answer {len(first):,} bytes"
        )
        if key == "cached" and line2 is not None and line2.get("statements") != 0:
            raise BenchAbort(f"the cached server still sent SQL: {line2}")
        # every measured answer must end like the verified one (complete answers)
        t.expect = first[-80:].decode()

    def measure(self, key: str, cache: bool) -> Result:
        port = harness.free_port()
        log_path = self.tmp / f"iven-{key}.log"
        argv = [harness.PY, str(Path(__file__).resolve()), "--serve", str(port)]
        argv += ["--loop", self.args.loop] + ([] if cache else ["--no-cache"])
        server = harness.Server(f"IVEN ({key})", argv, self.env, self.tmp, log_path)
        url = f"http://127.0.0.1:{port}/graphql"
        label = f"IVEN articles(first: 20), {key}"
        target = Target(key, label, self.args.loop, url, self.body, {}, '"publishedAt"')

        def prepare(t: Target) -> None:
            if key == "uncached":
                self.seed(t.url, log_path)
            self.check(t, key, log_path)

        return harness.measure(server, target, self.args, self.tmp, prepare, ready_timeout=120.0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        return serve(args.serve, cache=not args.no_cache, loop=args.loop)
    generator_info = harness.choose_generator(args, "bench_articles")
    tmp = harness.work_dir("iven-bench-articles-")
    print(f"bench_articles: {generator_info}; temporary directory {tmp}")
    results: list[Result] = []
    notes: list[str] = []
    services = harness.Services(
        "bench_articles", args.mysql_url, args.database, args.redis_url, tmp
    )
    failed = False
    try:
        services.open()
        env = services.env()
        env.setdefault("IVEN_LOG_LEVEL", "INFO")  # the operation line carries the statement count
        notes.append(
            f"stores: {env['IVEN_DATABASE_URL']}, {env['IVEN_REDIS_URL']}; "
            f"IVEN_LOG_LEVEL={env['IVEN_LOG_LEVEL']}"
        )
        scenario = Scenario(args, tmp, env)
        scenario.notes = notes
        for key, cache in (("uncached", False), ("cached", True)):
            results.append(scenario.measure(key, cache))
    except BenchAbort as exc:
        failed = True
        print(f"\nbench_articles: ABORTED: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        failed = True
        print("\nbench_articles: interrupted", file=sys.stderr)
    finally:
        services.close(args.keep)
    if results or not failed:
        report(results, args, generator_info, notes)
    if failed or args.keep:
        print(
            f"\nlogs kept in {tmp}"
            + (f"; database {args.database} kept" if args.keep and services.database_made else "")
        )
        return 1 if failed else 0
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
