#!/usr/bin/env python
"""Media uploads: throughput of 10 x ~4 MB JPEGs in one `uploadMedia`, and the latency of a
light query (`{ me { id } }`) sent alongside.

Run on demand (never part of the test suite), from the project's virtualenv, with MariaDB/MySQL
and Redis running:

    python bench/bench_media.py [--rounds 5] [--photos 10] [--photo-bytes 4000000]
                                [--query-rate 20] [--workers 2] [--keep]

What it does:
  1. a fresh database (--database, default iven_bench_media), Redis db of --redis-url flushed, a
     briskdb MongoDB listener, one `iven-gql serve` process (one worker, IVEN_MEDIA_WORKERS =
     --workers);
  2. seeds one user and one event through the API;
  3. baseline: the light query at --query-rate per second for 5 s, alone;
  4. --rounds times: one multipart `uploadMedia` of --photos new JPEGs (noise, full EXIF with
     GPS, about --photo-bytes each: new content every round, so no dedupe) while the light query
     keeps going at the same rate; prints the upload's wall time, photos/s and MB/s, and the
     light query's latency during the uploads (p50, p95, p99, max) next to the baseline;
  5. stops everything, drops the database (unless --keep).

The photos are generated before any timing. The document store is the briskdb stand-in (one
insert per photo): the figures are dominated by the image work (full decode, EXIF, two WebP
variants, a GPS-stripped copy) and the HTTP transfer, not by the stand-in.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_chat import Api, pct, seed
from bench.bench_event_page import flush_redis, recreate_database, sql_url, wait_port
from bench.harness import BenchAbort, Server, free_port, iven_command

LIGHT = "{ me { id } }"
UPLOAD = """mutation($input: UploadMediaInput!) { uploadMedia(input: $input) {
  media { id size } errors { code field message } } }"""


def photos(count: int, nbytes: int, round_no: int) -> list[bytes]:
    from tests import media_samples

    return [
        media_samples.jpeg(
            width=4000,
            height=3000,
            size_hint=nbytes,
            taken=f"2030:06:{1 + round_no % 28:02d} 10:{i:02d}:00",
        )
        for i in range(count)
    ]


async def light_queries(
    api: Api, token: str, rate: float, stop: asyncio.Event, out: list[float]
) -> None:
    interval = 1.0 / rate
    next_at = time.monotonic()
    while not stop.is_set():
        t0 = time.perf_counter()
        await api.gql(LIGHT, {}, token)
        out.append((time.perf_counter() - t0) * 1000)
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def upload(api: Api, token: str, event_id: str, files: list[bytes]) -> float:
    operations = json.dumps(
        {
            "query": UPLOAD,
            "variables": {"input": {"eventId": event_id, "files": [None] * len(files)}},
        }
    )
    mapping = json.dumps({str(i): [f"variables.input.files.{i}"] for i in range(len(files))})
    parts = {str(i): (f"IMG_{i:04d}.jpg", content, "image/jpeg") for i, content in enumerate(files)}
    t0 = time.perf_counter()
    resp = await api.client.post(
        api.url,
        data={"operations": operations, "map": mapping},
        files=parts,
        headers={"Authorization": f"Bearer {token}", "x-iven-csrf": "1"},
    )
    elapsed = time.perf_counter() - t0
    doc = resp.json()
    payload = (doc.get("data") or {}).get("uploadMedia") or {}
    if resp.status_code != 200 or doc.get("errors") or payload.get("errors"):
        raise BenchAbort(f"upload failed: {json.dumps(doc)[:800]}")
    if len(payload["media"]) != len(files):
        raise BenchAbort("upload returned fewer media than files")
    return elapsed


def latency_line(label: str, values: list[float]) -> str:
    return (
        f"{label:<28} n={len(values):<5} p50 {pct(values, 50):7.1f} ms  "
        f"p95 {pct(values, 95):7.1f} ms  p99 {pct(values, 99):7.1f} ms  "
        f"max {max(values):7.1f} ms"
    )


async def orchestrate(args: argparse.Namespace, tmp: Path) -> int:
    mongo_port, port = free_port(), free_port()
    listener = Server(
        "briskdb",
        [*iven_command(), "briskdb", "--port", str(mongo_port), "--data", str(tmp / "briskdb")],
        dict(os.environ),
        ROOT,
        tmp / "briskdb.log",
    )
    await asyncio.to_thread(recreate_database, args.mysql_url, args.database)
    await asyncio.to_thread(flush_redis, args.redis_url)
    print(f"generating {args.rounds} x {args.photos} photos of ~{args.photo_bytes} bytes...")
    batches = [
        await asyncio.to_thread(photos, args.photos, args.photo_bytes, r)
        for r in range(args.rounds)
    ]
    sizes = [len(p) for batch in batches for p in batch]
    print(f"photos: {min(sizes)}..{max(sizes)} bytes, 4000x3000, EXIF with GPS")
    server: Server | None = None
    try:
        listener.start()
        await asyncio.to_thread(wait_port, listener, mongo_port)
        env = dict(os.environ)
        env.pop("IVEN_SMTP_URL", None)
        env.update(
            {
                "IVEN_DATABASE_URL": sql_url(args.mysql_url, args.database),
                "IVEN_REDIS_URL": args.redis_url,
                "IVEN_MONGODB_URL": f"mongodb://127.0.0.1:{mongo_port}/?maxPoolSize=2",
                "IVEN_VAR_DIR": str(tmp / "var"),
                "IVEN_UPLOADS_DIR": str(tmp / "uploads"),
                "IVEN_RUN_MIGRATIONS_ON_START": "true",
                "IVEN_LOG_LEVEL": "WARNING",
                "IVEN_RATE_REGISTER_IP": "10000/3600",
                "IVEN_MEDIA_WORKERS": str(args.workers),
            }
        )
        server = Server(
            "iven", [*iven_command(), "serve", "--port", str(port)], env, tmp, tmp / "server.log"
        )
        server.start()
        await asyncio.to_thread(wait_port, server, port, 60)
        api = Api(f"http://127.0.0.1:{port}/graphql")
        event_id, tokens = await seed(api, tmp / "var" / "outbox", 1)
        token = tokens[0]
        for _ in range(20):  # warm-up
            await api.gql(LIGHT, {}, token)

        baseline: list[float] = []
        stop = asyncio.Event()
        runner = asyncio.ensure_future(light_queries(api, token, args.query_rate, stop, baseline))
        await asyncio.sleep(5)
        stop.set()
        await runner

        during: list[float] = []
        walls: list[float] = []
        for r, batch in enumerate(batches):
            stop = asyncio.Event()
            queries: list[float] = []
            runner = asyncio.ensure_future(
                light_queries(api, token, args.query_rate, stop, queries)
            )
            await asyncio.sleep(0.3)
            wall = await upload(api, token, event_id, batch)
            stop.set()
            await runner
            walls.append(wall)
            during.extend(queries)
            mb = sum(len(p) for p in batch) / 1e6
            print(
                f"round {r + 1}: {len(batch)} photos, {mb:.1f} MB in {wall:.2f} s = "
                f"{len(batch) / wall:.2f} photos/s, {mb / wall:.1f} MB/s; light query "
                f"p99 {pct(queries, 99):.1f} ms, max {max(queries):.1f} ms"
            )
        total = sum(walls)
        count = args.photos * args.rounds
        print()
        print(
            f"upload throughput: {count / total:.2f} photos/s "
            f"(mean of {args.rounds} rounds; best round "
            f"{args.photos / min(walls):.2f} photos/s), "
            f"{sum(sizes) / 1e6 / total:.1f} MB/s"
        )
        print(latency_line("light query, alone", baseline))
        print(latency_line("light query, during uploads", during))
        return 0
    finally:
        if server is not None:
            server.stop()
        listener.stop()
        if not args.keep:
            await asyncio.to_thread(recreate_database, args.mysql_url, args.database, False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--photos", type=int, default=10)
    p.add_argument("--photo-bytes", type=int, default=4_000_000)
    p.add_argument("--query-rate", type=float, default=20.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--mysql-url",
        default=os.environ.get("IVEN_BENCH_MYSQL_URL", "mysql+aiomysql://root@127.0.0.1:3306"),
    )
    p.add_argument(
        "--redis-url", default=os.environ.get("IVEN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    )
    p.add_argument("--database", default="iven_bench_media")
    p.add_argument("--keep", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="iven-bench-media-"))
    try:
        return asyncio.run(orchestrate(args, tmp))
    except BenchAbort as exc:
        print(f"bench aborted: {exc}", file=sys.stderr)
        return 1
    finally:
        print(f"(work directory: {tmp})")


if __name__ == "__main__":
    sys.exit(main())
