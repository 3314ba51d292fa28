"""Assembles Query, Mutation and Subscription from the domain modules and builds the Schema.

No I/O here: fields call use cases in `resolvers`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import strawberry
from strawberry import relay
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from resolvers.errors import BadRequest
from schema.accounts import AccountMutation, AccountQuery, AccountSubscription
from schema.events import EventMutation, EventQuery
from schema.expenses import ExpenseMutation
from schema.invitations import InvitationMutation, InvitationQuery
from schema.tasks import TaskMutation

SDL_PATH = Path(__file__).with_name("schema.graphql")


async def _resolve_nodes(info: Info, ids: list[relay.GlobalID]) -> list[relay.Node | None]:
    """Groups ids by type and asks each type's authorisation-scoped `resolve_nodes`."""
    info.context.viewer_or_none()  # a rejected token is an error, not anonymity
    by_type: dict[str, list[int]] = {}
    results: list[relay.Node | None] = [None] * len(ids)
    for index, gid in enumerate(ids):
        by_type.setdefault(gid.type_name, []).append(index)
    for type_name, indexes in by_type.items():
        definition = info.schema.get_type_by_name(type_name)
        origin = getattr(definition, "origin", None)
        if origin is None or not (isinstance(origin, type) and issubclass(origin, relay.Node)):
            continue  # unknown type: indistinguishable from a missing object
        found = await origin.resolve_nodes(  # type: ignore[misc]
            info=info, node_ids=[ids[i].node_id for i in indexes], required=False
        )
        for i, node in zip(indexes, found, strict=True):
            results[i] = node
    return results


@strawberry.type
class Query(AccountQuery, EventQuery, InvitationQuery):
    @strawberry.field(
        description="Any object by its global id; same visibility rules as the direct fields."
    )
    async def node(self, info: Info, id: relay.GlobalID) -> relay.Node | None:
        return (await _resolve_nodes(info, [id]))[0]

    @strawberry.field(description="Several objects by global id (at most 100).")
    async def nodes(self, info: Info, ids: list[relay.GlobalID]) -> list[relay.Node | None]:
        if len(ids) > 100:
            raise BadRequest("At most 100 ids.")
        return await _resolve_nodes(info, ids)


@strawberry.type
class Mutation(AccountMutation, EventMutation, InvitationMutation, TaskMutation,
               ExpenseMutation):
    pass


@strawberry.type
class Subscription(AccountSubscription):
    pass


def build_schema(
    extensions: Sequence[type[SchemaExtension] | Callable[[], SchemaExtension]] = (),
    *,
    disable_field_suggestions: bool = False,
) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=list(extensions),
        config=StrawberryConfig(
            disable_field_suggestions=disable_field_suggestions,
            relay_max_results=100,
        ),
    )


def export_sdl(schema: Any | None = None) -> str:
    return (schema or build_schema()).as_str().rstrip() + "\n"
