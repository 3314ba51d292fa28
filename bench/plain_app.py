"""Baseline 1 for bench_me.py: a plain Starlette app with one JSON POST endpoint."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def endpoint(request: Request) -> JSONResponse:
    body = await request.json()  # parse the body, as a GraphQL server would
    return JSONResponse({"data": {"ok": True, "keys": len(body)}})


app = Starlette(routes=[Route("/graphql", endpoint, methods=["POST"])])
