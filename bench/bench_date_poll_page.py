#!/usr/bin/env python
"""The event page with an open 20-option date poll and 20 voters, against the same page without
it (issue 18's target: at most 1.2x the cost).

Run on demand (never part of the test suite), from the project's virtualenv, with MariaDB/MySQL
and Redis running:

    python bench/bench_date_poll_page.py [--duration 10] [--connections 32] [--rounds 2]
                                         [--generator auto|wrk|python] [--keep]

What it does, on ONE `iven-gql serve` process (one uvicorn worker, MariaDB, Redis, a briskdb
listener; fresh database):
  1. seeds the event of bench/bench_event_page.py through the API (20 participants, 20 tasks,
     20 expenses);
  2. opens a date poll on it with 20 options, and every participant answers every option
     (YES / IF_NEED_BE / NO, varied);
  3. checks both answers (the poll: 20 options, 20 voters, 20 votes on each option), then
     measures, alternately (--rounds times each, to even out drift), the event page query of
     bench_event_page.py (`Page`) and the same query with the poll (`PageWithPoll`: status,
     deadline, counts, every option ranked with its tally, the viewer's answers and who answered
     what), both as the owner;
  4. prints req/s, p50, p99 of each, and the cost ratio (page req/s / page-with-poll req/s)
     against the target (<= 1.2x, informational PASS/FAIL; exit code 0 either way; 1 if the
     bench itself could not run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench import bench_event_page as page
from bench import harness
from bench.harness import Api, BenchAbort, Result, Target

TARGET_RATIO = 1.2  # the page with the poll costs at most 1.2x the page without it
N_OPTIONS = 20
POLL_SELECTION = """datePoll { id status deadline votesVisible voterCount viewerHasVoted version
    options(orderBy: RANK) { id startsAt endsAt rank yesCount ifNeedBeCount noCount viewerChoice
      votes { participant { id displayName } choice } } }"""
WITH_POLL = page.PAGE_QUERY.replace("query Page(", "query PageWithPoll(", 1).replace(
    "settlementPlan {", POLL_SELECTION + "\n  settlementPlan {", 1
)
CHOICES = ("YES", "IF_NEED_BE", "NO")


def body(query: str, name: str, event_id: str) -> bytes:
    return json.dumps(
        {"query": query, "variables": {"id": event_id}, "operationName": name}
    ).encode()


async def open_poll(url: str, event_id: str, tokens: list[str]) -> str:
    """A 20-option poll answered by every participant: its id."""
    api = Api(url, 6, label="poll")
    try:
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=30)
        created = await api.gql(
            """mutation($input: CreateDatePollInput!) { createDatePoll(input: $input) {
              datePoll { id options { id } } errors { code field message } } }""",
            {
                "input": {
                    "eventId": event_id,
                    "options": [
                        {"startsAt": (start + timedelta(days=i)).isoformat(), "durationMinutes": 4}
                        for i in range(N_OPTIONS)
                    ],
                    "deadline": (start - timedelta(days=1)).isoformat(),
                }
            },
            tokens[0],
            "createDatePoll",
        )
        poll = created["datePoll"]
        options = [o["id"] for o in poll["options"]]

        async def answer(n: int) -> None:
            votes = [{"optionId": o, "choice": CHOICES[(n + i) % 3]} for i, o in enumerate(options)]
            await api.gql(
                """mutation($input: VoteDatePollInput!) { voteDatePoll(input: $input) {
                  datePoll { voterCount } errors { code field message } } }""",
                {"input": {"pollId": poll["id"], "votes": votes}},
                tokens[n],
                "voteDatePoll",
            )

        await asyncio.gather(*(answer(n) for n in range(len(tokens))))
        return str(poll["id"])
    finally:
        await api.aclose()


def check_poll(raw: bytes) -> dict[str, Any]:
    doc = json.loads(raw)
    poll = ((doc.get("data") or {}).get("event") or {}).get("datePoll")
    problems = []
    if doc.get("errors"):
        problems.append(f"errors: {json.dumps(doc['errors'])[:1500]}")
    if not poll:
        problems.append("no datePoll")
    else:
        if len(poll["options"]) != N_OPTIONS:
            problems.append(f"{len(poll['options'])} options")
        if poll["voterCount"] != page.mem.N_PARTICIPANTS:
            problems.append(f"voterCount {poll['voterCount']}")
        if any(len(o["votes"]) != page.mem.N_PARTICIPANTS for o in poll["options"]):
            problems.append("an option without every vote")
    if problems:
        raise BenchAbort(f"wrong page-with-poll answer: {'; '.join(problems)}: {raw[:1500]!r}")
    return poll  # type: ignore[no-any-return]


def load(target: Target, args: argparse.Namespace, tmp: Path, n: int) -> Result:
    if args.generator_used == "wrk":
        result, out = harness.run_wrk(target, args.duration, args.connections, tmp)
        (tmp / f"wrk-{target.key}-{n}.txt").write_text(out)
        return result
    return harness.run_python(target, args.duration, args.connections)


def run(args: argparse.Namespace, tmp: Path, services: harness.Services) -> list[Result]:
    services.open()
    env = services.env(RATE_REGISTER_IP="10000/3600", RATE_LOGIN_IP="10000/900")
    env["IVEN_RATE_POLL_VOTE"] = "10000/60"
    port = harness.free_port()
    log_path = tmp / "iven.log"
    server = harness.iven_server("iven-gql serve", port, env, tmp, log_path)
    url = f"http://127.0.0.1:{port}/graphql"
    plain = Target("page", "event page", "asyncio", url, b"", {}, "")
    polled = Target("poll", "event page + 20-option poll", "asyncio", url, b"", {}, "")
    server.start()
    results: dict[str, list[Result]] = {"page": [], "poll": []}
    try:
        server.wait_ready(url, page.page_body("RXZlbnQ6MA=="), {}, 120.0)
        outbox = Path(env["IVEN_VAR_DIR"]) / "outbox"
        started = time.perf_counter()
        try:
            seeded = asyncio.run(page.seed(url, outbox, args.seed_concurrency))
            asyncio.run(open_poll(url, seeded.event_id, seeded.tokens))
        except BenchAbort as exc:
            raise harness.with_server_errors(exc, log_path) from exc
        print(f"  seeded in {time.perf_counter() - started:.1f} s")
        headers = {"Authorization": f"Bearer {seeded.owner_token}"}
        pages = ((plain, page.PAGE_QUERY, "Page"), (polled, WITH_POLL, "PageWithPoll"))
        for target, query, name in pages:
            target.body = body(query, name, seeded.event_id)
            target.headers = headers
            status, raw = harness.http_post(url, target.body, headers)
            page.check_page(raw, status, target.label)
            if target is polled:
                check_poll(raw)
            target.expect = raw[-60:].decode()
        for n in range(args.rounds):
            for target in (plain, polled):
                print(f"  {target.label}, round {n + 1} ...", end="", flush=True)
                result = load(target, args, tmp, n)
                print(f" {result.rps:,.0f} req/s")
                results[target.key].append(result)
    finally:
        server.stop()
    return [best(results["page"]), best(results["poll"])]


def best(results: list[Result]) -> Result:
    return max(results, key=lambda r: r.rps)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_load_options(p)
    harness.add_store_options(p, "iven_bench_poll", redis_db=13)
    p.add_argument("--rounds", type=int, default=2, help="measurements of each page (2)")
    p.add_argument(
        "--seed-concurrency", type=int, default=6, help="concurrent API requests while seeding (6)"
    )
    p.add_argument("--keep", action="store_true", help="keep the database and the logs")
    args = p.parse_args(argv)
    if args.duration < 1 or args.connections < 1 or args.rounds < 1:
        p.error("--duration, --connections and --rounds must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    generator_info = harness.choose_generator(args, "bench_date_poll_page")
    tmp = harness.work_dir("iven-bench-poll-")
    print(f"bench_date_poll_page: {generator_info}; temporary directory {tmp}")
    services = harness.Services(
        "bench_date_poll_page", args.mysql_url, args.database, args.redis_url, tmp
    )
    try:
        results = run(args, tmp, services)
    except (BenchAbort, KeyboardInterrupt) as exc:
        print(f"\nbench_date_poll_page: ABORTED: {exc}", file=sys.stderr)
        print(f"logs kept in {tmp}")
        return 1
    finally:
        services.close(args.keep)
    harness.print_header(generator_info, args, [], servers="one uvicorn worker")
    harness.print_results(results, harness.Columns(label=36, rps=9, bad=5, body_sizes={}))
    without, with_poll = results
    ratio = without.rps / with_poll.rps if with_poll.rps else float("inf")
    print(
        f"\ncost of the page with the poll / without (req/s without / with): {ratio:.2f}x   "
        f"target <= {TARGET_RATIO}x: {'PASS' if ratio <= TARGET_RATIO else 'FAIL'}"
    )
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
