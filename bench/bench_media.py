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
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench import harness
from bench.harness import Api, BenchAbort, Server, pct
from tests import media_samples

PASSWORD = "bench-pass-" + secrets.token_hex(8)
LIGHT = "{ me { id } }"
UPLOAD = """mutation($input: UploadMediaInput!) { uploadMedia(input: $input) {
  media { id size } errors { code field message } } }"""


def photos(count: int, nbytes: int, round_no: int) -> list[bytes]:
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


def start_server(
    args: argparse.Namespace, tmp: Path, services: harness.Services
) -> tuple[Server, str]:
    services.open()
    env = services.env(
        LOG_LEVEL="WARNING",
        RATE_REGISTER_IP="10000/3600",
        MEDIA_WORKERS=str(args.workers),
    )
    port = harness.free_port()
    server = harness.iven_server("iven", port, env, tmp, tmp / "server.log")
    server.start()
    try:
        server.wait_port(port, 60)
    except BaseException:
        server.stop()
        raise
    return server, f"http://127.0.0.1:{port}/graphql"


async def baseline(api: Api, token: str, rate: float) -> list[float]:
    """The light query alone for 5 s."""
    for _ in range(20):  # warm-up
        await api.gql(LIGHT, {}, token)
    values: list[float] = []
    stop = asyncio.Event()
    runner = asyncio.ensure_future(light_queries(api, token, rate, stop, values))
    await asyncio.sleep(5)
    stop.set()
    await runner
    return values


async def upload_rounds(
    args: argparse.Namespace, api: Api, token: str, event_id: str, batches: list[list[bytes]]
) -> tuple[list[float], list[float]]:
    """Each batch uploaded while the light query runs: upload wall times, query latencies."""
    during: list[float] = []
    walls: list[float] = []
    for r, batch in enumerate(batches):
        stop = asyncio.Event()
        queries: list[float] = []
        runner = asyncio.ensure_future(light_queries(api, token, args.query_rate, stop, queries))
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
    return walls, during


async def orchestrate(args: argparse.Namespace, tmp: Path) -> int:
    services = harness.Services(
        "bench_media",
        args.mysql_url,
        args.database,
        args.redis_url,
        tmp,
        pool_size=2,
        flush_after=False,
    )
    print(f"generating {args.rounds} x {args.photos} photos of ~{args.photo_bytes} bytes...")
    batches = [
        await asyncio.to_thread(photos, args.photos, args.photo_bytes, r)
        for r in range(args.rounds)
    ]
    sizes = [len(p) for batch in batches for p in batch]
    print(f"photos: {min(sizes)}..{max(sizes)} bytes, 4000x3000, EXIF with GPS")
    server: Server | None = None
    try:
        server, url = await asyncio.to_thread(start_server, args, tmp, services)
        api = Api(url)
        event_id, tokens = await harness.seed_event_with_members(
            api, tmp / "var" / "outbox", 1, "chat", PASSWORD
        )
        token = tokens[0]
        alone = await baseline(api, token, args.query_rate)
        walls, during = await upload_rounds(args, api, token, event_id, batches)
        await api.aclose()
        total = sum(walls)
        count = args.photos * args.rounds
        print()
        print(
            f"upload throughput: {count / total:.2f} photos/s "
            f"(mean of {args.rounds} rounds; best round "
            f"{args.photos / min(walls):.2f} photos/s), "
            f"{sum(sizes) / 1e6 / total:.1f} MB/s"
        )
        print(latency_line("light query, alone", alone))
        print(latency_line("light query, during uploads", during))
        return 0
    finally:
        if server is not None:
            server.stop()
        await asyncio.to_thread(services.close, args.keep)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--photos", type=int, default=10)
    p.add_argument("--photo-bytes", type=int, default=4_000_000)
    p.add_argument("--query-rate", type=float, default=20.0)
    p.add_argument("--workers", type=int, default=2)
    harness.add_store_options(p, "iven_bench_media", redis_db=13)
    p.add_argument("--keep", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = harness.work_dir("iven-bench-media-")
    try:
        return asyncio.run(orchestrate(args, tmp))
    except BenchAbort as exc:
        print(f"bench aborted: {exc}", file=sys.stderr)
        return 1
    finally:
        print(f"(work directory: {tmp})")


if __name__ == "__main__":
    sys.exit(main())
