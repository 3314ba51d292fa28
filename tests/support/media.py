"""Media operations shared by the test modules: uploads, stored files, mutations by name."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from resolvers import media as media_uc
from stores.files import MEDIA

MEDIA_FIELDS = """id kind mimeType size width height takenAt caption fileName shareLocation
  exif { make model lens focalLength aperture exposureTime iso orientation }
  location { latitude longitude altitude }
  urls { original preview thumbnail } likeCount viewerLiked commentCount
  uploader { username } album { id title isDefault }"""

UPLOAD = f"""mutation($input: UploadMediaInput!) {{ uploadMedia(input: $input) {{
  media {{ {MEDIA_FIELDS} }} errors {{ code field message }} }} }}"""


async def upload(
    api: Any, user: dict[str, Any], event_id: str, files: list[tuple[str, bytes]], **more: Any
) -> dict[str, Any]:
    variables = {"input": {"eventId": event_id, "files": [None] * len(files), **more}}
    response = await api.upload(
        UPLOAD,
        variables,
        {
            f"variables.input.files.{i}": (name, content, "application/octet-stream")
            for i, (name, content) in enumerate(files)
        },
        token=user["token"],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["uploadMedia"]  # type: ignore[no-any-return]


async def uploaded(
    api: Any, user: dict[str, Any], event_id: str, files: list[tuple[str, bytes]], **more: Any
) -> list[dict[str, Any]]:
    payload = await upload(api, user, event_id, files, **more)
    assert payload["errors"] == [], payload
    return payload["media"]  # type: ignore[no-any-return]


def stored_files(server: Any) -> set[str]:
    return media_uc.files(server.deps).all_keys(MEDIA)


def served_path(url: str) -> str:
    """A file URL the API handed out, as a path and query of the test server it came from:
    the URLs are absolute, on IVEN_PUBLIC_URL (the test settings' http://iven.test, which does
    not resolve); a path is kept as it is."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def fetch(http: Any, url: str, **headers: str) -> Any:
    return await http.get(served_path(url), headers=headers)


REF_INPUTS = {
    "deleteMedia": "MediaRefInput",
    "likeMedia": "MediaRefInput",
    "unlikeMedia": "MediaRefInput",
    "deleteAlbum": "AlbumRefInput",
    "deleteMediaComment": "MediaCommentRefInput",
}


async def mutate(
    api: Any, user: dict[str, Any], name: str, input_: dict[str, Any], selection: str
) -> dict[str, Any]:
    input_type = REF_INPUTS.get(name, name[0].upper() + name[1:] + "Input")
    result = await api.execute(
        f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection} "
        f"errors {{ code field }} }} }}",
        {"input": input_},
        token=user["token"],
    )
    assert "errors" not in result, result
    return result["data"][name]  # type: ignore[no-any-return]
