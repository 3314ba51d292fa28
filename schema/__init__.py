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

from schema.accounts import AccountMutation, AccountQuery, AccountSubscription

SDL_PATH = Path(__file__).with_name("schema.graphql")


@strawberry.type
class Query(AccountQuery):
    node: relay.Node | None = relay.node(
        description="Any object by its global id; same visibility rules as the direct fields."
    )
    nodes: list[relay.Node | None] = relay.node(description="Several objects by global id.")


@strawberry.type
class Mutation(AccountMutation):
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
