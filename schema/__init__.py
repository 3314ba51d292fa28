"""Assembles Query, Mutation and Subscription from the domain modules and builds the Schema.

No I/O here: fields call use cases in `resolvers`."""

from __future__ import annotations

import inspect
from base64 import b64encode
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, cast

import strawberry
from graphql import GraphQLObjectType
from strawberry import relay
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types.base import StrawberryObjectDefinition

from resolvers.core.errors import BadRequest
from schema.accounts import AccountMutation, AccountQuery, AccountSubscription
from schema.admin import AdminMutation, AdminQuery
from schema.articles import ArticleMutation, ArticleQuery
from schema.chat import (
    ChatMutation,
    ChatPollMutation,
    ChatQuery,
    ChatStatusMutation,
    ChatSubscription,
)
from schema.context import Info
from schema.core import (
    CONNECTION_DESCRIPTION,
    CONNECTION_NODES_DESCRIPTION,
    EDGE_DESCRIPTION,
    EDGE_NODE_DESCRIPTION,
    MAX_NODE_IDS,
    Connection,
    Edge,
)
from schema.date_polls import DatePollMutation, DatePollSubscription
from schema.event_operations import EventMutation, EventQuery
from schema.expenses import ExpenseMutation
from schema.invitations import InvitationMutation, InvitationQuery
from schema.media import MediaMutation
from schema.notifications import (
    NotificationMutation,
    NotificationQuery,
    NotificationSubscription,
)
from schema.scalars import SCALARS
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


@strawberry.type(
    description=(
        "Everything a client can read. Send the access token as `Authorization: Bearer "
        "<accessToken>`; fields for signed-in users answer an UNAUTHENTICATED error without one "
        "(or with an expired or revoked one: refresh it). Something you may not see answers "
        "exactly like something that does not exist: null (a NOT_FOUND error where the field is "
        "non-null). Invalid arguments, such as a page size over 100, are BAD_USER_INPUT errors."
    )
)
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
        description=(
            "Any object by its global id (its `id` field), with the same visibility rules as the "
            "direct fields: null for an object you may not see, one that does not exist, or an id "
            "that is not one of ours. Anonymous callers see only what anonymous callers may see; "
            "a rejected token is an UNAUTHENTICATED error."
        )
    )
    async def node(
        self,
        info: Info,
        id: Annotated[
            relay.GlobalID,
            strawberry.argument(
                description="The object's global id, as any `id` field returned it (opaque)."
            ),
        ],
    ) -> relay.Node | None:
        return (await _resolve_nodes(info, [id]))[0]

    @strawberry.field(
        description=(
            "Several objects by global id, in the order asked: each entry is what `node(id:)` "
            "would answer (null where that would be null). A repeated id is loaded once."
        )
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[
            list[relay.GlobalID],
            strawberry.argument(
                description=(
                    "Global ids of any types, at most 100 (more is a BAD_USER_INPUT error)."
                )
            ),
        ],
    ) -> list[relay.Node | None]:
        if len(ids) > MAX_NODE_IDS:
            raise BadRequest(f"At most {MAX_NODE_IDS} ids.")
        return await _resolve_nodes(info, ids)


@strawberry.type(
    description=(
        "Everything a client can change. A mutation takes one `input` argument (when it needs "
        "any) and answers a payload: the affected objects, and `errors`, the expected failures "
        "(validation, conflicts, business rules, rate limits), each with a `code`, a `message` "
        "and the `field` at fault; when `errors` is not empty nothing was changed. Mutations for "
        "signed-in users answer a top-level UNAUTHENTICATED error without a valid access token. "
        "Creating mutations accept a `clientMutationId` to retry safely; editing ones an "
        "`expectedVersion` (a stale one is a STALE error)."
    )
)
class Mutation(
    AccountMutation,
    EventMutation,
    InvitationMutation,
    TaskMutation,
    ExpenseMutation,
    DatePollMutation,
    NotificationMutation,
    ChatMutation,
    ChatStatusMutation,
    ChatPollMutation,
    MediaMutation,
    AdminMutation,
    ArticleMutation,
):
    pass


@strawberry.type(
    description=(
        "Live streams, over a WebSocket to `/graphql` speaking graphql-transport-ws (the "
        "graphql-ws client). Send the access token in `connection_init`'s payload: "
        '`{"authorization": "Bearer <accessToken>"}`. Access is checked when a stream starts and '
        "again for every event it delivers: losing access to a stream ends it with a FORBIDDEN "
        "error; when the session is revoked or the token expires the server closes the socket "
        "(refresh the token, then reconnect with the new one)."
    )
)
class Subscription(
    AccountSubscription, NotificationSubscription, ChatSubscription, DatePollSubscription
):
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
            scalar_map=SCALARS,
        ),
    )
    _describe_pages(schema)
    _describe_nodes(schema)
    _direct_node_ids(schema)
    return schema


def _describe_pages(schema: strawberry.Schema) -> None:
    """Each specialised connection and edge (`EventConnection`, `EventEdge`, …) described with
    the name of its item type: Strawberry copies a generic type's description unchanged into
    every specialisation, so the texts (schema/core.py) are applied to the built types, which
    both the printed SDL and introspection read."""
    texts = {
        Connection: (CONNECTION_DESCRIPTION, "nodes", CONNECTION_NODES_DESCRIPTION),
        Edge: (EDGE_DESCRIPTION, "node", EDGE_NODE_DESCRIPTION),
    }
    for name, graphql_type in schema._schema.type_map.items():
        definition = schema.get_type_by_name(name)
        if not isinstance(definition, StrawberryObjectDefinition) or definition.concrete_of is None:
            continue
        generic = definition.concrete_of.origin
        if generic not in texts or not isinstance(graphql_type, GraphQLObjectType):
            continue
        description, field_name, field_description = texts[generic]
        item = name.removesuffix(definition.concrete_of.name)
        graphql_type.description = description.format(item=item)
        graphql_type.fields[field_name].description = field_description.format(item=item)


NODE_DESCRIPTION = (
    "An object with a global id. Any of them can be fetched again with `node(id:)` (several "
    "with `nodes(ids:)`), under the same visibility rules as the fields that led to it."
)
NODE_ID_DESCRIPTION = (
    "The object's global id: an opaque string, the same wherever the object appears and never "
    "the id of another object of any type. Pass it as is to `node(id:)` and to the arguments "
    "that take this kind of object; do not parse or build it."
)
_STRAWBERRY_NODE_ID = "The Globally Unique ID of this object"


def _describe_nodes(schema: strawberry.Schema) -> None:
    """The Node interface and every `id` still carrying Strawberry's generic text get IVEN's
    (a domain that describes its `id` keeps its own)."""
    for graphql_type in schema._schema.type_map.values():
        fields = getattr(graphql_type, "fields", None)
        if graphql_type.name == "Node":
            graphql_type.description = NODE_DESCRIPTION
        if not isinstance(fields, dict) or "id" not in fields:
            continue
        if graphql_type.name == "Node" or fields["id"].description == _STRAWBERRY_NODE_ID:
            fields["id"].description = NODE_ID_DESCRIPTION


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
