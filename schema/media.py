"""Media of an event: uploads (GraphQL multipart), albums, comments and likes."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

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
    Connection,
    UserError,
    connection,
    decode_document_id,
    decode_global_id,
    decode_time_cursor,
    encode_cursor,
    mutate,
    page_size,
)
from stores import media as store

strawberry.enum(MediaErrorCode)  # the GraphQL enum: one definition, in resolvers


@strawberry.type
class MediaError(UserError):
    codes = MediaErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    code: MediaErrorCode
    retry_after_seconds: int | None = None


@strawberry.enum
class MediaKind(enum.Enum):
    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    DOCUMENT = "DOCUMENT"


@strawberry.type(description="What the camera recorded (from EXIF).")
class MediaExif:
    make: str | None
    model: str | None
    lens: str | None
    focal_length: float | None = strawberry.field(description="Millimetres.")
    aperture: float | None = strawberry.field(description="The f-number, e.g. 2.8.")
    exposure_time: str | None = strawberry.field(description='Seconds, e.g. "1/250".')
    iso: int | None
    orientation: int | None = strawberry.field(
        description="EXIF orientation (1-8); already applied to the preview and thumbnail."
    )


@strawberry.type
class MediaLocation:
    latitude: float
    longitude: float
    altitude: float | None = strawberry.field(description="Metres above sea level.")


@strawberry.type(
    description="Short-lived signed URLs (relative to the server) for the viewer "
    "who asked; they expire after a few minutes: ask again."
)
class MediaUrls:
    original: str
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


@strawberry.type(description="A photo, video or document shared in an event. Participants only.")
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

    @strawberry.field
    def kind(self) -> MediaKind:
        return MediaKind(self.doc.kind)

    @strawberry.field(description="The type found in the content (not the one declared).")
    def mime_type(self) -> str:
        return self.doc.mime_type

    @strawberry.field(description="Bytes of the original.")
    def size(self) -> int:
        return self.doc.size

    @strawberry.field(description="As displayed (orientation applied).")
    def width(self) -> int | None:
        return self.doc.width

    @strawberry.field
    def height(self) -> int | None:
        return self.doc.height

    @strawberry.field(
        description="When it was taken, with the camera's UTC offset when it "
        "recorded one (else in UTC)."
    )
    def taken_at(self) -> datetime | None:
        return uc.taken_at(self.doc)

    @strawberry.field
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

    @strawberry.field
    def caption(self) -> str:
        return self.doc.caption

    @strawberry.field(description="The uploaded file's name, cleaned (for downloads).")
    def file_name(self) -> str:
        return self.doc.file_name

    @strawberry.field
    async def uploader(self, info: Info) -> ChatAuthor:
        return await chat_person(info, self.doc.uploader_user_id)

    @strawberry.field
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

    @strawberry.field(description="Oldest first.")
    async def comments(
        self, info: Info, first: int | None = None, after: str | None = None
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

    @strawberry.field
    def comment_count(self) -> int:
        return max(0, self.doc.comment_count)

    @strawberry.field
    def like_count(self) -> int:
        return max(0, self.doc.like_count)

    @strawberry.field
    async def viewer_liked(self, info: Info) -> bool:
        return bool(await info.context.loaders.media_liked.load(str(self.doc.id)))

    @strawberry.field
    def created_at(self) -> datetime:
        return self.doc.created_at


@strawberry.type(description="A comment on a media.")
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

    @strawberry.field
    def body(self) -> str:
        return self.doc.body

    @strawberry.field
    async def author(self, info: Info) -> ChatAuthor:
        return await chat_person(info, self.doc.author_user_id)

    @strawberry.field
    def created_at(self) -> datetime:
        return self.doc.created_at

    @strawberry.field
    def edited_at(self) -> datetime | None:
        return self.doc.edited_at

    @strawberry.field(
        description="When an administrator removed it (moderation); its body is "
        "then empty. Null otherwise."
    )
    def removed_at(self) -> datetime | None:
        return self.doc.removed_at


@strawberry.type(
    description="A set of an event's media. Every event has a default album, "
    "where uploads without an album go."
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

    @strawberry.field
    def title(self) -> str:
        return self.doc.title

    @strawberry.field
    def description(self) -> str:
        return self.doc.description

    @strawberry.field
    def is_default(self) -> bool:
        return self.doc.is_default

    @strawberry.field(description="For `expectedVersion` in updateAlbum.")
    def version(self) -> int:
        return self.doc.version

    @strawberry.field
    def created_at(self) -> datetime:
        return self.doc.created_at

    @strawberry.field
    async def created_by(self, info: Info) -> User | None:
        if self.doc.created_by_user_id is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.doc.created_by_user_id)
        return User(row=row) if row is not None else None

    @strawberry.field(description="The chosen cover, else the album's first media.")
    async def cover(self) -> Media | None:
        found = await albums_uc.cover_of(self.doc)
        return Media(doc=found) if found is not None else None

    @strawberry.field
    async def media_count(self, info: Info) -> int:
        return int(await info.context.loaders.album_media_count.load(str(self.doc.id)))

    @strawberry.field(
        description="By when they were taken (upload time when unknown), oldest first."
    )
    async def media(
        self, info: Info, first: int | None = None, after: str | None = None
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


@strawberry.input
class UploadMediaInput:
    event_id: relay.GlobalID
    files: list[Upload] = strawberry.field(
        description="Multipart uploads (GraphQL multipart request spec)."
    )
    album_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Default: the event's default album."
    )
    caption: str | None = None
    share_location: bool = strawberry.field(
        default=False,
        description="Show where photos were taken to everyone (default: only to you).",
    )


@strawberry.type
class UploadMediaPayload:
    media: list[Media] = strawberry.field(
        description="In the order of the files; content already in the event returns the "
        "existing media."
    )
    errors: list[MediaError]


@strawberry.input
class SetAvatarInput:
    file: Upload | None = strawberry.field(description="Null removes the picture.")


@strawberry.type
class SetAvatarPayload:
    user: User | None
    errors: list[MediaError]


@strawberry.input
class UpdateMediaInput:
    media_id: relay.GlobalID
    caption: str | None = None
    share_location: bool | None = None


@strawberry.input
class MediaRefInput:
    media_id: relay.GlobalID


@strawberry.type
class MediaPayload:
    media: Media | None
    errors: list[MediaError]


@strawberry.type
class DeleteMediaPayload:
    deleted_media_id: relay.GlobalID | None
    errors: list[MediaError]


@strawberry.input
class CreateAlbumInput:
    event_id: relay.GlobalID
    title: str
    description: str | None = None
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


@strawberry.input
class UpdateAlbumInput:
    album_id: relay.GlobalID
    title: str | None = None
    description: str | None = None
    expected_version: int | None = None


@strawberry.input
class AlbumRefInput:
    album_id: relay.GlobalID


@strawberry.input
class MoveMediaInput:
    media_ids: list[relay.GlobalID]
    album_id: relay.GlobalID


@strawberry.input
class SetAlbumCoverInput:
    album_id: relay.GlobalID
    media_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Null: back to the album's first media."
    )


@strawberry.type
class AlbumPayload:
    album: Album | None
    errors: list[MediaError]


@strawberry.type
class DeleteAlbumPayload:
    deleted_album_id: relay.GlobalID | None
    default_album: Album | None = strawberry.field(description="Where its media went.")
    errors: list[MediaError]


@strawberry.type
class MoveMediaPayload:
    media: list[Media]
    errors: list[MediaError]


@strawberry.input
class CommentOnMediaInput:
    media_id: relay.GlobalID
    body: str
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


@strawberry.input
class EditMediaCommentInput:
    comment_id: relay.GlobalID
    body: str


@strawberry.input
class MediaCommentRefInput:
    comment_id: relay.GlobalID


@strawberry.type
class MediaCommentPayload:
    comment: MediaComment | None
    errors: list[MediaError]


@strawberry.type
class DeleteMediaCommentPayload:
    deleted_comment_id: relay.GlobalID | None
    errors: list[MediaError]


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
        description="Shares files in an event (participants). Multipart "
        "request with an `x-iven-csrf` or "
        "`Apollo-Require-Preflight` header. All or nothing."
    )
    async def upload_media(self, info: Info, input: UploadMediaInput) -> UploadMediaPayload:
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
        description="Your profile picture (square, metadata stripped). Multipart, like uploadMedia."
    )
    async def set_avatar(self, info: Info, input: SetAvatarInput) -> SetAvatarPayload:
        viewer = info.context.require_viewer()
        _, errors = await mutate(info, MediaError, uc.set_avatar, input.file)
        if errors:
            return SetAvatarPayload(user=None, errors=errors)
        info.context.loaders.user_by_id.clear(viewer.user_id)
        row = await info.context.loaders.user_by_id.load(viewer.user_id)
        return SetAvatarPayload(user=User(row=row) if row is not None else None, errors=[])

    @strawberry.mutation(description="The uploader changes the caption or location sharing.")
    async def update_media(self, info: Info, input: UpdateMediaInput) -> MediaPayload:
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

    @strawberry.mutation(description="The uploader or an organizer: the files and comments go too.")
    async def delete_media(self, info: Info, input: MediaRefInput) -> DeleteMediaPayload:
        deleted, errors = await mutate(
            info, MediaError, uc.delete, decode_document_id(input.media_id, "Media")
        )
        return DeleteMediaPayload(
            deleted_media_id=input.media_id if deleted else None, errors=errors
        )

    @strawberry.mutation(description="Any participant.")
    async def create_album(self, info: Info, input: CreateAlbumInput) -> AlbumPayload:
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

    @strawberry.mutation(description="Its creator or an organizer.")
    async def update_album(self, info: Info, input: UpdateAlbumInput) -> AlbumPayload:
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
        description="Its creator or an organizer; its media move to the "
        "default album (which cannot be deleted)."
    )
    async def delete_album(self, info: Info, input: AlbumRefInput) -> DeleteAlbumPayload:
        default, errors = await mutate(
            info, MediaError, albums_uc.delete_album, decode_document_id(input.album_id, "Album")
        )
        return DeleteAlbumPayload(
            deleted_album_id=input.album_id if default is not None else None,
            default_album=Album(doc=default) if default is not None else None,
            errors=errors,
        )

    @strawberry.mutation(
        description="The uploader or an organizer; the album must be in the same event."
    )
    async def move_media(self, info: Info, input: MoveMediaInput) -> MoveMediaPayload:
        moved, errors = await mutate(
            info,
            MediaError,
            albums_uc.move_media,
            [decode_document_id(g, "Media") for g in input.media_ids],
            decode_document_id(input.album_id, "Album"),
        )
        return MoveMediaPayload(media=[Media(doc=m) for m in moved or []], errors=errors)

    @strawberry.mutation(description="The album's creator or an organizer.")
    async def set_album_cover(self, info: Info, input: SetAlbumCoverInput) -> AlbumPayload:
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

    @strawberry.mutation(description="Any participant; the uploader is notified.")
    async def comment_on_media(self, info: Info, input: CommentOnMediaInput) -> MediaCommentPayload:
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

    @strawberry.mutation(description="The author.")
    async def edit_media_comment(
        self, info: Info, input: EditMediaCommentInput
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

    @strawberry.mutation(description="The author or an organizer.")
    async def delete_media_comment(
        self, info: Info, input: MediaCommentRefInput
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

    @strawberry.mutation(description="One like per person; liking again changes nothing.")
    async def like_media(self, info: Info, input: MediaRefInput) -> MediaPayload:
        return _media_payload(
            *await mutate(
                info, MediaError, albums_uc.like, decode_document_id(input.media_id, "Media"), True
            )
        )

    @strawberry.mutation
    async def unlike_media(self, info: Info, input: MediaRefInput) -> MediaPayload:
        return _media_payload(
            *await mutate(
                info, MediaError, albums_uc.like, decode_document_id(input.media_id, "Media"), False
            )
        )


UPLOAD_FIELDS = frozenset({"uploadMedia", "setAvatar"})
