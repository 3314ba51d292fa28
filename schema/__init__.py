"""Assembles Query, Mutation and Subscription from the domain modules and builds the Schema.

No I/O here: fields call use cases in `resolvers`."""

from __future__ import annotations

import inspect
from base64 import b64encode
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import strawberry
from strawberry import relay
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig

from resolvers.core.errors import BadRequest
from schema.accounts import AccountMutation, AccountQuery, AccountSubscription
from schema.admin import AdminMutation, AdminQuery
from schema.articles import ArticleMutation, ArticleQuery
from schema.chat import ChatMutation, ChatQuery, ChatStatusMutation, ChatSubscription
from schema.context import Info
from schema.core import MAX_NODE_IDS
from schema.event_operations import EventMutation, EventQuery
from schema.expenses import ExpenseMutation
from schema.invitations import InvitationMutation, InvitationQuery
from schema.media import MediaMutation
from schema.notifications import (
    NotificationMutation,
    NotificationQuery,
    NotificationSubscription,
)
from schema.tasks import TaskMutation

SDL_PATH = Path(__file__).with_name("schema.graphql")


async def _resolve_nodes(info: Info, ids: list[relay.GlobalID]) -> list[relay.Node | None]:
    """Groups ids by type and asks each type's authorisation-scoped `resolve_nodes`, once per
    distinct id (a repeated id is answered by the same object)."""
    info.context.viewer_or_none()  # a rejected token is an error, not anonymity
    by_type: dict[str, dict[str, list[int]]] = {}
    results: list[relay.Node | None] = [None] * len(ids)
    for index, gid in enumerate(ids):
        by_type.setdefault(gid.type_name, {}).setdefault(gid.node_id, []).append(index)
    for type_name, by_id in by_type.items():
        definition = info.schema.get_type_by_name(type_name)
        origin = getattr(definition, "origin", None)
        if origin is None or not (isinstance(origin, type) and issubclass(origin, relay.Node)):
            continue  # unknown type: indistinguishable from a missing object
        found = await origin.resolve_nodes(  # type: ignore[misc]
            info=info, node_ids=list(by_id), required=False
        )
        for indexes, node in zip(by_id.values(), found, strict=True):
            for i in indexes:
                results[i] = node
    return results


@strawberry.type
class Query(
    AccountQuery,
    EventQuery,
    InvitationQuery,
    NotificationQuery,
    ChatQuery,
    AdminQuery,
    ArticleQuery,
):
    @strawberry.field(
        description="Any object by its global id; same visibility rules as the direct fields."
    )
    async def node(self, info: Info, id: relay.GlobalID) -> relay.Node | None:
        return (await _resolve_nodes(info, [id]))[0]

    @strawberry.field(
        description="Several objects by global id (at most 100; a repeated id is loaded once)."
    )
    async def nodes(self, info: Info, ids: list[relay.GlobalID]) -> list[relay.Node | None]:
        if len(ids) > MAX_NODE_IDS:
            raise BadRequest(f"At most {MAX_NODE_IDS} ids.")
        return await _resolve_nodes(info, ids)


@strawberry.type
class Mutation(
    AccountMutation,
    EventMutation,
    InvitationMutation,
    TaskMutation,
    ExpenseMutation,
    NotificationMutation,
    ChatMutation,
    ChatStatusMutation,
    MediaMutation,
    AdminMutation,
    ArticleMutation,
):
    pass


@strawberry.type
class Subscription(AccountSubscription, NotificationSubscription, ChatSubscription):
    pass


def build_schema(
    extensions: Sequence[type[SchemaExtension] | Callable[[], SchemaExtension]] = (),
    *,
    disable_field_suggestions: bool = False,
) -> strawberry.Schema:
    schema = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=list(extensions),
        config=StrawberryConfig(
            disable_field_suggestions=disable_field_suggestions,
            relay_max_results=100,
        ),
    )
    _direct_node_ids(schema)
    return schema


def _direct_node_ids(schema: strawberry.Schema) -> None:
    """`id` of every Node type resolved by graphql-core straight from the object.

    Strawberry's `Node.id` goes through its generic resolver chain (Info object, argument
    conversion, extension chain) to build a GlobalID: an event page has ~300 ids, and that
    chain was a tenth of its CPU (bench/bench_event_page.py). Every IVEN Node resolves its id
    synchronously from its row, so the same base64 "Type:id" string is produced directly; the
    field's type, description and the `node`/`nodes` lookups are unchanged."""
    for name, graphql_type in schema._schema.type_map.items():
        definition = schema.get_type_by_name(name)
        origin = getattr(definition, "origin", None)
        if not (isinstance(origin, type) and issubclass(origin, relay.Node)):
            continue
        field = getattr(graphql_type, "fields", {}).get("id")
        if (
            field is not None
            and not getattr(origin, "_id_attr", None)
            and not inspect.iscoroutinefunction(origin.resolve_id)
        ):
            field.resolve = _id_resolver(name, origin)


def _id_resolver(type_name: str, origin: type[relay.Node]) -> Callable[..., str]:
    resolve_id = origin.resolve_id  # IVEN's read the row only (`info` is graphql-core's here)
    prefix = f"{type_name}:"

    def resolve(root: Any, info: Any) -> str:
        return b64encode((prefix + cast("str", resolve_id(root, info=info))).encode()).decode()

    return resolve


def export_sdl(schema: Any | None = None) -> str:
    return (schema or build_schema()).as_str().rstrip() + "\n"
