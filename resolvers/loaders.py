"""Every domain's loaders in one per-request object (`info.context.loaders`)."""

from __future__ import annotations

from resolvers.accounts import AccountLoaders
from resolvers.albums import AlbumLoaders
from resolvers.chat import ChatLoaders
from resolvers.date_polls import DatePollLoaders
from resolvers.events import EventLoaders
from resolvers.expenses import ExpenseLoaders
from resolvers.invitations import InvitationLoaders
from resolvers.media import MediaLoaders
from resolvers.projections import ProjectionLoaders
from resolvers.tasks import TaskLoaders


class Loaders(
    AccountLoaders,
    EventLoaders,
    InvitationLoaders,
    TaskLoaders,
    DatePollLoaders,
    ExpenseLoaders,
    ProjectionLoaders,
    ChatLoaders,
    MediaLoaders,
    AlbumLoaders,
):
    """One set per request: batches and caches relation loads, each made on first use."""
