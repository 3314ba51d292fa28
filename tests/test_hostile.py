"""The hostile corpus (issue 15): every attack seen, as a request that is refused with its code,
stores nothing, and leaves the server answering a `{ __typename }` probe right after.

Runs on both backend sets. Sections, one per concern, so each grows on its own:
cost and validation; transport, secrets and readiness; visibility and abuse; text, sign-in and
uploads.
"""

from __future__ import annotations

import json
import logging
from email.header import decode_header, make_header
from typing import Any

from sqlmodel import select

from resolvers import media as media_uc
from resolvers.accounts import login_delay_s
from resolvers.core.background import drain_background, in_background
from stores.accounts import User
from stores.files import MEDIA
from stores.mail import SUBJECT_MAX, Mail, Mailer
from tests import media_samples as samples
from tests.factories import crew
from tests.support import GraphQLClient, assert_payload_error


async def assert_still_serving(api: GraphQLClient) -> None:
    """The probe every hostile test ends with: the server still answers at once."""
    result: dict[str, Any] = await api.execute("{ __typename }")
    assert result["data"] == {"__typename": "Query"} and not result.get("errors")


# ---------------------------------------------------------------------------------------------
# Cost and validation: fragment fan-out, introspection, aliases x nodes, caches, suggestions
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Transport, secrets and readiness: body and header limits, JSON depth, JSON refusals,
# development secret, /readyz, HTTP subscriptions, invalid Unicode
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Visibility and abuse: guessable ids, User nodes, revoked invitations, oversized ids,
# invitation floods
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Text, sign-in and uploads: control characters, lock-out, register, upload amplification
# ---------------------------------------------------------------------------------------------

NEW_EVENT = {
    "title": "Picnic",
    "startsAt": "2030-06-01T12:00:00+02:00",
    "endsAt": "2030-06-01T18:00:00+02:00",
    "currency": "EUR",
    "timezone": "Europe/Paris",
}
NEW_ACCOUNT = {
    "username": "newcomer",
    "email": "newcomer@example.com",
    "password": "correct-horse-9",
    "firstName": "New",
    "lastName": "Comer",
}

SINGLE_LINE_ATTACKS = [
    "Picnic\r\nBcc: victim@example.com",  # header injection through a mail subject
    "Pic\x00nic",  # NUL
    "Pic\x1bnic",  # ESC (terminal escapes in logs)
    "Pic\x7fnic",  # DEL
    "Pic\x85nic",  # C1 NEL
    "Pic\u2028nic",  # line separator
    "cod.exe\u202egnp",  # bidi override
]


async def _payload(
    api: GraphQLClient, token: str | None, mutation: str, data: dict[str, Any], entity: str
) -> dict[str, Any]:
    input_type = mutation[0].upper() + mutation[1:] + "Input"
    result = await api.execute(
        f"""mutation($input: {input_type}!) {{ {mutation}(input: $input) {{
             {entity} {{ id }} errors {{ code field message }} }} }}""",
        {"input": data},
        token=token,
    )
    payload: dict[str, Any] = result["data"][mutation]
    return payload


async def test_control_characters_in_single_line_fields_are_refused(api, accounts, events):
    c = await crew(accounts, events, 2)
    owner = c["people"][0]
    token, event_id = owner["token"], c["event"]["id"]
    payer = c["event"]["viewerParticipation"]["id"]
    for bad in SINGLE_LINE_ATTACKS:
        attempts = [
            ("updateEvent", {"eventId": event_id, "title": bad}, "event", ["input", "title"]),
            (
                "updateEvent",
                {"eventId": event_id, "location": {"name": bad}},
                "event",
                ["input", "location", "name"],
            ),
            ("createEvent", {**NEW_EVENT, "title": bad}, "event", ["input", "title"]),
            ("createTask", {"eventId": event_id, "title": bad}, "task", ["input", "title"]),
            ("createAlbum", {"eventId": event_id, "title": bad}, "album", ["input", "title"]),
            (
                "createExpense",
                {
                    "eventId": event_id,
                    "title": bad,
                    "amount": "12.50",
                    "paidById": payer,
                    "split": {"mode": "EQUAL"},
                },
                "expense",
                ["input", "title"],
            ),
            ("updateProfile", {"firstName": bad}, "user", ["input", "firstName"]),
            ("updateProfile", {"lastName": bad}, "user", ["input", "lastName"]),
        ]
        for mutation, data, entity, field in attempts:
            payload = await _payload(api, token, mutation, data, entity)
            assert payload[entity] is None, (mutation, bad, payload)
            assert_payload_error(payload, "INVALID_INPUT", field)
        registered = await _payload(api, None, "register", {**NEW_ACCOUNT, "lastName": bad}, "user")
        assert_payload_error(registered, "INVALID_INPUT", ["input", "lastName"])
    # nothing stored: the event, its children and the profile are as they were
    state = await api.execute(
        """query($id: ID!) { me { firstName lastName } node(id: $id) { ... on Event {
             title location { name } tasks { edges { node { id } } }
             expenses { edges { node { id } } } albums { title } } } }""",
        {"id": event_id},
        token=token,
    )
    event = state["data"]["node"]
    assert event["title"] == "Picnic" and event["location"] is None
    assert event["tasks"]["edges"] == [] and event["expenses"]["edges"] == []
    assert len(event["albums"]) <= 1  # the default album only
    assert state["data"]["me"] == {"firstName": "Test", "lastName": "User"}
    async with accounts.deps.db.reader() as db:
        assert (await db.exec(select(User).where(User.email == NEW_ACCOUNT["email"]))).all() == []
    await assert_still_serving(api)


async def test_multi_line_fields_keep_newlines_but_refuse_other_controls(api, accounts, events):
    owner = await accounts.user()
    event = await events.create(owner["token"])
    kept = await _payload(
        api, owner["token"], "updateProfile", {"bio": "Line one\r\nLine\ttwo"}, "user"
    )
    assert kept["errors"] == [] and kept["user"] is not None
    for bad in ("a\x00b", "a\x1b[31mb", "a\x85b", "a\u202eb"):
        bio = await _payload(api, owner["token"], "updateProfile", {"bio": bad}, "user")
        assert_payload_error(bio, "INVALID_INPUT", ["input", "bio"])
        description = await _payload(
            api,
            owner["token"],
            "updateEvent",
            {"eventId": event["id"], "description": bad},
            "event",
        )
        assert_payload_error(description, "INVALID_INPUT", ["input", "description"])
    state = await api.execute(
        """query($id: ID!) { me { bio } node(id: $id) { ... on Event { description } } }""",
        {"id": event["id"]},
        token=owner["token"],
    )
    assert state["data"]["me"]["bio"] == "Line one\nLine\ttwo"
    assert state["data"]["node"]["description"] == event["description"]
    await assert_still_serving(api)


async def test_user_text_cannot_break_a_mail_header(api, mailbox, settings, tmp_path):
    """A title with CR/LF once made the invitation mail fail in a task nobody awaited."""
    mailer = Mailer(settings.smtp_url, settings.mail_from, tmp_path)
    subject = "Invitation: Picnic\r\nBcc: victim@example.com\x00" + "x" * 500
    await mailer.send(Mail(to="guest@example.com", subject=subject, body="Hello"))
    mail = await mailbox.wait_for("guest@example.com", "Invitation: Picnic")
    received = str(make_header(decode_header(mail["subject"])))  # unfolded
    assert "\n" not in received and "\r" not in received and "\x00" not in received
    assert received.startswith("Invitation: Picnic Bcc: victim@example.com x")
    assert len(received) <= SUBJECT_MAX
    assert mailbox.to("victim@example.com") == []
    await assert_still_serving(api)


async def test_a_failed_background_task_is_logged_not_lost(api, caplog):
    async def failing_delivery() -> None:
        raise ValueError("Header values may not contain linefeed or carriage return characters")

    with caplog.at_level(logging.ERROR, logger="iven.background"):
        in_background(failing_delivery())
        await drain_background()
    failed = [r for r in caplog.records if r.getMessage() == "background task failed"]
    assert len(failed) == 1 and failed[0].exc_info and "linefeed" in str(failed[0].exc_info[1])
    await assert_still_serving(api)


LOGIN = """mutation($input: LoginInput!) { login(input: $input) {
  accessToken errors { code retryAfterSeconds } } }"""


async def test_a_stranger_cannot_lock_the_owner_out(api, accounts):
    owner = await accounts.user()
    stranger = {"x-forwarded-for": "203.0.113.66"}  # the test server trusts its loopback proxy

    async def login(password: str, headers: dict[str, str]) -> dict[str, Any]:
        result = await api.execute(
            LOGIN, {"input": {"email": owner["email"], "password": password}}, headers=headers
        )
        payload: dict[str, Any] = result["data"]["login"]
        return payload

    codes = [(await login(f"wrong-guess-{i}", stranger))["errors"][0]["code"] for i in range(11)]
    assert codes == ["INVALID_CREDENTIALS"] * 10 + ["RATE_LIMITED"]
    # the stranger's address stays refused, even with the right password
    assert_payload_error(await login(owner["password"], stranger), "RATE_LIMITED")
    # the owner, from their own address, still signs in
    mine = await login(owner["password"], {"x-forwarded-for": "198.51.100.7"})
    assert mine["errors"] == [] and mine["accessToken"]
    await assert_still_serving(api)


async def test_the_lock_out_ceiling_and_delay_grow_with_failures(server):
    """Past the per-account ceiling every address is refused; before it each attempt waits
    longer (the arithmetic, without waiting for it)."""
    deps = server.deps
    after = deps.settings.login_delay_after_failures
    delays = [login_delay_s(deps, n) for n in range(after - 1, after + 20)]
    assert delays[0] == 0 and 0 < delays[1] < delays[2]
    assert delays == sorted(delays) and delays[-1] == deps.settings.login_delay_max_ms / 1000


async def test_register_does_not_tell_whether_an_email_has_an_account(
    api, accounts, mailbox, server
):
    owner = await accounts.user()
    register = """mutation($input: RegisterInput!) { register(input: $input) {
      user { id } errors { code field message } } }"""

    async def attempt(username: str, email: str) -> dict[str, Any]:
        data = {**NEW_ACCOUNT, "username": username, "email": email}
        payload: dict[str, Any] = (await api.execute(register, {"input": data}))["data"]["register"]
        return payload

    fresh = await attempt("newcomer_a", "nobody@example.com")
    taken = await attempt("newcomer_b", owner["email"].upper())
    assert taken == fresh == {"user": None, "errors": []}
    # the owner of the address is told, and nothing was created for it
    mail = await mailbox.wait_for(owner["email"], "tried to create")
    assert "No new account was created" in mail["body"]
    async with server.deps.db.reader() as db:
        rows = (await db.exec(select(User).where(User.email == owner["email"]))).all()
        assert [r.username for r in rows] == [owner["username"]]
        assert (await db.exec(select(User).where(User.username_key == "newcomer_b"))).all() == []
    # a taken username is reported: usernames are public
    assert_payload_error(await attempt(owner["username"], "someone@example.com"), "USERNAME_TAKEN")
    await assert_still_serving(api)


UPLOAD = """mutation($input: UploadMediaInput!) { uploadMedia(input: $input) {
  media { id } errors { code field message } } }"""


async def test_one_upload_part_mapped_to_many_variables_is_refused(api, http, accounts, events):
    owner = await accounts.user()
    event = await events.create(owner["token"])
    paths = [f"variables.input.files.{i}" for i in range(20)]
    response = await http.post(
        "/graphql",
        data={
            "operations": json.dumps(
                {
                    "query": UPLOAD,
                    "variables": {"input": {"eventId": event["id"], "files": [None] * 20}},
                }
            ),
            "map": json.dumps({"0": paths}),
        },
        files={"0": ("a.png", samples.png(), "image/png")},
        headers={"x-iven-csrf": "1", "authorization": f"Bearer {owner['token']}"},
    )
    assert response.status_code == 400, response.text
    assert "exactly one variable" in response.text
    assert media_uc.files(accounts.deps).all_keys(MEDIA) == set()
    await assert_still_serving(api)


async def test_uploads_are_checked_before_any_decoding(api, accounts, events, server, monkeypatch):
    owner = await accounts.user()
    event = await events.create(owner["token"])
    decoded: list[str] = []
    process = media_uc.imaging.process

    def counted(path: Any, *args: Any, **kwargs: Any) -> Any:
        decoded.append(str(path))
        return process(path, *args, **kwargs)

    monkeypatch.setattr(media_uc.imaging, "process", counted)

    async def upload(*contents: bytes) -> dict[str, Any]:
        response = await api.upload(
            UPLOAD,
            {"input": {"eventId": event["id"], "files": [None] * len(contents)}},
            {
                f"variables.input.files.{i}": (f"{i}.png", content, "image/png")
                for i, content in enumerate(contents)
            },
            token=owner["token"],
        )
        assert response.status_code == 200, response.text
        payload: dict[str, Any] = response.json()["data"]["uploadMedia"]
        return payload

    photo = samples.png()
    first = await upload(photo, photo)  # the same content twice: decoded once
    assert first["errors"] == [] and first["media"][0]["id"] == first["media"][1]["id"]
    assert len(decoded) == 1
    again = await upload(photo)  # already in the event: not decoded again
    assert again["media"] == first["media"][:1] and len(decoded) == 1
    # over quota: refused before the (hostile) image is decoded
    settings = server.deps.settings
    settings.media_quota_user_bytes, quota = 1, settings.media_quota_user_bytes
    try:
        bomb = await upload(samples.png_pixel_bomb())
    finally:
        settings.media_quota_user_bytes = quota
    assert_payload_error(bomb, "QUOTA_EXCEEDED", ["input", "files"])
    assert bomb["media"] == [] and len(decoded) == 1
    assert len(media_uc.files(server.deps).all_keys(MEDIA)) == 1
    await assert_still_serving(api)
