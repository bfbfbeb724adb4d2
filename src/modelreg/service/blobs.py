"""Getting files into the blob store for a version, and removing blobs nothing references.

The protocol that keeps "nothing still referenced is ever deleted" true, with registrations racing
deletes and gc: a registration stores its blobs, then claims their rows inside the transaction that
commits the version (``claim_blobs``) and checks they still exist; gc and deletes remove a blob only
after ``mark_blob_deleting`` committed, which refuses a referenced blob. A registration that finds a
blob being deleted rolls back, stores the content again and retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from modelreg.blobs.base import Progress
from modelreg.errors import StorageError
from modelreg.local.sources import (
    MAX_FILES_PER_VERSION,
    FilesArg,
    Source,
    check_file_total,
    check_version_paths,
    collect_sources,
    folder_keeps_name,
    folder_sources,
    media_type,
)
from modelreg.metadata.base import MetadataTx
from modelreg.service.context import Context
from modelreg.types import Artifact

log = logging.getLogger("modelreg.service")


def store_sources(ctx: Context, sources: Sequence[Source], progress: Progress | None = None) -> list[Artifact]:
    """Stream every source into the blob store (verified while written); return the artifacts."""
    artifacts: list[Artifact] = []
    for s in sources:
        with s.open() as stream:
            info = ctx.blobs.put(stream, progress=progress)  # type: ignore[arg-type]
        artifacts.append(Artifact(path=s.path, digest=info.digest, size=info.size, media_type=media_type(s.path)))
    return sorted(artifacts, key=lambda a: a.path)


class BlobsBusy(Exception):
    """Raised inside a registration transaction when some blobs are being deleted or are gone."""

    def __init__(self, digests: list[str]) -> None:
        super().__init__(", ".join(digests))
        self.digests = digests


def claim(ctx: Context, tx: MetadataTx, artifacts: Sequence[Artifact]) -> None:
    """Inside the registering transaction: claim the blob rows and check the blobs are really there."""
    sizes = {a.digest: a.size for a in artifacts}
    if not sizes:
        return
    busy = tx.claim_blobs(blobs=sizes)
    busy += [d for d in sizes if d not in busy and ctx.blobs.size(d) != sizes[d]]
    if busy:
        raise BlobsBusy(sorted(set(busy)))


def register_with_retry(ctx: Context, sources: Sequence[Source], artifacts: list[Artifact],
                        commit: Callable[[list[Artifact]], Any], *, attempts: int = 8) -> Any:
    """Run ``commit(artifacts)`` (which calls ``claim``), storing again whatever gc took meanwhile."""
    by_path = {s.path: s for s in sources}
    by_digest = {a.digest: by_path[a.path] for a in artifacts}
    for attempt in range(attempts):
        try:
            return commit(artifacts)
        except BlobsBusy as busy:
            log.info("blobs %s were being deleted while registering; storing them again", busy.digests)
            time.sleep(0.05 * (attempt + 1))
            for digest in busy.digests:
                with by_digest[digest].open() as stream:
                    ctx.blobs.put(stream, expected_digest=digest)  # type: ignore[arg-type]
    raise StorageError("the blob store kept losing this version's files while registering",
                       hint="a gc may be running; try again when it has finished")


def collect_blobs(ctx: Context, digests: Iterable[str]) -> tuple[int, int]:
    """Delete the given blobs if nothing references them; return (blobs deleted, bytes freed)."""
    count = freed = 0
    for digest in sorted(set(digests)):
        size = ctx.blobs.size(digest) or 0

        def mark(tx: MetadataTx, digest: str = digest, size: int = size) -> bool:
            return tx.mark_blob_deleting(digest=digest, size=size)

        if not ctx.write(mark):
            continue
        ctx.blobs.delete(digest)
        ctx.write(lambda tx, digest=digest: tx.delete_blob_row(digest=digest))  # type: ignore[misc]
        count += 1
        freed += size
    return count, freed


# Collecting the sources moved to ``modelreg.local.sources``; its names stay importable from here.
__all__ = ["MAX_FILES_PER_VERSION", "BlobsBusy", "FilesArg", "Source", "check_file_total", "check_version_paths",
           "claim", "collect_blobs", "collect_sources", "folder_keeps_name", "folder_sources", "media_type",
           "register_with_retry", "store_sources"]
