"""The WebSocket endpoint (graphql-transport-ws): Strawberry's protocol handler, plus

- presence: an authenticated socket counts the user online (resolvers/presence.py);
- `chatEvents` without a per-subscription task or execution: a subscription joins the event's
  feed (resolvers/chat_feed.py) and each change is rendered once per distinct selection, then
  sent as the same text to every socket that asked for it (with its own operation id).

A revoked session or an expired token ends the socket with 4401 (`end_session`): every operation
is stopped (tasks cancelled and awaited, feeds left) before the close frame, and nothing is sent
after it, so an orderly close logs no error. A token refused at `connection_init` closes with 4401
too: graphql-ws treats 4401 as fatal (no reconnect with a dead token), unlike 4403.

A selection made only of fields whose value is the same for every participant (see
`schema.chat.SHARED_FIELDS`) is shared by all the subscribers that send the same document,
operation and variables; any other selection is rendered per viewer. Everything that is not a
valid `chatEvents` subscription takes Strawberry's standard path, errors included.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    TypeInfo,
    TypeInfoVisitor,
    VariableNode,
    Visitor,
    visit,
)
from graphql.execution import Executor, execute_subscription_event
from graphql.execution.values import get_argument_values, get_variable_values
from starlette.websockets import WebSocket
from strawberry import relay
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.types.unset import UnsetType

from iven_gql.extensions import shape_errors
from resolvers import chat as chat_uc
from resolvers import chat_feed, presence
from resolvers import projections as projections_uc
from resolvers.chat_feed import Change, Subscriber
from resolvers.core.background import in_background
from resolvers.core.deps import ClientInfo, Deps
from resolvers.core.errors import DomainError
from schema.chat import SHARED_FIELDS, chat_event, decode_chat_cursor
from schema.context import SESSION_ENDED_CLOSE_CODE, Context
from schema.core import decode_global_id

log = logging.getLogger("iven.ws")

ROOT_FIELD = "chatEvents"


class _SharedFields(Visitor):
    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.shared = True

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        parent = self.type_info.get_parent_type()
        name = node.name.value
        if name != "__typename" and f"{parent.name if parent else ''}.{name}" not in SHARED_FIELDS:
            self.shared = False


class ChatPlan:
    """What a valid `chatEvents` document needs: the root field and whether it is shared."""

    __slots__ = ("cost", "document", "field", "operation", "rendering_variables", "shared")

    def __init__(
        self, document: Any, operation: OperationDefinitionNode, field: FieldNode, shared: bool
    ) -> None:
        self.document = document
        self.operation = operation
        self.field = field
        self.shared = shared
        self.cost = 0  # the document's (iven_gql/cost.py), charged to the budget on subscribe
        # The root field's arguments (eventId, after) don't change how a change renders.
        self.rendering_variables = _variables(field.selection_set, document)

    def rendering_key(self, variables: dict[str, Any]) -> str:
        used = {k: v for k, v in variables.items() if k in self.rendering_variables}
        return json.dumps(used, sort_keys=True, default=str)


def _variables(node: Any, document: Any) -> set[str]:
    """Variables used under `node`, fragments included."""
    names: set[str] = set()
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    seen: set[str] = set()

    class Collect(Visitor):
        def enter_variable(self, found: VariableNode, *_: Any) -> None:
            names.add(found.name.value)

        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: Any) -> None:
            name = spread.name.value
            if name not in seen and name in fragments:
                seen.add(name)
                visit(fragments[name], self)

    if node is not None:
        visit(node, Collect())
    return names


def _root_field(selection_set: Any, document: Any, depth: int = 0) -> FieldNode | None:
    """The single `chatEvents` field at the root, through fragments (no directives)."""
    selections = selection_set.selections
    if len(selections) != 1 or selections[0].directives or depth > 5:
        return None
    node = selections[0]
    if isinstance(node, FieldNode):
        return node if node.name.value == ROOT_FIELD and node.alias is None else None
    if isinstance(node, InlineFragmentNode):
        return _root_field(node.selection_set, document, depth + 1)
    if isinstance(node, FragmentSpreadNode):
        for d in document.definitions:
            if isinstance(d, FragmentDefinitionNode) and d.name.value == node.name.value:
                return _root_field(d.selection_set, document, depth + 1)
    return None


class ChatPlans:
    """The plan of each checked document and operation, kept with the document in its cache
    (iven_gql/documents.py): bounded with it."""

    def __init__(self, view: Any) -> None:
        self.view = view

    def get(self, query: str, operation_name: str | None) -> ChatPlan | None:
        checked = self.view.prepared.checked(query)
        if checked is None:
            return None
        if operation_name in checked.plans:
            return checked.plans[operation_name]  # type: ignore[no-any-return]
        plan = checked.plans[operation_name] = self._plan(checked.document, operation_name)
        if plan is not None:
            plan.cost = checked.measure.cost
        return plan

    def _plan(self, document: Any, operation_name: str | None) -> ChatPlan | None:
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name is not None:
            operations = [d for d in operations if d.name and d.name.value == operation_name]
        if len(operations) != 1 or operations[0].operation != OperationType.SUBSCRIPTION:
            return None
        operation = operations[0]
        field = _root_field(operation.selection_set, document)
        if field is None:
            return None
        schema = self.view.schema._schema
        type_info = TypeInfo(schema)
        checker = _SharedFields(type_info)
        visit(document, TypeInfoVisitor(type_info, checker))
        return ChatPlan(document, operation, field, checker.shared)


async def prime_snapshots(deps: Deps, context: Context, change: Change) -> None:
    """The authors' snapshots from this process's cache (resolvers/projections.py), so a
    delivery does not wait for the document store."""
    ids = [
        i
        for i in {change.user_id, change.message.author_user_id if change.message else None}
        if i is not None
    ]
    for user_id, snapshot in zip(
        ids, await projections_uc.cached_user_snapshots(deps, ids), strict=True
    ):
        context.loaders.user_snapshot.prime(user_id, snapshot)


class RenderGroup:
    """Subscribers rendering a change the same way: rendered once, sent to each."""

    def __init__(
        self, deps: Deps, plan: ChatPlan, variables: dict[str, Any] | None, viewer: Any, schema: Any
    ) -> None:
        self.deps = deps
        self.plan = plan
        self.variables = variables
        self.viewer = viewer  # None for shared groups
        self.schema = schema

    def __hash__(self) -> int:
        return id(self)

    async def render(self, change: Change) -> str:
        context = Context(
            deps=self.deps,
            request=None,  # type: ignore[arg-type]
            response=None,
            client=ClientInfo("", ""),
            viewer=self.viewer,
        )
        await prime_snapshots(self.deps, context, change)
        executor = Executor.build(
            self.schema,
            self.plan.document,
            root_value=chat_event(change),
            context_value=context,
            raw_variable_values=self.variables,
            operation_name=self.plan.operation.name.value if self.plan.operation.name else None,
        )
        if isinstance(executor, list):
            payload: dict[str, Any] = {"errors": [e.formatted for e in executor]}
        else:
            result = execute_subscription_event(executor)
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                result = await result
            payload = {"data": result.data}  # type: ignore[union-attr]
            if result.errors:  # type: ignore[union-attr]
                payload["errors"] = [
                    e.formatted
                    for e in shape_errors(
                        result.errors,  # type: ignore[union-attr]
                        context.request_id,
                    )
                ]
        return json.dumps(payload, separators=(",", ":"), default=str)

    async def deliver(self, change: Change, subscribers: list[Subscriber]) -> None:
        try:
            payload = await self.render(change)
        except Exception:
            log.exception("chat event not rendered")
            return
        frames: dict[str, bytes] = {}  # by operation id: most clients use the same one
        for sub in subscribers:
            assert isinstance(sub, WSSubscriber)
            data = frames.get(sub.op_id)
            if data is None:
                data = frames[sub.op_id] = (
                    f'{{"id":{json.dumps(sub.op_id)},"type":"next","payload":{payload}}}'
                ).encode()
            if sub.handler.closing:
                continue
            if not sub.handler.send_now(data):
                await sub.handler.push(data.decode())


class WSSubscriber(Subscriber):
    __slots__ = ("handler", "op_id")
    handler: ChatWSHandler
    op_id: str


class ChatOperation(Operation[Context, None]):
    __slots__ = ("subscriber",)
    subscriber: Subscriber | None


class ChatWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """One per socket."""

    _counted: int | None = None  # the user counted online by this socket
    _backlog: list[str] | None = None  # messages waiting for a slow socket
    _proto: Any = None  # uvicorn's protocol object, False when not usable (see send_now)
    closing = False  # the server is closing this socket: nothing more is sent
    _stopped: set[asyncio.Task[Any]] | None = None  # cancelled operation tasks, awaited at shutdown

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context.end_socket_session = self.end_session

    async def handle_connection_init(self, message: Any) -> None:
        await self._connection_init(message)
        if self.connection_init_received:
            self.connection_init_timeout_task = None  # done: keep idle sockets small
            self._trim()
        viewer = self.context.viewer
        if self.connection_acknowledged and viewer is not None:
            presence.tracker(self.context.deps).connected(viewer.user_id)
            self._counted = viewer.user_id

    async def _connection_init(self, message: Any) -> None:
        """Strawberry's, but refused credentials close with 4401 (Unauthorized), which
        graphql-ws does not retry, instead of 4403 (which it retries with the same token)."""
        if self.connection_timed_out:
            return
        if self.connection_init_timeout_task:
            self.connection_init_timeout_task.cancel()
        payload = message.get("payload", {})
        if not isinstance(payload, dict):
            await self.websocket.close(code=4400, reason="Invalid connection init payload")
            return
        if self.connection_init_received:
            await self.websocket.close(code=4429, reason="Too many initialisation requests")
            return
        self.connection_init_received = True
        self.context.connection_params = payload
        try:
            ack_payload = await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError:
            await self.close(SESSION_ENDED_CLOSE_CODE, "Unauthorized")
            return
        if isinstance(ack_payload, UnsetType):
            await self.send_message({"type": "connection_ack"})
        else:
            await self.send_message({"type": "connection_ack", "payload": ack_payload})
        self.connection_acknowledged = True

    def forget_id(self, id: str) -> None:
        # an operation ending on its own (`complete`) after `close` stopped it: already gone
        self.operations.pop(id, None)

    async def send_message(self, message: Any) -> None:
        if not self.closing:  # e.g. an operation's `complete` after the close: not an error
            await super().send_message(message)

    async def close(self, code: int, reason: str) -> None:
        """Stops every operation (tasks cancelled, feeds left), then closes the socket: no
        operation sends after the close frame."""
        if self.closing:
            return
        self.closing = True
        current = asyncio.current_task()
        for op_id, operation in list(self.operations.items()):
            if operation.task is not None and operation.task is current:
                continue  # the operation asking for the close: it returns after it
            await self.cleanup_operation(op_id)
        with contextlib.suppress(Exception):  # the client may have gone already
            await self.websocket.close(code=code, reason=reason)

    async def end_session(self) -> None:
        """The session was revoked or the token expired (Context.end_session)."""
        await self.close(SESSION_ENDED_CLOSE_CODE, "Session ended")

    async def shutdown(self) -> None:
        try:
            await super().shutdown()
            stopped, self._stopped = self._stopped, None
            current = asyncio.current_task()
            for task in stopped or ():
                if task is not current:
                    with contextlib.suppress(Exception, asyncio.CancelledError):
                        await task  # its finally blocks run before the socket is gone
        finally:
            counted = self._counted
            if counted is not None:
                self._counted = None
                presence.tracker(self.context.deps).disconnected(counted)

    def _protocol(self) -> Any:
        """uvicorn's sans-I/O protocol object serving this socket, or False."""
        proto = self._proto
        if proto is None:
            ws: WebSocket = self.websocket.ws  # type: ignore[attr-defined]
            proto = getattr(ws._send, "__self__", None)
            if not all(
                hasattr(proto, a)
                for a in (
                    "conn",
                    "transport",
                    "writable",
                    "close_sent",
                    "handshake_complete",
                    "initial_response",
                    "request",
                    "response",
                )
            ):
                proto = False
            self._proto = proto
        return proto

    def _trim(self) -> None:
        """Lets go of the handshake's request and response (their headers: ~3.5 KB), which
        uvicorn keeps for the life of the socket but does not use after the handshake."""
        proto = self._protocol()
        if proto is not False and proto.handshake_complete:
            proto.request = None
            proto.response = None

    def send_now(self, data: bytes) -> bool:
        """Frames and writes a text message at once, on uvicorn's sans-I/O WebSocket protocol
        (what `iven-gql serve` runs): no ASGI round trip per socket. False when that is not
        possible (another server, a socket paused or closing, a backlog): use `push`."""
        proto = self._protocol()
        if (
            proto is False
            or self._backlog is not None
            or not proto.handshake_complete
            or proto.close_sent
            or proto.initial_response is not None
            or not proto.writable.is_set()
            or proto.transport.is_closing()
        ):
            return False
        try:
            proto.conn.send_text(data)
            proto.transport.write(b"".join(proto.conn.data_to_send()))
        except Exception:  # noqa: BLE001 - e.g. the connection is closing: the slow path says
            return False
        return True

    async def push(self, text: str) -> None:
        """Sends without letting one slow client hold the others up: a socket whose buffer is
        full gets its messages through its own writer task."""
        pending = self._backlog
        if pending is not None:
            pending.append(text)
            return
        ws: WebSocket = self.websocket.ws  # type: ignore[attr-defined]
        writable = getattr(getattr(ws._send, "__self__", None), "writable", None)
        if writable is None or writable.is_set():
            with contextlib.suppress(Exception):
                await ws.send_text(text)
            return
        self._backlog = [text]
        self._writer = asyncio.ensure_future(self._drain(ws))

    async def _drain(self, ws: WebSocket) -> None:
        try:
            while self._backlog:
                text = self._backlog.pop(0)
                await ws.send_text(text)
        except Exception:  # noqa: BLE001 - the socket is gone; shutdown cleans up
            log.debug("socket gone while sending")
        finally:
            self._backlog = None

    async def handle_subscribe(self, message: Any) -> None:
        payload = message.get("payload") if isinstance(message, dict) else None
        if not isinstance(payload, dict):
            await super().handle_subscribe(message)
            return
        query = payload.get("query")
        view: Any = self.view
        plan = None
        if (
            isinstance(query, str)
            and self.connection_acknowledged
            and message.get("id") not in self.operations
            and (
                self.max_subscriptions_per_connection is None
                or len(self.operations) < self.max_subscriptions_per_connection
            )
        ):
            name = payload.get("operationName")
            plan = view.chat_plans.get(query, name if isinstance(name, str) else None)
        if plan is None or not isinstance(query, str):
            await super().handle_subscribe(message)
            return
        variables = payload.get("variables")
        operation = ChatOperation(
            self, message["id"], query, variables, payload.get("operationName")
        )
        operation.subscriber = None
        self.operations[operation.id] = operation
        operation.task = asyncio.create_task(self._start_chat(operation, plan))
        operation.task.add_done_callback(self._task_done)

    async def _fail_with(self, operation: ChatOperation, exc: Exception) -> None:
        code = {"code": exc.code} if isinstance(exc, DomainError) else None
        await self._fail(
            operation,
            [GraphQLError(str(exc), original_error=exc, path=[ROOT_FIELD], extensions=code)],
        )

    async def _fail(self, operation: ChatOperation, errors: list[GraphQLError]) -> None:
        view: Any = self.view
        shaped = view.prepared.rules.shape(errors, self.context.request_id)
        await operation.send_operation_message(
            {
                "id": operation.id,
                "type": "next",
                "payload": {"data": None, "errors": [e.formatted for e in shaped]},
            }
        )
        await operation.send_operation_message({"id": operation.id, "type": "complete"})

    async def _start_chat(self, operation: ChatOperation, plan: ChatPlan) -> None:
        view: Any = self.view
        schema = view.schema._schema
        raw = operation.variables if isinstance(operation.variables, dict) else {}
        coerced = get_variable_values(schema, plan.operation.variable_definitions or (), raw)
        if isinstance(coerced, list):
            await self._fail(operation, coerced)
            return
        refused = await view.prepared.rules.admit(self.context, plan.cost)
        if refused is not None:
            await self._fail(operation, [refused])
            return
        field_def = schema.subscription_type.fields[ROOT_FIELD]
        try:
            args = get_argument_values(field_def, plan.field, coerced)
            viewer = self.context.require_viewer()
            event_id = decode_global_id(relay.GlobalID.from_id(args["eventId"]), "Event")
            after = decode_chat_cursor(args.get("after"))
        except Exception as exc:  # noqa: BLE001 - shaped: typed errors, nothing internal
            await self._fail_with(operation, exc)
            return
        group = view.render_group(self.context.deps, plan, raw, viewer)
        sub = WSSubscriber(
            event_id, viewer.user_id, viewer.session_id, viewer.expires_at, group, self._ended
        )
        sub.handler = self
        sub.op_id = operation.id
        operation.subscriber = sub
        try:
            await chat_uc.may_subscribe(self.context.deps, viewer, event_id, after)
            await chat_feed.hub(self.context.deps).join(sub, after)
            operation.task = None  # this task ends here: keep idle sockets small
        except Exception as exc:  # noqa: BLE001 - shaped like any resolver error
            operation.subscriber = None
            await self._fail_with(operation, exc)

    def _ended(self, sub: Subscriber, reason: str) -> None:
        assert isinstance(sub, WSSubscriber)
        op_id = sub.op_id
        operation = self.operations.get(op_id)
        if isinstance(operation, ChatOperation) and operation.subscriber is sub:
            chat_feed.hub(self.context.deps).leave(sub)
            operation.subscriber = None
        in_background(self._end(op_id, reason))

    async def _end(self, op_id: str, reason: str) -> None:
        with contextlib.suppress(Exception):
            if reason == chat_feed.SESSION_ENDED:
                await self.end_session()
                return
            operation = self.operations.get(op_id)
            if isinstance(operation, ChatOperation):
                await self._fail_with(operation, chat_uc.ended_error(reason))

    async def cleanup_operation(self, operation_id: str) -> None:
        operation = self.operations.get(operation_id)
        task = operation.task if operation is not None else None
        if task is not None and not task.done():
            if self._stopped is None:
                self._stopped = set()
            self._stopped.add(task)  # awaited at shutdown: none is left pending
            task.add_done_callback(self._forget_stopped)
        if isinstance(operation, ChatOperation):
            self.operations.pop(operation_id, None)
            if operation.subscriber is not None:
                chat_feed.hub(self.context.deps).leave(operation.subscriber)
                operation.subscriber = None
            if operation.task is not None and not operation.task.done():
                operation.task.cancel()
            return
        await super().cleanup_operation(operation_id)

    def _forget_stopped(self, task: asyncio.Task[Any]) -> None:
        if self._stopped is not None:
            self._stopped.discard(task)


class RenderGroups:
    """Per process: one render group per distinct (document, operation, variables[, viewer])."""

    def __init__(self) -> None:
        self._groups: weakref.WeakValueDictionary[Any, RenderGroup] = weakref.WeakValueDictionary()

    def get(
        self, deps: Deps, plan: ChatPlan, variables: dict[str, Any], viewer: Any, schema: Any
    ) -> RenderGroup:
        key = (id(plan), plan.rendering_key(variables), None if plan.shared else viewer.user_id)
        group = self._groups.get(key)
        if group is None or group.plan is not plan:
            group = RenderGroup(deps, plan, variables, None if plan.shared else viewer, schema)
            self._groups[key] = group
        return group
