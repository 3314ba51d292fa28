"""An event's cover (issue 18): chosen from its images or uploaded on the way, shown in
`myEvents`; organizers only; a file that is not an image, or one of another event, is refused and
changes nothing; a deleted cover reads as none."""

from __future__ import annotations

from typing import Any

from tests import media_samples as samples
from tests.factories import crew
from tests.support import assert_error
from tests.support.media import uploaded

SET = """mutation($input: SetEventCoverInput!) { setEventCover(input: $input) {
  event { id version cover { id kind urls { thumbnail } } } errors { code field message } } }"""
COVER = """query($id: ID!) { event(id: $id) { cover { id } } }"""
MINE = """{ myEvents(first: 50) { edges { node { id cover { id urls { preview } } } } } }"""
DELETE_MEDIA = """mutation($id: ID!) { deleteMedia(input: {mediaId: $id}) {
  errors { code } } }"""


async def cover_of(api: Any, user: dict[str, Any], event_id: str) -> Any:
    result = await api.execute(COVER, {"id": event_id}, token=user["token"])
    assert "errors" not in result, result
    return result["data"]["event"]["cover"]


async def set_cover(api: Any, user: dict[str, Any], **input_: Any) -> dict[str, Any]:
    return await api.execute(SET, {"input": input_}, token=user["token"])  # type: ignore[no-any-return]


async def test_an_organizer_chooses_an_image_and_it_shows_in_my_events(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner, organizer, participant = c["people"]
    eid = c["event"]["id"]
    photo = (await uploaded(api, participant, eid, [("beach.jpg", samples.jpeg())]))[0]
    result = await set_cover(api, organizer, eventId=eid, mediaId=photo["id"])
    payload = result["data"]["setEventCover"]
    assert payload["errors"] == [], payload
    assert payload["event"]["cover"]["id"] == photo["id"]
    assert payload["event"]["cover"]["urls"]["thumbnail"].startswith("http")
    mine = await api.execute(MINE, token=participant["token"])
    node = next(e["node"] for e in mine["data"]["myEvents"]["edges"] if e["node"]["id"] == eid)
    assert node["cover"]["id"] == photo["id"]
    # cleared
    cleared = (await set_cover(api, owner, eventId=eid))["data"]["setEventCover"]
    assert cleared["errors"] == [] and cleared["event"]["cover"] is None


async def test_a_cover_uploaded_on_the_way_is_shared_in_the_event(api, accounts, events):
    c = await crew(accounts, events, 2)
    organizer, eid = c["people"][1], c["event"]["id"]
    response = await api.upload(
        SET,
        {"input": {"eventId": eid, "upload": None}},
        {"variables.input.upload": ("cover.png", samples.png(), "image/png")},
        token=organizer["token"],
    )
    payload = response.json()["data"]["setEventCover"]
    assert payload["errors"] == [], payload
    assert payload["event"]["cover"]["kind"] == "IMAGE"
    assert (await cover_of(api, c["people"][0], eid))["id"] == payload["event"]["cover"]["id"]


async def test_only_an_image_of_this_event_is_a_cover(api, accounts, events):
    c = await crew(accounts, events, 2)
    organizer, eid = c["people"][1], c["event"]["id"]
    other = await crew(accounts, events, 2)
    theirs = (
        await uploaded(api, other["people"][0], other["event"]["id"], [("a.jpg", samples.jpeg())])
    )[0]
    document = (await uploaded(api, organizer, eid, [("notes.pdf", samples.pdf())]))[0]
    before = await cover_of(api, organizer, eid)
    for media_id, code in (
        (theirs["id"], "MEDIA_NOT_FOUND"),
        (document["id"], "UNSUPPORTED_MEDIA_TYPE"),
    ):
        payload = (await set_cover(api, organizer, eventId=eid, mediaId=media_id))["data"][
            "setEventCover"
        ]
        assert payload["event"] is None
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            (code, ["input", "mediaId"])
        ]
    assert await cover_of(api, organizer, eid) == before is None
    # a document uploaded as the cover is refused and not kept
    response = await api.upload(
        SET,
        {"input": {"eventId": eid, "upload": None}},
        {"variables.input.upload": ("notes.pdf", samples.pdf(), "application/pdf")},
        token=organizer["token"],
    )
    payload = response.json()["data"]["setEventCover"]
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("UNSUPPORTED_MEDIA_TYPE", ["input", "upload"])
    ]
    listed = await api.execute(
        "query($id: ID!) { event(id: $id) { albums { mediaCount } } }",
        {"id": eid},
        token=organizer["token"],
    )
    assert sum(a["mediaCount"] for a in listed["data"]["event"]["albums"]) == 1


async def test_participants_may_not_and_outsiders_see_nothing(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner, _, participant = c["people"]
    eid = c["event"]["id"]
    photo = (await uploaded(api, participant, eid, [("me.jpg", samples.jpeg())]))[0]
    assert_error(await set_cover(api, participant, eventId=eid, mediaId=photo["id"]), "FORBIDDEN")
    outsider = await accounts.user()
    assert_error(await set_cover(api, outsider, eventId=eid, mediaId=photo["id"]), "NOT_FOUND")
    assert await cover_of(api, owner, eid) is None


async def test_a_deleted_cover_reads_as_none(api, accounts, events):
    c = await crew(accounts, events, 2)
    owner, eid = c["people"][0], c["event"]["id"]
    photo = (await uploaded(api, owner, eid, [("x.jpg", samples.jpeg())]))[0]
    assert (await set_cover(api, owner, eventId=eid, mediaId=photo["id"]))["data"]["setEventCover"][
        "errors"
    ] == []
    deleted = await api.execute(DELETE_MEDIA, {"id": photo["id"]}, token=owner["token"])
    assert deleted["data"]["deleteMedia"]["errors"] == [], deleted
    assert await cover_of(api, owner, eid) is None
