#!/usr/bin/env python
"""Throughput and latency of the IVEN `{ me { id username } }` against two baselines.

Run on demand (never part of the test suite), from the project's virtualenv:

    python bench/bench_me.py [--duration 10] [--connections 32] [--loops asyncio,uvloop]
                             [--only plain,strawberry,iven] [--generator auto|wrk|python]

Targets, each a separate uvicorn process with ONE worker, measured one at a time:
  plain       a plain Starlette app, one JSON POST endpoint (bench/plain_app.py), asyncio loop
  strawberry  a default Strawberry app, POST {"query": "{ __typename }"} (bench/strawberry_app.py)
  iven        `iven-gql serve --loop L` for each loop of --loops,
              POST {"query": "{ me { id username } }"} with `Authorization: Bearer <token>`
              of a user registered by this script

The IVEN server inherits the environment; IVEN_VAR_DIR, IVEN_DATABASE_URL and IVEN_UPLOADS_DIR
default to a temporary directory (embedded stores) when they are not set. It runs in that temporary
directory, so no project `.env` file is read. IVEN_SMTP_URL is removed from its environment: the
confirmation code is read from $IVEN_VAR_DIR/outbox/*.eml.

Load: wrk (-t2 -cN --latency, a Lua script for the POST body and headers) when it is on PATH, else
an asyncio generator in this process (N keep-alive HTTP/1.1 connections on asyncio streams;
httpx.AsyncClient was tried and its pool capped the rate near 250 req/s). A warm-up run
precedes each measurement. Every response is checked (status 200 and an expected substring); the
count of failures is printed as `bad`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench import harness
from bench.harness import BenchAbort, Result, Target

TARGETS = ("plain", "strawberry", "iven")
LOOPS = ("asyncio", "uvloop")
TARGET_RATIO = 3.5  # IVEN `me` req/s >= 3.5 x default Strawberry `{ __typename }` req/s
ME_QUERY = "{ me { id username } }"


# --------------------------------------------------------------------------- IVEN account


@dataclass
class Account:
    username: str
    email: str
    password: str
    registered: bool = False


def iven_token(url: str, account: Account, outbox: Path) -> str:
    if not account.registered:
        data = harness.graphql(
            url,
            """
            mutation($input: RegisterInput!) {
              register(input: $input) { user { id } errors { field code message } }
            }""",
            {
                "input": {
                    "username": account.username,
                    "email": account.email,
                    "password": account.password,
                    "firstName": "Bench",
                    "lastName": "Mark",
                }
            },
        )
        if data["register"]["errors"]:
            raise BenchAbort(f"register failed: {data['register']['errors']}")
        code = harness.read_code(outbox, account.email)
        data = harness.graphql(
            url,
            """
            mutation($input: ConfirmEmailInput!) {
              confirmEmail(input: $input) { accessToken errors { code message } }
            }""",
            {"input": {"email": account.email, "code": code}},
        )
        payload = data["confirmEmail"]
        account.registered = True
    else:  # a restarted server (the in-process Redis forgot the sessions): sign in again
        data = harness.graphql(
            url,
            """
            mutation($input: LoginInput!) {
              login(input: $input) { accessToken errors { code message } }
            }""",
            {"input": {"email": account.email, "password": account.password}},
        )
        payload = data["login"]
    if payload["errors"] or not payload["accessToken"]:
        raise BenchAbort(f"no access token: {payload}")
    return str(payload["accessToken"])


def check_me(url: str, token: str, username: str) -> None:
    status, raw = harness.http_post(
        url, json.dumps({"query": ME_QUERY}).encode(), {"Authorization": f"Bearer {token}"}
    )
    try:
        doc = json.loads(raw)
        got = doc["data"]["me"]["username"]
    except (ValueError, KeyError, TypeError):
        raise BenchAbort(
            f"`me` with the token is wrong: HTTP {status}, body {raw[:1000]!r}"
        ) from None
    if status != 200 or got != username or doc.get("errors"):
        raise BenchAbort(
            f"`me` with the token is wrong: HTTP {status}, body {raw[:1000]!r} "
            f"(expected username {username!r})"
        )


# --------------------------------------------------------------------------- environment


def iven_env(tmp: Path) -> tuple[dict[str, str], list[str]]:
    env = dict(os.environ)
    notes = []
    var = tmp / "var"
    var.mkdir(parents=True, exist_ok=True)
    (tmp / "uploads").mkdir(exist_ok=True)
    env.setdefault("IVEN_VAR_DIR", str(var))
    env.setdefault("IVEN_DATABASE_URL", f"sqlite+aiosqlite:///{var / 'iven.db'}")
    env.setdefault("IVEN_UPLOADS_DIR", str(tmp / "uploads"))
    if env.pop("IVEN_SMTP_URL", None):
        notes.append("IVEN_SMTP_URL removed for the bench (code read from the outbox)")
    return env, notes


def outbox_dir(env: dict[str, str], cwd: Path) -> Path:
    var = Path(env.get("IVEN_VAR_DIR", "./var"))
    return (var if var.is_absolute() else cwd / var) / "outbox"


def env_note(env: dict[str, str]) -> str:
    return (
        "IVEN server: "
        + ", ".join(f"{k}={env[k]}" for k in ("IVEN_DATABASE_URL", "IVEN_VAR_DIR") if k in env)
        + f", IVEN_MONGODB_URL={'set' if env.get('IVEN_MONGODB_URL') else 'embedded briskdb'}"
        + f", IVEN_REDIS_URL={'set' if env.get('IVEN_REDIS_URL') else 'in-process'}"
        + f", IVEN_LOG_LEVEL={env.get('IVEN_LOG_LEVEL', 'INFO (default)')}"
    )


# --------------------------------------------------------------------------- scenario


def measure_baselines(args: argparse.Namespace, tmp: Path) -> list[Result]:
    baselines = (
        ("plain", "plain_app", "plain Starlette JSON POST", b'{"query": "{ ok }"}', '"ok":true'),
        (
            "strawberry",
            "strawberry_app",
            "default Strawberry { __typename }",
            b'{"query": "{ __typename }"}',
            '"__typename":"Query"',
        ),
    )
    results = []
    for key, module, label, body, expect in baselines:
        if key not in args.only_list:
            continue
        port = harness.free_port()
        url = f"http://127.0.0.1:{port}/graphql"
        target = Target(key, label, "asyncio", url, body, {}, expect)
        server = harness.baseline_server(module, port, tmp / f"{key}.log")
        results.append(harness.measure(server, target, args, tmp))
    return results


def measure_iven(args: argparse.Namespace, tmp: Path, env_notes: list[str]) -> list[Result]:
    env, notes = iven_env(tmp)
    env_notes += [*notes, env_note(env)]
    suffix = secrets.token_hex(4)
    account = Account(
        f"bench_{suffix}", f"bench-{suffix}@example.com", f"bench-pass-{secrets.token_hex(8)}"
    )
    outbox = outbox_dir(env, tmp)
    results = []
    for loop in args.loop_list:
        port = harness.free_port()
        url = f"http://127.0.0.1:{port}/graphql"
        server = harness.iven_server(
            f"iven-gql serve --loop {loop}",
            port,
            env,
            tmp,
            tmp / f"iven-{loop}.log",
            "--loop",
            loop,
        )
        body = json.dumps({"query": ME_QUERY}).encode()
        expect = f'"username":"{account.username}"'
        target = Target("iven", "IVEN { me { id username } }", loop, url, body, {}, expect)

        def prepare(t: Target, url: str = url) -> None:
            token = iven_token(url, account, outbox)
            check_me(url, token, account.username)
            t.headers["Authorization"] = f"Bearer {token}"

        results.append(harness.measure(server, target, args, tmp, prepare, ready_timeout=90.0))
    return results


def report(
    results: list[Result], args: argparse.Namespace, generator_info: str, env_notes: list[str]
) -> None:
    harness.print_header(generator_info, args, env_notes)
    harness.print_results(results, harness.Columns(label=34, rps=10, bad=6))
    by = {(r.key, r.loop): r for r in results}
    plain = by.get(("plain", "asyncio"))
    straw = by.get(("strawberry", "asyncio"))
    print()
    print("ratios (req/s):")
    for loop in args.loop_list:
        me = by.get(("iven", loop))
        if me is None:
            continue
        if straw is not None and straw.rps:
            ratio = me.rps / straw.rps
            print(
                f"  IVEN me [{loop}] / default Strawberry __typename: {ratio:6.2f}x   "
                f"target >= {TARGET_RATIO}x: {harness.verdict(ratio, TARGET_RATIO)}"
            )
        if plain is not None and plain.rps:
            print(f"  IVEN me [{loop}] / plain Starlette:               {me.rps / plain.rps:6.2f}x")
    if straw is not None and plain is not None and plain.rps:
        print(
            f"  default Strawberry / plain Starlette:                {straw.rps / plain.rps:6.2f}x"
        )
    if straw is None or not any(("iven", loop) in by for loop in args.loop_list):
        print("  (the PASS/FAIL line needs both `strawberry` and `iven` in --only)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_load_options(p)
    p.add_argument(
        "--loops",
        default="asyncio,uvloop",
        help="event loops for the IVEN server, comma separated (asyncio,uvloop)",
    )
    p.add_argument(
        "--only",
        default=",".join(TARGETS),
        help="targets to run, comma separated: plain,strawberry,iven (all)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = p.parse_args(argv)
    args.loop_list = [x.strip() for x in args.loops.split(",") if x.strip()]
    args.only_list = [x.strip() for x in args.only.split(",") if x.strip()]
    for loop in args.loop_list:
        if loop not in LOOPS:
            p.error(f"--loops: unknown loop {loop!r} (choose from {', '.join(LOOPS)})")
    for key in args.only_list:
        if key not in TARGETS:
            p.error(f"--only: unknown target {key!r} (choose from {', '.join(TARGETS)})")
    if args.duration < 1 or args.connections < 1:
        p.error("--duration and --connections must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    generator_info = harness.choose_generator(args, "bench_me")
    tmp = harness.work_dir("iven-bench-")
    results: list[Result] = []
    env_notes: list[str] = []
    print(f"bench_me: {generator_info}; temporary directory {tmp}")
    try:
        results += measure_baselines(args, tmp)
        if "iven" in args.only_list:
            results += measure_iven(args, tmp, env_notes)
    except BenchAbort as exc:
        print(f"\nbench_me: ABORTED: {exc}", file=sys.stderr)
        if results:
            report(results, args, generator_info, env_notes)
        print(f"(logs kept in {tmp})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nbench_me: interrupted (logs in {tmp})", file=sys.stderr)
        return 130
    report(results, args, generator_info, env_notes)
    if args.keep:
        print(f"\nlogs and wrk outputs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
