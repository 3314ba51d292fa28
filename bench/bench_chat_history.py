#!/usr/bin/env python
"""Chat history pages against history size: is `messages(last: 50)` served by an index?

    python bench/bench_chat_history.py                       # briskdb stand-in, 1k and 20k
    python bench/bench_chat_history.py --mongodb-url mongodb://host:27017 --sizes 1000,1000000

For each size, one event gets that many messages (plus a second event with as many, so the
queries must pick their event's documents); then it times, over --runs runs each, what the chat
queries run (stores/chat.py, the functions the GraphQL fields call):
  - the newest page: `history(last=51)` (`Event.messages(last: 50)`, one extra to know if
    there is more), index `event_created` (event_id, created_at desc, _id desc);
  - a page back in the middle of the history (`before` cursor), same index;
  - the replay after a reconnect: `changed_since(after=size-50)`, index `event_changed`;
  - the unread count after a marker 50 messages from the end, capped at 1000, index
    `event_created`.
and prints p50/p95 per query and size, with the winning plan from `explain` where the server
gives one (a real MongoDB does; the stand-in does not).

On the stand-in, numbers grow with size: briskdb does not serve a compound sort from an index
(docs/briskdb.md) and inserts are slow; they show the application's query shapes, not MongoDB.
Against a real MongoDB the page times should stay flat from 1k to 1M: that is the check.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench import harness
from stores import chat as store
from stores.chat import ChatMessage
from stores.documents import all_models
from stores.mongo import DocumentStore

START = datetime(2030, 1, 1, tzinfo=UTC)


async def fill(event_id: int, size: int, batch: int = 200) -> None:
    start = START
    for offset in range(0, size, batch):
        docs = [
            ChatMessage(
                event_id=event_id,
                author_user_id=1 + i % 7,
                body=f"message {i}",
                created_at=start + timedelta(seconds=i),
                seq=i + 1,
                changed_seq=i + 1,
                mentions=[2] if i % 10 == 0 else [],
            )
            for i in range(offset, min(size, offset + batch))
        ]
        await ChatMessage.insert_many(docs)


async def timed(runs: int, op: Any) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        await op()
        out.append((time.perf_counter() - t) * 1000)
    return out


async def plan(filter_: dict[str, Any], sort: list[tuple[str, int]] | None) -> str:
    collection = ChatMessage.get_pymongo_collection()
    try:
        cursor = collection.find(filter_)
        if sort:
            cursor = cursor.sort(sort)
        explained = await cursor.limit(51).explain()
    except Exception as exc:  # noqa: BLE001 - the stand-in has no explain
        return f"(no explain: {type(exc).__name__})"
    winning = explained.get("queryPlanner", {}).get("winningPlan", {})
    names = []
    node = winning
    while node:
        if "indexName" in node:
            names.append(f"{node.get('stage')}:{node['indexName']}")
        else:
            names.append(str(node.get("stage")))
        node = node.get("inputStage") or (node.get("inputStages") or [None])[0]
    return " <- ".join(names) or "(no plan)"


def queries_for(
    event: int, size: int, key: tuple[datetime, str], marker: Any
) -> dict[str, tuple[Any, dict[str, Any], Any]]:
    """name -> (what the resolver runs, the equivalent find for explain, its sort)."""
    newest = [("created_at", -1), ("_id", -1)]
    return {
        "newest page (last 50)": (
            lambda: store.history(event, last=51, before=None),
            {"event_id": event},
            newest,
        ),
        "page back (before)": (
            lambda: store.history(event, last=51, before=key),
            {"event_id": event, "created_at": {"$lt": key[0]}},
            newest,
        ),
        "replay (50 changes)": (
            lambda: store.changed_since(event, size - 50, 2001),
            {"event_id": event, "changed_seq": {"$gt": size - 50}},
            [("changed_seq", 1)],
        ),
        "unread count (50)": (
            lambda: store.unread_count(event, 2, marker, mentions_only=False, cap=1000),
            {"event_id": event, "created_at": {"$gt": marker.at}},
            None,
        ),
    }


async def run(args: argparse.Namespace) -> int:
    data = harness.work_dir("iven-history-")
    with harness.documents_url(args.mongodb_url, data) as url:
        documents = await DocumentStore.connect(
            url, args.database, models=all_models(), timeout_s=10
        )
        await documents.create_indexes()
        try:
            await measure_sizes(args, url, embedded=args.mongodb_url is None)
        finally:
            await documents.close()
    return 0


async def measure_sizes(args: argparse.Namespace, url: str, embedded: bool) -> None:
    print(f"document store: {'briskdb stand-in' if embedded else url}")
    print(f"{'size':>9} {'query':<28} {'p50 ms':>8} {'p95 ms':>8}  plan")
    for n, size in enumerate(int(s) for s in args.sizes.split(",")):
        event, other = 1000 + 2 * n, 1001 + 2 * n
        await ChatMessage.find({"event_id": {"$in": [event, other]}}).delete()
        t = time.perf_counter()
        await fill(event, size)
        await fill(other, size)
        print(f"  (inserted {2 * size} messages in {time.perf_counter() - t:.1f} s)")
        # positions by time (message i is at START + i s); the highest id breaks ties
        key = (START + timedelta(seconds=size // 2), "f" * 24)
        marker = store.ReadMarker(
            key=f"{event}:2",
            event_id=event,
            user_id=2,
            message_id="f" * 24,
            at=START + timedelta(seconds=size - 51),
        )
        for name, (op, filter_, sort) in queries_for(event, size, key, marker).items():
            await op()  # warm
            times = await timed(args.runs, op)
            p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
            print(
                f"{size:>9} {name:<28} {statistics.median(times):>8.2f} {p95:>8.2f}  "
                f"{await plan(filter_, sort)}"
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mongodb-url", default=None, help="default: an embedded briskdb listener")
    p.add_argument("--database", default="iven_bench_history")
    p.add_argument("--sizes", default="1000,20000")
    p.add_argument("--runs", type=int, default=20)
    args = p.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
