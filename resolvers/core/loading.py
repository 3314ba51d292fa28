"""Dataloaders: one set per request (or WebSocket operation) that batches and caches relation
loads. Each domain owns its loaders as a small class of `cached_property`s on this base (made
on first use: most requests touch one or two); resolvers/loaders.py puts them together."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Hashable
from functools import partial
from typing import Any, TypeVar

from aiodataloader import DataLoader

from resolvers.core.deps import Deps, Viewer

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LoaderBase:
    def __init__(self, deps: Deps, viewer: Viewer | None) -> None:
        self.deps = deps
        self.viewer = viewer
        # per-request objects built from loaded rows (e.g. an event's roster), by key
        self.memo: dict[Hashable, Any] = {}

    def batched(
        self, batch: Callable[[Deps, list[K]], Coroutine[Any, Any, list[V]]]
    ) -> DataLoader[K, V]:
        """A loader over a batch function that takes the app's deps."""
        return DataLoader(partial(batch, self.deps))

    def scoped(
        self, batch: Callable[[Deps, Viewer | None, list[K]], Coroutine[Any, Any, list[V]]]
    ) -> DataLoader[K, V]:
        """A loader scoped to the viewer: what they may not see loads as None."""
        return DataLoader(partial(batch, self.deps, self.viewer))
