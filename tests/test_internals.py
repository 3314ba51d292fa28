"""The private Strawberry and uvicorn internals IVEN relies on are still there, in the same shape.

pyproject.toml bounds strawberry-graphql and uvicorn from above because the code reaches into
their internals. When a bound is raised, this module must break first, with a message naming the
internal, rather than production:

- iven_gql/prepared.py: `strawberry.schema._graphql_core.execution_context_class_kwargs`,
  `Schema._schema`, `Schema._get_execute_function()` called with graphql-core's execute keywords,
  `Schema.execution_context_class`, `strawberry.execution.is_awaitable.optimized_is_awaitable`;
- iven_gql/extensions.py: `execution_context.schema._schema`;
- iven_gql/ws.py: `BaseGraphQLTransportWSHandler`'s state attributes and hooks, the ASGI
  adapter's `.ws`, Starlette's `WebSocket._send` bound to uvicorn's sans-I/O WebSocket protocol
  (`conn`, `transport`, `writable`, `close_sent`, `handshake_complete`, `initial_response`,
  `request`, `response`), and framing a message straight onto it (`conn.send_text`,
  `conn.data_to_send`, `transport.write`);
- iven_gql/cli.py: `uvicorn.run(..., ws="websockets-sansio")`.

No IVEN store or server is started: a minimal schema and a minimal ASGI app (with the raw
ASGI `send`, as IvenApp hands WebSockets to the GraphQL view) exercise the libraries alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import socket
from collections.abc import Callable
from typing import Any, NoReturn

import pytest
import strawberry
import uvicorn
from graphql import GraphQLSchema, parse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect

UPGRADE_HINT = (
    "IVEN uses this private internal (see tests/test_internals.py for where); adapt the code "
    "to the new release, or keep the upper bound in pyproject.toml below it"
)

# The attributes iven_gql/ws.py reads or writes on uvicorn's WebSocket protocol object.
UVICORN_WS_ATTRIBUTES = (
    "conn",
    "transport",
    "writable",
    "close_sent",
    "handshake_complete",
    "initial_response",
    "request",
    "response",
)


def broken(internal: str, detail: str) -> NoReturn:
    pytest.fail(f"private internal changed: {internal}: {detail}. {UPGRADE_HINT}", pytrace=False)


def internal_attr(module: str, name: str) -> Any:
    try:
        found = importlib.import_module(module)
    except ImportError as exc:
        broken(f"{module}.{name}", f"the module no longer imports ({exc})")
    if not hasattr(found, name):
        broken(f"{module}.{name}", "no such attribute any more")
    return getattr(found, name)


def require_parameters(internal: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """`fn` still accepts this call (names and count of its parameters)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        broken(internal, f"no inspectable signature ({exc})")
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        broken(internal, f"signature is now {signature}, the call IVEN makes fails: {exc}")


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"


@pytest.fixture(scope="module")
def schema() -> strawberry.Schema:
    return strawberry.Schema(query=Query)


# --------------------------------------------------------------------------- Strawberry


def test_execution_context_class_kwargs(schema: strawberry.Schema) -> None:
    name = "strawberry.schema._graphql_core.execution_context_class_kwargs"
    kwargs_for = internal_attr("strawberry.schema._graphql_core", "execution_context_class_kwargs")
    if not callable(kwargs_for):
        broken(name, f"not callable any more ({type(kwargs_for).__name__})")
    require_parameters(name, kwargs_for, schema.execution_context_class)
    for argument in (None, schema.execution_context_class):
        result = kwargs_for(argument)
        if not isinstance(result, dict) or not all(isinstance(k, str) for k in result):
            broken(name, f"returns {result!r} for {argument!r}, not a dict of keyword arguments")


def test_schema_private_graphql_schema(schema: strawberry.Schema) -> None:
    if not hasattr(schema, "_schema"):
        broken("strawberry.Schema._schema", "no such attribute any more")
    if not isinstance(schema._schema, GraphQLSchema):
        broken(
            "strawberry.Schema._schema",
            f"is a {type(schema._schema).__name__}, not graphql-core's GraphQLSchema",
        )
    if not hasattr(schema, "execution_context_class"):
        broken("strawberry.Schema.execution_context_class", "no such attribute any more")


async def test_get_execute_function_as_prepared_calls_it(schema: strawberry.Schema) -> None:
    """iven_gql/prepared.py executes a validated document exactly this way."""
    name = "strawberry.Schema._get_execute_function()"
    getter = getattr(schema, "_get_execute_function", None)
    if not callable(getter):
        broken(name, "no such method any more")
    require_parameters(name, getter)
    execute = getter()
    if not callable(execute):
        broken(name, f"returns {execute!r}, not a callable")
    is_awaitable = internal_attr("strawberry.execution.is_awaitable", "optimized_is_awaitable")
    kwargs_for = internal_attr("strawberry.schema._graphql_core", "execution_context_class_kwargs")
    document = parse("{ hello }")
    call: dict[str, Any] = {
        "root_value": None,
        "middleware": None,
        "variable_values": None,
        "operation_name": None,
        "context_value": None,
        "is_awaitable": is_awaitable,
        "operation_extensions": None,
        **kwargs_for(schema.execution_context_class),
    }
    require_parameters(f"{name} (the execute function)", execute, schema._schema, document, **call)
    result = execute(schema._schema, document, **call)
    if is_awaitable(result):
        result = await result
    if getattr(result, "errors", None) or getattr(result, "data", None) != {"hello": "world"}:
        broken(name, f"executing `{{ hello }}` gave {result!r}")


def test_extension_execution_context_reaches_the_graphql_schema(
    schema: strawberry.Schema,
) -> None:
    """iven_gql/extensions.py validates against `execution_context.schema._schema`."""
    seen: list[Any] = []

    class Probe(strawberry.extensions.SchemaExtension):
        def on_validate(self) -> Any:
            seen.append(self.execution_context.schema)
            yield

    probed = strawberry.Schema(query=Query, extensions=[Probe])
    result = probed.execute_sync("{ hello }")
    assert not result.errors, result.errors
    if not seen or not isinstance(getattr(seen[0], "_schema", None), GraphQLSchema):
        broken(
            "SchemaExtension.execution_context.schema._schema",
            f"the extension saw {seen!r}, without a graphql-core schema in `_schema`",
        )


def test_graphql_transport_ws_handler_internals() -> None:
    module = "strawberry.subscriptions.protocols.graphql_transport_ws.handlers"
    handler_class = internal_attr(module, "BaseGraphQLTransportWSHandler")
    internal_attr(module, "Operation")
    init = inspect.getsource(handler_class.__init__) + inspect.getsource(
        handler_class.on_request_accepted
    )
    for attribute in (
        "view",
        "websocket",
        "context",
        "schema",
        "connection_init_received",
        "connection_acknowledged",
        "connection_init_timeout_task",
    ):
        if f"self.{attribute} =" not in init:
            broken(f"{module}.BaseGraphQLTransportWSHandler.{attribute}", "no longer set")
    for hook in ("handle_connection_init", "handle_subscribe", "shutdown"):
        method = getattr(handler_class, hook, None)
        if method is None or not inspect.iscoroutinefunction(method):
            broken(f"BaseGraphQLTransportWSHandler.{hook}", "no longer a coroutine method")
        expected = 0 if hook == "shutdown" else 1
        if len(inspect.signature(method).parameters) - 1 != expected:
            broken(
                f"BaseGraphQLTransportWSHandler.{hook}",
                f"signature is now {inspect.signature(method)}",
            )


def test_asgi_websocket_adapter_keeps_the_starlette_websocket() -> None:
    adapter_class = internal_attr("strawberry.asgi", "ASGIWebSocketAdapter")
    marker = object()
    try:
        adapter = adapter_class(None, marker, marker)
    except TypeError as exc:
        broken("strawberry.asgi.ASGIWebSocketAdapter(view, request, response)", str(exc))
    if getattr(adapter, "ws", None) is not marker:
        broken("strawberry.asgi.ASGIWebSocketAdapter.ws", "no longer the Starlette WebSocket")


# --------------------------------------------------------------------------- uvicorn


def test_uvicorn_offers_the_sansio_websocket_protocol() -> None:
    protocols = internal_attr("uvicorn.config", "WS_PROTOCOLS")
    if "websockets-sansio" not in protocols:
        broken(
            'uvicorn ws="websockets-sansio"',
            f"not among uvicorn's WebSocket protocols any more ({sorted(protocols)})",
        )


async def serve_one_client(app: Any, expect_two: Callable[[], bool]) -> list[str | bytes]:
    """Serves `app` with uvicorn's sans-I/O WebSocket protocol (as `iven-gql serve` does) and
    connects one client to it; the messages the client received (two when `expect_two()`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, ws="websockets-sansio", lifespan="off", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    received: list[str | bytes] = []
    try:
        async with asyncio.timeout(20):
            while not server.started:
                if task.done():
                    task.result()
                    broken("uvicorn.Server.serve(sockets=...)", "returned before starting")
                await asyncio.sleep(0.01)
            async with connect(f"ws://127.0.0.1:{port}/ws") as client:
                received.append(await client.recv())
                if expect_two():
                    received.append(await client.recv())
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()
    return received


async def test_uvicorn_sansio_protocol_behind_starlette_websocket() -> None:
    """What iven_gql/ws.py does on a live socket: find uvicorn's protocol object through
    `WebSocket._send.__self__`, check its state attributes, and write a frame on it directly."""
    found: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # IvenApp hands WebSockets on /graphql to the GraphQL view with uvicorn's own `send`,
        # and strawberry.asgi.GraphQL wraps it as this Starlette WebSocket
        assert scope["type"] == "websocket"
        websocket = WebSocket(scope, receive=receive, send=send)
        await websocket.accept()
        proto = getattr(getattr(websocket, "_send", None), "__self__", None)
        found["proto"] = proto
        found["missing"] = [a for a in UVICORN_WS_ATTRIBUTES if not hasattr(proto, a)]
        if not found["missing"]:
            assert proto is not None  # it has every attribute
            found["state"] = {
                "handshake_complete": proto.handshake_complete,
                "close_sent": proto.close_sent,
                "initial_response": proto.initial_response,
                "writable": proto.writable.is_set(),
                "closing": proto.transport.is_closing(),
                "request": proto.request is not None,
                "response": proto.response is not None,
            }
            try:
                proto.conn.send_text(b"framed directly")
                proto.transport.write(b"".join(proto.conn.data_to_send()))
            except Exception as exc:  # noqa: BLE001 - reported by the test below
                found["write_error"] = repr(exc)
        await websocket.send_text("through ASGI")
        with contextlib.suppress(WebSocketDisconnect):
            await websocket.receive_text()  # until the client closes

    received = await serve_one_client(
        app, expect_two=lambda: not found.get("missing") and "write_error" not in found
    )

    proto = found.get("proto")
    name = "starlette WebSocket._send.__self__ (uvicorn's WebSocketsSansIOProtocol)"
    if proto is None:
        broken(name, "WebSocket._send is no longer a bound method of the protocol object")
    if found["missing"]:
        broken(
            f"uvicorn {type(proto).__qualname__}",
            f"attributes missing: {', '.join(found['missing'])}",
        )
    expected_state = {
        "handshake_complete": True,
        "close_sent": False,
        "initial_response": None,
        "writable": True,
        "closing": False,
        "request": True,
        "response": True,
    }
    if found["state"] != expected_state:
        broken(
            f"uvicorn {type(proto).__qualname__} state after accept()",
            f"{found['state']}, expected {expected_state}",
        )
    if "write_error" in found:
        broken(
            f"uvicorn {type(proto).__qualname__}.conn.send_text / data_to_send / transport.write",
            found["write_error"],
        )
    if received != ["framed directly", "through ASGI"]:
        broken(
            f"uvicorn {type(proto).__qualname__}: a frame written on the protocol",
            f"the client received {received!r}",
        )
