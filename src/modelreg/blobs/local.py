"""Blobs in a local folder, addressed by SHA-256, written atomically and verified on every read.

Layout under ``root``::

    sha256/<hex[0:2]>/<hex[2:4]>/<hex>    a blob (mode 0o444)
    tmp/put-*.part                        an upload in progress, or the leftover of a killed writer

A write streams its source into a unique temporary file in ``tmp/`` (same filesystem), hashing each
chunk on a helper thread while the chunk is written, fsyncs it, and only then links it into place
(``os.link`` cannot overwrite, so exactly one of two racing writers reports ``created``), fsyncing the
directory. Any failure, a digest mismatch or a ``KeyboardInterrupt`` removes the temporary file; a
SIGKILL leaves it for ``clean_temp``. Memory use is a few chunks whatever the file size.

When the content is already stored, the stored copy is compared byte for byte with the temporary
file (which hashes to the digest): equal, the temporary file goes; different (a flipped byte, a
truncation), the temporary file is renamed over it, so storing the original again repairs a damaged
blob atomically. Readers see the old copy or the new one, never a mix.

The helpers ``pump``, ``VerifyingReader`` and ``copy_verified_to_path`` are shared with the memory fake.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import logging
import os
import queue
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

from modelreg.blobs.base import BlobInfo, BlobStore, Progress, check_digest
from modelreg.errors import BlobNotFound, IntegrityError, InvalidInput, StorageError
from modelreg.steps import next_step

log = logging.getLogger(__name__)

COPY_CHUNK = 4 * 1024 * 1024  # measured: 4-8 MiB beat 1 MiB by a few percent; two buffers are in flight
READ_BUFFER = 1024 * 1024  # buffer of the readers ``open`` returns
_INLINE_HASH = 256 * 1024  # smaller chunks are hashed inline: a thread hop would cost more than it saves
_BLOB_MODE = 0o444
_FILE_MODE = 0o644
_HEX = frozenset("0123456789abcdef")
DAMAGED_STEP = next_step("repair_blobs", lead="the stored copy is damaged; the verified original replaces it")
MISSING_STEP = next_step("repair_blobs", lead="fsck lists every missing blob")

ReadInto = Callable[[memoryview], "int | None"]
Sink = Callable[[memoryview], None]
StoredCopy = Literal["absent", "intact", "damaged"]


class _RawReader(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...

    def close(self) -> None: ...


# --- hashing while moving bytes -------------------------------------------------------------------


class _BackgroundHash:
    """SHA-256 of a sequence of chunks, computed on one helper thread so hashing overlaps I/O.

    ``update`` returns at once; the chunk passed in must stay unchanged until the next ``update``
    or ``wait`` returns (callers alternate between two buffers).
    """

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def update(self, chunk: memoryview) -> None:
        self.wait()
        if len(chunk) < _INLINE_HASH:
            self._hash.update(chunk)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelreg-hash")
        self._pending = self._pool.submit(self._hash.update, chunk)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def hexdigest(self) -> str:
        self.wait()
        return self._hash.hexdigest()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _fill(read_into: ReadInto, view: memoryview) -> int:
    """Read until ``view`` is full or the source ends; return the number of bytes read."""
    got = 0
    while got < len(view):
        n = read_into(view[got:])
        if n is None:
            raise InvalidInput(
                "the source stream is non-blocking and had no data ready", hint="pass a blocking binary stream"
            )
        if n == 0:
            break
        got += n
    return got


def reader_of(source: BinaryIO | _RawReader) -> ReadInto:
    """A ``readinto``-style function for any binary stream (``readinto`` when it has one, else ``read``)."""
    readinto = getattr(source, "readinto", None)
    if readinto is not None:
        return readinto  # type: ignore[no-any-return]
    read: Callable[[int], Any] = source.read  # type: ignore[union-attr]

    def read_into(view: memoryview) -> int:
        data = read(len(view))
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidInput(
                f"the source stream returned {type(data).__name__}, not bytes",
                hint="open the file in binary mode ('rb')",
            )
        n = len(data)
        if n > len(view):
            raise InvalidInput("the source stream returned more bytes than asked for")
        view[:n] = data
        return n

    return read_into


def size_hint(source: object) -> int | None:
    """How many bytes a source still holds, when that is cheap to know (files, BytesIO, or a stream that
    declares it, like the server's request body with its Content-Length). Only sizes the buffers: a wrong
    hint costs speed, never correctness."""
    declared = getattr(source, "declared_size", None)
    if isinstance(declared, int) and not isinstance(declared, bool) and declared >= 0:
        return declared
    try:
        if isinstance(source, io.BytesIO):
            return len(source.getbuffer()) - source.tell()
        fileno = getattr(source, "fileno", None)
        if fileno is not None:
            st = os.fstat(fileno())
            if stat.S_ISREG(st.st_mode):
                position: int = source.tell()  # type: ignore[attr-defined]
                return max(0, st.st_size - position)
    except (OSError, ValueError, io.UnsupportedOperation, AttributeError):
        return None
    return None


def pump(
    read_into: ReadInto, sink: Sink | None, *, progress: Progress | None = None, chunk_size: int = COPY_CHUNK,
    expected_size: int | None = None,
) -> tuple[str, int]:
    """Move a stream to ``sink`` chunk by chunk, hashing every byte; return (hex digest, size).

    Small sources (``expected_size`` under one chunk) take one right-sized buffer on this thread. Large
    ones run a three-stage pipeline over three buffers: a reader thread fills the next chunk while this
    thread writes chunk *i* and the hash thread hashes it (all three release the GIL), so reading,
    hashing and writing overlap. Memory use is three chunks, whatever the size.
    """
    if expected_size is not None and expected_size < chunk_size:
        return _pump_small(read_into, sink, progress, max(expected_size + 1, 4096))
    free: queue.Queue[memoryview | None] = queue.Queue()
    for _ in range(3):
        free.put(memoryview(bytearray(chunk_size)))
    filled: queue.Queue[tuple[memoryview, int] | BaseException] = queue.Queue()

    def read_ahead() -> None:
        try:
            while (view := free.get()) is not None:
                n = _fill(read_into, view)
                filled.put((view, n))
                if n == 0:
                    return
        except BaseException as exc:  # handed to the consuming thread, which raises it
            filled.put(exc)

    reader = threading.Thread(target=read_ahead, name="modelreg-read", daemon=True)
    reader.start()
    hasher = _BackgroundHash()
    total = 0
    previous: memoryview | None = None
    try:
        while True:
            item = filled.get()
            if isinstance(item, BaseException):
                raise item
            view, n = item
            if n == 0:
                break
            data = view[:n]
            hasher.update(data)  # waits for the previous chunk's hash: its buffer is free again
            if previous is not None:
                free.put(previous)
            if sink is not None:
                sink(data)
            previous = view
            total += n
            if progress is not None:
                progress(n)
        return hasher.hexdigest(), total
    finally:
        free.put(None)  # stops the reader once it is done with the chunk in hand
        hasher.close()


def _pump_small(read_into: ReadInto, sink: Sink | None, progress: Progress | None, size: int) -> tuple[str, int]:
    view = memoryview(bytearray(size))
    digest = hashlib.sha256()
    total = 0
    while n := _fill(read_into, view):
        data = view[:n]
        digest.update(data)
        if sink is not None:
            sink(data)
        total += n
        if progress is not None:
            progress(n)
    return digest.hexdigest(), total


# --- the reader ``open`` returns -------------------------------------------------------------------


class VerifyingReader(io.RawIOBase):
    """Hashes what is read; at the end of the stream raises IntegrityError if digest or size differ.

    Not seekable: a reader that skipped bytes could not verify them. Reading again after the error
    raises it again, so a corrupt blob never looks like a clean end of file.
    """

    def __init__(self, raw: _RawReader, digest: str, size: int) -> None:
        super().__init__()
        self._raw = raw
        self._digest = digest
        self._size = size
        self._hash = hashlib.sha256()
        self._read = 0
        self._error: IntegrityError | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any, /) -> int:
        if self._error is not None:
            raise self._error
        view = memoryview(buffer).cast("B")
        if not len(view):
            return 0
        n = self._raw.readinto(view) or 0
        if n:
            self._hash.update(view[:n])
            self._read += n
            if self._read > self._size:
                self._fail()
            return n
        if self._read != self._size or f"sha256:{self._hash.hexdigest()}" != self._digest:
            self._fail()
        return 0

    def readall(self) -> bytes:
        out = bytearray()
        view = memoryview(bytearray(READ_BUFFER))
        while n := self.readinto(view):
            out += view[:n]
        return bytes(out)

    def _fail(self) -> None:
        actual = f"sha256:{self._hash.hexdigest()}" if self._read <= self._size else None
        self._error = IntegrityError(
            f"blob {self._digest} is corrupt: read {self._read} bytes"
            + (f" hashing to {actual}" if actual else "")
            + f", expected {self._size} bytes",
            step=DAMAGED_STEP,
            digest=self._digest,
            expected=self._digest,
            actual=actual,
            expected_size=self._size,
            actual_size=self._read,
        )
        raise self._error

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            finally:
                super().close()


def verifying_stream(raw: _RawReader, digest: str, size: int) -> BinaryIO:
    """``raw`` wrapped as a buffered binary reader that verifies ``digest`` and ``size`` at the end."""
    return io.BufferedReader(VerifyingReader(raw, digest, size), buffer_size=READ_BUFFER)


# --- durable file operations ----------------------------------------------------------------------


@contextlib.contextmanager
def _storage(action: str, path: Path) -> Iterator[None]:
    """Turn an OSError of our own filesystem operations into StorageError (with a next step)."""
    try:
        yield
    except OSError as e:
        hint = (
            "free some disk space"
            if e.errno in (errno.ENOSPC, errno.EDQUOT)
            else "check that the folder exists and is writable"
        )
        raise StorageError(
            f"could not {action} {path}: {e.strerror or e}", hint=hint, path=str(path), errno=e.errno
        ) from e


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _fsync_dir(path: Path) -> None:
    """Make a directory entry durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:  # some filesystems refuse fsync on directories
        if e.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise StorageError(f"could not sync {path}: {e.strerror or e}", path=str(path), errno=e.errno) from e
    finally:
        os.close(fd)


def _makedirs_durable(path: Path) -> None:
    """``mkdir -p``, fsyncing the parent of every directory it creates."""
    missing: list[Path] = []
    p = path
    while not p.is_dir():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:  # made by a concurrent writer, or a file in the way
            if not d.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(d)) from None
        _fsync_dir(d.parent)


def _unlink_quietly(path: Path | str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        log.warning("could not remove temporary file %s: %s", path, e)


def _advise_sequential(fd: int) -> None:
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)


def _same_content(a: Path, b: Path, chunk_size: int) -> bool:
    """Whether two files hold the same bytes (read in chunks; stops at the first difference)."""
    with open(a, "rb", buffering=0) as fa, open(b, "rb", buffering=0) as fb:
        _advise_sequential(fb.fileno())
        first, second = bytearray(chunk_size), bytearray(chunk_size)
        with memoryview(first) as va, memoryview(second) as vb:
            while True:
                n, m = _fill(fa.readinto, va), _fill(fb.readinto, vb)
                if n != m:
                    return False
                if n == 0:
                    return True
                if (first if n == chunk_size else first[:n]) != (second if n == chunk_size else second[:n]):
                    return False


def copy_verified_to_path(
    source: BinaryIO | _RawReader,
    dest: Path,
    *,
    digest: str,
    size: int,
    progress: Progress | None = None,
    chunk_size: int = COPY_CHUNK,
) -> None:
    """Copy ``source`` to a temporary file beside ``dest`` while hashing, verify, fsync, rename.

    A mismatch raises IntegrityError and leaves no ``dest`` (an existing one is left untouched).
    """
    dest = Path(dest)
    with _storage("create the folder", dest.parent):
        dest.parent.mkdir(parents=True, exist_ok=True)
    with _storage("create a temporary file in", dest.parent):
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:

        def sink(data: memoryview) -> None:
            with _storage("write", Path(tmp)):
                _write_all(fd, data)

        try:
            hexdigest, total = pump(reader_of(source), sink, progress=progress, chunk_size=chunk_size,
                                    expected_size=size)
            actual = f"sha256:{hexdigest}"
            if actual != digest or total != size:
                raise IntegrityError(
                    f"blob {digest} is corrupt: {total} bytes hashing to {actual}, expected {size} bytes",
                    step=DAMAGED_STEP,
                    digest=digest,
                    expected=digest,
                    actual=actual,
                    expected_size=size,
                    actual_size=total,
                )
            with _storage("write", Path(tmp)):
                os.fchmod(fd, _FILE_MODE)
                os.fsync(fd)
        finally:
            os.close(fd)
        with _storage("move a downloaded file to", dest):
            os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        _unlink_quietly(tmp)
        raise


# --- the store ------------------------------------------------------------------------------------


class LocalBlobStore(BlobStore):
    """Content-addressed blobs in a folder (see the module docstring for the layout and guarantees)."""

    def __init__(self, root: Path, *, chunk_size: int = COPY_CHUNK) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = self.root.as_uri()
        self.chunk_size = chunk_size
        self._blobs = self.root / "sha256"
        self._tmp = self.root / "tmp"

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def _path(self, digest: str) -> Path:
        hexdigest = check_digest(digest)[7:]
        return self._blobs / hexdigest[:2] / hexdigest[2:4] / hexdigest

    # writing

    def put(
        self, source: BinaryIO, *, expected_digest: str | None = None, progress: Progress | None = None,
        repair: bool = False,
    ) -> BlobInfo:
        if expected_digest is not None:
            check_digest(expected_digest)
        with _storage("create the folder", self._tmp):
            _makedirs_durable(self._tmp)
        with _storage("create a temporary file in", self._tmp):
            fd, tmp = tempfile.mkstemp(dir=self._tmp, prefix="put-", suffix=".part")
        try:

            def sink(data: memoryview) -> None:
                with _storage("write", Path(tmp)):
                    _write_all(fd, data)

            try:
                hexdigest, size = pump(reader_of(source), sink, progress=progress, chunk_size=self.chunk_size,
                                       expected_size=size_hint(source))
                digest = f"sha256:{hexdigest}"
                if expected_digest is not None and digest != expected_digest:
                    raise IntegrityError(
                        f"the content received hashes to {digest}, not the expected {expected_digest}",
                        hint="the upload was damaged or the digest is wrong; send the file again",
                        expected=expected_digest,
                        actual=digest,
                        size=size,
                    )
                stored = self._stored_copy(Path(tmp), digest, size, repair=repair)
                if stored != "intact":
                    with _storage("write", Path(tmp)):
                        os.fchmod(fd, _BLOB_MODE)
                        os.fsync(fd)
            finally:
                os.close(fd)
            if stored == "intact":  # the content is there: no fsync, the unflushed temporary file just goes
                _unlink_quietly(tmp)
                info = BlobInfo(digest=digest, size=size, created=False)
            elif stored == "absent":
                info = self._publish(Path(tmp), digest, size)
            else:
                info = self._replace(Path(tmp), digest, size)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        log.debug("put %s (%d bytes, %s)", digest, size,
                  "stored" if info.created else "already stored")
        return info

    def _stored_copy(self, tmp: Path, digest: str, size: int, *, repair: bool = False) -> StoredCopy:
        """What is stored under ``digest``, judged against ``tmp``, a copy known to hash to it.

        ``intact``: byte for byte the same as ``tmp`` (touched, for gc's grace period). ``damaged``:
        anything else, or anything at all with ``repair``. Comparing costs a read of both files, a
        fraction of what re-hashing the stored copy would (``tmp`` was just written: it is in the cache).
        """
        final = self._path(digest)
        try:
            stored = final.stat().st_size
        except OSError:  # absent, or unreadable: linking into place will say which
            return "absent"
        if repair or stored != size:
            return "damaged"
        try:
            with _storage("read", final):
                same = _same_content(tmp, final, min(self.chunk_size, size + 1))
        except StorageError as e:
            if e.details.get("errno") == errno.ENOENT:  # deleted just now
                return "absent"
            raise
        if not same:
            return "damaged"
        with contextlib.suppress(OSError):  # tells a grace-period gc the content was just wanted again
            os.utime(final)
        return "intact"

    def _publish(self, tmp: Path, digest: str, size: int) -> BlobInfo:
        """Link the verified temporary file into place where nothing was stored a moment ago."""
        final = self._path(digest)
        with _storage("create the folder", final.parent):
            _makedirs_durable(final.parent)
        try:
            os.link(tmp, final)  # atomic and never overwrites: one of two racing writers creates
        except FileExistsError:
            return self._settle(tmp, digest, size)
        except OSError as e:  # a filesystem without hard links
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
                raise StorageError(f"could not store {final}: {e.strerror or e}", path=str(final), errno=e.errno) from e
            with _storage("store", final):
                if final.exists():
                    return self._settle(tmp, digest, size)
                os.replace(tmp, final)
            _fsync_dir(final.parent)
            return BlobInfo(digest=digest, size=size, created=True)
        _fsync_dir(final.parent)
        _unlink_quietly(tmp)
        return BlobInfo(digest=digest, size=size, created=True)

    def _settle(self, tmp: Path, digest: str, size: int) -> BlobInfo:
        """A copy appeared while we wrote ours (a racing writer): keep it if intact, else replace it."""
        stored = self._stored_copy(tmp, digest, size)
        if stored == "intact":
            _unlink_quietly(tmp)
            return BlobInfo(digest=digest, size=size, created=False)
        if stored == "absent":  # and gone again: deleted just now
            with _storage("store", self._path(digest)):
                os.replace(tmp, self._path(digest))
            _fsync_dir(self._path(digest).parent)
            return BlobInfo(digest=digest, size=size, created=True)
        return self._replace(tmp, digest, size)

    def _replace(self, tmp: Path, digest: str, size: int) -> BlobInfo:
        """Put the verified temporary file in place of a damaged copy, atomically (a rename over it)."""
        final = self._path(digest)
        log.warning("replacing the stored copy of blob %s (damaged, or a repair was asked) with the verified "
                    "copy just stored (%d bytes)", digest, size)
        with _storage("create the folder", final.parent):
            _makedirs_durable(final.parent)
        with _storage("store", final):
            os.replace(tmp, final)
        _fsync_dir(final.parent)
        return BlobInfo(digest=digest, size=size, created=True)

    # reading

    def exists(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def size(self, digest: str) -> int | None:
        path = self._path(digest)
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StorageError(f"could not read {path}: {e.strerror or e}", path=str(path), errno=e.errno) from e

    def _open_raw(self, digest: str) -> tuple[io.FileIO, int]:
        path = self._path(digest)
        try:
            raw = io.FileIO(path, "rb")
        except FileNotFoundError:
            raise BlobNotFound(
                f"blob {digest} is not in the store at {self.root}",
                step=MISSING_STEP,
                digest=digest,
            ) from None
        except OSError as e:
            raise StorageError(f"could not read {path}: {e.strerror or e}", path=str(path), errno=e.errno) from e
        _advise_sequential(raw.fileno())
        return raw, os.fstat(raw.fileno()).st_size

    def open(self, digest: str) -> BinaryIO:
        raw, size = self._open_raw(digest)
        return verifying_stream(raw, digest, size)

    def get_to_path(self, digest: str, dest: Path, *, progress: Progress | None = None) -> None:
        raw, size = self._open_raw(digest)
        with raw:
            copy_verified_to_path(
                raw, Path(dest), digest=digest, size=size, progress=progress, chunk_size=self.chunk_size
            )

    def verify(self, digest: str) -> bool:
        raw, size = self._open_raw(digest)
        with raw:
            hexdigest, total = pump(raw.readinto, None, chunk_size=self.chunk_size, expected_size=size)
        ok = f"sha256:{hexdigest}" == digest and total == size
        if not ok:
            log.warning("blob %s does not match its digest (%d bytes hash to sha256:%s)", digest, total, hexdigest)
        return ok

    def local_path(self, digest: str) -> Path | None:
        path = self._path(digest)
        return path if path.is_file() else None

    def iter_digests(self) -> Iterator[tuple[str, int]]:
        for first in _subdirs(self._blobs):
            for second in _subdirs(self._blobs / first):
                for entry in _scan(self._blobs / first / second):
                    name = entry.name
                    if len(name) != 64 or not _HEX.issuperset(name) or name[:4] != first + second:
                        log.debug("ignoring %s: not a blob name", entry.path)
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISREG(st.st_mode):
                        yield f"sha256:{name}", st.st_size

    # removing

    def delete(self, digest: str) -> None:
        path = self._path(digest)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except PermissionError:  # platforms that refuse to remove read-only files
            with _storage("delete", path):
                os.chmod(path, _FILE_MODE)
                os.unlink(path)
        except OSError as e:
            raise StorageError(f"could not delete {path}: {e.strerror or e}", path=str(path), errno=e.errno) from e
        _fsync_dir(path.parent)
        log.debug("deleted %s", digest)

    def clean_temp(self, *, older_than_s: float, dry_run: bool) -> int:
        """Temporary files whose last write is at least ``older_than_s`` seconds old.

        A live writer touches its file at every chunk, so a generous age never removes one in use.
        """
        cutoff = time.time() - older_than_s
        count = 0
        for entry in _scan(self._tmp):
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_mtime > cutoff:
                continue
            count += 1
            if dry_run:
                log.info("would remove temporary file %s (%d bytes)", entry.path, st.st_size)
                continue
            log.info("removing temporary file %s (%d bytes)", entry.path, st.st_size)
            try:
                os.unlink(entry.path)
            except FileNotFoundError:  # another cleaner was faster
                count -= 1
            except OSError as e:
                raise StorageError(
                    f"could not remove {entry.path}: {e.strerror or e}", path=entry.path, errno=e.errno
                ) from e
        return count


def _scan(path: Path) -> list[os.DirEntry[str]]:
    """The entries of a folder sorted by name; none if it does not exist."""
    try:
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name)
    except FileNotFoundError:
        return []
    except OSError as e:
        raise StorageError(f"could not list {path}: {e.strerror or e}", path=str(path), errno=e.errno) from e


def _subdirs(path: Path) -> list[str]:
    """Names of the two-hex-digit shard folders in ``path``, sorted."""
    return [
        e.name for e in _scan(path) if len(e.name) == 2 and _HEX.issuperset(e.name) and e.is_dir(follow_symlinks=False)
    ]
