"""Files under uploads/: server-generated names in folders sharded by the name's hash.

Layout: `<root>/<area>/<k[0:2]>/<k[2:4]>/<k>.<suffix>` where `k` is a random 128-bit hex key
(never anything the client sent) and the suffix names the variant (`orig.jpg`, `thumb.webp`,
`preview.webp`, `public.jpg`, `avatar256.webp`...). Two levels of 256 folders keep any folder
small up to hundreds of millions of files. Uploads are first spooled to `<root>/.tmp/` (same
file system, so the final move is an atomic rename).

All functions here are synchronous: callers run them in a thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO

MEDIA = "media"
AVATARS = "profils"  # the seed's folder for profile pictures
CHUNK = 1024 * 1024


class TooLarge(Exception):
    pass


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.tmp = self.root / ".tmp"

    def ensure(self) -> None:
        for folder in (self.tmp, self.root / MEDIA, self.root / AVATARS):
            folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def new_key() -> str:
        return secrets.token_hex(16)

    def prefix(self, area: str, key: str) -> Path:
        """The path without suffix; `key` is always one of ours (checked: hex only)."""
        if len(key) != 32 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError("not a storage key")
        return self.root / area / key[:2] / key[2:4] / key

    def path(self, area: str, key: str, suffix: str) -> Path:
        base = self.prefix(area, key)
        return base.with_name(f"{base.name}.{suffix}")

    def spool(self, source: BinaryIO, max_bytes: int) -> tuple[Path, int, str, bytes]:
        """Copies an uploaded stream to a temporary file in chunks (never whole in memory).
        Returns (path, size, sha256 hex, first 64 bytes); TooLarge past max_bytes."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        target = self.tmp / f"{self.new_key()}.part"
        digest = hashlib.sha256()
        size = 0
        head = b""
        with contextlib.suppress(Exception):
            source.seek(0)
        try:
            with open(target, "wb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge()
                    if len(head) < 64:
                        head += chunk[: 64 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return target, size, digest.hexdigest(), head

    def place(self, temp: Path, area: str, key: str, suffix: str) -> Path:
        final = self.path(area, key, suffix)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, final)
        return final

    def remove(self, area: str, key: str) -> int:
        """Deletes every file of a key; returns how many there were."""
        base = self.prefix(area, key)
        removed = 0
        if base.parent.is_dir():
            for found in base.parent.glob(f"{base.name}.*"):
                found.unlink(missing_ok=True)
                removed += 1
        return removed

    def files_of(self, area: str, key: str) -> list[Path]:
        base = self.prefix(area, key)
        return sorted(base.parent.glob(f"{base.name}.*")) if base.parent.is_dir() else []

    def keys_older_than(self, area: str, cutoff: float) -> set[str]:
        """Keys with a file last changed before `cutoff` (a timestamp)."""
        folder = self.root / area
        return {
            p.name.split(".", 1)[0]
            for p in folder.glob("*/*/*")
            if p.is_file() and p.stat().st_mtime < cutoff
        }

    def remove_temp_older_than(self, cutoff: float) -> int:
        removed = 0
        for part in self.tmp.glob("*"):
            if part.is_file() and part.stat().st_mtime < cutoff:
                part.unlink(missing_ok=True)
                removed += 1
        return removed

    def all_keys(self, area: str) -> set[str]:
        """Every key with files in an area (the orphan sweep and tests)."""
        folder = self.root / area
        return {p.name.split(".", 1)[0] for p in folder.glob("*/*/*") if p.is_file()}
