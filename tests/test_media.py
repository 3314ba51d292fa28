"""Media through GraphQL multipart and the signed file URLs: every accepted type, hostile files,
privacy of locations, who may fetch what, dedupe, quotas, albums, comments, likes, deletion
leaving no orphan files, notifications, chat attachments and avatars."""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from resolvers import media as media_uc
from resolvers import media_links
from stores import media as media_store
from stores.files import MEDIA, FileStore
from tests import media_samples as samples
from tests.factories import crew
from tests.support import assert_error, assert_payload_error, drain_outbox
from tests.support.media import MEDIA_FIELDS, UPLOAD, fetch, mutate, stored_files, upload, uploaded

NODE = f"""query($id: ID!) {{ node(id: $id) {{ ... on Media {{ {MEDIA_FIELDS} }} }} }}"""


def exif_gps(content: bytes) -> dict[int, Any]:
    return dict(Image.open(io.BytesIO(content)).getexif().get_ifd(0x8825))


ACCEPTED: list[tuple[str, Callable[[], bytes], str, str]] = [
    ("a.jpg", samples.jpeg, "IMAGE", "image/jpeg"),
    ("b.png", samples.png, "IMAGE", "image/png"),
    ("c.webp", samples.webp, "IMAGE", "image/webp"),
    ("d.gif", samples.gif, "IMAGE", "image/gif"),
    ("e.mp4", samples.mp4, "VIDEO", "video/mp4"),
    ("f.mov", samples.mov, "VIDEO", "video/quicktime"),
    ("g.pdf", samples.pdf, "DOCUMENT", "application/pdf"),
]


async def test_each_accepted_type_is_stored(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    alice = c["people"][2]
    files = [(name, make()) for name, make, _, _ in ACCEPTED]
    media = await uploaded(api, alice, c["event"]["id"], files, caption="Day one")
    assert [(m["kind"], m["mimeType"]) for m in media] == [
        ("IMAGE", "image/jpeg"),
        ("IMAGE", "image/png"),
        ("IMAGE", "image/webp"),
        ("IMAGE", "image/gif"),
        ("VIDEO", "video/mp4"),
        ("VIDEO", "video/quicktime"),
        ("DOCUMENT", "application/pdf"),
    ]
    assert all(m["caption"] == "Day one" and m["album"]["isDefault"] for m in media)
    assert [m["size"] for m in media] == [len(f[1]) for f in files]


async def test_a_jpeg_keeps_its_size_exif_and_time_taken(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    [jpeg] = await uploaded(api, c["people"][2], c["event"]["id"], [("a.jpg", samples.jpeg())])
    assert (jpeg["width"], jpeg["height"]) == (1200, 800)
    assert jpeg["exif"]["make"] == "Canon" and jpeg["exif"]["exposureTime"] == "1/250"
    assert jpeg["exif"]["iso"] == 400
    assert jpeg["takenAt"] == "2030-06-01T14:30:00+02:00"


@pytest.mark.parametrize(
    ("name", "make", "kind", "mime"), ACCEPTED, ids=[mime for _, _, _, mime in ACCEPTED]
)
async def test_each_accepted_type_is_served(
    name, make, kind, mime, api, http, accounts, events, server
):
    c = await crew(accounts, events, 3)
    [m] = await uploaded(api, c["people"][2], c["event"]["id"], [(name, make())])
    assert (m["kind"], m["mimeType"]) == (kind, mime)
    response = await fetch(http, m["urls"]["original"])
    assert response.status_code == 200, (m["mimeType"], response.text)
    assert response.headers["content-type"].startswith(m["mimeType"])
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment" if m["kind"] == "DOCUMENT" else "inline")
    if m["kind"] == "IMAGE":
        for variant, bound in (("thumbnail", 256), ("preview", 1280)):
            got = await fetch(http, m["urls"][variant])
            assert got.headers["content-type"] == "image/webp"
            image = Image.open(io.BytesIO(got.content))
            assert max(image.size) <= bound and not image.getexif()
    else:
        assert m["urls"]["thumbnail"] is None and m["urls"]["preview"] is None


async def test_participants_see_media_and_outsiders_do_not(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    [png] = await uploaded(api, alice, c["event"]["id"], [("b.png", samples.png())])
    # the owner (another participant) sees it too; an outsider does not
    seen = await api.execute(NODE, {"id": png["id"]}, token=owner["token"])
    assert seen["data"]["node"]["mimeType"] == "image/png"
    outsider = await accounts.user()
    hidden = await api.execute(NODE, {"id": png["id"]}, token=outsider["token"])
    assert hidden["data"]["node"] is None


async def test_video_range_requests(api, http, accounts, events, server):
    c = await crew(accounts, events, 2)
    video = samples.mp4()
    media = await uploaded(api, c["people"][0], c["event"]["id"], [("v.mp4", video)])
    url = media[0]["urls"]["original"]
    part = await fetch(http, url, range="bytes=4-11")
    assert part.status_code == 206
    assert part.content == video[4:12]
    assert part.headers["content-range"] == f"bytes 4-11/{len(video)}"


async def located_photo(api: Any, accounts: Any, events: Any) -> dict[str, Any]:
    """A crew (owner, organizer, alice) and alice's photo taken with a GPS position."""
    c = await crew(accounts, events, 3)
    photo = (
        await uploaded(api, c["people"][2], c["event"]["id"], [("p.jpg", samples.jpeg(gps=True))])
    )[0]
    return {**c, "media": photo}


async def seen_by_organizer(api: Any, c: dict[str, Any]) -> dict[str, Any]:
    result = await api.execute(NODE, {"id": c["media"]["id"]}, token=c["people"][1]["token"])
    return result["data"]["node"]  # type: ignore[no-any-return]


async def test_the_uploader_sees_the_location_and_gets_the_file_as_it_was(
    api, http, accounts, events, server
):
    media = (await located_photo(api, accounts, events))["media"]
    assert media["location"]["latitude"] == pytest.approx(48.8584, abs=1e-3)
    assert media["location"]["longitude"] == pytest.approx(2.2945, abs=1e-3)
    mine = await fetch(http, media["urls"]["original"])
    assert exif_gps(mine.content)  # the uploader gets their file as it was


async def test_location_is_private_by_default(api, http, accounts, events, server):
    other = await seen_by_organizer(api, await located_photo(api, accounts, events))
    assert other["location"] is None and other["exif"]["make"] == "Canon"
    theirs = await fetch(http, other["urls"]["original"])
    assert theirs.status_code == 200 and exif_gps(theirs.content) == {}
    assert Image.open(io.BytesIO(theirs.content)).getexif()[0x010F] == "Canon"  # rest kept


@pytest.mark.parametrize("variant", ["thumbnail", "preview"])
async def test_variants_carry_no_exif(api, http, accounts, events, server, variant):
    other = await seen_by_organizer(api, await located_photo(api, accounts, events))
    got = await fetch(http, other["urls"][variant])
    assert b"Exif" not in got.content and not Image.open(io.BytesIO(got.content)).getexif()


async def test_a_shared_location_is_seen_by_others(api, http, accounts, events, server):
    c = await located_photo(api, accounts, events)
    shared = (
        await api.execute(
            """mutation($id: ID!) { updateMedia(input: {mediaId: $id,
        shareLocation: true}) { media { shareLocation } errors { code } } }""",
            {"id": c["media"]["id"]},
            token=c["people"][2]["token"],
        )
    )["data"]["updateMedia"]
    assert shared == {"media": {"shareLocation": True}, "errors": []}
    other = await seen_by_organizer(api, c)
    assert other["location"]["latitude"] == pytest.approx(48.8584, abs=1e-3)
    assert exif_gps((await fetch(http, other["urls"]["original"])).content)


async def test_only_the_uploader_edits_media(api, accounts, events, server):
    c = await located_photo(api, accounts, events)
    assert_error(
        await api.execute(
            """mutation($id: ID!) { updateMedia(input: {mediaId: $id,
        caption: "mine"}) { errors { code } } }""",
            {"id": c["media"]["id"]},
            token=c["people"][1]["token"],
        ),
        "FORBIDDEN",
    )


async def test_video_location_is_blanked_for_others(api, http, accounts, events, server):
    c = await crew(accounts, events, 2)
    owner, organizer = c["people"]
    media = (await uploaded(api, owner, c["event"]["id"], [("v.mp4", samples.mp4(gps=True))]))[0]
    assert media["location"] is not None
    own = (await fetch(http, media["urls"]["original"])).content
    other = (await api.execute(NODE, {"id": media["id"]}, token=organizer["token"]))["data"]["node"]
    theirs = (await fetch(http, other["urls"]["original"])).content
    assert other["location"] is None and len(theirs) == len(own) and theirs != own
    assert b"+48.8584" in own and b"+48.8584" not in theirs


@pytest.mark.parametrize("name", sorted(samples.HOSTILE))
async def test_hostile_files_are_refused_and_leave_nothing(name, api, accounts, events, server):
    content, file_name, code = samples.HOSTILE[name]
    c = await crew(accounts, events, 2)
    payload = await upload(api, c["people"][1], c["event"]["id"], [(file_name, content)])
    if not code:  # accepted, under a name of ours
        assert payload["errors"] == [] and len(payload["media"]) == 1
        media = payload["media"][0]
        assert "/" not in media["fileName"] and "\\" not in media["fileName"]
        assert "\x00" not in media["fileName"] and ".." not in media["fileName"].split(".")[0]
        found = await media_store.Media.find_all().to_list()
        assert len(found) == 1
        for path in media_uc.files(server.deps).files_of(MEDIA, found[0].storage_key):
            assert path.name.startswith(found[0].storage_key)
        return
    assert payload["media"] == []
    assert_payload_error(payload, code, ["input", "files", "0"])
    assert await media_store.Media.find_all().count() == 0
    assert stored_files(server) == set()
    assert not any(media_uc.files(server.deps).tmp.iterdir())


async def test_one_bad_file_refuses_the_whole_upload(api, accounts, events, server):
    c = await crew(accounts, events, 2)
    payload = await upload(
        api,
        c["people"][0],
        c["event"]["id"],
        [
            ("ok.jpg", samples.jpeg()),
            ("bad.svg", samples.HOSTILE["svg_script_named_png"][0]),
            ("ok.png", samples.png()),
        ],
    )
    assert payload["media"] == []
    assert [e["field"] for e in payload["errors"]] == [["input", "files", "1"]]
    assert stored_files(server) == set()
    assert await media_store.Media.find_all().count() == 0


async def test_multipart_needs_csrf_header_and_an_upload_mutation(api, accounts, events, server):
    c = await crew(accounts, events, 2)
    owner = c["people"][0]
    files = {"variables.input.files.0": ("a.jpg", samples.jpeg(), "image/jpeg")}
    variables = {"input": {"eventId": c["event"]["id"], "files": [None]}}
    refused = await api.upload(UPLOAD, variables, files, token=owner["token"], csrf=False)
    assert refused.status_code == 400 and "x-iven-csrf" in refused.text
    preflighted = await api.upload(
        UPLOAD,
        variables,
        files,
        token=owner["token"],
        csrf=False,
        headers={"apollo-require-preflight": "true"},
    )
    assert (
        preflighted.status_code == 200 and preflighted.json()["data"]["uploadMedia"]["errors"] == []
    )
    query = await api.upload(
        "query($f: Upload) { me { id } }",
        {"f": None},
        {"variables.f": ("a.jpg", b"x", "image/jpeg")},
        token=owner["token"],
    )
    assert query.status_code == 400 and "file uploads only" in query.text
    other = await api.upload(
        """mutation($f: Upload) { logout { ok } }""",
        {"f": None},
        {"variables.f": ("a.jpg", b"x", "image/jpeg")},
        token=owner["token"],
    )
    assert other.status_code == 400
    assert await media_store.Media.find_all().count() == 1
    # a JSON request cannot pass a string where a file is expected
    as_json = await api.execute(
        UPLOAD,
        {"input": {"eventId": c["event"]["id"], "files": ["/etc/passwd"]}},
        token=owner["token"],
    )
    assert as_json["data"]["uploadMedia"]["errors"][0]["code"] == "INVALID_FILE"


async def test_size_limits(api, accounts, events, server):
    c = await crew(accounts, events, 2)
    owner = c["people"][0]
    settings = server.deps.settings
    limits = (settings.media_max_file_bytes, settings.media_max_files)
    try:
        settings.media_max_file_bytes = 200_000
        settings.media_max_files = 3
        big = await upload(api, owner, c["event"]["id"], [("big.jpg", samples.oversized(300_000))])
        assert_payload_error(big, "FILE_TOO_LARGE", ["input", "files", "0"])
        many = await upload(
            api,
            owner,
            c["event"]["id"],
            [(f"{i}.png", samples.png(width=10 + i)) for i in range(4)],
        )
        assert_payload_error(many, "TOO_MANY_FILES")
    finally:
        settings.media_max_file_bytes, settings.media_max_files = limits
    assert stored_files(server) == set()
    # the request limit: refused while it is read, before any GraphQL
    server.app.upload_limit, limit = 100_000, server.app.upload_limit
    try:
        response = await api.upload(
            UPLOAD,
            {"input": {"eventId": c["event"]["id"], "files": [None]}},
            {"variables.input.files.0": ("a.jpg", samples.oversized(150_000), "image/jpeg")},
            token=owner["token"],
        )
        assert response.status_code == 413
    finally:
        server.app.upload_limit = limit
    assert stored_files(server) == set() and not any(media_uc.files(server.deps).tmp.iterdir())


async def test_identical_content_is_deduplicated_per_event(api, accounts, events, server):
    c = await crew(accounts, events, 2)
    owner, organizer = c["people"]
    photo = samples.jpeg()
    first = await uploaded(api, owner, c["event"]["id"], [("a.jpg", photo), ("b.jpg", photo)])
    assert first[0]["id"] == first[1]["id"]
    again = await uploaded(api, organizer, c["event"]["id"], [("c.jpg", photo)])
    assert again[0]["id"] == first[0]["id"]
    other_event = await events.create(owner["token"], title="Elsewhere")
    elsewhere = await uploaded(api, owner, other_event["id"], [("a.jpg", photo)])
    assert elsewhere[0]["id"] != first[0]["id"]
    assert len(stored_files(server)) == 2
    assert await media_store.usage(f"user:{_uid(owner)}") == 2 * len(photo)


def _uid(user: dict[str, Any]) -> int:

    return int(base64.b64decode(user["id"]).decode().split(":")[1])


async def test_quotas(api, accounts, events, server):
    c = await crew(accounts, events, 2)
    owner, organizer = c["people"]
    settings = server.deps.settings
    quotas = (settings.media_quota_user_bytes, settings.media_quota_event_bytes)
    a, b = samples.png(width=300), samples.png(width=301)
    try:
        settings.media_quota_user_bytes = len(a) + len(b) - 1
        first = await uploaded(api, owner, c["event"]["id"], [("a.png", a)])
        over = await upload(api, owner, c["event"]["id"], [("b.png", b)])
        assert_payload_error(over, "QUOTA_EXCEEDED")
        assert len(stored_files(server)) == 1
        settings.media_quota_user_bytes = 10**9
        settings.media_quota_event_bytes = len(a) + len(b) - 1
        assert_payload_error(
            await upload(api, organizer, c["event"]["id"], [("b.png", b)]), "QUOTA_EXCEEDED"
        )
        # deleting frees the space
        deleted = await api.execute(
            """mutation($id: ID!) { deleteMedia(input: {mediaId: $id}) {
            deletedMediaId errors { code } } }""",
            {"id": first[0]["id"]},
            token=owner["token"],
        )
        assert deleted["data"]["deleteMedia"]["errors"] == []
        await uploaded(api, organizer, c["event"]["id"], [("b.png", b)])
    finally:
        settings.media_quota_user_bytes, settings.media_quota_event_bytes = quotas
    assert await media_store.usage(f"user:{_uid(owner)}") == 0
    assert await media_store.usage(f"user:{_uid(organizer)}") == len(b)


async def signed_thumbnail(api: Any, accounts: Any, events: Any) -> dict[str, Any]:
    """A crew (owner, organizer, alice), alice's photo and its signed thumbnail URL."""
    c = await crew(accounts, events, 3)
    media = (await uploaded(api, c["people"][2], c["event"]["id"], [("a.jpg", samples.jpeg())]))[0]
    return {**c, "media": media, "url": media["urls"]["thumbnail"]}


async def test_a_signed_url_opens_its_file(api, http, accounts, events, server):
    s = await signed_thumbnail(api, accounts, events)
    assert (await fetch(http, s["url"])).status_code == 200


def _tampered(url: str) -> str:
    return url[:-1] + ("0" if url[-1] != "0" else "1")


@pytest.mark.parametrize(
    "alter",
    [
        _tampered,
        lambda url: url.replace("?u=", "?u=9").replace("&f=", "&f="),
        lambda url: url.replace("/thumbnail?", "/original?"),
    ],
    ids=["signature", "another-user", "another-variant"],
)
async def test_an_altered_url_is_refused(api, http, accounts, events, server, alter):
    s = await signed_thumbnail(api, accounts, events)
    assert (await fetch(http, alter(s["url"]))).status_code == 403


async def test_a_link_for_another_events_media_does_not_open_this_one(
    api, http, accounts, events, server
):
    s = await signed_thumbnail(api, accounts, events)
    owner = s["people"][0]
    other_event = await events.create(owner["token"], title="Other")
    other = (await uploaded(api, owner, other_event["id"], [("b.png", samples.png())]))[0]
    swapped = other["urls"]["thumbnail"].replace(_doc(other["id"]), _doc(s["media"]["id"]))
    assert (await fetch(http, swapped)).status_code == 403


async def test_an_expired_url_is_refused_without_paths(api, http, accounts, events, server):
    s = await signed_thumbnail(api, accounts, events)
    # expired: signed correctly, in the past
    doc = (await media_store.media_by_ids([_doc(s["media"]["id"])]))[0]
    assert doc is not None
    past = media_links.media_url(
        server.deps, doc, "thumbnail", _uid(s["people"][2]), now=time.time() - 2 * 3600
    )
    expired = await fetch(http, past or "")
    assert expired.status_code == 403 and "expired" in expired.text
    assert "/" not in expired.text.replace("</", "")  # no path in the answer


async def test_a_removed_participant_loses_access_with_the_links_they_had(
    api, http, accounts, events, server
):
    s = await signed_thumbnail(api, accounts, events)
    owner, url = s["people"][0], s["url"]
    assert (await fetch(http, url)).status_code == 200
    url_of_owner = (await api.execute(NODE, {"id": s["media"]["id"]}, token=owner["token"]))[
        "data"
    ]["node"]["urls"]["preview"]
    removed = await api.execute(
        """mutation($e: ID!, $id: ID!) { removeParticipant(input:
        {eventId: $e, participantId: $id}) { errors { code } } }""",
        {"e": s["event"]["id"], "id": s["pids"][2]},
        token=owner["token"],
    )
    assert removed["data"]["removeParticipant"]["errors"] == []
    assert (await fetch(http, url)).status_code == 403
    assert (await fetch(http, url_of_owner)).status_code == 200


async def test_malformed_media_paths_are_refused(api, http, accounts, events, server):
    s = await signed_thumbnail(api, accounts, events)
    assert (await fetch(http, "/media/nothing/original?u=1&f=0&exp=1&sig=x")).status_code == 403
    assert (await fetch(http, f"/media/{_doc(s['media']['id'])}/../../etc")).status_code == 404


def _doc(gid: str) -> str:

    return base64.b64decode(gid).decode().split(":", 1)[1]


ALBUMS = """query($id: ID!) { event(id: $id) { albums { id title isDefault mediaCount version
  cover { id } media(first: 10) { edges { node { id takenAt } } } } } }"""


async def albums_of(api: Any, user: dict[str, Any], event_id: str) -> list[dict[str, Any]]:
    result = await api.execute(ALBUMS, {"id": event_id}, token=user["token"])
    return result["data"]["event"]["albums"]  # type: ignore[no-any-return]


async def new_album(api: Any, user: dict[str, Any], event_id: str) -> dict[str, Any]:
    created = await mutate(
        api,
        user,
        "createAlbum",
        {"eventId": event_id, "title": " Beach ", "description": "Sunday"},
        "album { id title version }",
    )
    return created["album"]  # type: ignore[no-any-return]


async def beach_album(api: Any, accounts: Any, events: Any) -> dict[str, Any]:
    """A crew (owner, organizer, alice), the default album's id, and alice's album "Beach"
    holding a late and an early photo (in that upload order)."""
    c = await crew(accounts, events, 3)
    eid = c["event"]["id"]
    alice = c["people"][2]
    default_id = (await albums_of(api, alice, eid))[0]["id"]
    album = await new_album(api, alice, eid)
    late = samples.jpeg(taken="2030:06:02 10:00:00", width=300, height=200)
    early = samples.jpeg(taken="2030:06:01 09:00:00", width=301, height=200)
    media = await uploaded(
        api, alice, eid, [("late.jpg", late), ("early.jpg", early)], albumId=album["id"]
    )
    return {**c, "eid": eid, "default_id": default_id, "album": album, "media": media}


async def test_an_event_starts_with_one_default_album(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    albums = await albums_of(api, c["people"][2], c["event"]["id"])
    assert [(a["title"], a["isDefault"], a["mediaCount"]) for a in albums] == [("Photos", True, 0)]


async def test_creating_an_album_trims_its_title(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    album = await new_album(api, c["people"][2], c["event"]["id"])
    assert album["title"] == "Beach"


async def test_an_album_lists_media_by_time_taken_with_the_earliest_as_cover(
    api, accounts, events, server
):
    b = await beach_album(api, accounts, events)
    media = b["media"]
    listed = await albums_of(api, b["people"][0], b["eid"])
    beach = next(a for a in listed if a["id"] == b["album"]["id"])
    assert [e["node"]["id"] for e in beach["media"]["edges"]] == [media[1]["id"], media[0]["id"]]
    assert beach["mediaCount"] == 2 and beach["cover"]["id"] == media[1]["id"]


async def test_setting_an_album_cover(api, accounts, events, server):
    b = await beach_album(api, accounts, events)
    cover = await mutate(
        api,
        b["people"][2],
        "setAlbumCover",
        {"albumId": b["album"]["id"], "mediaId": b["media"][0]["id"]},
        "album { cover { id } version }",
    )
    assert cover["album"]["cover"]["id"] == b["media"][0]["id"]


async def test_an_outsider_cannot_update_an_album(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    album = await new_album(api, c["people"][2], c["event"]["id"])
    outsider = await accounts.user()
    assert_error(
        await api.execute(
            """mutation($a: ID!) { updateAlbum(input: {albumId: $a,
        title: "Mine"}) { errors { code } } }""",
            {"a": album["id"]},
            token=outsider["token"],
        ),
        "NOT_FOUND",
    )


async def test_an_album_update_with_a_stale_version_is_refused(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    album = await new_album(api, c["people"][2], c["event"]["id"])
    stale = await mutate(
        api,
        c["people"][1],
        "updateAlbum",
        {"albumId": album["id"], "title": "X", "expectedVersion": 99},
        "album { id }",
    )
    assert_payload_error(stale, "STALE")


async def test_an_organizer_renames_an_album_at_its_version(api, accounts, events, server):
    b = await beach_album(api, accounts, events)
    cover = await mutate(
        api,
        b["people"][2],
        "setAlbumCover",
        {"albumId": b["album"]["id"], "mediaId": b["media"][0]["id"]},
        "album { version }",
    )
    version = cover["album"]["version"]
    renamed = await mutate(
        api,
        b["people"][1],
        "updateAlbum",
        {"albumId": b["album"]["id"], "title": "Plage", "expectedVersion": version},
        "album { title version }",
    )
    assert renamed["album"] == {"title": "Plage", "version": version + 1}


async def test_moving_media_to_the_default_album(api, accounts, events, server):
    b = await beach_album(api, accounts, events)
    moved = await mutate(
        api,
        b["people"][2],
        "moveMedia",
        {"mediaIds": [b["media"][0]["id"]], "albumId": b["default_id"]},
        "media { album { id } }",
    )
    assert moved["media"] == [{"album": {"id": b["default_id"]}}]


async def test_the_default_album_cannot_be_deleted(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    default_id = (await albums_of(api, c["people"][2], c["event"]["id"]))[0]["id"]
    refused = await mutate(
        api, c["people"][1], "deleteAlbum", {"albumId": default_id}, "deletedAlbumId"
    )
    assert_payload_error(refused, "ALBUM_IS_DEFAULT")


async def test_deleting_an_album_moves_its_media_to_the_default_album(
    api, accounts, events, server
):
    b = await beach_album(api, accounts, events)
    owner, organizer, alice = b["people"]
    default_id = b["default_id"]
    # one photo already in the default album, one still in the deleted album: both end there
    await mutate(
        api,
        alice,
        "moveMedia",
        {"mediaIds": [b["media"][0]["id"]], "albumId": default_id},
        "media { album { id } }",
    )
    deleted = await mutate(
        api,
        organizer,
        "deleteAlbum",
        {"albumId": b["album"]["id"]},
        "deletedAlbumId defaultAlbum { id mediaCount }",
    )
    assert deleted["defaultAlbum"] == {"id": default_id, "mediaCount": 2}
    listed = await albums_of(api, owner, b["eid"])
    assert [a["id"] for a in listed] == [default_id]


UPDATE_ALBUM = """mutation($a: ID!) { updateAlbum(input: {albumId: $a,
    title: "Bob's"}) { errors { code } } }"""
DELETE_ALBUM = """mutation($a: ID!) { deleteAlbum(input: {albumId: $a}) {
    errors { code } } }"""


@pytest.mark.parametrize("mutation", [UPDATE_ALBUM, DELETE_ALBUM], ids=["update", "delete"])
async def test_a_participant_cannot_change_anothers_album(mutation, api, accounts, events, server):
    c = await crew(accounts, events, 4)
    _owner, _organizer, alice, bob = c["people"]
    album = (
        await mutate(
            api,
            alice,
            "createAlbum",
            {"eventId": c["event"]["id"], "title": "Alice's"},
            "album { id }",
        )
    )["album"]
    assert_error(
        await api.execute(mutation, {"a": album["id"]}, token=bob["token"]),
        "FORBIDDEN",
    )


async def test_a_participant_cannot_move_media_into_anothers_album(api, accounts, events, server):
    c = await crew(accounts, events, 4)
    _owner, _organizer, alice, bob = c["people"]
    album = (
        await mutate(
            api,
            alice,
            "createAlbum",
            {"eventId": c["event"]["id"], "title": "Alice's"},
            "album { id }",
        )
    )["album"]
    photo = (await uploaded(api, alice, c["event"]["id"], [("a.png", samples.png())]))[0]
    assert_error(
        await api.execute(
            """mutation($m: ID!, $a: ID!) { moveMedia(input: {mediaIds:
        [$m], albumId: $a}) { errors { code } } }""",
            {"m": photo["id"], "a": album["id"]},
            token=bob["token"],
        ),
        "FORBIDDEN",
    )


async def test_an_outsider_cannot_create_an_album(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    outsider = await accounts.user()
    assert_error(
        await api.execute(
            """mutation($e: ID!) { createAlbum(input: {eventId: $e,
        title: "x"}) { errors { code } } }""",
            {"e": c["event"]["id"]},
            token=outsider["token"],
        ),
        "NOT_FOUND",
    )


async def test_an_album_needs_a_title(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    bad = await mutate(
        api,
        c["people"][2],
        "createAlbum",
        {"eventId": c["event"]["id"], "title": " "},
        "album { id }",
    )
    assert_payload_error(bad, "INVALID_TITLE", ["input", "title"])


COMMENTS = """query($id: ID!) { node(id: $id) { ... on Media { likeCount viewerLiked commentCount
  comments(first: 10) { edges { node { id body author { username } editedAt } } } } } }"""


async def photo_in_crew(api: Any, accounts: Any, events: Any) -> dict[str, Any]:
    """A crew (owner, organizer, alice) and alice's photo."""
    c = await crew(accounts, events, 3)
    photo = (await uploaded(api, c["people"][2], c["event"]["id"], [("a.png", samples.png())]))[0]
    return {**c, "photo": photo}


async def comment_on(api: Any, user: dict[str, Any], photo: dict[str, Any], body: str) -> Any:
    said = await mutate(
        api,
        user,
        "commentOnMedia",
        {"mediaId": photo["id"], "body": body},
        "comment { id body author { username } }",
    )
    return said["comment"]


async def seen_by(api: Any, user: dict[str, Any], photo: dict[str, Any]) -> dict[str, Any]:
    result = await api.execute(COMMENTS, {"id": photo["id"]}, token=user["token"])
    return result["data"]["node"]  # type: ignore[no-any-return]


LIKE_FIELDS = "media { likeCount viewerLiked }"


async def test_a_comment_is_trimmed_and_signed(api, accounts, events, server):
    p = await photo_in_crew(api, accounts, events)
    owner = p["people"][0]
    comment = await comment_on(api, owner, p["photo"], " Nice! ")
    assert comment["body"] == "Nice!" and comment["author"]["username"] == owner["username"]


async def test_a_blank_comment_is_refused(api, accounts, events, server):
    p = await photo_in_crew(api, accounts, events)
    assert_payload_error(
        await mutate(
            api,
            p["people"][0],
            "commentOnMedia",
            {"mediaId": p["photo"]["id"], "body": "  "},
            "comment { id }",
        ),
        "REQUIRED",
    )


async def test_only_its_author_edits_a_comment(api, accounts, events, server):
    p = await photo_in_crew(api, accounts, events)
    owner, _, alice = p["people"]
    comment = await comment_on(api, owner, p["photo"], " Nice! ")
    assert_error(
        await api.execute(
            """mutation($c: ID!) { editMediaComment(input: {commentId: $c,
        body: "x"}) { errors { code } } }""",
            {"c": comment["id"]},
            token=alice["token"],
        ),
        "FORBIDDEN",
    )
    edited = await mutate(
        api,
        owner,
        "editMediaComment",
        {"commentId": comment["id"], "body": "Very nice"},
        "comment { body editedAt }",
    )
    assert edited["comment"]["body"] == "Very nice" and edited["comment"]["editedAt"]
    seen = await seen_by(api, alice, p["photo"])
    assert seen["commentCount"] == 1
    assert [e["node"]["body"] for e in seen["comments"]["edges"]] == ["Very nice"]


async def test_liking_twice_counts_once(api, accounts, events, server):
    p = await photo_in_crew(api, accounts, events)
    organizer, alice = p["people"][1], p["people"][2]
    first = await mutate(api, organizer, "likeMedia", {"mediaId": p["photo"]["id"]}, LIKE_FIELDS)
    assert first["media"] == {"likeCount": 1, "viewerLiked": True}
    second = await mutate(api, organizer, "likeMedia", {"mediaId": p["photo"]["id"]}, LIKE_FIELDS)
    assert second["media"] == {"likeCount": 1, "viewerLiked": True}
    seen = await seen_by(api, alice, p["photo"])
    assert seen["likeCount"] == 1 and seen["viewerLiked"] is False


async def test_unliking(api, accounts, events, server):
    p = await photo_in_crew(api, accounts, events)
    organizer = p["people"][1]
    await mutate(api, organizer, "likeMedia", {"mediaId": p["photo"]["id"]}, LIKE_FIELDS)
    unliked = await mutate(
        api, organizer, "unlikeMedia", {"mediaId": p["photo"]["id"]}, LIKE_FIELDS
    )
    assert unliked["media"] == {"likeCount": 0, "viewerLiked": False}


async def test_an_organizer_deletes_a_comment(api, accounts, events, server):
    p = await photo_in_crew(api, accounts, events)
    owner, organizer, alice = p["people"]
    comment = await comment_on(api, owner, p["photo"], "Very nice")
    gone = await mutate(
        api, organizer, "deleteMediaComment", {"commentId": comment["id"]}, "deletedCommentId"
    )  # an organizer moderates
    assert gone["deletedCommentId"] == comment["id"]
    seen = await seen_by(api, alice, p["photo"])
    assert seen["commentCount"] == 0 and seen["comments"]["edges"] == []


async def test_notifications_and_activity(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    owner, organizer, alice = c["people"]
    photos = [(f"{i}.png", samples.png(width=20 + i)) for i in range(10)]
    media = await uploaded(api, alice, c["event"]["id"], photos)
    await mutate(
        api, owner, "commentOnMedia", {"mediaId": media[0]["id"], "body": "Wow"}, "comment { id }"
    )
    await mutate(api, organizer, "likeMedia", {"mediaId": media[0]["id"]}, "media { id }")
    await mutate(api, alice, "likeMedia", {"mediaId": media[1]["id"]}, "media { id }")
    await drain_outbox(server)
    query = """{ notifications(first: 10) { edges { node { type title targetId } } } }"""
    seen_by_owner = (await api.execute(query, token=owner["token"]))["data"]["notifications"]
    added = [e["node"] for e in seen_by_owner["edges"] if e["node"]["type"] == "MEDIA_ADDED"]
    assert len(added) == 1 and "added 10 photos" in added[0]["title"]
    assert added[0]["targetId"] == media[0]["id"]
    seen_by_alice = (await api.execute(query, token=alice["token"]))["data"]["notifications"]
    types = sorted(e["node"]["type"] for e in seen_by_alice["edges"])
    assert types == ["MEDIA_COMMENTED", "MEDIA_LIKED"]  # not her own upload, nor her own like
    activity = (
        await api.execute(
            """query($id: ID!) { event(id: $id) { activity(first: 20) {
        edges { node { verb subjectType subjectId details } } } } }""",
            {"id": c["event"]["id"]},
            token=owner["token"],
        )
    )["data"]["event"]["activity"]["edges"]
    verbs = [e["node"]["verb"] for e in activity]
    assert {"MEDIA_ADDED", "MEDIA_COMMENTED", "MEDIA_LIKED"} <= set(verbs)
    added_entry = next(e["node"] for e in activity if e["node"]["verb"] == "MEDIA_ADDED")
    assert added_entry["subjectId"] == media[0]["id"]
    # details name media, albums, comments and people by global ids `node(id:)` resolves
    details = added_entry["details"]
    assert details["mediaIds"] == [m["id"] for m in media] and details["count"] == 10
    commented = next(e["node"] for e in activity if e["node"]["verb"] == "MEDIA_COMMENTED")
    assert commented["details"]["uploaderUserId"] == alice["id"]
    found = await api.execute(
        """query($ids: [ID!]!) { nodes(ids: $ids) { __typename id
        ... on Album { isDefault } ... on MediaComment { body } } }""",
        {"ids": [details["albumId"], commented["details"]["commentId"], details["mediaIds"][1]]},
        token=owner["token"],
    )
    album, comment, second = found["data"]["nodes"]
    assert album == {"__typename": "Album", "id": details["albumId"], "isDefault": True}
    assert comment["__typename"] == "MediaComment" and comment["body"] == "Wow"
    assert second == {"__typename": "Media", "id": media[1]["id"]}


async def test_deleting_media_and_events_leaves_no_files(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    owner, organizer, alice = c["people"]
    eid = c["event"]["id"]
    mine = await uploaded(
        api, alice, eid, [("a.jpg", samples.jpeg(gps=True)), ("b.mp4", samples.mp4(gps=True))]
    )
    await mutate(
        api, owner, "commentOnMedia", {"mediaId": mine[0]["id"], "body": "Hi"}, "comment { id }"
    )
    outsider = await accounts.user()
    assert_error(
        await api.execute(
            """mutation($id: ID!) { deleteMedia(input: {mediaId: $id}) {
        errors { code } } }""",
            {"id": mine[0]["id"]},
            token=outsider["token"],
        ),
        "NOT_FOUND",
    )
    keys = stored_files(server)
    assert len(keys) == 2
    first = (await media_store.media_by_ids([_doc(mine[0]["id"])]))[0]
    assert first is not None
    first_key = first.storage_key
    deleted = await mutate(
        api, organizer, "deleteMedia", {"mediaId": mine[0]["id"]}, "deletedMediaId"
    )
    assert deleted["deletedMediaId"] == mine[0]["id"]
    assert first_key not in stored_files(server)
    assert await media_store.MediaComment.find_all().count() == 0
    assert (await api.execute(NODE, {"id": mine[0]["id"]}, token=alice["token"]))["data"][
        "node"
    ] is None

    deleted_event = await api.execute(
        """mutation($id: ID!) { deleteEvent(input: {eventId: $id})
        { errors { code } } }""",
        {"id": eid},
        token=owner["token"],
    )
    assert deleted_event["data"]["deleteEvent"]["errors"] == []
    await drain_outbox(server)
    assert stored_files(server) == set()
    assert await media_store.Media.find_all().count() == 0
    assert await media_store.Album.find_all().count() == 0
    assert await media_store.usage(f"user:{_uid(alice)}") == 0


async def test_chat_attachments(api, accounts, events, server):
    c = await crew(accounts, events, 2)
    owner, organizer = c["people"]
    photo = (await uploaded(api, owner, c["event"]["id"], [("a.png", samples.png())]))[0]
    send = """mutation($input: SendMessageInput!) { sendMessage(input: $input) {
        message { body attachments { id urls { thumbnail } } } errors { code field } } }"""
    sent = (
        await api.execute(
            send,
            {"input": {"eventId": c["event"]["id"], "body": "", "attachmentIds": [photo["id"]]}},
            token=organizer["token"],
        )
    )["data"]["sendMessage"]
    assert sent["errors"] == [] and sent["message"]["attachments"][0]["id"] == photo["id"]
    other_event = await events.create(owner["token"], title="Other")
    foreign = (await uploaded(api, owner, other_event["id"], [("b.png", samples.png(30))]))[0]
    refused = (
        await api.execute(
            send,
            {"input": {"eventId": c["event"]["id"], "body": "x", "attachmentIds": [foreign["id"]]}},
            token=owner["token"],
        )
    )["data"]["sendMessage"]
    assert refused["errors"] == [
        {"code": "MEDIA_NOT_FOUND", "field": ["input", "attachmentIds", "0"]}
    ]


AVATAR = """mutation($input: SetAvatarInput!) { setAvatar(input: $input) {
  user { avatarUrl small: avatarUrl(size: 64) } errors { code field } } }"""


async def test_avatar(api, http, accounts, events, server):
    user = await accounts.user()
    response = await api.upload(
        AVATAR,
        {"input": {"file": None}},
        {"variables.input.file": ("me.jpg", samples.jpeg(gps=True, orientation=6), "image/jpeg")},
        token=user["token"],
    )
    payload = response.json()["data"]["setAvatar"]
    assert payload["errors"] == [], payload
    for url, size in ((payload["user"]["avatarUrl"], 256), (payload["user"]["small"], 64)):
        got = await fetch(http, url)
        assert got.status_code == 200 and got.headers["content-type"] == "image/webp"
        image = Image.open(io.BytesIO(got.content))
        assert image.size == (size, size) and not image.getexif()
    first_url = payload["user"]["avatarUrl"]
    assert len(media_uc.files(server.deps).all_keys("profils")) == 1
    bad = await api.upload(
        AVATAR,
        {"input": {"file": None}},
        {"variables.input.file": ("x.pdf", samples.pdf(), "image/png")},
        token=user["token"],
    )
    assert bad.json()["data"]["setAvatar"]["errors"] == [
        {"code": "UNSUPPORTED_MEDIA_TYPE", "field": ["input", "file"]}
    ]
    removed = (await api.execute(AVATAR, {"input": {"file": None}}, token=user["token"]))["data"][
        "setAvatar"
    ]
    assert removed["user"]["avatarUrl"] is None
    assert media_uc.files(server.deps).all_keys("profils") == set()
    assert (await fetch(http, first_url)).status_code == 404


def test_stored_names_are_sharded_and_ours(tmp_path: Path) -> None:

    store = FileStore(tmp_path)
    key = store.new_key()
    path = store.path(MEDIA, key, "orig.jpg")
    assert path.relative_to(tmp_path.resolve()).parts == (
        MEDIA,
        key[:2],
        key[2:4],
        f"{key}.orig.jpg",
    )
    with pytest.raises(ValueError):
        store.prefix(MEDIA, "../../etc/passwd")


async def test_sweep_removes_only_files_no_document_names(api, accounts, events, server):

    c = await crew(accounts, events, 2)
    owner = c["people"][0]
    kept = await uploaded(api, owner, c["event"]["id"], [("a.png", samples.png())])
    fs = media_uc.files(server.deps)
    stray = fs.new_key()
    stray_file = fs.path(MEDIA, stray, "orig.jpg")
    stray_file.parent.mkdir(parents=True, exist_ok=True)
    stray_file.write_bytes(samples.jpeg())
    temp = fs.tmp / "abandoned.part"
    temp.write_bytes(b"half an upload")
    fresh = fs.tmp / "uploading.part"
    fresh.write_bytes(b"still arriving")
    kept_key = await _async_key(kept[0])
    old = time.time() - 7200
    for path in (stray_file, temp, *fs.files_of(MEDIA, kept_key)):
        os.utime(path, (old, old))
    removed = await media_uc.sweep_uploads(server.deps, older_than_s=3600)
    assert removed == {"temporary": 1, "media": 1, "avatars": 0}
    assert stored_files(server) == {kept_key}
    assert fresh.exists() and not temp.exists()


async def _async_key(media: dict[str, Any]) -> str:
    found = (await media_store.media_by_ids([_doc(media["id"])]))[0]
    assert found is not None
    return found.storage_key


async def test_deleting_the_account_removes_its_avatar_files_through_the_outbox(
    api, http, accounts, server
):
    user = await accounts.user()
    response = await api.upload(
        AVATAR,
        {"input": {"file": None}},
        {"variables.input.file": ("me.png", samples.png(), "image/png")},
        token=user["token"],
    )
    url = response.json()["data"]["setAvatar"]["user"]["avatarUrl"]
    assert len(media_uc.files(server.deps).all_keys("profils")) == 1
    deleted = await api.execute(
        "mutation($pw: String!) { deleteAccount(input: {password: $pw}) { ok errors { code } } }",
        {"pw": user["password"]},
        token=user["token"],
    )
    assert deleted["data"]["deleteAccount"] == {"ok": True, "errors": []}
    await drain_outbox(server)  # the user.deleted handler of resolvers/media.py
    assert media_uc.files(server.deps).all_keys("profils") == set()
    assert (await fetch(http, url)).status_code == 404
