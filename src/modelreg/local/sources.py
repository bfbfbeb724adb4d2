"""The files of a version to be: the ``files=`` argument turned into sources, their paths checked.

A source is an artifact path and a way to open the content (again, on a retry): a file, bytes, a binary
stream, or every file of a folder. Registering, a run's ``log_file`` and an export's stored files all
start here, in process or on a client's machine before the upload.
"""

from __future__ import annotations

import io
import mimetypes
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from modelreg.errors import InvalidInput
from modelreg.refs import check_artifact_paths, check_file_count, validate_artifact_path

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
    """The media type an artifact is stored with, from its file name."""
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
