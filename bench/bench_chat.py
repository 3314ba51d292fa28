#!/usr/bin/env python
"""Live chat fan-out: many `chatEvents` subscribers on one event, over two server processes.

Run on demand (never part of the test suite), from the project's virtualenv, with MariaDB/MySQL
and Redis running:

    python bench/bench_chat.py [--subscribers 1000] [--rate 10] [--messages 200]
                               [--leak-events 2000] [--compression] [--keep]

What it does:
  1. a fresh database (--database, default iven_bench_chat), Redis db of --redis-url flushed, a
     briskdb MongoDB listener; two `iven-gql serve` processes (one worker each) sharing them;
  2. seeds through the API: --users users (register + confirmEmail), one event, all joined;
  3. measures each server's RSS, then opens --subscribers sockets (half on each server, in two
     client processes, users taken in turn), each subscribing to
     `chatEvents { ... on MessageAdded { cursor message { id body author { displayName } } } }`;
     a probe message received by every socket proves they are all live;
  4. RSS again: server memory per idle subscribed socket;
  5. latency: --messages messages through `sendMessage` at --rate per second, alternating the
     two servers. For each delivery: receive time - time the change's PUBLISH reached Redis (seen
     by a subscriber of this script: publish -> receive), receive time - time the sender got the
     mutation's answer, and receive time - time the send started (end to end, including the
     document writes on the stand-in). Checks that every socket got every message once, in
     sending order;
  6. memory growth: --leak-events more changes published straight on the event's Redis channel
     (as `sendMessage` does, at --leak-rate per second), each rendered and delivered to every
     socket, then RSS again: growth per socket per 1,000 delivered events;
  7. prints the figures, stops everything, drops the database (unless --keep).

The document store is the briskdb stand-in: its latency is not what is measured (the rendering
reads the author's snapshot once per change and process, not per subscriber). Clients, servers,
Redis, MariaDB and the listener share the machine's CPUs: the figures are an upper bound of what
the server adds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import websockets
from bson import ObjectId
from strawberry.relay import GlobalID

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench import harness
from bench.harness import Api, BenchAbort, Server, pct
from resolvers.chat_feed import channel
from stores.db import utcnow

PASSWORD = "bench-pass-" + secrets.token_hex(8)
SUBSCRIPTION = """subscription($id: ID!) { chatEvents(eventId: $id) { __typename
  ... on MessageAdded { cursor message { id body author { displayName } } } } }"""


# --------------------------------------------------------------------------- client process


def record(raw: str | bytes, mine: list[list[Any]]) -> None:
    """Notes a MessageAdded (id, body, time) or anything unexpected ("!", frame, time)."""
    at = time.time()
    message = json.loads(raw)
    payload = message.get("payload") or {}
    event = (payload.get("data") or {}).get("chatEvents") or {}
    if event.get("__typename") == "MessageAdded":
        mine.append([event["message"]["id"], event["message"]["body"], at])
    elif message.get("type") != "next" or payload.get("errors"):
        mine.append(["!", json.dumps(message)[:200], at])


async def subscribe(ws: Any, token: str, event_id: str) -> None:
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    )
    ack = json.loads(await ws.recv())
    if ack.get("type") != "connection_ack":
        raise RuntimeError(f"no ack: {ack}")
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": SUBSCRIPTION, "variables": {"id": event_id}},
            }
        )
    )


@dataclass
class Clients:
    """The sockets of one client process and what each received."""

    spec: dict[str, Any]
    received: list[list[Any]] = field(default_factory=list)
    opened: int = 0

    async def one(self, index: int, token: str) -> None:
        mine = self.received[index]
        try:
            async with websockets.connect(
                self.spec["ws_url"],
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                compression="deflate" if self.spec["compression"] else None,
                max_queue=None,
                ping_interval=None,
                open_timeout=60,
            ) as ws:
                await subscribe(ws, token, self.spec["event_id"])
                self.opened += 1
                async for raw in ws:
                    record(raw, mine)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported in the results
            mine.append(["!", f"{type(exc).__name__}: {exc}", time.time()])


async def client_main(args: argparse.Namespace) -> None:
    """Opens sockets, records (socket, message id, time) for each MessageAdded until SIGTERM."""
    spec = json.loads(Path(args.client_spec).read_text())
    clients = Clients(spec, [[] for _ in spec["tokens"]])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    tasks = []
    for i, token in enumerate(spec["tokens"]):
        tasks.append(asyncio.ensure_future(clients.one(i, token)))
        if i % 50 == 49:
            await asyncio.sleep(0.2)
    while clients.opened < len(spec["tokens"]) and not stop.is_set():
        if all(t.done() for t in tasks):
            break
        await asyncio.sleep(0.1)
    Path(spec["ready"]).write_text(str(clients.opened))
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    Path(spec["out"]).write_text(json.dumps(clients.received))


# --------------------------------------------------------------------------- orchestration


SEND = """mutation($input: SendMessageInput!) { sendMessage(input: $input) {
  message { id } errors { code message } } }"""


def start_clients(
    args: argparse.Namespace, tmp: Path, urls: list[str], event_id: str, tokens: list[str]
) -> list[tuple[subprocess.Popen[bytes], Path, Path]]:
    clients = []
    per = args.subscribers // 2
    for k in range(2):
        spec = {
            "ws_url": urls[k].replace("http://", "ws://"),
            "event_id": event_id,
            "tokens": [tokens[(k * per + i) % len(tokens)] for i in range(per)],
            "ready": str(tmp / f"ready{k}"),
            "out": str(tmp / f"out{k}.json"),
            "compression": args.compression,
        }
        spec_path = tmp / f"client{k}.json"
        spec_path.write_text(json.dumps(spec))
        log = open(tmp / f"client{k}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [harness.PY, __file__, "--client-spec", str(spec_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=harness.ROOT,
        )
        clients.append((proc, Path(spec["ready"]), Path(spec["out"])))
    deadline = time.monotonic() + 300
    for proc, ready, _ in clients:
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchAbort(f"a client process failed: see {tmp}/client*.log")
            time.sleep(0.2)
    return clients


def stop_clients(clients: list[tuple[subprocess.Popen[bytes], Path, Path]]) -> list[list[Any]]:
    received: list[list[Any]] = []
    for proc, _, _ in clients:
        proc.send_signal(signal.SIGTERM)
    for proc, _, out in clients:
        proc.wait(timeout=120)
        received.extend(json.loads(out.read_text()))
    return received


def report_delivery(received: list[list[Any]], sent: list[dict[str, Any]], label: str) -> None:
    ids = [s["id"] for s in sent]
    expected = set(ids)
    by_id = {s["id"]: s for s in sent}
    publish_to_receive, after_answer, end_to_end = [], [], []
    lost = dup = out_of_order = errors = 0
    for mine in received:
        seen = [r for r in mine if r[0] in expected]
        errors += sum(1 for r in mine if r[0] == "!")
        got = [r[0] for r in seen]
        dup += len(got) - len(set(got))
        lost += len(expected - set(got))
        if got != [i for i in ids if i in set(got)]:
            out_of_order += 1
        for message_id, _, at in seen:
            s = by_id[message_id]
            publish_to_receive.append((at - s["published"]) * 1000)
            after_answer.append((at - s["answered"]) * 1000)
            end_to_end.append((at - s["started"]) * 1000)
    deliveries = len(publish_to_receive)
    print(
        f"\n{label}: {len(sent)} messages x {len(received)} sockets = {deliveries} deliveries "
        f"(lost {lost}, duplicated {dup}, sockets out of order {out_of_order}, "
        f"error frames {errors})"
    )
    for name, values in (
        ("publish -> receive (from the PUBLISH reaching Redis)", publish_to_receive),
        ("after the sender got the mutation's answer", after_answer),
        ("end to end (from the start of sendMessage)", end_to_end),
    ):
        print(
            f"  {name}: p50 {pct(values, 50):.1f} ms, p95 {pct(values, 95):.1f} ms, "
            f"p99 {pct(values, 99):.1f} ms, max {max(values, default=float('nan')):.1f} ms"
        )


def start_servers(
    args: argparse.Namespace, tmp: Path, services: harness.Services, servers: list[Server]
) -> list[str]:
    """Two `iven-gql serve` processes on the same stores (the first one migrates), added to
    `servers` as they start (so that they are stopped whatever happens): their URLs."""
    urls = []
    for k in range(2):
        env = services.env(
            tmp / f"var{k}",
            RUN_MIGRATIONS_ON_START="true" if k == 0 else "false",
            RATE_REGISTER_IP="10000/3600",
            RATE_LOGIN_IP="10000/900",
            RATE_CHAT_SEND="100000/10",
            LOG_LEVEL="WARNING",
            WS_COMPRESSION="true" if args.compression else "false",
        )
        port = harness.free_port()
        server = harness.iven_server(f"iven{k}", port, env, tmp, tmp / f"server{k}.log")
        server.start()
        servers.append(server)
        server.wait_port(port, 60)
        urls.append(f"http://127.0.0.1:{port}/graphql")
    return urls


async def send_messages(
    args: argparse.Namespace, apis: list[Api], event_id: str, tokens: list[str]
) -> list[dict[str, Any]]:
    """--messages through `sendMessage` at --rate per second, alternating the servers."""
    sent: list[dict[str, Any]] = []
    interval = 1.0 / args.rate
    next_at = time.monotonic()
    for i in range(args.messages):
        next_at += interval
        t0 = time.time()
        found = await apis[i % 2].gql(
            SEND,
            {"input": {"eventId": event_id, "body": f"message {i}"}},
            tokens[i % len(tokens)],
            "sendMessage",
        )
        sent.append({"id": found["message"]["id"], "started": t0, "answered": time.time()})
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    return sent


def report_memory(args: argparse.Namespace, rss: list[list[int]], events_delivered: int) -> None:
    rss0, rss1, rss2, rss3 = rss
    per_socket = [(b - a) / (args.subscribers / 2) for a, b in zip(rss0, rss1, strict=True)]
    print("\nserver RSS (KB):       server 1   server 2")
    for label, values in (
        ("before sockets", rss0),
        ("sockets idle", rss1),
        ("after messages", rss2),
        ("after direct", rss3),
    ):
        print(f"  {label:<20} {values[0]:>9} {values[1]:>9}")
    print(
        f"  per idle subscribed socket: {per_socket[0]:.1f} KB and {per_socket[1]:.1f} KB "
        f"(compression {'on' if args.compression else 'off'})"
    )
    growth = [
        (c - b) / (args.subscribers / 2) / max(1, events_delivered) * 1000
        for b, c in zip(rss2, rss3, strict=True)
    ]
    print(
        f"  growth per socket per 1,000 delivered events: {growth[0]:.2f} KB and "
        f"{growth[1]:.2f} KB ({events_delivered} events each to "
        f"{args.subscribers // 2} sockets per server)"
    )


async def run_load(
    args: argparse.Namespace, tmp: Path, servers: list[Server], urls: list[str]
) -> list[Any]:
    """Seeding, sockets, probe, messages and direct publishes; the clients (to stop on error)
    are kept in the returned list while they run."""
    clients: list[Any] = []
    apis = [Api(u) for u in urls]
    try:
        event_id, tokens = await harness.seed_event_with_members(
            apis[0], tmp / "var0" / "outbox", args.users, "chat", PASSWORD
        )
        for api in apis:  # warm both servers' chat paths
            await api.gql(
                SEND, {"input": {"eventId": event_id, "body": "warm-up"}}, tokens[0], "sendMessage"
            )
        published: dict[str, float] = {}
        watcher = asyncio.ensure_future(watch_publishes(args, event_id, published))
        pids = [s.pid for s in servers]
        await asyncio.sleep(2)
        rss = [[harness.rss_kb(p) for p in pids]]

        started = time.monotonic()
        clients += await asyncio.to_thread(start_clients, args, tmp, urls, event_id, tokens)
        print(
            f"{args.subscribers} sockets open and subscribed in {time.monotonic() - started:.1f} s"
        )
        await asyncio.sleep(3)
        probe_started = time.time()
        probe = await apis[0].gql(
            SEND, {"input": {"eventId": event_id, "body": "probe"}}, tokens[0], "sendMessage"
        )
        probe_sent = [
            {"id": probe["message"]["id"], "started": probe_started, "answered": time.time()}
        ]
        await asyncio.sleep(3)
        rss.append([harness.rss_kb(p) for p in pids])

        sent = await send_messages(args, apis, event_id, tokens)
        await asyncio.sleep(3)
        rss.append([harness.rss_kb(p) for p in pids])

        leak_sent = await publish_direct(args, event_id)
        await asyncio.sleep(5)
        rss.append([harness.rss_kb(p) for p in pids])

        received = await asyncio.to_thread(stop_clients, clients)
        clients.clear()
        watcher.cancel()
        for s in [*probe_sent, *sent]:
            s["published"] = published.get(s["id"], float("nan"))
        report_delivery(received, probe_sent, "probe (all sockets live)")
        report_delivery(received, sent, f"sendMessage at {args.rate}/s, alternating servers")
        leak_ids = set(leak_sent)
        got_leak = sum(1 for mine in received for r in mine if r[0] in leak_ids)
        print(
            f"\ndirect publishes: {len(leak_sent)} changes, {got_leak} deliveries of "
            f"{len(leak_sent) * len(received)} expected"
        )
        report_memory(args, rss, len(leak_sent))
        return clients
    finally:
        for proc, _, _ in clients:
            proc.kill()
        for api in apis:
            await api.aclose()


async def orchestrate(args: argparse.Namespace, tmp: Path) -> int:
    services = harness.Services(
        "bench_chat",
        args.mysql_url,
        args.database,
        args.redis_url,
        tmp,
        pool_size=2,
        flush_after=False,
    )
    servers: list[Server] = []
    try:
        await asyncio.to_thread(services.open)
        urls = await asyncio.to_thread(start_servers, args, tmp, services, servers)
        await run_load(args, tmp, servers, urls)
        return 0
    finally:
        for server in servers:
            server.stop()
        await asyncio.to_thread(services.close, args.keep)


async def watch_publishes(
    args: argparse.Namespace, event_id: str, published: dict[str, float]
) -> None:
    """Notes when each new message's change reaches Redis (the publish time)."""
    client = aioredis.Redis.from_url(args.redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel(int(GlobalID.from_id(event_id).node_id)))
    try:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                continue
            at = time.time()
            data = json.loads(message["data"])
            if data.get("kind") == "added" and data.get("message"):
                published[str(GlobalID("Message", data["message"]["_id"]))] = at
    finally:
        await pubsub.aclose()
        await client.aclose()


async def publish_direct(args: argparse.Namespace, event_id: str) -> list[str]:
    """Changes published on the event's channel as the chat use cases do (no document write),
    rendered and delivered by each server to all its sockets."""
    event = int(GlobalID.from_id(event_id).node_id)
    client = aioredis.Redis.from_url(args.redis_url)
    ids = []
    try:
        interval = 1.0 / args.leak_rate
        next_at = time.monotonic()
        for i in range(args.leak_events):
            oid = ObjectId()
            message = {
                "_id": str(oid),
                "event_id": event,
                "author_user_id": 1,
                "body": f"direct {i}",
                "created_at": utcnow().isoformat(),
            }
            # what Change(kind="added", message=...).to_wire() publishes (unnumbered here)
            await client.publish(
                channel(event), json.dumps({"kind": "added", "seq": None, "message": message})
            )
            ids.append(str(GlobalID("Message", str(oid))))
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        await client.aclose()
    return ids


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--rate", type=float, default=10.0)
    p.add_argument("--messages", type=int, default=200)
    p.add_argument("--leak-events", type=int, default=2000)
    p.add_argument("--leak-rate", type=float, default=20.0)
    p.add_argument("--compression", action="store_true")
    harness.add_store_options(p, "iven_bench_chat", redis_db=13)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--client-spec", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client_spec:
        asyncio.run(client_main(args))
        return 0
    tmp = harness.work_dir("iven-bench-chat-")
    try:
        return asyncio.run(orchestrate(args, tmp))
    except BenchAbort as exc:
        print(f"bench aborted: {exc}", file=sys.stderr)
        return 1
    finally:
        print(f"(work directory: {tmp})")


if __name__ == "__main__":
    sys.exit(main())
