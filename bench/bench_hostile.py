#!/usr/bin/env python
"""Hostile requests (issue 15) against one IVEN server: does anyone else still get an answer?

Run on demand (never part of the test suite), from the project's virtualenv:

    python bench/bench_hostile.py [--duration 10] [--documents 10000] [--only fan_out,...]

One `iven-gql serve` process (one worker, embedded stores in a temporary directory). First a probe
alone measures `{ __typename }` (a signed-in probe user: its cost budget is not the attacker's) for
--duration seconds: the latency at rest. Then, for each attack, one attacker connection sends the
attack in a loop for --duration seconds while the probe measures again. It prints per attack the
attacker's requests and answer code, the probe's p50/p99 and p99 under attack / p99 at rest
(target <= 3x). Last, the server's RSS before and after --documents unique valid documents of
about 130 tokens each (target: <= start + 64 MB).

Attacks: fan_out (1: fragments spread twice, 40 levels, anonymous), introspection (2: 10 aliased
deep `__schema`), nodes (4: 30 aliases x `nodes(ids: [one event x100])`), unique (5: unique
~1,300-token documents), duplicates (5: `{ me { id x1990 } }`), too_many_ids (4: 101 ids).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench import harness
from bench.harness import Api, BenchAbort, NewUser

TARGET_RATIO = 3.0
RSS_TARGET_MB = 64
PROBE = {"query": "{ __typename }"}


def fan_out(levels: int) -> str:
    spreads = " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    return f"query {{ ...F0 }} {spreads} fragment F{levels} on Query {{ __typename }}"


TYPE_REF = "kind name ofType { kind name ofType { kind name ofType { kind name } } }"
INTROSPECTION = (
    "{ "
    + " ".join(
        f"a{i}: __schema {{ types {{ name fields {{ name args {{ name type {{ {TYPE_REF} }} }} "
        f"type {{ {TYPE_REF} }} }} }} }}"
        for i in range(10)
    )
    + " }"
)
NODES_SELECTION = (
    "... on Event { id title participants { edges { node { id } } } "
    "tasks { edges { node { id title } } } albums { id } }"
)
NODES = (
    "query($ids: [ID!]!) { "
    + " ".join(f"a{i}: nodes(ids: $ids) {{ {NODES_SELECTION} }}" for i in range(30))
    + " }"
)


def unique_document(n: int) -> str:
    """About 1,300 tokens, valid, unique by its aliases (a 4.9 KB-class document)."""
    return "{ " + " ".join(f"u{n}_{i}: __typename" for i in range(30)) + " me { id } " * 300 + "}"


@dataclass
class Attack:
    key: str
    label: str
    body: Callable[[int], dict[str, Any]]
    token: str | None = None


def attacks(event_id: str, token: str) -> list[Attack]:
    ids = [event_id] * 100
    return [
        Attack("fan_out", "1 fragment fan-out x40", lambda n: {"query": fan_out(40)}),
        Attack("introspection", "2 introspection x10 aliases", lambda n: {"query": INTROSPECTION}),
        Attack(
            "nodes",
            "4 30 aliases x nodes(ids x100)",
            lambda n: {"query": NODES, "variables": {"ids": ids}},
            token,
        ),
        Attack(
            "too_many_ids",
            "4 nodes(ids x101)",
            lambda n: {
                "query": "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
                "variables": {"ids": [*ids, event_id]},
            },
            token,
        ),
        Attack("unique", "5 unique documents", lambda n: {"query": unique_document(n)}),
        Attack(
            "duplicates",
            "5 { me { id x1990 } }",
            lambda n: {"query": "{ me { " + "id " * 1990 + "} }"},
            token,
        ),
    ]


def code_of(response: httpx.Response) -> str:
    try:
        doc = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    errors = doc.get("errors") or []
    if errors:
        return str(errors[0].get("extensions", {}).get("code", "?"))
    return "ok" if response.status_code == 200 else f"HTTP {response.status_code}"


async def probe(url: str, token: str, stop: asyncio.Event) -> list[float]:
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=120) as client:
        while not stop.is_set():
            started = time.perf_counter()
            response = await client.post(url, json=PROBE, headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200 or '"Query"' not in response.text:
                raise BenchAbort(f"probe answered HTTP {response.status_code}: {response.text}")
    return latencies


async def attacker(url: str, attack: Attack, stop: asyncio.Event) -> tuple[int, dict[str, int]]:
    codes: dict[str, int] = {}
    sent = 0
    headers = {"Authorization": f"Bearer {attack.token}"} if attack.token else {}
    async with httpx.AsyncClient(timeout=600) as client:
        while not stop.is_set():
            response = await client.post(url, json=attack.body(sent), headers=headers)
            sent += 1
            code = code_of(response)
            codes[code] = codes.get(code, 0) + 1
    return sent, codes


async def measured(
    url: str, token: str, seconds: float, attack: Attack | None
) -> tuple[list[float], int, dict[str, int]]:
    stop = asyncio.Event()
    probing = asyncio.create_task(probe(url, token, stop))
    attacking = asyncio.create_task(attacker(url, attack, stop)) if attack else None
    await asyncio.sleep(seconds)
    stop.set()
    latencies = await probing
    # the attacker's last request may still be running: that is part of what is measured
    sent, codes = await attacking if attacking else (0, {})
    return latencies, sent, codes


def flood_document(n: int) -> str:
    """Valid and unique, about 130 tokens: each one is parsed, validated and cached."""
    return "{ " + " ".join(f"d{n}_{i}: __typename" for i in range(30)) + " me { id } }"


async def flood(url: str, count: int) -> None:
    queue = iter(range(count))
    async with httpx.AsyncClient(timeout=120) as client:

        async def worker() -> None:
            for n in queue:
                await client.post(url, json={"query": flood_document(n)})

        await asyncio.gather(*(worker() for _ in range(4)))


async def scenario(args: argparse.Namespace, url: str, outbox: Path, pid: int) -> None:
    api = Api(url, label="seed")
    try:
        suffix = secrets.token_hex(3)
        tokens = []
        for who in ("attacker", "probe"):
            user = NewUser(
                f"{who}_{suffix}",
                f"{who}-{suffix}@example.com",
                "pass-" + secrets.token_hex(8),
                "Bench",
                who.title(),
            )
            tokens.append(await harness.register_user(api, outbox, user))
        event = await api.gql(
            """mutation($input: CreateEventInput!) { createEvent(input: $input) {
                 event { id } errors { code message } } }""",
            {
                "input": {
                    "title": "Bench",
                    "startsAt": "2030-06-01T12:00:00Z",
                    "endsAt": "2030-06-01T18:00:00Z",
                    "currency": "EUR",
                    "timezone": "UTC",
                }
            },
            tokens[0],
            key="createEvent",
        )
    finally:
        await api.aclose()
    attacker_token, probe_token = tokens
    chosen = [a for a in attacks(event["event"]["id"], attacker_token) if a.key in args.only_list]

    rest, _, _ = await measured(url, probe_token, args.duration, None)
    rest_p50, rest_p99 = harness.pct(rest, 50), harness.pct(rest, 99)
    rows = []
    for attack in chosen:
        latencies, sent, codes = await measured(url, probe_token, args.duration, attack)
        rows.append((attack, latencies, sent, codes))

    print()
    print(f"probe at rest: {len(rest)} requests, p50 {rest_p50:.2f} ms, p99 {rest_p99:.2f} ms")
    print()
    head = (
        f"{'attack':<32} {'sent':>6} {'answers':<26} {'probe p50':>9} {'probe p99':>9} "
        f"{'p99 / rest':>10}  target <= {TARGET_RATIO:.0f}x"
    )
    print(head)
    print("-" * len(head))
    for attack, latencies, sent, codes in rows:
        p50, p99 = harness.pct(latencies, 50), harness.pct(latencies, 99)
        ratio = p99 / rest_p99 if rest_p99 else float("nan")
        answers = ", ".join(f"{k} {v}" for k, v in sorted(codes.items()))
        print(
            f"{attack.label:<32} {sent:>6} {answers:<26.26} {p50:>9.2f} {p99:>9.2f} "
            f"{ratio:>9.2f}x  {'PASS' if ratio <= TARGET_RATIO else 'FAIL'}"
        )

    if args.documents:
        before = harness.rss_kb(pid)
        started = time.perf_counter()
        await flood(url, args.documents)
        after = harness.rss_kb(pid)
        grown = (after - before) / 1024
        print()
        print(
            f"RSS: {before / 1024:.1f} MB before, {after / 1024:.1f} MB after {args.documents:,} "
            f"unique documents ({time.perf_counter() - started:.1f} s): +{grown:.1f} MB, "
            f"target <= +{RSS_TARGET_MB} MB: {'PASS' if grown <= RSS_TARGET_MB else 'FAIL'}"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10, help="seconds per phase (10)")
    p.add_argument("--documents", type=int, default=10_000, help="unique documents for RSS")
    keys = "fan_out,introspection,nodes,too_many_ids,unique,duplicates"
    p.add_argument("--only", default=keys, help=f"attacks, comma separated ({keys})")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = p.parse_args(argv)
    args.only_list = [x.strip() for x in args.only.split(",") if x.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = harness.work_dir("iven-hostile-")
    var = tmp / "var"
    var.mkdir(parents=True, exist_ok=True)
    (tmp / "uploads").mkdir(exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if k != "IVEN_SMTP_URL"},
        "IVEN_VAR_DIR": str(var),
        "IVEN_DATABASE_URL": f"sqlite+aiosqlite:///{var / 'iven.db'}",
        "IVEN_UPLOADS_DIR": str(tmp / "uploads"),
        "IVEN_LOG_LEVEL": "WARNING",
        "IVEN_STORE_CONNECT_TIMEOUT_S": "60",  # a loaded machine starts the stores slowly
    }
    port = harness.free_port()
    url = f"http://127.0.0.1:{port}/graphql"
    server = harness.iven_server("iven-gql serve", port, env, tmp, tmp / "iven.log")
    print(f"bench_hostile: one IVEN server, temporary directory {tmp}")
    try:
        server.start()
        server.wait_ready(url, json.dumps(PROBE).encode(), {}, timeout=90)
        asyncio.run(scenario(args, url, var / "outbox", server.pid))
    except BenchAbort as exc:
        print(f"\nbench_hostile: ABORTED: {exc}\n{server.log_tail()}", file=sys.stderr)
        return 1
    finally:
        server.stop()
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
