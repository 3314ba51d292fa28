"""Baseline 2 for bench_me.py: a default Strawberry app (no extensions) on Starlette."""

from __future__ import annotations

import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"


schema = strawberry.Schema(Query)
app = Starlette(routes=[Route("/graphql", GraphQL(schema), methods=["GET", "POST"])])
