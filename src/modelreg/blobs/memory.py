"""The in-memory blob store: a dict behind the same contract as the local folder, for tests.

It verifies what it returns exactly like the real stores, replaces a damaged copy when the content
is stored again, and ``corrupt`` lets a test damage a blob to check that the damage is detected and
repaired.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from modelreg.blobs.base import BlobInfo, BlobStore, Progress, check_digest
from modelreg.blobs.local import copy_verified_to_path, pump, reader_of, verifying_stream
from modelreg.errors import BlobNotFound, IntegrityError


class MemoryBlobStore(BlobStore):
    """Blobs in a dict; safe to share between threads."""

    def __init__(self) -> None:
        self.url = "memory://"
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryBlobStore({len(self._blobs)} blobs)"

    def _get(self, digest: str) -> bytes:
        check_digest(digest)
        with self._lock:
            data = self._blobs.get(digest)
        if data is None:
            raise BlobNotFound(f"blob {digest} is not in the store", digest=digest)
        return data

    def put(
        self, source: BinaryIO, *, expected_digest: str | None = None, progress: Progress | None = None,
        repair: bool = False,
    ) -> BlobInfo:
        if expected_digest is not None:
            check_digest(expected_digest)
        chunks: list[bytes] = []
        hexdigest, size = pump(reader_of(source), lambda data: chunks.append(bytes(data)), progress=progress)
        digest = f"sha256:{hexdigest}"
        if expected_digest is not None and digest != expected_digest:
            raise IntegrityError(
                f"the content received hashes to {digest}, not the expected {expected_digest}",
                hint="the upload was damaged or the digest is wrong; send the file again",
                expected=expected_digest,
                actual=digest,
                size=size,
            )
        data = b"".join(chunks)
        with self._lock:
            stored = self._blobs.get(digest)
            if stored is not None and stored == data and not repair:  # intact: nothing to store
                return BlobInfo(digest=digest, size=size, created=False)
            self._blobs[digest] = data  # new, or a damaged copy replaced by the verified one
        return BlobInfo(digest=digest, size=size, created=True)

    def exists(self, digest: str) -> bool:
        check_digest(digest)
        with self._lock:
            return digest in self._blobs

    def size(self, digest: str) -> int | None:
        check_digest(digest)
        with self._lock:
            data = self._blobs.get(digest)
        return None if data is None else len(data)

    def open(self, digest: str) -> BinaryIO:
        data = self._get(digest)
        return verifying_stream(io.BytesIO(data), digest, len(data))

    def get_to_path(self, digest: str, dest: Path, *, progress: Progress | None = None) -> None:
        data = self._get(digest)
        copy_verified_to_path(io.BytesIO(data), Path(dest), digest=digest, size=len(data), progress=progress)

    def verify(self, digest: str) -> bool:
        data = self._get(digest)
        hexdigest, _ = pump(io.BytesIO(data).readinto, None)
        return f"sha256:{hexdigest}" == digest

    def delete(self, digest: str) -> None:
        check_digest(digest)
        with self._lock:
            self._blobs.pop(digest, None)

    def iter_digests(self) -> Iterator[tuple[str, int]]:
        with self._lock:
            items = sorted((d, len(b)) for d, b in self._blobs.items())
        yield from items

    def local_path(self, digest: str) -> Path | None:
        check_digest(digest)
        return None  # no file on disk

    def clean_temp(self, *, older_than_s: float, dry_run: bool) -> int:
        return 0  # nothing is ever half-written in memory

    def corrupt(self, digest: str, *, offset: int = 0) -> None:
        """Flip one byte of a stored blob (for tests of corruption detection)."""
        data = bytearray(self._get(digest))
        if not data:
            raise ValueError("an empty blob has no byte to flip")
        data[offset] ^= 0xFF
        with self._lock:
            self._blobs[digest] = bytes(data)
