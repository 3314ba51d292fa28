"""Id arguments that name a person of an event (an assignee, a payer, a share, a settlement's
parties): a Participant id, or the User id of the same person in that event. Tasks and expenses
both take them, so the lookup lives here, below both."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stores import events as event_store
from stores.events import Participant


@dataclass(frozen=True, order=True)
class PersonId:
    """A decoded person argument: exactly one key is set; neither for an id of another kind
    (a Task id, a malformed id), which the use case reports as invalid input."""

    participant_id: int = 0
    user_id: int = 0

    @property
    def of_wrong_kind(self) -> bool:
        return not (self.participant_id or self.user_id)


PersonRef = int | PersonId  # a bare int is a participant id (callers below the API)


def as_person(ref: PersonRef) -> PersonId:
    return ref if isinstance(ref, PersonId) else PersonId(participant_id=ref)


async def participants_named(
    db: Any, event_id: int, refs: Sequence[PersonRef]
) -> list[Participant | None]:
    """The participant of the event each ref names, active or not; None where there is none
    (an unknown id, another event's participant, a user who is not in the event, a ref of the
    wrong kind). One statement: by participant ids, or the event's roster when a user id is
    among them."""
    people = [as_person(r) for r in refs]
    if any(p.user_id for p in people):
        found = await event_store.participants_of_events(db, [event_id], active_only=False)
    else:
        found = await event_store.participants_by_ids(
            db, [p.participant_id for p in people if p.participant_id]
        )
    by_id = {p.id: p for p in found if p.event_id == event_id and p.id is not None}
    by_user = {p.user_id: p for p in by_id.values() if p.user_id is not None}
    return [
        by_id.get(p.participant_id)
        if p.participant_id
        else by_user.get(p.user_id)
        if p.user_id
        else None
        for p in people
    ]
