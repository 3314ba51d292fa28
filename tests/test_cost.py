"""The cost pass (iven_gql/cost.py) and the checked documents' cache, as pure functions."""

from __future__ import annotations

import asyncio
import time

import pytest
from graphql import get_introspection_query, parse

from iven_gql.config import Settings
from iven_gql.cost import CAP, introspection_sizes, measure
from iven_gql.documents import CheckedDocuments
from schema import build_schema
from stores.redis import CostBudget, create_client

SCHEMA = build_schema()._schema


def cost_of(query: str) -> int:
    return measure(SCHEMA, parse(query, max_tokens=100_000)).cost


def fan_out(levels: int) -> str:
    spreads = " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    return f"query {{ ...F0 }} {spreads} fragment F{levels} on Query {{ __typename }}"


def test_fragments_are_measured_once_whatever_the_fan_out():
    started = time.perf_counter()
    found = measure(SCHEMA, parse(fan_out(40)))
    assert time.perf_counter() - started < 1  # 2^40 paths: linear, or it never ends
    assert found.fields == 2**40 and found.cost == 2**40 and found.depth == 0


def test_numbers_saturate():
    assert measure(SCHEMA, parse(fan_out(80), max_tokens=100_000)).fields == CAP


@pytest.mark.parametrize(
    ("query", "cost"),
    [
        ("{ __typename }", 1),
        ("{ me { id username } }", 3),
        # a connection: × its page, edges and nodes inside it are that page
        ("{ myEvents(first: 5) { edges { node { id } } } }", 1 + 5 * (1 + 1 + 1)),
        ("{ myEvents { nodes { id title } } }", 1 + 20 * (1 + 2)),
        ("{ myEvents(last: 100) { pageInfo { hasNextPage } } }", 1 + 100 * 2),
        ("query($n: Int) { myEvents(first: $n) { nodes { id } } }", 1 + 100 * 2),
        # nodes: × the ids (a variable: the most it may hold)
        ('{ nodes(ids: ["a", "b", "c"]) { id } }', 1 + 3 * 1),
        ("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", 1 + 100 * 1),
        # a poll's options: a plain list (× the default page); voters: × first
        (
            "query($id: ID!) { node(id: $id) { ... on Message { poll { options { "
            "text voters(first: 5) { username } } } } } }",
            1 + 1 + 1 + 20 * (1 + 1 + 5 * 1),
        ),
        # a plain list: × the default page
        ("mutation { logout { ok } }", 2),
    ],
)
def test_static_cost(query, cost):
    assert cost_of(query) == cost


def test_depth_aliases_directives_and_repeats():
    found = measure(
        SCHEMA,
        parse(
            "{ a: me { b: id ...U } c: me @include(if: true) { id id id } }"
            " fragment U on User { id }"
        ),
    )
    assert found.depth == 1 and found.aliases == 3 and found.directives == 1
    assert found.repeated == 3 and found.fields == 7


def test_introspection_is_priced_from_the_schema():
    sizes = introspection_sizes(SCHEMA)
    assert sizes[("__Schema", "types")] == len(SCHEMA.type_map)
    standard = measure(SCHEMA, parse(get_introspection_query()))
    assert 10_000 < standard.cost <= Settings().max_query_cost  # GraphiQL's works in development
    assert standard.depth <= Settings().max_depth


def test_cycles_and_unknown_names_are_left_to_validation():
    found = measure(
        SCHEMA, parse("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A nope }")
    )
    assert found.fields == 1
    assert measure(SCHEMA, parse("{ nope { x } ...Missing }")).fields == 2


def test_checked_documents_are_bounded_in_bytes_and_entries():
    documents = CheckedDocuments(Settings(document_cache_bytes=200_000, document_cache_entries=50))
    for n in range(200):
        documents.check(SCHEMA, "{ " + " ".join(f"a{n}_{i}: __typename" for i in range(20)) + " }")
        assert documents.bytes <= 200_000 and len(documents) <= 50
    assert 0 < len(documents)
    same = "{ me { id } }"
    assert documents.check(SCHEMA, same) is documents.check(SCHEMA, same)


def test_a_refusal_comes_before_validation():
    documents = CheckedDocuments(Settings())
    checked = documents.check(SCHEMA, "{ me { " + "nope " * 1990 + "} }")
    [error] = checked.errors  # one refusal, no "Cannot query field" from the rules
    assert error.extensions == {
        "code": "QUERY_TOO_COMPLEX",
        "cost": checked.measure.cost,
        "limit": Settings().max_query_cost,
        "value": 1991,  # me and its fields
        "maximum": Settings().max_fields,
    }


async def test_the_cost_budget_counts_concurrent_charges_once():
    redis = create_client(None)
    budget = CostBudget(redis, budget=1000)
    assert await asyncio.gather(*(budget.charge("user:1", 3) for _ in range(300))) == [0] * 300
    budget._local["user:1"][3] = 0.0  # the next charge writes what is pending
    assert await budget.charge("user:1", 3) == 0
    written = await redis.get(next(iter(await redis.keys("iven:cost:user:1:*"))))
    assert written is not None and int(written) == 900  # this charge is the next one to write
    refused = await budget.charge("user:1", 100)
    assert 1 <= refused <= 60
    assert await budget.charge("user:2", 100) == 0  # another subject's budget is its own
    await redis.aclose()


async def test_the_cost_budget_counts_locally_without_redis():
    redis = create_client("redis://127.0.0.1:1/0", timeout=0.2)  # nothing listens there
    budget = CostBudget(redis, budget=10)
    assert await budget.charge("ip:x", 6) == 0
    budget._local["ip:x"][3] = 0.0
    assert await budget.charge("ip:x", 6) > 0  # refused from the local count alone
    await redis.aclose()
