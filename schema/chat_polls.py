"""Polls in chat: `Message.poll`, the poll input of sendMessage, votePoll and closePoll inputs
(the mutations and the live change are in schema/chat.py, next to the other message ones)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay

from resolvers import chat_polls as uc
from schema.authors import ChatAuthor, chat_person
from schema.context import Info
from schema.core import MAX_PAGE, page_size
from stores import chat as store

VOTERS_PAGE = 10


def _viewer_id(info: Info) -> int | None:
    viewer = info.context.viewer
    return viewer.user_id if viewer is not None else None


@strawberry.type(description="One answer of a poll.")
class PollOption:
    poll: strawberry.Private[store.Poll]
    option: strawberry.Private[store.PollOption]

    @strawberry.field(description='Its id in this poll ("o1" to "o10"), for votePoll.')
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.option.id)

    @strawberry.field(description="The answer's text.")
    def text(self) -> str:
        return self.option.text

    @strawberry.field(description="How many people chose it.")
    def vote_count(self) -> int:
        return len(self.poll.voters_of(self.option.id))

    @strawberry.field(description="Whether you chose it.")
    def viewer_voted(self, info: Info) -> bool:
        me = _viewer_id(info)
        return me is not None and self.option.id in self.poll.choice_of(me)

    @strawberry.field(
        description="Who chose it, in the order they voted (the first `first`); always empty "
        "in an anonymous poll, for everyone (its author too)."
    )
    async def voters(
        self,
        info: Info,
        first: Annotated[
            int,
            strawberry.argument(description=f"How many, 0 to {MAX_PAGE} (default {VOTERS_PAGE})."),
        ] = VOTERS_PAGE,
    ) -> list[ChatAuthor]:
        size = page_size(first)
        if self.poll.anonymous:
            return []
        ids = self.poll.voters_of(self.option.id)[:size]
        return list(await asyncio.gather(*(chat_person(info, i) for i in ids)))


@strawberry.type(
    description="A poll carried by a chat message: participants vote with votePoll, and "
    "everyone watching `chatEvents` gets each change (MessagePollChanged)."
)
class Poll:
    poll: strawberry.Private[store.Poll]

    @strawberry.field(description="The question.")
    def question(self) -> str:
        return self.poll.question

    @strawberry.field(
        description=f"The answers, in the order given ({uc.MIN_OPTIONS} to {uc.MAX_OPTIONS})."
    )
    def options(self) -> list[PollOption]:
        return [PollOption(poll=self.poll, option=o) for o in self.poll.options]

    @strawberry.field(description="Whether a voter may choose several answers.")
    def multiple_choice(self) -> bool:
        return self.poll.multiple_choice

    @strawberry.field(description="Whether the voters stay hidden (counts only, for everyone).")
    def anonymous(self) -> bool:
        return self.poll.anonymous

    @strawberry.field(description="When it closes by itself (ISO-8601, UTC); null: never.")
    def closes_at(self) -> datetime | None:
        return self.poll.closes_at

    @strawberry.field(
        description="Whether voting is over: `closesAt` has passed, or its author or an "
        "organizer closed it (closePoll)."
    )
    def closed(self, info: Info) -> bool:
        return self.poll.is_closed(info.context.deps.clock())

    @strawberry.field(description="How many people voted (each once, whatever they chose).")
    def total_voters(self) -> int:
        return len(self.poll.votes)

    @strawberry.field(description="The answers you chose (option ids); empty if you did not vote.")
    def viewer_option_ids(self, info: Info) -> list[strawberry.ID]:
        me = _viewer_id(info)
        return [strawberry.ID(i) for i in self.poll.choice_of(me)] if me is not None else []


@strawberry.input(description="A poll to attach to a new message.")
class PollInput:
    question: str = strawberry.field(
        description=f"The question: one line, 1 to {uc.MAX_QUESTION} characters after trimming."
    )
    options: list[str] = strawberry.field(
        description=f"The answers, {uc.MIN_OPTIONS} to {uc.MAX_OPTIONS}: one line each, 1 to "
        f"{uc.MAX_OPTION} characters after trimming, all different (ignoring case)."
    )
    multiple_choice: bool = strawberry.field(
        default=False, description="Let voters choose several answers (default false)."
    )
    anonymous: bool = strawberry.field(
        default=False,
        description="Hide who voted from everyone, the author too (default false).",
    )
    closes_at: datetime | None = strawberry.field(
        default=None,
        description=f"When voting ends by itself: in the future, at most {uc.MAX_OPEN_DAYS} "
        "days ahead, with an offset. Null: open until closed with closePoll.",
    )

    def draft(self) -> uc.PollDraft:
        return uc.PollDraft(
            question=self.question,
            options=self.options,
            multiple_choice=self.multiple_choice,
            anonymous=self.anonymous,
            closes_at=self.closes_at,
        )


@strawberry.input(description="Your answer to a poll.")
class VotePollInput:
    message_id: relay.GlobalID = strawberry.field(description="The message carrying the poll.")
    option_ids: list[strawberry.ID] = strawberry.field(
        description="The option ids you choose, replacing your earlier choice: exactly one "
        "in a single-choice poll, any of them in a multiple-choice one; empty withdraws your "
        "vote."
    )


@strawberry.input(description="A poll to close.")
class ClosePollInput:
    message_id: relay.GlobalID = strawberry.field(description="The message carrying the poll.")
