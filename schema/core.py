"""The schema kit below the domains: the UserError interface and payload runner, global ids (one
decoder, one failure rule), connections and cursors. It imports no domain."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, ClassVar, Concatenate, Generic, ParamSpec, TypeVar

import strawberry
from bson import ObjectId
from strawberry import relay

from resolvers.core.deps import Deps, Viewer
from resolvers.core.errors import BadRequest, DomainError, DomainErrors
from schema.context import Info

DEFAULT_PAGE = 20
MAX_PAGE = 100
MAX_NODE_IDS = 100  # `nodes(ids:)`
MAX_KEY = 2**63 - 1  # BIGINT keys
# the texts of every connection's `first` and `after` arguments
PAGE_FIRST = (
    f"How many to return: 0 to {MAX_PAGE} (default {DEFAULT_PAGE}); more is a BAD_USER_INPUT "
    "error, never a silent cut."
)
PAGE_AFTER = (
    "The `pageInfo.endCursor` of the previous page, to read the next one (null: the first "
    "page). A malformed cursor is a BAD_USER_INPUT error."
)
CLIENT_MUTATION_ID = (
    "Your key for this request (1 to 100 characters), to retry it safely: a retry with the same "
    "key, within 24 hours, answers the first result instead of creating again, whatever happened "
    "in between. The same key with other arguments is refused (DUPLICATE_REQUEST)."
)

T = TypeVar("T")
P = ParamSpec("P")
EnumT = TypeVar("EnumT", bound=type[Enum])


def documented_enum(
    cls: EnumT, values: dict[Any, str], *, description: str, name: str | None = None
) -> EnumT:
    """Registers a Python enum (defined once, below the schema) as a GraphQL enum with a
    description on the type and on every value: `values` maps each member to its text. A member
    left out, or one that is not a member, is a start-up error, so the schema's documentation
    cannot fall behind the enum."""
    members = set(cls)
    missing = [m.name for m in cls if m not in values]
    unknown = [str(k) for k in values if k not in members]
    if missing or unknown:
        raise TypeError(f"{cls.__name__}: undocumented {missing}, not members {unknown}")
    strawberry.enum(cls, name=name, description=description)
    definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    for value in definition.values:
        value.description = values[cls[value.name]]
    return cls


@strawberry.interface(
    description=(
        "An expected failure of a mutation, returned in its payload's `errors` (the mutation "
        "changed nothing). Each domain's error type adds a `code` from its own enum: branch on "
        "`code`, show `message`, and highlight the input named by `field`."
    )
)
class UserError:
    field: list[str] | None = strawberry.field(
        description=(
            "Path to the input field at fault, from the mutation's argument (e.g. "
            '`["input", "email"]` or `["input", "parts", "2"]`); null when the failure '
            "is not about one field."
        )
    )
    message: str = strawberry.field(
        description=(
            "A human-readable explanation in English, fit to show to the user. Its wording may "
            "change: branch on `code`, never on this text."
        )
    )
    # each payload error type names its domain's code enum (not a GraphQL field)
    codes: ClassVar[type[StrEnum]]


E = TypeVar("E", bound="UserError")


def to_user_errors(exc: DomainError | DomainErrors, error_type: type[E]) -> list[E]:
    """A code is carried by value into the payload's enum; one it lacks is a bug (an internal
    error), which tests/test_architecture.py rules out for every use case a payload runs."""
    errors = exc.errors if isinstance(exc, DomainErrors) else [exc]
    return [error_type(**_user_error(e, error_type.codes)) for e in errors]


def _user_error(e: DomainError, codes: type[StrEnum]) -> dict[str, Any]:
    return {
        "field": ["input", *e.field] if e.field else None,
        "code": codes(e.code.value),
        "message": e.message,
        "retry_after_seconds": e.retry_after_s,
    }


async def run(error_type: type[E], op: Awaitable[T]) -> tuple[T | None, list[E]]:
    """Runs a mutation's use case: its result, or nothing and its expected failures as payload
    errors of `error_type` (the use case changed nothing)."""
    try:
        return await op, []
    except (DomainError, DomainErrors) as exc:
        return None, to_user_errors(exc, error_type)


async def mutate(
    info: Info,
    error_type: type[E],
    use_case: Callable[Concatenate[Deps, Viewer, P], Awaitable[T]],
    *args: P.args,
    **kwargs: P.kwargs,
) -> tuple[T | None, list[E]]:
    """The pipeline of a signed-in mutation: no viewer is UNAUTHENTICATED; otherwise the use case
    runs with the app's deps, the viewer and the decoded input (typed against its signature), and
    its expected failures come back as payload errors of `error_type`."""
    viewer = info.context.require_viewer()
    return await run(error_type, use_case(info.context.deps, viewer, *args, **kwargs))


# --- pagination --------------------------------------------------------------------------------


@strawberry.type(
    description=(
        "Where a page sits in its list (Relay cursor connections): whether there is more on "
        "either side, and the cursors to continue from."
    )
)
class PageInfo:
    has_next_page: bool = strawberry.field(
        description=(
            "True when more items follow this page: ask again with `after: endCursor` (lists "
            "paged with `last`/`before` may answer false without looking)."
        )
    )
    has_previous_page: bool = strawberry.field(
        description=(
            "True when items come before this page: ask again with `before: startCursor` (lists "
            "paged with `first`/`after` may answer false without looking)."
        )
    )
    start_cursor: str | None = strawberry.field(
        description="The cursor of the page's first item; null when the page is empty."
    )
    end_cursor: str | None = strawberry.field(
        description="The cursor of the page's last item; null when the page is empty."
    )


def decode_time_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """A (time, document id) cursor over MongoDB documents; a malformed one is BAD_USER_INPUT."""
    parts = decode_cursor(cursor, arity=2)
    if parts is None:
        return None
    try:
        at = datetime.fromisoformat(parts[0])
    except (TypeError, ValueError):
        raise BadRequest("Invalid cursor.") from None
    if not ObjectId.is_valid(str(parts[1])):
        raise BadRequest("Invalid cursor.")
    return at, str(parts[1])


# --- global ids: one decoder per key kind, one failure rule ------------------------------------
# An id of another type, malformed, or out of range decodes to a key no object has (0 or ""):
# the use case then answers exactly as for an id that does not exist, so a wrong id is never an
# internal error and never tells more than a missing one.

NO_INT_KEY = 0
NO_STR_KEY = ""


def _int_key(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        return NO_INT_KEY
    pk = int(raw)
    return pk if 0 < pk <= MAX_KEY else NO_INT_KEY


def decode_global_id(gid: relay.GlobalID, type_name: str) -> int:
    """The numeric key (MySQL rows) of a global id of `type_name`, else NO_INT_KEY."""
    return _int_key(gid.node_id) if gid.type_name == type_name else NO_INT_KEY


def decode_string_id(gid: relay.GlobalID, type_name: str) -> str:
    """The opaque string key (sessions) of a global id of `type_name`, else NO_STR_KEY."""
    return gid.node_id if gid.type_name == type_name else NO_STR_KEY


def decode_document_id(gid: relay.GlobalID, type_name: str) -> str:
    """The document id (MongoDB ObjectId) of a global id of `type_name`, else NO_STR_KEY."""
    key = decode_string_id(gid, type_name)
    return key if ObjectId.is_valid(key) else NO_STR_KEY


def decode_node_keys(node_ids: Iterable[str]) -> list[int]:
    """The numeric keys of `node(s)(id:)` lookups (already of the type), NO_INT_KEY if malformed."""
    return [_int_key(i) for i in node_ids]


def global_id(type_name: str, pk: object) -> strawberry.ID:
    """The opaque global id of an object (as Node.id encodes it)."""
    return strawberry.ID(base64.b64encode(f"{type_name}:{pk}".encode()).decode())


def page_size(first: int | None, *, argument: str = "first") -> int:
    size = DEFAULT_PAGE if first is None else first
    if size < 0 or size > MAX_PAGE:
        raise BadRequest(f"`{argument}` must be between 0 and {MAX_PAGE}.")
    return size


def encode_cursor(*parts: Any) -> str:
    raw = json.dumps(parts, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, arity: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadRequest("Invalid cursor.") from None
    if not isinstance(parts, list) or len(parts) != arity:
        raise BadRequest("Invalid cursor.")
    return parts


def cursor_int(value: Any, *, minimum: int = 0) -> int:
    """An integer inside a cursor (a key, a position, a sequence number): one that is not an
    integer or does not fit a signed 64-bit BIGINT is BAD_USER_INPUT, never an overflow in a
    store. Strings of digits are accepted as keys were once written that way."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_KEY:
        raise BadRequest("Invalid cursor.")
    return value


# Every specialisation (`EventConnection`, `EventEdge`, …) gets these texts with `{item}` naming
# its item type (schema/__init__.py applies them when the schema is built); the generic
# descriptions below are what a specialisation would show otherwise.
EDGE_DESCRIPTION = (
    "One `{item}` in a page of a list, with its cursor (a Relay cursor connection's edge)."
)
EDGE_NODE_DESCRIPTION = "The `{item}` at this position of the list."
CONNECTION_DESCRIPTION = (
    "A page of `{item}` items from a longer list, in the list's order (a Relay cursor "
    "connection). Read `nodes` for the items alone, or `edges` for each item with its cursor; "
    "`pageInfo` says whether there is more and where to continue. The field's `first`/`after` "
    "(or `last`/`before`) arguments choose the page: unless the field says otherwise, 20 items "
    "by default and at most 100 (asking for more is a BAD_USER_INPUT error, never a silent cut)."
)
CONNECTION_NODES_DESCRIPTION = (
    "The page's `{item}` items, in order (the `node` of each edge), when cursors are not needed."
)


@strawberry.type(description=EDGE_DESCRIPTION.format(item="item"))
class Edge(Generic[T]):
    cursor: str = strawberry.field(
        description=(
            "An opaque position in this list: pass it as `after` (or `before`) to continue from "
            "this item. Valid for this list only; do not parse or build it. A malformed cursor is "
            "a BAD_USER_INPUT error."
        )
    )
    node: T = strawberry.field(description=EDGE_NODE_DESCRIPTION.format(item="item"))


@strawberry.type(description=CONNECTION_DESCRIPTION.format(item="item"))
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(
        description="The page's items, in order, each with its cursor."
    )
    page_info: PageInfo = strawberry.field(
        description="Whether there is more before or after this page; its first and last cursors."
    )

    @strawberry.field(description=CONNECTION_NODES_DESCRIPTION.format(item="item"))
    def nodes(self) -> list[T]:
        return [e.node for e in self.edges]


def connection(
    items: Sequence[T], size: int, cursor_of: Callable[[T], str], *, has_previous: bool
) -> Connection[T]:
    """`items` holds up to size+1 rows: the extra one only says there is a next page."""
    page = list(items[:size])
    edges = [Edge(cursor=cursor_of(item), node=item) for item in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(items) > size,
            has_previous_page=has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
