"""Media of an event: uploads (GraphQL multipart), albums, comments and likes."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.file_uploads import Upload

from resolvers import albums as albums_uc
from resolvers import media as uc
from resolvers import media_links as links
from resolvers.media import MediaErrorCode
from schema.accounts import User
from schema.authors import ChatAuthor, chat_person
from schema.context import Info
from schema.core import (
    CLIENT_MUTATION_ID,
    PAGE_AFTER,
    PAGE_FIRST,
    Connection,
    UserError,
    connection,
    decode_document_id,
    decode_global_id,
    decode_time_cursor,
    documented_enum,
    encode_cursor,
    mutate,
    page_size,
)
from stores import media as store

_TYPES = "JPEG, PNG, WebP, GIF, HEIC (images), MP4, MOV (videos) and PDF"
M = MediaErrorCode
documented_enum(  # the GraphQL enum: one definition, in resolvers
    MediaErrorCode,
    {
        M.REQUIRED: "uploadMedia without any file; commentOnMedia or editMediaComment with an "
        "empty `body`.",
        M.VALUE_TOO_LONG: f"A caption over {uc.MAX_CAPTION} characters, a comment over "
        f"{albums_uc.MAX_COMMENT}, or an album description over "
        f"{albums_uc.MAX_ALBUM_DESCRIPTION}.",
        M.INVALID_INPUT: "Control characters in a caption or album title (one line), or in "
        "a comment or album description (newlines and tabs are fine); moveMedia with no id or "
        "more than 100; one file part mapped to two variables.",
        M.INVALID_TITLE: f"An album title empty or over {albums_uc.MAX_ALBUM_TITLE} characters.",
        M.UNSUPPORTED_MEDIA_TYPE: f"A file that is not {_TYPES} by its content (its name "
        "and declared type are ignored), an empty file, an image or PDF with HTML, script or "
        "active content, or a profile picture that is not an image. `field` ends with the "
        "file's index.",
        M.INVALID_FILE: "A file that cannot be read (truncated or corrupt), or one not sent "
        "as a multipart upload. `field` ends with the file's index.",
        M.IMAGE_TOO_LARGE: "An image over 80 million pixels (the server's default) or 2,000 "
        "frames.",
        M.FILE_TOO_LARGE: "A file over 25 MB (the server's default).",
        M.TOO_MANY_FILES: "More than 20 files in one uploadMedia (the server's default).",
        M.QUOTA_EXCEEDED: "The upload would go over your storage quota (5 GiB by default) or "
        "the event's (20 GiB by default); files already in the event do not count again.",
        M.ALBUM_NOT_FOUND: "uploadMedia's `albumId` is not an album of this event.",
        M.ALBUM_IS_DEFAULT: "deleteAlbum on the event's default album.",
        M.TOO_MANY_ALBUMS: f"createAlbum when the event has {albums_uc.MAX_ALBUMS} albums.",
        M.MEDIA_NOT_FOUND: "moveMedia: a `mediaIds` entry is not a media of the album's event "
        "(`field` ends with its index); setAlbumCover: the media is not in this album.",
        M.MEDIA_REMOVED: "An administrator removed this media: it can only be deleted (no "
        "edit, like or comment).",
        M.COMMENT_REMOVED: "editMediaComment on a comment an administrator removed.",
        M.STALE: "updateAlbum: `expectedVersion` is not the album's `version` (it changed "
        "since you read it): reload it.",
        M.RATE_LIMITED: "Too many comments (30 per 10 seconds by default): wait "
        "`retryAfterSeconds`.",
        M.DUPLICATE_REQUEST: "This `clientMutationId` was already used with other arguments "
        "(createAlbum, commentOnMedia).",
    },
    description="Why a media, album or comment mutation changed nothing (`errors[].code`). "
    "Limits marked as defaults are the server's settings.",
)


@strawberry.type(
    description="An expected failure of a media, album or comment mutation; nothing was "
    "changed (an upload is all or nothing)."
)
class MediaError(UserError):
    codes = MediaErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    code: MediaErrorCode = strawberry.field(description="What went wrong.")
    retry_after_seconds: int | None = strawberry.field(
        default=None, description="With RATE_LIMITED: seconds to wait before trying again."
    )


class MediaKind(enum.Enum):
    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    DOCUMENT = "DOCUMENT"


documented_enum(
    MediaKind,
    {
        MediaKind.IMAGE: "A photo or picture (JPEG, PNG, WebP, GIF, HEIC): has a preview and "
        "a thumbnail.",
        MediaKind.VIDEO: "A video (MP4, MOV): only the original file.",
        MediaKind.DOCUMENT: "A PDF document: only the original file.",
    },
    description="What a media is, found from its content.",
)


@strawberry.type(
    description="What the camera recorded (from EXIF). Each field is null when the file does "
    "not say."
)
class MediaExif:
    make: str | None = strawberry.field(description='The camera\'s maker, e.g. "Canon".')
    model: str | None = strawberry.field(description="The camera's model.")
    lens: str | None = strawberry.field(description="The lens model.")
    focal_length: float | None = strawberry.field(description="Millimetres.")
    aperture: float | None = strawberry.field(description="The f-number, e.g. 2.8.")
    exposure_time: str | None = strawberry.field(description='Seconds, e.g. "1/250".')
    iso: int | None = strawberry.field(description="ISO speed, e.g. 200.")
    orientation: int | None = strawberry.field(
        description="EXIF orientation (1-8); already applied to the preview and thumbnail."
    )


@strawberry.type(description="Where a photo or video was taken (from its GPS data).")
class MediaLocation:
    latitude: float = strawberry.field(description="Degrees, -90 to 90 (WGS 84).")
    longitude: float = strawberry.field(description="Degrees, -180 to 180 (WGS 84).")
    altitude: float | None = strawberry.field(description="Metres above sea level.")


@strawberry.type(
    description="Signed absolute URLs (on the server's IVEN_PUBLIC_URL) of a media's files, "
    "made for the viewer who asked: they work "
    "for at least 15 minutes (the server's default) and only while you take part in the "
    "event; ask again for fresh ones. GET them without any header (fit for `<img src>`)."
)
class MediaUrls:
    original: str = strawberry.field(
        description="The file as uploaded (for others than the uploader, without its location "
        "unless it is shared)."
    )
    preview: str | None = strawberry.field(
        description="About 1280 px, WebP, no metadata. Images only."
    )
    thumbnail: str | None = strawberry.field(
        description="About 256 px, WebP, no metadata. Images only."
    )


def _media_cursor(media: Media) -> str:
    return encode_cursor(media.doc.sort_at.isoformat(), str(media.doc.id))


def _comment_cursor(comment: MediaComment) -> str:
    return encode_cursor(comment.doc.created_at.isoformat(), str(comment.doc.id))


@strawberry.type(
    description="A photo, video or document shared in an event. Participants only "
    "(`node(id:)` answers null to others)."
)
class Media(relay.Node):
    doc: strawberry.Private[store.Media]

    @classmethod
    def resolve_id(cls, root: Media, *, info: Info) -> str:
        return str(root.doc.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Media | None]:
        found = await info.context.loaders.media.load_many(list(node_ids))
        return [Media(doc=m) if m is not None else None for m in found]

    @strawberry.field(description="Image, video or document (found from the content).")
    def kind(self) -> MediaKind:
        return MediaKind(self.doc.kind)

    @strawberry.field(description="The type found in the content (not the one declared).")
    def mime_type(self) -> str:
        return self.doc.mime_type

    @strawberry.field(description="Bytes of the original.")
    def size(self) -> int:
        return self.doc.size

    @strawberry.field(
        description="Pixels, as displayed (orientation applied); null when unknown (documents, "
        "some videos)."
    )
    def width(self) -> int | None:
        return self.doc.width

    @strawberry.field(
        description="Pixels, as displayed (orientation applied); null when unknown (documents, "
        "some videos)."
    )
    def height(self) -> int | None:
        return self.doc.height

    @strawberry.field(
        description="When it was taken (ISO-8601), with the camera's UTC offset when it "
        "recorded one (else in UTC); null when the file does not say."
    )
    def taken_at(self) -> datetime | None:
        return uc.taken_at(self.doc)

    @strawberry.field(description="Camera details; null when the file carries none.")
    def exif(self) -> MediaExif | None:
        e = self.doc.exif
        if e is None:
            return None
        return MediaExif(
            make=e.make,
            model=e.model,
            lens=e.lens,
            focal_length=e.focal_length,
            aperture=e.aperture,
            exposure_time=e.exposure_time,
            iso=e.iso,
            orientation=e.orientation,
        )

    @strawberry.field(
        description="Where it was taken: for the uploader, or for everyone when "
        "they chose to share it; null otherwise."
    )
    def location(self, info: Info) -> MediaLocation | None:
        loc = self.doc.location
        viewer = info.context.require_viewer()
        if loc is None or not uc.shows_location(self.doc, viewer.user_id):
            return None
        return MediaLocation(latitude=loc.latitude, longitude=loc.longitude, altitude=loc.altitude)

    @strawberry.field(description="Whether the uploader shares the location with everyone.")
    def share_location(self) -> bool:
        return self.doc.share_location

    @strawberry.field(
        description=f"The uploader's caption (one line, up to {uc.MAX_CAPTION} characters); "
        "empty when none."
    )
    def caption(self) -> str:
        return self.doc.caption

    @strawberry.field(description="The uploaded file's name, cleaned (for downloads).")
    def file_name(self) -> str:
        return self.doc.file_name

    @strawberry.field(description="Who uploaded it.")
    async def uploader(self, info: Info) -> ChatAuthor:
        return await chat_person(info, self.doc.uploader_user_id)

    @strawberry.field(description="The album it is in; null if that album is gone.")
    async def album(self, info: Info) -> Album | None:
        found = await info.context.loaders.album.load(self.doc.album_id)
        return Album(doc=found) if found is not None else None

    @strawberry.field(
        description="When an administrator removed it (moderation): a tombstone "
        "without files, metadata, comments or likes. Null otherwise."
    )
    def removed_at(self) -> datetime | None:
        return self.doc.removed_at

    @strawberry.field(description="Null for a media an administrator removed.")
    def urls(self, info: Info) -> MediaUrls | None:
        viewer = info.context.require_viewer()
        if self.doc.removed_at is not None:
            return None
        deps = info.context.deps
        original = links.media_url(deps, self.doc, "original", viewer.user_id)
        assert original is not None
        return MediaUrls(
            original=original,
            preview=links.media_url(deps, self.doc, "preview", viewer.user_id),
            thumbnail=links.media_url(deps, self.doc, "thumbnail", viewer.user_id),
        )

    @strawberry.field(description="Its comments, oldest first.")
    async def comments(
        self,
        info: Info,
        first: Annotated[
            int | None,
            strawberry.argument(description=PAGE_FIRST),
        ] = None,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
    ) -> Connection[MediaComment]:
        size = page_size(first)
        found = await albums_uc.comments(
            info.context.deps, self.doc, size + 1, decode_time_cursor(after)
        )
        return connection(
            [MediaComment(doc=c) for c in found],
            size,
            _comment_cursor,
            has_previous=after is not None,
        )

    @strawberry.field(description="How many comments it has.")
    def comment_count(self) -> int:
        return max(0, self.doc.comment_count)

    @strawberry.field(description="How many people like it.")
    def like_count(self) -> int:
        return max(0, self.doc.like_count)

    @strawberry.field(description="Whether you like it.")
    async def viewer_liked(self, info: Info) -> bool:
        return bool(await info.context.loaders.media_liked.load(str(self.doc.id)))

    @strawberry.field(description="When it was uploaded (ISO-8601, UTC).")
    def created_at(self) -> datetime:
        return self.doc.created_at


@strawberry.type(
    description="A comment on a media. Participants only (`node(id:)` answers null to others)."
)
class MediaComment(relay.Node):
    doc: strawberry.Private[store.MediaComment]

    @classmethod
    def resolve_id(cls, root: MediaComment, *, info: Info) -> str:
        return str(root.doc.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[MediaComment | None]:
        found = await albums_uc.visible_comments(
            info.context.deps, info.context.viewer_or_none(), list(node_ids)
        )
        return [MediaComment(doc=c) if c is not None else None for c in found]

    @strawberry.field(
        description=f"The text (plain, up to {albums_uc.MAX_COMMENT} characters, newlines "
        "kept); empty once an administrator removed it."
    )
    def body(self) -> str:
        return self.doc.body

    @strawberry.field(description="Who wrote it.")
    async def author(self, info: Info) -> ChatAuthor:
        return await chat_person(info, self.doc.author_user_id)

    @strawberry.field(description="When it was written (ISO-8601, UTC).")
    def created_at(self) -> datetime:
        return self.doc.created_at

    @strawberry.field(description="When it was last edited; null if never.")
    def edited_at(self) -> datetime | None:
        return self.doc.edited_at

    @strawberry.field(
        description="When an administrator removed it (moderation); its body is "
        "then empty. Null otherwise."
    )
    def removed_at(self) -> datetime | None:
        return self.doc.removed_at


@strawberry.type(
    description='A set of an event\'s media. Every event has a default album ("Photos"), '
    "where uploads without an album go. Participants only (`node(id:)` answers null to "
    "others)."
)
class Album(relay.Node):
    doc: strawberry.Private[store.Album]

    @classmethod
    def resolve_id(cls, root: Album, *, info: Info) -> str:
        return str(root.doc.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Album | None]:
        found = await albums_uc.visible_albums(
            info.context.deps, info.context.viewer_or_none(), list(node_ids)
        )
        return [Album(doc=a) if a is not None else None for a in found]

    @strawberry.field(description=f"1 to {albums_uc.MAX_ALBUM_TITLE} characters, one line.")
    def title(self) -> str:
        return self.doc.title

    @strawberry.field(
        description=f"Up to {albums_uc.MAX_ALBUM_DESCRIPTION} characters, newlines kept; "
        "may be empty."
    )
    def description(self) -> str:
        return self.doc.description

    @strawberry.field(description="Whether it is the event's default album (never deleted).")
    def is_default(self) -> bool:
        return self.doc.is_default

    @strawberry.field(description="For `expectedVersion` in updateAlbum.")
    def version(self) -> int:
        return self.doc.version

    @strawberry.field(description="When it was created (ISO-8601, UTC).")
    def created_at(self) -> datetime:
        return self.doc.created_at

    @strawberry.field(
        description="Who created it; null for the default album or once their account is deleted."
    )
    async def created_by(self, info: Info) -> User | None:
        if self.doc.created_by_user_id is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.doc.created_by_user_id)
        return User(row=row) if row is not None else None

    @strawberry.field(description="The chosen cover, else the album's first media.")
    async def cover(self) -> Media | None:
        found = await albums_uc.cover_of(self.doc)
        return Media(doc=found) if found is not None else None

    @strawberry.field(description="How many media it holds.")
    async def media_count(self, info: Info) -> int:
        return int(await info.context.loaders.album_media_count.load(str(self.doc.id)))

    @strawberry.field(
        description="By when they were taken (upload time when unknown), oldest first."
    )
    async def media(
        self,
        info: Info,
        first: Annotated[
            int | None,
            strawberry.argument(description=PAGE_FIRST),
        ] = None,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
    ) -> Connection[Media]:
        size = page_size(first)
        found = await albums_uc.album_media(
            info.context.deps, self.doc, size + 1, decode_time_cursor(after)
        )
        return connection(
            [Media(doc=m) for m in found], size, _media_cursor, has_previous=after is not None
        )


async def event_albums(info: Info, event_id: int) -> list[Album]:
    found = await albums_uc.albums(info.context.deps, info.context.require_viewer(), event_id)
    for album in found:
        info.context.loaders.album.prime(str(album.id), album)
    return [Album(doc=a) for a in found]


# --- mutations ---------------------------------------------------------------------------------

_ERRORS = "Why nothing was changed; empty on success."


@strawberry.input(description="Files to share in an event.")
class UploadMediaInput:
    event_id: relay.GlobalID = strawberry.field(description="The event to share them in.")
    files: list[Upload] = strawberry.field(
        description=f"The files, as multipart uploads (GraphQL multipart request spec): "
        f"{_TYPES}, recognised by content. At most 20 files of 25 MB each and 100 MB in all "
        "(the server's defaults)."
    )
    album_id: relay.GlobalID | None = strawberry.field(
        default=None, description="An album of this event. Default: the event's default album."
    )
    caption: str | None = strawberry.field(
        default=None,
        description=f"One caption for every file (one line, up to {uc.MAX_CAPTION} characters).",
    )
    share_location: bool = strawberry.field(
        default=False,
        description="Show where photos were taken to everyone (default: only to you).",
    )


@strawberry.type(description="The result of uploadMedia.")
class UploadMediaPayload:
    media: list[Media] = strawberry.field(
        description="In the order of the files; content already in the event returns the "
        "existing media. Empty when there are errors."
    )
    errors: list[MediaError] = strawberry.field(description=_ERRORS)


@strawberry.input(description="A new profile picture, or none.")
class SetAvatarInput:
    file: Upload | None = strawberry.field(
        description="An image (JPEG, PNG, WebP, GIF, HEIC; up to 25 MB by default) as a "
        "multipart upload; it is cropped square (256 and 64 px). Null removes the picture."
    )


@strawberry.type(description="The result of setAvatar.")
class SetAvatarPayload:
    user: User | None = strawberry.field(
        description="You, with the new `avatarUrl`; null when there are errors."
    )
    errors: list[MediaError] = strawberry.field(description=_ERRORS)


@strawberry.input(description="Changes to one of your media; null or absent fields stay.")
class UpdateMediaInput:
    media_id: relay.GlobalID = strawberry.field(description="Your media to change.")
    caption: str | None = strawberry.field(
        default=None,
        description=f"The new caption (one line, up to {uc.MAX_CAPTION} characters; empty "
        "removes it).",
    )
    share_location: bool | None = strawberry.field(
        default=None, description="Show where it was taken to everyone (true) or only to you."
    )


@strawberry.input(description="One media.")
class MediaRefInput:
    media_id: relay.GlobalID = strawberry.field(description="The media's id.")


@strawberry.type(description="The result of a mutation on one media.")
class MediaPayload:
    media: Media | None = strawberry.field(
        description="The media as it is now; null when there are errors."
    )
    errors: list[MediaError] = strawberry.field(description=_ERRORS)


@strawberry.type(description="The result of deleteMedia.")
class DeleteMediaPayload:
    deleted_media_id: relay.GlobalID | None = strawberry.field(
        description="The id of the deleted media (to drop it from your cache); null when "
        "there are errors."
    )
    errors: list[MediaError] = strawberry.field(description=_ERRORS)


@strawberry.input(description="A new album.")
class CreateAlbumInput:
    event_id: relay.GlobalID = strawberry.field(description="The event it belongs to.")
    title: str = strawberry.field(
        description=f"1 to {albums_uc.MAX_ALBUM_TITLE} characters, one line (trimmed)."
    )
    description: str | None = strawberry.field(
        default=None,
        description=f"Up to {albums_uc.MAX_ALBUM_DESCRIPTION} characters, newlines kept.",
    )
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


@strawberry.input(description="Changes to an album; null or absent fields stay as they are.")
class UpdateAlbumInput:
    album_id: relay.GlobalID = strawberry.field(description="The album to change.")
    title: str | None = strawberry.field(
        default=None,
        description=f"New title, 1 to {albums_uc.MAX_ALBUM_TITLE} characters, one line.",
    )
    description: str | None = strawberry.field(
        default=None,
        description=f"New description, up to {albums_uc.MAX_ALBUM_DESCRIPTION} characters "
        "(empty removes it).",
    )
    expected_version: int | None = strawberry.field(
        default=None,
        description="The album's `version` you last read: if it changed since, nothing is "
        "changed and the error is STALE. Null: no check.",
    )


@strawberry.input(description="One album.")
class AlbumRefInput:
    album_id: relay.GlobalID = strawberry.field(description="The album's id.")


@strawberry.input(description="Media to move into an album of the same event.")
class MoveMediaInput:
    media_ids: list[relay.GlobalID] = strawberry.field(
        description="1 to 100 media of the album's event."
    )
    album_id: relay.GlobalID = strawberry.field(description="The album to move them to.")


@strawberry.input(description="An album's cover.")
class SetAlbumCoverInput:
    album_id: relay.GlobalID = strawberry.field(description="The album.")
    media_id: relay.GlobalID | None = strawberry.field(
        default=None, description="A media of this album. Null: back to the album's first media."
    )


@strawberry.type(description="The result of a mutation on one album.")
class AlbumPayload:
    album: Album | None = strawberry.field(
        description="The album as it is now; null when there are errors."
    )
    errors: list[MediaError] = strawberry.field(description=_ERRORS)


@strawberry.type(description="The result of deleteAlbum.")
class DeleteAlbumPayload:
    deleted_album_id: relay.GlobalID | None = strawberry.field(
        description="The id of the deleted album; null when there are errors."
    )
    default_album: Album | None = strawberry.field(
        description="Where its media went (the event's default album); null when there are errors."
    )
    errors: list[MediaError] = strawberry.field(description=_ERRORS)


@strawberry.type(description="The result of moveMedia.")
class MoveMediaPayload:
    media: list[Media] = strawberry.field(
        description="The moved media, in the order given; empty when there are errors."
    )
    errors: list[MediaError] = strawberry.field(description=_ERRORS)


_COMMENT = (
    f"Plain text, 1 to {albums_uc.MAX_COMMENT} characters after trimming; newlines and tabs "
    "are kept, other control characters refused."
)


@strawberry.input(description="A comment to post on a media.")
class CommentOnMediaInput:
    media_id: relay.GlobalID = strawberry.field(description="The media to comment on.")
    body: str = strawberry.field(description=_COMMENT)
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


@strawberry.input(description="A new text for one of your comments.")
class EditMediaCommentInput:
    comment_id: relay.GlobalID = strawberry.field(description="Your comment to edit.")
    body: str = strawberry.field(description=_COMMENT)


@strawberry.input(description="One comment.")
class MediaCommentRefInput:
    comment_id: relay.GlobalID = strawberry.field(description="The comment's id.")


@strawberry.type(description="The result of a mutation on one comment.")
class MediaCommentPayload:
    comment: MediaComment | None = strawberry.field(
        description="The comment as it is now; null when there are errors."
    )
    errors: list[MediaError] = strawberry.field(description=_ERRORS)


@strawberry.type(description="The result of deleteMediaComment.")
class DeleteMediaCommentPayload:
    deleted_comment_id: relay.GlobalID | None = strawberry.field(
        description="The id of the deleted comment; null when there are errors."
    )
    errors: list[MediaError] = strawberry.field(description=_ERRORS)


def _media_payload(doc: store.Media | None, errors: list[MediaError]) -> MediaPayload:
    return MediaPayload(media=Media(doc=doc) if doc is not None else None, errors=errors)


def _album_payload(doc: store.Album | None, errors: list[MediaError]) -> AlbumPayload:
    return AlbumPayload(album=Album(doc=doc) if doc is not None else None, errors=errors)


def _comment_payload(
    doc: store.MediaComment | None, errors: list[MediaError]
) -> MediaCommentPayload:
    return MediaCommentPayload(
        comment=MediaComment(doc=doc) if doc is not None else None, errors=errors
    )


@strawberry.type
class MediaMutation:
    @strawberry.mutation(
        description="Participants: shares files in an event, all or nothing. A multipart request "
        "(GraphQL multipart request spec) with an `x-iven-csrf` or `Apollo-Require-Preflight` "
        "header. Everyone in the event is notified (MEDIA_ADDED). Not a participant: NOT_FOUND. "
        "Errors: REQUIRED, TOO_MANY_FILES, FILE_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, INVALID_FILE, "
        "IMAGE_TOO_LARGE, QUOTA_EXCEEDED, ALBUM_NOT_FOUND, VALUE_TOO_LONG, INVALID_INPUT."
    )
    async def upload_media(
        self,
        info: Info,
        input: Annotated[
            UploadMediaInput, strawberry.argument(description="The files and where they go.")
        ],
    ) -> UploadMediaPayload:
        album_id = (
            decode_document_id(input.album_id, "Album") if input.album_id is not None else None
        )
        found, errors = await mutate(
            info,
            MediaError,
            uc.upload,
            decode_global_id(input.event_id, "Event"),
            album_id,
            input.files,
            input.caption,
            input.share_location,
        )
        return UploadMediaPayload(media=[Media(doc=m) for m in found or []], errors=errors)

    @strawberry.mutation(
        description="Signed in: sets your profile picture (cropped square, metadata stripped) or "
        "removes it. Multipart, like uploadMedia. Errors: UNSUPPORTED_MEDIA_TYPE, INVALID_FILE, "
        "FILE_TOO_LARGE, IMAGE_TOO_LARGE."
    )
    async def set_avatar(
        self,
        info: Info,
        input: Annotated[SetAvatarInput, strawberry.argument(description="The picture, or null.")],
    ) -> SetAvatarPayload:
        viewer = info.context.require_viewer()
        _, errors = await mutate(info, MediaError, uc.set_avatar, input.file)
        if errors:
            return SetAvatarPayload(user=None, errors=errors)
        info.context.loaders.user_by_id.clear(viewer.user_id)
        row = await info.context.loaders.user_by_id.load(viewer.user_id)
        return SetAvatarPayload(user=User(row=row) if row is not None else None, errors=[])

    @strawberry.mutation(
        description="The uploader changes the caption or location sharing. Someone else: "
        "FORBIDDEN; not a participant: NOT_FOUND. Errors: VALUE_TOO_LONG, INVALID_INPUT, "
        "MEDIA_REMOVED."
    )
    async def update_media(
        self,
        info: Info,
        input: Annotated[
            UpdateMediaInput, strawberry.argument(description="The media and its changes.")
        ],
    ) -> MediaPayload:
        return _media_payload(
            *await mutate(
                info,
                MediaError,
                uc.update,
                decode_document_id(input.media_id, "Media"),
                input.caption,
                input.share_location,
            )
        )

    @strawberry.mutation(
        description="The uploader or an organizer deletes a media for good: its files, comments "
        "and likes go too (a media an administrator removed can be deleted as well). Someone else: "
        "FORBIDDEN; not a participant: NOT_FOUND."
    )
    async def delete_media(
        self,
        info: Info,
        input: Annotated[MediaRefInput, strawberry.argument(description="The media to delete.")],
    ) -> DeleteMediaPayload:
        deleted, errors = await mutate(
            info, MediaError, uc.delete, decode_document_id(input.media_id, "Media")
        )
        return DeleteMediaPayload(
            deleted_media_id=input.media_id if deleted else None, errors=errors
        )

    @strawberry.mutation(
        description="Participants: creates an album in an event. Not a participant: NOT_FOUND. "
        "Errors: INVALID_TITLE, VALUE_TOO_LONG, INVALID_INPUT, TOO_MANY_ALBUMS, DUPLICATE_REQUEST."
    )
    async def create_album(
        self,
        info: Info,
        input: Annotated[CreateAlbumInput, strawberry.argument(description="The new album.")],
    ) -> AlbumPayload:
        return _album_payload(
            *await mutate(
                info,
                MediaError,
                albums_uc.create_album,
                decode_global_id(input.event_id, "Event"),
                input.title,
                input.description,
                input.client_mutation_id,
            )
        )

    @strawberry.mutation(
        description="The album's creator or an organizer renames or redescribes it. Someone else: "
        "FORBIDDEN; not a participant: NOT_FOUND. Errors: INVALID_TITLE, VALUE_TOO_LONG, "
        "INVALID_INPUT, STALE."
    )
    async def update_album(
        self,
        info: Info,
        input: Annotated[
            UpdateAlbumInput, strawberry.argument(description="The album and its changes.")
        ],
    ) -> AlbumPayload:
        return _album_payload(
            *await mutate(
                info,
                MediaError,
                albums_uc.update_album,
                decode_document_id(input.album_id, "Album"),
                input.title,
                input.description,
                input.expected_version,
            )
        )

    @strawberry.mutation(
        description="The album's creator or an organizer deletes it; its media move to the default "
        "album (which cannot be deleted). Someone else: FORBIDDEN; not a participant: NOT_FOUND. "
        "Errors: ALBUM_IS_DEFAULT."
    )
    async def delete_album(
        self,
        info: Info,
        input: Annotated[AlbumRefInput, strawberry.argument(description="The album to delete.")],
    ) -> DeleteAlbumPayload:
        default, errors = await mutate(
            info, MediaError, albums_uc.delete_album, decode_document_id(input.album_id, "Album")
        )
        return DeleteAlbumPayload(
            deleted_album_id=input.album_id if default is not None else None,
            default_album=Album(doc=default) if default is not None else None,
            errors=errors,
        )

    @strawberry.mutation(
        description="The uploader (of each media) or an organizer moves media to another album of "
        "the same event. Someone else: FORBIDDEN; not a participant: NOT_FOUND. Errors: "
        "INVALID_INPUT, MEDIA_NOT_FOUND."
    )
    async def move_media(
        self,
        info: Info,
        input: Annotated[
            MoveMediaInput, strawberry.argument(description="The media and the album.")
        ],
    ) -> MoveMediaPayload:
        moved, errors = await mutate(
            info,
            MediaError,
            albums_uc.move_media,
            [decode_document_id(g, "Media") for g in input.media_ids],
            decode_document_id(input.album_id, "Album"),
        )
        return MoveMediaPayload(media=[Media(doc=m) for m in moved or []], errors=errors)

    @strawberry.mutation(
        description="The album's creator or an organizer chooses its cover (`Album.cover`). "
        "Someone else: FORBIDDEN; not a participant: NOT_FOUND. Errors: MEDIA_NOT_FOUND."
    )
    async def set_album_cover(
        self,
        info: Info,
        input: Annotated[
            SetAlbumCoverInput, strawberry.argument(description="The album and its cover.")
        ],
    ) -> AlbumPayload:
        media_id = (
            decode_document_id(input.media_id, "Media") if input.media_id is not None else None
        )
        return _album_payload(
            *await mutate(
                info,
                MediaError,
                albums_uc.set_cover,
                decode_document_id(input.album_id, "Album"),
                media_id,
            )
        )

    @strawberry.mutation(
        description="Participants: comments on a media; its uploader is notified "
        "(MEDIA_COMMENTED). Not a participant: NOT_FOUND. Errors: REQUIRED, VALUE_TOO_LONG, "
        "INVALID_INPUT, MEDIA_REMOVED, RATE_LIMITED, DUPLICATE_REQUEST."
    )
    async def comment_on_media(
        self,
        info: Info,
        input: Annotated[CommentOnMediaInput, strawberry.argument(description="The comment.")],
    ) -> MediaCommentPayload:
        return _comment_payload(
            *await mutate(
                info,
                MediaError,
                albums_uc.comment,
                decode_document_id(input.media_id, "Media"),
                input.body,
                input.client_mutation_id,
            )
        )

    @strawberry.mutation(
        description="The author changes a comment's text. Someone else: FORBIDDEN; not a "
        "participant: NOT_FOUND. Errors: REQUIRED, VALUE_TOO_LONG, INVALID_INPUT, COMMENT_REMOVED."
    )
    async def edit_media_comment(
        self,
        info: Info,
        input: Annotated[
            EditMediaCommentInput, strawberry.argument(description="The comment and its new text.")
        ],
    ) -> MediaCommentPayload:
        return _comment_payload(
            *await mutate(
                info,
                MediaError,
                albums_uc.edit_comment,
                decode_document_id(input.comment_id, "MediaComment"),
                input.body,
            )
        )

    @strawberry.mutation(
        description="The author or an organizer deletes a comment. Someone else: FORBIDDEN; not a "
        "participant: NOT_FOUND."
    )
    async def delete_media_comment(
        self,
        info: Info,
        input: Annotated[
            MediaCommentRefInput, strawberry.argument(description="The comment to delete.")
        ],
    ) -> DeleteMediaCommentPayload:
        deleted, errors = await mutate(
            info,
            MediaError,
            albums_uc.delete_comment,
            decode_document_id(input.comment_id, "MediaComment"),
        )
        return DeleteMediaCommentPayload(
            deleted_comment_id=input.comment_id if deleted else None, errors=errors
        )

    @strawberry.mutation(
        description="Participants: likes a media, once per person (liking again changes nothing); "
        "its uploader is notified (MEDIA_LIKED). Not a participant: NOT_FOUND. Errors: "
        "MEDIA_REMOVED."
    )
    async def like_media(
        self,
        info: Info,
        input: Annotated[MediaRefInput, strawberry.argument(description="The media to like.")],
    ) -> MediaPayload:
        return _media_payload(
            *await mutate(
                info, MediaError, albums_uc.like, decode_document_id(input.media_id, "Media"), True
            )
        )

    @strawberry.mutation(
        description="Participants: takes your like back (when there is none, nothing changes). Not "
        "a participant: NOT_FOUND. Errors: MEDIA_REMOVED."
    )
    async def unlike_media(
        self,
        info: Info,
        input: Annotated[MediaRefInput, strawberry.argument(description="The media to unlike.")],
    ) -> MediaPayload:
        return _media_payload(
            *await mutate(
                info, MediaError, albums_uc.like, decode_document_id(input.media_id, "Media"), False
            )
        )


UPLOAD_FIELDS = frozenset({"uploadMedia", "setAvatar", "setEventCover"})
