"""The hostile corpus (issue 15): every attack seen, as a request that is refused with its code,
stores nothing, and leaves the server answering a `{ __typename }` probe right after.

Runs on both backend sets. Sections, one per concern, so each grows on its own:
cost and validation; transport, secrets and readiness; visibility and abuse; text, sign-in and
uploads.
"""

from __future__ import annotations

import time
from typing import Any

from iven_gql.config import Settings
from iven_gql.extensions import build_extensions
from schema import build_schema
from schema.events import Event
from tests.conftest import RunningServer
from tests.support import GraphQLClient, assert_error


async def assert_still_serving(api: GraphQLClient) -> None:
    """The probe every hostile test ends with: the server still answers at once."""
    result: dict[str, Any] = await api.execute("{ __typename }")
    assert result["data"] == {"__typename": "Query"} and not result.get("errors")


# ---------------------------------------------------------------------------------------------
# Cost and validation: fragment fan-out, introspection, aliases x nodes, caches, suggestions
# ---------------------------------------------------------------------------------------------


def fan_out(levels: int, on: str = "Query", operation: str = "query") -> str:
    """Attack 1: each fragment spreads the next one twice, 2^levels paths (1.6 KB at 40)."""
    spreads = " ".join(
        f"fragment F{i} on {on} {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    return f"{operation} {{ ...F0 }} {spreads} fragment F{levels} on {on} {{ __typename }}"


def assert_too_complex(result: dict[str, Any], settings: Settings) -> dict[str, Any]:
    error = assert_error(result, "QUERY_TOO_COMPLEX")
    assert error["extensions"]["limit"] == settings.max_query_cost
    assert isinstance(error["extensions"]["cost"], int)
    assert not result.get("data")
    return error


# 25 levels: seconds when the pass walks every path (a broken fix fails, it does not hang)
FAN_OUT = fan_out(25)


async def test_fragment_fan_out_is_refused_before_validation_over_http(api, settings):
    for _ in range(2):  # cold, then from the cache of checked documents
        started = time.perf_counter()
        error = assert_too_complex(await api.execute(FAN_OUT), settings)
        assert error["extensions"]["cost"] > settings.max_query_cost
        assert time.perf_counter() - started < 5  # on a busy machine; linear: milliseconds
    await assert_still_serving(api)


async def test_fragment_fan_out_is_refused_over_websocket(api, settings):
    async with api.ws({}) as ws:
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.subscribe(FAN_OUT)
        message = await ws.receive()
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert_too_complex({"errors": errors}, settings)
    await assert_still_serving(api)


async def test_a_refused_mutation_stores_nothing(api, accounts, settings):
    user = await accounts.user()
    create = (
        '{ title: "x", startsAt: "2030-06-01T12:00:00Z", '
        'endsAt: "2030-06-01T13:00:00Z", currency: "EUR", timezone: "UTC" }'
    )
    aliases = " ".join(
        f"e{i}: createEvent(input: {create}) {{ event {{ id }} }}"
        for i in range(settings.max_aliases + 1)
    )
    assert_too_complex(
        await api.execute(f"mutation {{ {aliases} }}", token=user["token"]), settings
    )
    mine = await api.execute("{ myEvents { edges { node { id } } } }", token=user["token"])
    assert mine["data"]["myEvents"]["edges"] == []
    await assert_still_serving(api)


INTROSPECTION_COPY = (
    "a{i}: __schema {{ types {{ name fields {{ name args {{ name type {{ ...T }} }} "
    "type {{ ...T }} }} }} }}"
)
TYPE_REF = (
    "fragment T on __Type { kind name ofType { kind name "
    "ofType { kind name ofType { kind name } } } }"
)


async def test_introspection_is_priced_and_its_amplification_refused(api, settings):
    """Attack 2: 10 aliased copies of a deep `__schema` (the depth limiter skipped `__` fields)."""
    one = await api.post({"query": "{ " + INTROSPECTION_COPY.format(i=0) + " } " + TYPE_REF})
    cost = one.json()["extensions"]["cost"]
    assert one.json()["data"]["a0"]["types"] and 1000 < cost["requested"] <= cost["limit"]
    copies = " ".join(INTROSPECTION_COPY.format(i=i) for i in range(10))
    error = assert_too_complex(await api.execute("{ " + copies + " } " + TYPE_REF), settings)
    assert error["extensions"]["cost"] >= 10 * cost["requested"]
    await assert_still_serving(api)


def formatted(result: Any) -> dict[str, Any]:
    return {"errors": [e.formatted for e in result.errors or ()]}


async def test_introspection_and_suggestions_are_off_unless_enabled(api):
    """Attacks 2 and 16: production answers no introspection and suggests no field, argument,
    type or enum value; `introspection` turns both on."""
    production = Settings(
        env="production",
        jwt_secret="p" * 40,
        mongodb_url="mongodb://db",
        redis_url="redis://cache",
        database_url="mysql+aiomysql://db/iven",
    )
    assert not production.introspection_enabled
    assert production.model_copy(update={"introspection": True}).introspection_enabled
    closed = build_schema(build_extensions(production), disable_field_suggestions=True)
    assert_error(
        formatted(await closed.execute("{ __schema { types { name } } }")),
        "GRAPHQL_VALIDATION_FAILED",
    )
    guesses = [
        "{ me { usernam } }",  # field
        "{ myEvents(firs: 1) { edges { cursor } } }",  # argument
        "query($id: IDD!) { node(id: $id) { id } }",  # type
        "{ ...on Quer { __typename } }",  # type condition
    ]
    opened = build_schema(build_extensions(Settings()))
    for query in guesses:
        hidden = formatted(await closed.execute(query))
        assert hidden["errors"] and "Did you mean" not in str(hidden), hidden
        assert "Did you mean" in str(formatted(await opened.execute(query))), query
    await assert_still_serving(api)


async def test_aliases_times_nodes_is_refused(api, accounts, events, settings, monkeypatch):
    """Attack 4: 30 aliases x `nodes(ids: [the same event x100])` with lists under each."""
    owner = await accounts.user()
    event = await events.create(owner["token"])
    ids = [event["id"]] * 100
    selection = "... on Event { id title participants { edges { node { id } } } }"
    aliases = " ".join(f"a{i}: nodes(ids: $ids) {{ {selection} }}" for i in range(30))
    attack = "query($ids: [ID!]!) { " + aliases + " }"
    refused = await api.execute(attack, {"ids": ids}, token=owner["token"])
    assert_too_complex(refused, settings)

    loaded: list[list[str]] = []
    original = Event.resolve_nodes.__func__  # type: ignore[attr-defined]

    async def counted(cls: Any, *, info: Any, node_ids: list[str], required: bool = False) -> Any:
        loaded.append(list(node_ids))
        return await original(cls, info=info, node_ids=node_ids, required=required)

    monkeypatch.setattr(Event, "resolve_nodes", classmethod(counted))
    nodes = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    one = await api.execute(nodes, {"ids": ids}, token=owner["token"])
    assert one["data"]["nodes"] == [{"id": event["id"]}] * 100
    assert loaded == [[loaded[0][0]]]  # the repeated id loaded once

    too_many = await api.execute(nodes, {"ids": [*ids, event["id"]]}, token=owner["token"])
    assert_error(too_many, "BAD_USER_INPUT")
    await assert_still_serving(api)


async def test_unique_documents_do_not_pin_memory(api, server: RunningServer, settings):
    """Attack 5: every unique document was kept (1,024 parsed and 1,024 validated, no byte
    bound); the checked documents stay within entries and bytes."""
    documents = server.app.view.executor.prepared.rules.documents
    for n in range(40):
        # about 1,300 tokens each (a parsed one weighs ~600 KB), unique by their aliases
        aliases = " ".join(f"f{n}_{i}: __typename" for i in range(settings.max_aliases))
        result = await api.execute("{ " + aliases + " me { id } " * 300 + "}")
        assert result.get("errors") or result.get("data")
        assert documents.bytes <= settings.document_cache_bytes
        assert len(documents) <= settings.document_cache_entries
    await assert_still_serving(api)


async def test_duplicate_fields_are_refused_before_the_quadratic_rule(api, accounts, settings):
    """Attack 5: `{ me { id id id … } }` cost graphql-core's overlap rule up to 1.3 s."""
    user = await accounts.user()
    for count in (settings.max_repeated_fields + 1, 1990):
        started = time.perf_counter()
        result = await api.execute("{ me { " + "id " * count + "} }", token=user["token"])
        assert_too_complex(result, settings)
        assert time.perf_counter() - started < 5
    fine = await api.execute("{ me { id id } }", token=user["token"])
    assert fine["data"]["me"] == {"id": user["id"]}
    await assert_still_serving(api)


async def test_a_spent_cost_budget_is_rate_limited(api, accounts, server, monkeypatch):
    """The viewer's cost budget of the minute: spent → RATE_LIMITED with retryAfterSeconds,
    on both request paths (the fast path refuses through the standard one)."""
    user = await accounts.user()
    me = "{ me { id username } }"  # costs 3
    assert (await api.execute(me, token=user["token"]))["data"]["me"]
    rules = server.app.view.executor.prepared.rules
    assert rules.budget is not None
    monkeypatch.setattr(rules.budget, "budget", 3 * 5)
    rules.budget.clear()
    try:
        answers = [await api.execute(me, token=user["token"]) for _ in range(8)]
        assert all(a["data"]["me"] for a in answers[:5])
        for refused in answers[5:]:
            error = assert_error(refused, "RATE_LIMITED")
            assert 1 <= error["extensions"]["retryAfterSeconds"] <= 60
            assert refused.get("data") is None
        other = await accounts.user()  # another viewer's budget is its own
        assert (await api.execute(me, token=other["token"]))["data"]["me"]
    finally:
        rules.budget.clear()
    await assert_still_serving(api)


# ---------------------------------------------------------------------------------------------
# Transport, secrets and readiness: body and header limits, JSON depth, JSON refusals,
# development secret, /readyz, HTTP subscriptions, invalid Unicode
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Visibility and abuse: guessable ids, User nodes, revoked invitations, oversized ids,
# invitation floods
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Text, sign-in and uploads: control characters, lock-out, register, upload amplification
# ---------------------------------------------------------------------------------------------
