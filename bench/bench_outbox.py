"""Commit → handled latency of the outbox on MariaDB + Redis.

A writer commits domain events one unit of work at a time (like mutations, `--rate` per second
over `--aggregates` aggregates) and notes the wall-clock time right after each commit. A
dispatcher handles them with a handler that only notes the time it was called (in Redis), so
the figure is the outbox pipeline itself: commit hook → wake-up (local, or the Redis broadcast)
→ claim (SELECT … FOR UPDATE SKIP LOCKED) → handler. The document writes of the real handlers are
left out on purpose: briskdb is not MongoDB (see docs/briskdb.md).

Two runs: `local` (the dispatcher in the writer's process, woken directly) and `remote` (the
dispatcher in another process, woken through Redis, as with several server processes).

Then the dispatcher's throughput on MariaDB (`--mode throughput`): `--rows` pending rows over
`--aggregates` aggregates are drained by one, then two dispatchers (in one process) with no-op
handlers, so the figure is claim (SELECT … FOR UPDATE SKIP LOCKED + per-aggregate order) →
lease renewal → mark handled, in rows per second. The MariaDB server comes from `--mysql-url`
(or IVEN_BENCH_MYSQL_URL); the bench creates and drops its own database.

    python bench/bench_outbox.py            # --rate 200 --duration 10 --aggregates 50
    python bench/bench_outbox.py --mode throughput --rows 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from sqlalchemy import delete

from bench import harness
from iven_gql.config import Settings
from iven_gql.resources import Resources
from resolvers.dispatcher import Dispatcher, install
from stores import outbox

HANDLED_KEY = "iven:bench:outbox:handled"


def settings(args: argparse.Namespace, tmp: Path) -> Any:
    return Settings(
        database_url=harness.sql_url(args.mysql_url, args.database),
        redis_url=args.redis_url,
        mongodb_url=args.mongodb_url,
        var_dir=tmp / "var",
        uploads_dir=tmp / "uploads",
        dispatcher=False,
        run_migrations_on_start=True,
        log_level="WARNING",
    )


async def timing_handler(deps: Any, event: Any) -> None:
    if event.type == "bench.tick":
        await deps.redis.hset(HANDLED_KEY, str(event.id), repr(time.time()))


async def run_worker(args: argparse.Namespace, tmp: Path, ready: Path) -> None:
    resources = Resources(settings(args, tmp))
    deps = await resources.open()
    worker = install(deps, [timing_handler], poll_s=2.0)
    await worker.start()
    ready.write_text("ready")
    try:
        await asyncio.sleep(args.duration + 30)
    finally:
        await worker.close()
        await resources.close()


async def write_events(deps: Any, args: argparse.Namespace) -> dict[int, float]:
    committed: dict[int, float] = {}
    interval = 1.0 / args.rate
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < args.duration:
        async with deps.db.unit_of_work() as db:
            row = outbox.emit(db, "bench.tick", "bench", n % args.aggregates, json.dumps({"n": n}))
            await db.flush()
            row_id = row.id or 0
        committed[row_id] = time.time()
        n += 1
        delay = start + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    return committed


async def measure(args: argparse.Namespace, tmp: Path, mode: str) -> dict[str, float]:
    resources = Resources(settings(args, tmp))
    deps = await resources.open()
    proc = None
    try:
        await deps.redis.delete(HANDLED_KEY)
        if mode == "local":
            worker = install(deps, [timing_handler], poll_s=2.0)
            await worker.start()
        else:
            install(deps, [], poll_s=2.0)  # the commit hook broadcasts; no local dispatcher
            ready = tmp / "worker.ready"
            proc = subprocess.Popen(
                [  # noqa: ASYNC220 - starts at once; the bench waits below
                    sys.executable,
                    __file__,
                    "--worker",
                    str(ready),
                    *sys.argv[1:],
                ],
                cwd=harness.ROOT,
            )
            for _ in range(300):
                if ready.exists():
                    break
                await asyncio.sleep(0.1)
            else:
                raise SystemExit("the remote dispatcher did not start")
        committed = await write_events(deps, args)
        deadline = time.monotonic() + 15
        handled: dict[str, float] = {}
        while time.monotonic() < deadline:
            raw = await deps.redis.hgetall(HANDLED_KEY)
            handled = {
                (k.decode() if isinstance(k, bytes) else k): float(v) for k, v in raw.items()
            }
            if len(handled) >= len(committed):
                break
            await asyncio.sleep(0.2)
        latencies = sorted(
            (handled[str(i)] - t) * 1000 for i, t in committed.items() if str(i) in handled
        )
        if mode == "local":
            await worker.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
        await resources.close()
    return {
        "events": len(committed),
        "handled": len(latencies),
        "p50": statistics.median(latencies),
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)],
        "max": latencies[-1],
    }


async def noop_handler(deps: Any, event: Any) -> None:
    return None


async def fill_outbox(deps: Any, rows: int, aggregates: int, chunk: int = 1000) -> None:
    for start in range(0, rows, chunk):
        async with deps.db.unit_of_work() as db:
            for n in range(start, min(rows, start + chunk)):
                outbox.emit(db, "bench.tick", "bench", n % aggregates, json.dumps({"n": n}))


async def drain_with(deps: Any, workers: list[Dispatcher]) -> None:
    async def work(worker: Dispatcher) -> None:
        while True:
            if await worker.run_once():
                continue
            async with deps.db.reader() as db:
                if await outbox.pending_count(db) == 0:
                    return
            await asyncio.sleep(0.005)  # the other dispatcher holds the last rows

    await asyncio.gather(*(work(w) for w in workers))


async def throughput(args: argparse.Namespace, tmp: Path) -> list[tuple[int, int, float]]:
    """(dispatchers, rows, rows/s) for one and for two dispatchers with no-op handlers."""
    config = settings(args, tmp).model_copy(update={"redis_url": None})  # in-process Redis
    resources = Resources(config)
    deps = await resources.open()
    found: list[tuple[int, int, float]] = []
    try:
        for count in (1, 2):
            async with deps.db.unit_of_work() as db:
                await db.exec(delete(outbox.OutboxEvent))
            await fill_outbox(deps, args.rows, args.aggregates)
            workers = [
                Dispatcher(deps, [noop_handler], worker=f"bench-{n}", batch=args.batch)
                for n in range(count)
            ]
            started = time.perf_counter()
            await drain_with(deps, workers)
            found.append((count, args.rows, args.rows / (time.perf_counter() - started)))
    finally:
        await resources.close()
    return found


def run_throughput(args: argparse.Namespace, tmp: Path) -> None:
    harness.recreate_database(args.mysql_url, args.database)
    print(
        f"bench_outbox throughput: {args.rows} pending rows over {args.aggregates} aggregates, "
        f"batch {args.batch}, no-op handlers; MariaDB {args.mysql_url}/{args.database}"
    )
    print(f"{'dispatchers':<14}{'rows':>8}{'rows/s':>10}")
    for count, rows, rate in asyncio.run(throughput(args, tmp)):
        print(f"{count:<14}{rows:>8}{rate:>10.0f}")
    harness.recreate_database(args.mysql_url, args.database, create=False)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="events committed per second")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--aggregates", type=int, default=50)
    parser.add_argument(
        "--mode", choices=("latency", "throughput", "both"), default="both", help="what to run"
    )
    parser.add_argument("--rows", type=int, default=20000, help="throughput: pending rows")
    parser.add_argument("--batch", type=int, default=100, help="throughput: rows per claim")
    parser.add_argument("--mysql-url", default=harness.DEFAULT_MYSQL_URL)
    parser.add_argument("--database", default="iven_bench_outbox")
    parser.add_argument(
        "--redis-url", default=os.environ.get("IVEN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    parser.add_argument(
        "--mongodb-url",
        default=None,
        help="a MongoDB (default: a briskdb listener; nothing is timed on it)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args()


def run_both(args: argparse.Namespace, tmp: Path) -> None:
    harness.recreate_database(args.mysql_url, args.database)
    print(
        f"bench_outbox: {args.rate:g} events/s for {args.duration:g} s over "
        f"{args.aggregates} aggregates; MariaDB {args.mysql_url}/{args.database}, "
        f"Redis {args.redis_url}; handler = note the time (no document write)"
    )
    print(f"{'dispatcher':<34}{'events':>8}{'handled':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for mode, label in (
        ("local", "in the writer's process"),
        ("remote", "another process (Redis wake)"),
    ):
        r = asyncio.run(measure(args, tmp, mode))
        print(
            f"{label:<34}{r['events']:>8}{r['handled']:>9}{r['p50']:>9.1f}"
            f"{r['p99']:>9.1f}{r['max']:>9.1f}"
        )
    print(
        "target: p99 <= 1000 ms under normal load (times from the end of the writer's "
        "unit of work, wake-up included, to the handler call)"
    )
    harness.recreate_database(args.mysql_url, args.database, create=False)


def main() -> int:
    args = parse_args()
    tmp = harness.work_dir("iven-bench-outbox-")
    try:
        with harness.documents_url(args.mongodb_url, tmp / "briskdb", pool_size=2) as url:
            args.mongodb_url = url
            if args.worker:
                asyncio.run(run_worker(args, tmp, Path(args.worker)))
            else:
                if args.mode in ("latency", "both"):
                    run_both(args, tmp)
                if args.mode in ("throughput", "both"):
                    run_throughput(args, tmp)
    except harness.BenchAbort as exc:
        print(f"bench_outbox: ABORTED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
