"""Per-request context: who asks (viewer), from where (client), loaders, and the app's deps."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

from aiodataloader import DataLoader
from starlette.requests import Request
from starlette.websockets import WebSocket

from resolvers import accounts as accounts_uc
from resolvers import albums as albums_uc
from resolvers import chat as chat_uc
from resolvers import events as events_uc
from resolvers import expenses as expenses_uc
from resolvers import invitations as invitations_uc
from resolvers import media as media_uc
from resolvers import projections as projections_uc
from resolvers import tasks as tasks_uc
from resolvers.core.deps import ClientInfo, Deps, Viewer
from resolvers.core.errors import Unauthenticated
from resolvers.sessions import TokenRejected, guard


class Loaders:
    """One set per request (or per WebSocket operation): batches and caches relation loads.
    Each loader is made on first use: most requests touch one or two."""

    def __init__(self, deps: Deps, viewer: Viewer | None) -> None:
        self.deps = deps
        self.viewer = viewer
        self._by_model: dict[Any, DataLoader[int, Any]] = {}
        self.memo: dict[Any, Any] = {}  # per-request objects built from loaded rows

    def _loader(self, batch: Any) -> DataLoader[Any, Any]:
        return DataLoader(partial(batch, self.deps))

    def rows(self, model: Any) -> DataLoader[int, Any]:
        """Rows of an event child table by id (node lookups), one loader per table."""
        loader: DataLoader[int, Any] | None = self._by_model.get(model)
        if loader is None:
            loader = self._by_model[model] = DataLoader(
                partial(events_uc.rows_by_id, self.deps, model)
            )
        return loader

    @cached_property
    def user_by_id(self) -> DataLoader[int, Any]:
        return self._loader(accounts_uc.load_users)

    @cached_property
    def event_access(self) -> DataLoader[int, Any]:
        """Scoped to the viewer: an event they may not see loads as None."""
        return DataLoader(partial(events_uc.access, self.deps, self.viewer))

    @cached_property
    def participants_by_event(self) -> DataLoader[int, Any]:
        return self._loader(events_uc.participants_of)

    @cached_property
    def participant_by_id(self) -> DataLoader[int, Any]:
        return self._loader(events_uc.participants_by_id)

    @cached_property
    def event_by_id(self) -> DataLoader[int, Any]:
        """Unscoped: only for events the viewer was invited to (public fields)."""
        return self._loader(events_uc.events_by_id)

    @cached_property
    def invitations_by_event(self) -> DataLoader[int, Any]:
        return self._loader(invitations_uc.invitations_of)

    @cached_property
    def join_requests_by_event(self) -> DataLoader[int, Any]:
        return self._loader(invitations_uc.join_requests_of)

    @cached_property
    def tasks_by_event(self) -> DataLoader[int, Any]:
        """Also primes `assignees_by_task`: a task list almost always shows its assignees."""

        async def batch(event_ids: list[int]) -> list[Any]:
            found, assigned = await tasks_uc.tasks_of(self.deps, event_ids)
            for task_id, participant_ids in assigned.items():
                self.assignees_by_task.prime(task_id, participant_ids)
            return found

        return DataLoader(batch)

    @cached_property
    def assignees_by_task(self) -> DataLoader[int, Any]:
        return self._loader(tasks_uc.assignees_of)

    @cached_property
    def user_snapshot(self) -> DataLoader[int, Any]:
        return self._loader(projections_uc.user_snapshots)

    @cached_property
    def chat_message(self) -> DataLoader[str, Any]:
        return self._loader(chat_uc.messages_by_id)

    @cached_property
    def media(self) -> DataLoader[str, Any]:
        """Scoped to the viewer: media of events they don't take part in load as None."""
        return DataLoader(partial(media_uc.visible_media, self.deps, self.viewer))

    @cached_property
    def album(self) -> DataLoader[str, Any]:
        """Unscoped: only for albums reached through an authorised object."""
        return self._loader(albums_uc.albums_by_ids)

    @cached_property
    def album_media_count(self) -> DataLoader[str, Any]:
        return self._loader(albums_uc.album_counts)

    @cached_property
    def media_liked(self) -> DataLoader[str, Any]:
        return DataLoader(partial(albums_uc.viewer_likes, self.deps, self.viewer))

    @cached_property
    def ledger_by_event(self) -> DataLoader[int, Any]:
        return self._loader(expenses_uc.ledgers_of)


def bearer_token(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@dataclass
class Context:
    deps: Deps
    request: Request | WebSocket
    response: Any
    client: ClientInfo
    request_id: str = field(default_factory=lambda: f"{random.getrandbits(64):016x}")
    viewer: Viewer | None = None
    auth_error: str | None = None
    connection_params: dict[str, Any] | None = None
    operation_name: str | None = None
    _loaders: Loaders | None = None

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.deps, self.viewer)
        return self._loaders

    async def authenticate(self, authorization: str | None) -> None:
        token = bearer_token(authorization)
        if authorization and token is None:
            self.auth_error = "Malformed Authorization header; use 'Bearer <token>'."
            return
        if token is None:
            return
        try:
            self.viewer = await guard(self.deps).viewer_for(token)
        except TokenRejected as exc:
            self.viewer = None
            self.auth_error = f"Access token rejected: {exc.reason}."

    def viewer_or_none(self) -> Viewer | None:
        """Anonymous is fine, but a bad token is an error (the client should refresh)."""
        if self.auth_error is not None:
            raise Unauthenticated(self.auth_error)
        return self.viewer

    def require_viewer(self) -> Viewer:
        viewer = self.viewer_or_none()
        if viewer is None:
            raise Unauthenticated()
        return viewer

    async def close_socket(self, code: int, reason: str) -> None:
        if isinstance(self.request, WebSocket):
            await self.request.close(code=code, reason=reason)


def client_info(conn: Request | WebSocket) -> ClientInfo:
    ip = conn.client.host if conn.client else ""
    return ClientInfo(ip=ip, user_agent=conn.headers.get("user-agent", "")[:255])
