"""Getting files into the blob store for a version, and removing blobs nothing references.

The protocol that keeps "nothing still referenced is ever deleted" true, with registrations racing
deletes and gc: a registration stores its blobs, then claims their rows inside the transaction that
commits the version (``claim_blobs``) and checks they still exist; gc and deletes remove a blob only
after ``mark_blob_deleting`` committed, which refuses a referenced blob. A registration that finds a
blob being deleted rolls back, stores the content again and retries.
"""

from __future__ import annotations

import io
import logging
import mimetypes
import os
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from modelreg.blobs.base import Progress
from modelreg.errors import InvalidInput, StorageError
from modelreg.metadata.base import MetadataTx
from modelreg.refs import check_artifact_paths, check_file_count, validate_artifact_path
from modelreg.service.context import Context
from modelreg.types import Artifact

log = logging.getLogger("modelreg.service")

FilesArg = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Mapping[str, Any] | None
MAX_FILES_PER_VERSION = 10_000  # more is refused (422): pack many small files into one archive


def check_version_paths(paths: Collection[str]) -> None:
    """The artifact paths of one version: at most ``MAX_FILES_PER_VERSION``, none twice, none that is
    also another's folder (``a`` beside ``a/b``), so that every version can be written out as a folder."""
    check_artifact_paths(paths, limit=MAX_FILES_PER_VERSION)


def check_file_total(count: int) -> None:
    """At most ``MAX_FILES_PER_VERSION`` files: checked first, before any work on them."""
    check_file_count(count, limit=MAX_FILES_PER_VERSION)
_MEDIA_TYPES = {
    ".pt": "application/x-pytorch", ".pth": "application/x-pytorch", ".pt2": "application/x-pytorch",
    ".onnx": "application/onnx", ".pkl": "application/x-pickle", ".pickle": "application/x-pickle",
    ".yaml": "application/yaml", ".yml": "application/yaml", ".json": "application/json",
    ".safetensors": "application/x-safetensors", ".tflite": "application/x-tflite",
    ".mlmodel": "application/x-coreml", ".npz": "application/x-npz", ".csv": "text/csv",
}


def media_type(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    return _MEDIA_TYPES.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"


@dataclass(frozen=True)
class Source:
    """One file of a version to be: its artifact path and how to open its content (again, on a retry)."""

    path: str
    open: Callable[[], IO[bytes]]
    origin: str


def _from_value(path: str, value: Any) -> Source:
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return Source(path, lambda: io.BytesIO(data), "<bytes>")
    if isinstance(value, (str, os.PathLike)):
        local = Path(value).expanduser()
        if not local.is_file():
            raise InvalidInput(f"file {str(local)!r} for artifact {path!r} does not exist or is not a file",
                               hint="check the path", path=str(local))
        return Source(path, lambda: open(local, "rb"), str(local))
    if hasattr(value, "read"):
        stream: BinaryIO = value
        start = stream.tell() if stream.seekable() else None

        def reopen() -> IO[bytes]:
            if start is not None:
                stream.seek(start)
            return io.BufferedReader(_Unclosing(stream))

        return Source(path, reopen, "<stream>")
    raise InvalidInput(f"artifact {path!r}: {type(value).__name__} is not a file path, bytes or a binary stream",
                       path=path)


class _Unclosing(io.RawIOBase):
    """Lets the caller keep ownership of a stream it passed in."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.inner.read(len(b))
        b[: len(data)] = data
        return len(data)


def folder_sources(root: Path, *, skip: Iterable[str] = ()) -> list[Source]:
    """Every file under ``root`` (symlinks followed, hidden files kept), by relative POSIX path."""
    skipped = set(skip)
    out: list[Source] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if rel in skipped:
                continue
            out.append(_from_value(rel, full))
    return out


def folder_keeps_name(files: str | os.PathLike[str]) -> bool:
    """Whether registering the folder ``files`` stores its files under the folder's own name.

    ``runs/train/weights`` keeps it (``weights/best.pt``), as copying the folder would; a path ending in
    ``/`` (``runs/train/weights/``) stores the folder's contents at the top (``best.pt``), as rsync does;
    so does a folder without a name of its own (``.``).
    """
    text = os.fspath(files)
    name = Path(text).expanduser().name
    return not text.endswith(("/", os.sep)) and name not in ("", ".", "..")


def collect_sources(files: FilesArg) -> list[Source]:
    """Turn the ``files=`` argument into sources: a folder, a list of paths, or {artifact path: source}.

    A folder keeps its own name (see ``folder_keeps_name``); the folders in a list always do."""
    if files is None:
        return []
    sources: list[Source]
    if isinstance(files, Mapping):
        sources = [_from_value(validate_artifact_path(p), v) for p, v in files.items()]
    elif isinstance(files, (str, os.PathLike)):
        root = Path(files).expanduser()
        if root.is_dir():
            sources = folder_sources(root)
            if folder_keeps_name(files):
                sources = [Source(f"{root.name}/{s.path}", s.open, s.origin) for s in sources]
        elif root.is_file():
            sources = [_from_value(root.name, root)]
        else:
            raise InvalidInput(f"{str(root)!r} does not exist", hint="pass a file, a folder or a list of files",
                               path=str(root))
    else:
        sources = []
        for item in files:
            local = Path(item).expanduser()
            if local.is_dir():
                sources.extend(Source(f"{local.name}/{s.path}", s.open, s.origin) for s in folder_sources(local))
            else:
                sources.append(_from_value(local.name, local))
    for s in sources:
        validate_artifact_path(s.path)
    check_version_paths([s.path for s in sources])
    return sources


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
