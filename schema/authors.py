"""People as shown next to what they wrote (chat messages, media, comments): from their user
snapshot, so a profile change shows on old content too."""

from __future__ import annotations

import strawberry

from resolvers import media_links
from resolvers.projections import display_name
from schema.accounts import User
from schema.context import Info


@strawberry.type(
    description="Who wrote a chat message or a comment, or uploaded a media, as their profile "
    "is now (a profile change shows on old content too)."
)
class ChatAuthor:
    user_id: strawberry.Private[int]
    display_name: str = strawberry.field(
        description='Their first and last name; "Deleted user" once the account is deleted.'
    )
    username: str | None = strawberry.field(
        description="Their username; null once the account is deleted."
    )
    avatar_url: str | None = strawberry.field(
        description="A signed URL of their 64-pixel profile picture (square WebP), which "
        "expires after about a quarter of an hour; null without a picture (and until a new "
        "profile is copied for display, moments after a sign-up)."
    )

    @strawberry.field(description="Their account; null once it is deleted.")
    async def user(self, info: Info) -> User | None:
        row = await info.context.loaders.user_by_id.load(self.user_id)
        return User(row=row) if row is not None else None


async def chat_person(info: Info, user_id: int) -> ChatAuthor:
    """A person as shown in the chat: from their user snapshot (so a profile change shows on
    old messages), else their account, else "Deleted user"."""
    snapshot = await info.context.loaders.user_snapshot.load(user_id)
    if snapshot is not None and not snapshot.deleted:
        url = (
            media_links.avatar_url(info.context.deps, snapshot.avatar_key, "64")
            if snapshot.avatar_key
            else None
        )
        return ChatAuthor(
            user_id=user_id,
            display_name=snapshot.display_name,
            username=snapshot.username,
            avatar_url=url,
        )
    row = await info.context.loaders.user_by_id.load(user_id)
    if row is None:
        return ChatAuthor(
            user_id=user_id, display_name="Deleted user", username=None, avatar_url=None
        )
    return ChatAuthor(
        user_id=user_id, display_name=display_name(row), username=row.username, avatar_url=None
    )
