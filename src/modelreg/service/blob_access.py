"""File contents by digest, for clients that move blobs themselves (the server's blob endpoints).

Blobs are stored once whatever project they belong to, but a principal limited to one project sees only
the blobs its project holds (a version's artifact or an export file in it) or uploaded itself; any other
digest is answered as not stored, so a token cannot learn what another project keeps. Registering by
digest follows the same rule (``_visible_blobs``), so uploading is the only way to bring new content in,
while the bytes on disk stay deduplicated across projects.
"""

from __future__ import annotations

from typing import BinaryIO

from modelreg.blobs.base import BlobInfo, check_digest
from modelreg.errors import BlobNotFound
from modelreg.service.base import ServiceBase
from modelreg.service.permissions import operation

CHUNK = 1024 * 1024


def blob_missing(digest: str) -> BlobNotFound:
    return BlobNotFound(f"blob {digest} is not stored", hint="upload it first", digest=digest)


class BlobAccessMixin(ServiceBase):
    @operation("editor", "uploading files")
    def upload_blob(self, source: BinaryIO, digest: str) -> BlobInfo:
        """Store a stream that must hash to ``digest`` (IntegrityError and nothing kept when it does not).

        Content already stored is not stored twice; a principal limited to a project is granted the blob.
        """
        check_digest(digest)
        info = self.ctx.blobs.put(source, expected_digest=digest)
        scope = self.ctx.project_scope
        if scope is not None:
            self.ctx.write(lambda tx: tx.grant_blob(digest=digest, project=scope, now=self.ctx.now()))
        return info

    @operation("viewer", "reading files")
    def blob_size(self, digest: str) -> int:
        """The stored size of a blob the principal may read; BlobNotFound otherwise."""
        check_digest(digest)
        if not self._visible_blobs([digest]):
            raise blob_missing(digest)
        size = self.ctx.blobs.size(digest)
        if size is None:
            raise blob_missing(digest)
        return size

    @operation("viewer", "reading files")
    def open_blob(self, digest: str, *, offset: int = 0) -> BinaryIO:
        """A reader of the blob from ``offset``; read from the start to its end, it verifies the digest
        (IntegrityError instead of a clean end when the stored copy is damaged). The caller closes it."""
        check_digest(digest)
        if not self._visible_blobs([digest]):
            raise blob_missing(digest)
        if offset == 0:
            return self.ctx.blobs.open(digest)
        local = self.ctx.blobs.local_path(digest)
        if local is not None:
            f = open(local, "rb")  # noqa: SIM115 -- handed to the caller
            f.seek(offset)
            return f
        stream = self.ctx.blobs.open(digest)  # no local file: skip to the offset (unverified: not read whole)
        to_skip = offset
        while to_skip:
            skipped = len(stream.read(min(CHUNK, to_skip)))
            if not skipped:
                break
            to_skip -= skipped
        return stream
