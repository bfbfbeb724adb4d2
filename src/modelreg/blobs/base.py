"""The blob store interface: file contents by SHA-256, written atomically, verified on read.

A digest is always written ``sha256:<64 lowercase hex>``. ``put`` streams its source in chunks (never
a whole file in memory), hashes while writing to a temporary object, verifies against an expected
digest when one is given, and only then makes the blob visible (local: fsync + rename). Storing
content that is already there stores nothing new, unless the stored copy is damaged: then the new,
verified copy replaces it atomically (``created`` is then True: the content was written), so storing
the original file again is how a damaged blob is repaired. Readers verify what they read: a mismatch
raises ``IntegrityError``, never returns corrupt bytes silently.

How ``put`` tells a good stored copy from a damaged one without re-hashing it:
local and memory compare it with the new copy just written (equal bytes, and the new copy hashes to
the digest); S3 trusts an object only when it carries the marker its verified writes set (an object
written any other way loses it) and otherwise replaces it with the upload in hand. ``repair=True``
replaces whatever is stored, for a copy that a full re-hash (``verify``, ``fsck``) found damaged.

Implementations: ``blobs.local.LocalBlobStore`` (a folder), ``blobs.memory.MemoryBlobStore`` (the fake);
``blobs.s3.S3BlobStore`` (any S3-compatible store). ``open_blob_store(url)`` picks one.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from modelreg.errors import InvalidInput
from modelreg.types import Frozen

CHUNK = 1024 * 1024
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
Progress = Callable[[int], None]  # called with the number of bytes just moved


def sha256_file(path: Path) -> str:
    """The content address (``sha256:<hex>``) of the file at ``path``, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def check_digest(digest: str) -> str:
    if not isinstance(digest, str) or not DIGEST_RE.fullmatch(digest):  # not match: "$" allows a final "\n"
        raise InvalidInput(f"{str(digest)[:80]!r} is not a digest",
                           hint="a digest is 'sha256:' followed by 64 lowercase hex characters",
                           digest=str(digest))
    return digest


class BlobInfo(Frozen):
    digest: str
    size: int
    created: bool  # True when this put wrote the content: it was absent, or its stored copy damaged


class BlobStore(ABC):
    url: str

    @abstractmethod
    def put(self, source: BinaryIO, *, expected_digest: str | None = None,
            progress: Progress | None = None, repair: bool = False) -> BlobInfo:
        """Store a stream. With ``expected_digest``, a mismatch raises IntegrityError and keeps nothing.

        A damaged stored copy of the same content is replaced atomically by the verified new one
        (``created`` is then True); ``repair`` replaces the stored copy even when it looks intact
        (for one a full re-hash found damaged). An intact copy is kept (``created`` False).
        """

    def put_file(self, path: Path, *, progress: Progress | None = None, repair: bool = False) -> BlobInfo:
        with open(path, "rb") as f:
            return self.put(f, progress=progress, repair=repair)

    @abstractmethod
    def exists(self, digest: str) -> bool: ...

    @abstractmethod
    def size(self, digest: str) -> int | None:
        """Stored size in bytes, or None if the blob is absent."""

    @abstractmethod
    def open(self, digest: str) -> BinaryIO:
        """A reader that raises IntegrityError when the content read to the end does not match the digest.

        Raises BlobNotFound when absent. The caller closes it.
        """

    @abstractmethod
    def get_to_path(self, digest: str, dest: Path, *, progress: Progress | None = None) -> None:
        """Write the blob to ``dest`` atomically (temp file beside it, verify, fsync, rename)."""

    @abstractmethod
    def delete(self, digest: str) -> None:
        """Remove the blob; absent is not an error."""

    @abstractmethod
    def iter_digests(self) -> Iterator[tuple[str, int]]:
        """Every stored blob as (digest, size)."""

    @abstractmethod
    def verify(self, digest: str) -> bool:
        """Re-hash the stored content: True if it matches. Raises BlobNotFound when absent."""

    @abstractmethod
    def clean_temp(self, *, older_than_s: float, dry_run: bool) -> int:
        """Remove (or, dry run, count) temporary files of interrupted writes older than the given age."""

    def modified_at(self, digest: str) -> datetime | None:
        """When the blob was last written (or stored again), None when absent; gc's grace period uses it."""
        local = self.local_path(digest)
        if local is None:
            return None
        try:
            return datetime.fromtimestamp(local.stat().st_mtime, UTC)
        except FileNotFoundError:
            return None

    def local_path(self, digest: str) -> Path | None:
        """The blob's file on this machine when the backend has one (lets pull hard-link or copy fast)."""
        return None


def open_blob_store(url: str, *, s3_endpoint_url: str | None = None) -> BlobStore:
    """``file:///path`` or a plain path: local folder; ``s3://bucket/prefix``: S3; ``memory://``: the fake."""
    if url.startswith("memory:"):
        from modelreg.blobs.memory import MemoryBlobStore

        return MemoryBlobStore()
    if url.startswith("s3://"):
        try:
            from modelreg.blobs.s3 import S3BlobStore
        except ImportError as e:
            if e.name not in ("boto3", "botocore"):
                raise
            raise InvalidInput("S3 artifact storage needs boto3", hint="pip install 'modelreg[s3]'", url=url) from e
        return S3BlobStore(url, endpoint_url=s3_endpoint_url)
    from modelreg.blobs.local import LocalBlobStore

    return LocalBlobStore(Path(url.removeprefix("file://")))
