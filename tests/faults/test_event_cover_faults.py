"""Event cover faults (issue 18): the SQL store failing when the cover is written changes no
cover; a file uploaded on the way stays shared in the album (as `uploadMedia` would keep it),
and the client's retry with the same file reuses it: one media, never two."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

from stores import events as events_store
from tests import media_samples as samples
from tests.factories import crew

SET = """mutation($input: SetEventCoverInput!) { setEventCover(input: $input) {
  event { cover { id } } errors { code } } }"""
READ = """query($id: ID!) { event(id: $id) { version cover { id }
  albums { mediaCount } } }"""


async def read(api: Any, user: dict[str, Any], event_id: str) -> dict[str, Any]:
    result = await api.execute(READ, {"id": event_id}, token=user["token"])
    assert "errors" not in result, result
    return result["data"]["event"]  # type: ignore[no-any-return]


async def test_a_failed_cover_write_changes_nothing_and_the_retry_reuses_the_upload(
    api, accounts, events, monkeypatch
):
    c = await crew(accounts, events, 2)
    organizer, eid = c["people"][1], c["event"]["id"]
    before = await read(api, organizer, eid)
    real = events_store.save_event

    async def fails(*_: Any, **__: Any) -> Any:
        raise OperationalError("UPDATE events", {}, Exception("injected: server has gone away"))

    photo = samples.jpeg()

    async def send() -> Any:
        return await api.upload(
            SET,
            {"input": {"eventId": eid, "upload": None}},
            {"variables.input.upload": ("cover.jpg", photo, "image/jpeg")},
            token=organizer["token"],
        )

    monkeypatch.setattr(events_store, "save_event", fails)
    failed = (await send()).json()
    assert failed["data"] is None, failed
    assert [e["extensions"]["code"] for e in failed["errors"]] == ["INTERNAL_SERVER_ERROR"]
    assert "gone away" not in str(failed) and "UPDATE" not in str(failed)
    after = await read(api, organizer, eid)
    assert after["cover"] is None and after["version"] == before["version"]
    assert sum(a["mediaCount"] for a in after["albums"]) == 1  # shared, as uploadMedia would

    monkeypatch.setattr(events_store, "save_event", real)
    retried = (await send()).json()["data"]["setEventCover"]
    assert retried["errors"] == [] and retried["event"]["cover"] is not None
    final = await read(api, organizer, eid)
    assert final["cover"] == retried["event"]["cover"]
    assert sum(a["mediaCount"] for a in final["albums"]) == 1  # the retry reused the file
