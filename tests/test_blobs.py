"""The blob store contract, run against every implementation (local folder and memory fake)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import modelreg.blobs
from modelreg.blobs import BlobInfo, BlobStore, check_digest, open_blob_store
from modelreg.blobs.local import LocalBlobStore
from modelreg.blobs.memory import MemoryBlobStore
from modelreg.errors import BlobNotFound, IntegrityError, InvalidInput, StorageError

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


# --- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    return MemoryBlobStore()


@pytest.fixture
def local(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def corrupt(store: BlobStore, digest: str, *, offset: int = 0) -> None:
    """Flip one byte of a stored blob behind the store's back."""
    if isinstance(store, MemoryBlobStore):
        store.corrupt(digest, offset=offset)
        return
    path = store.local_path(digest)
    assert path is not None
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.chmod(path, 0o444)


def temp_files(store: BlobStore) -> list[Path]:
    if isinstance(store, LocalBlobStore):
        tmp = store.root / "tmp"
        return sorted(tmp.iterdir()) if tmp.exists() else []
    return []


def disk_usage(store: BlobStore) -> tuple[int, int]:
    """(number of files, bytes) under a local store's root; the stored blobs for the memory fake."""
    if isinstance(store, LocalBlobStore):
        files = [p for p in store.root.rglob("*") if p.is_file()]
        return len(files), sum(p.stat().st_size for p in files)
    blobs = list(store.iter_digests())
    return len(blobs), sum(size for _, size in blobs)


class PatternStream(io.RawIOBase):
    """``size`` bytes of a repeated random block, produced on demand (never held in memory)."""

    def __init__(self, size: int, block: bytes) -> None:
        super().__init__()
        self.remaining = size
        self.block = block
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), self.remaining)
        done = 0
        while done < n:
            start = self.pos % len(self.block)
            take = min(n - done, len(self.block) - start)
            view[done : done + take] = self.block[start : start + take]
            done += take
            self.pos += take
        self.remaining -= n
        return n

    @staticmethod
    def digest(size: int, block: bytes) -> str:
        h = hashlib.sha256()
        full, rest = divmod(size, len(block))
        for _ in range(full):
            h.update(block)
        h.update(block[:rest])
        return f"sha256:{h.hexdigest()}"


class Interrupting(io.RawIOBase):
    """A source that raises ``exc`` after ``after`` bytes."""

    def __init__(self, after: int, exc: BaseException) -> None:
        super().__init__()
        self.left = after
        self.exc = exc

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            raise self.exc
        view = memoryview(buffer).cast("B")
        n = min(len(view), self.left)
        view[:n] = b"\x01" * n
        self.left -= n
        return n


# --- the contract --------------------------------------------------------------------------------


def test_round_trip(store: BlobStore, tmp_path: Path) -> None:
    data = payload(3 * MiB + 17)
    info = store.put(io.BytesIO(data))
    assert info == BlobInfo(digest=sha(data), size=len(data), created=True)
    assert store.exists(info.digest)
    assert store.size(info.digest) == len(data)
    with store.open(info.digest) as f:
        assert f.read() == data
    with store.open(info.digest) as f:  # read in pieces
        pieces = []
        while piece := f.read(100_000):
            pieces.append(piece)
    assert b"".join(pieces) == data
    dest = tmp_path / "out" / "best.pt"
    store.get_to_path(info.digest, dest)
    assert dest.read_bytes() == data
    assert os.access(dest, os.W_OK)  # a pulled file is the user's, not a read-only blob
    assert store.verify(info.digest)
    assert list(store.iter_digests()) == [(info.digest, len(data))]
    assert temp_files(store) == []


def test_put_file_and_small_reads_from_plain_read_streams(store: BlobStore, tmp_path: Path) -> None:
    src = tmp_path / "weights.bin"
    src.write_bytes(payload(MiB, seed=3))
    info = store.put_file(src)
    assert info.digest == sha(src.read_bytes())

    class ReadOnly:  # a stream with read() but no readinto()
        def __init__(self, data: bytes) -> None:
            self.inner = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self.inner.read(min(n, 1000))

    data = payload(50_000, seed=4)
    assert store.put(ReadOnly(data)).digest == sha(data)  # type: ignore[arg-type]


class _Declared(io.RawIOBase):
    """A stream of unknown length that declares a size, as the server's request body does (Content-Length)."""

    def __init__(self, data: bytes, declared_size: int) -> None:
        self._inner = io.BytesIO(data)
        self.declared_size = declared_size

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        return self._inner.readinto(b)


@pytest.mark.parametrize("declared", [0, 10, 5000, 64 * 1024 * 1024])
def test_declared_size_is_only_a_hint(store: BlobStore, declared: int) -> None:
    data = random.Random(declared).randbytes(5000)
    info = store.put(_Declared(data, declared))  # type: ignore[arg-type]
    assert (info.digest, info.size) == ("sha256:" + hashlib.sha256(data).hexdigest(), 5000)
    with store.open(info.digest) as f:
        assert f.read() == data


def test_text_stream_is_refused(store: BlobStore) -> None:
    with pytest.raises(InvalidInput):
        store.put(io.StringIO("not bytes"))  # type: ignore[arg-type]
    assert list(store.iter_digests()) == []
    assert temp_files(store) == []


def test_same_content_is_stored_once(store: BlobStore) -> None:
    data = payload(2 * MiB)
    first = store.put(io.BytesIO(data))
    usage = disk_usage(store)
    second = store.put(io.BytesIO(data))
    assert first.created and not second.created
    assert (second.digest, second.size) == (first.digest, first.size)
    assert disk_usage(store) == usage
    assert list(store.iter_digests()) == [(first.digest, len(data))]
    assert temp_files(store) == []


def test_racing_writers_of_one_content_create_it_once(store: BlobStore) -> None:
    data = payload(5 * MiB, seed=9)
    results: list[BlobInfo] = []
    barrier = threading.Barrier(6)

    def writer() -> None:
        barrier.wait()
        results.append(store.put(io.BytesIO(data)))

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.created for r in results) == [False] * 5 + [True]
    assert list(store.iter_digests()) == [(sha(data), len(data))]
    assert temp_files(store) == []


def test_expected_digest(store: BlobStore) -> None:
    data = payload(MiB + 1)
    assert store.put(io.BytesIO(data), expected_digest=sha(data)).digest == sha(data)
    store.delete(sha(data))

    wrong = sha(b"something else")
    with pytest.raises(IntegrityError) as e:
        store.put(io.BytesIO(data), expected_digest=wrong)
    assert e.value.details["expected"] == wrong
    assert e.value.details["actual"] == sha(data)
    assert not store.exists(sha(data))
    assert not store.exists(wrong)
    assert list(store.iter_digests()) == []
    assert temp_files(store) == []


@pytest.mark.parametrize("exc", [OSError("connection reset"), KeyboardInterrupt()])
def test_interrupted_put_keeps_nothing(store: BlobStore, exc: BaseException) -> None:
    with pytest.raises(type(exc)):
        store.put(Interrupting(9 * MiB + 5, exc))  # type: ignore[arg-type]
    assert list(store.iter_digests()) == []
    assert temp_files(store) == []


def test_corruption_is_detected_by_every_reader(store: BlobStore, tmp_path: Path) -> None:
    data = payload(5 * MiB + 3)
    digest = store.put(io.BytesIO(data)).digest
    corrupt(store, digest, offset=4 * MiB + 1)
    assert store.size(digest) == len(data)  # same size: only hashing can tell

    with store.open(digest) as f, pytest.raises(IntegrityError) as e:
        f.read()
    assert e.value.details["expected"] == digest
    assert e.value.details["actual"] != digest

    with store.open(digest) as f:
        with pytest.raises(IntegrityError):
            while f.read(MiB):
                pass
        with pytest.raises(IntegrityError):  # and it stays an error, never a clean end of file
            f.read(MiB)

    dest = tmp_path / "pulled" / "best.pt"
    with pytest.raises(IntegrityError):
        store.get_to_path(digest, dest)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # no temporary file left beside it

    existing = tmp_path / "existing.pt"
    existing.write_bytes(b"previous version")
    with pytest.raises(IntegrityError):
        store.get_to_path(digest, existing)
    assert existing.read_bytes() == b"previous version"

    assert store.verify(digest) is False


def test_truncated_blob_is_detected_and_healed_by_put(local: LocalBlobStore, tmp_path: Path) -> None:
    data = payload(2 * MiB)
    digest = local.put(io.BytesIO(data)).digest
    path = local.local_path(digest)
    assert path is not None
    os.chmod(path, 0o644)
    os.truncate(path, MiB)
    with local.open(digest) as f, pytest.raises(IntegrityError) as e:
        f.read()
    assert e.value.details["actual_size"] == MiB
    assert not local.verify(digest)
    with pytest.raises(IntegrityError):
        local.get_to_path(digest, tmp_path / "x")
    local.put(io.BytesIO(data))  # storing the content again repairs the damaged copy
    assert local.verify(digest)


@pytest.mark.parametrize("size", [5000, 5 * MiB + 3])
def test_put_repairs_a_damaged_copy(store: BlobStore, size: int) -> None:
    """Storing the original again replaces a damaged copy of the same size, atomically (finding 7)."""
    data = payload(size, seed=size)
    digest = store.put(io.BytesIO(data)).digest
    assert_put_repairs(store, data, lambda: corrupt(store, digest, offset=size // 2))
    if isinstance(store, LocalBlobStore):
        path = store.local_path(digest)
        assert path is not None and stat.S_IMODE(path.stat().st_mode) == 0o444
        inode = path.stat().st_ino
        assert not store.put(io.BytesIO(data)).created
        assert path.stat().st_ino == inode  # an intact copy is kept, not rewritten


def assert_put_repairs(store: BlobStore, data: bytes, damage: Callable[[], None]) -> None:
    """``damage`` the stored copy of ``data``; each way of storing it again repairs it, nothing else changes."""
    digest = sha(data)
    for again in (lambda: store.put(io.BytesIO(data)),
                  lambda: store.put(io.BytesIO(data), expected_digest=digest),
                  lambda: store.put(io.BytesIO(data), repair=True)):
        damage()
        assert not store.verify(digest)
        info = again()
        assert (info.digest, info.size, info.created) == (digest, len(data), True)
        assert store.verify(digest)
        with store.open(digest) as f:
            assert f.read() == data
        intact = store.put(io.BytesIO(data))
        assert not intact.created  # repaired once, then stored once
    forced = store.put(io.BytesIO(data), repair=True)  # replaces even an intact copy: the same bytes again
    assert forced.created and store.verify(digest)
    assert list(store.iter_digests()) == [(digest, len(data))]
    assert temp_files(store) == []


def test_progress_adds_up_to_the_size(store: BlobStore, tmp_path: Path) -> None:
    data = payload(9 * MiB + 123)
    moved: list[int] = []
    digest = store.put(io.BytesIO(data), progress=moved.append).digest
    assert sum(moved) == len(data) and all(n > 0 for n in moved)
    moved.clear()
    store.get_to_path(digest, tmp_path / "out", progress=moved.append)
    assert sum(moved) == len(data)


def test_empty_file(store: BlobStore, tmp_path: Path) -> None:
    info = store.put(io.BytesIO(b""))
    assert info == BlobInfo(digest=sha(b""), size=0, created=True)
    assert store.size(info.digest) == 0
    with store.open(info.digest) as f:
        assert f.read() == b""
    store.get_to_path(info.digest, tmp_path / "empty")
    assert (tmp_path / "empty").read_bytes() == b""
    assert store.verify(info.digest)
    assert list(store.iter_digests()) == [(info.digest, 0)]


def test_delete(store: BlobStore, tmp_path: Path) -> None:
    keep = store.put(io.BytesIO(b"keep")).digest
    gone = store.put(io.BytesIO(b"gone")).digest
    store.delete(gone)
    store.delete(gone)  # absent is fine
    assert not store.exists(gone)
    assert store.size(gone) is None
    assert store.local_path(gone) is None
    for call in (lambda: store.open(gone), lambda: store.verify(gone), lambda: store.get_to_path(gone, tmp_path / "x")):
        with pytest.raises(BlobNotFound):
            call()
    assert not (tmp_path / "x").exists()
    assert list(store.iter_digests()) == [(keep, 4)]
    assert store.put(io.BytesIO(b"gone")).created  # and it can be stored again


def test_iter_digests_lists_exactly_what_was_stored(store: BlobStore) -> None:
    stored = {}
    for i in range(20):
        data = payload(1000 + i, seed=i)
        stored[store.put(io.BytesIO(data)).digest] = len(data)
    store.put(io.BytesIO(payload(1000, seed=0)))  # a duplicate
    if isinstance(store, LocalBlobStore):  # things that are not blobs are ignored
        (store.root / "tmp" / "put-leftover.part").write_bytes(b"half")
        (store.root / "sha256" / "zz").mkdir()
        first = next(iter(stored))[7:]
        (store.root / "sha256" / first[:2] / first[2:4] / "notes.txt").write_text("x")
        (store.root / "sha256" / first[:2] / first[2:4] / ("0" * 64)).write_bytes(b"wrong folder")
    listed = list(store.iter_digests())
    assert dict(listed) == stored
    assert len(listed) == len(stored)


BAD_DIGESTS = [
    "sha256:XYZ",
    "md5:" + "0" * 32,
    "sha256:../../etc",
    "sha256:../../../../etc/passwd",
    "sha256:" + "A" * 64,
    "sha256:" + "a" * 63,
    "sha256:" + "a" * 65,
    "sha256:" + "a" * 64 + "\n",
    "sha256:" + "a" * 62 + "/.",
    "SHA256:" + "a" * 64,
    "a" * 64,
    "",
]

DIGEST_METHODS: dict[str, Callable[[BlobStore, str, Path], object]] = {
    "put": lambda s, d, tmp: s.put(io.BytesIO(b"x"), expected_digest=d),
    "exists": lambda s, d, tmp: s.exists(d),
    "size": lambda s, d, tmp: s.size(d),
    "open": lambda s, d, tmp: s.open(d).close(),
    "get_to_path": lambda s, d, tmp: s.get_to_path(d, tmp / "dest"),
    "delete": lambda s, d, tmp: s.delete(d),
    "verify": lambda s, d, tmp: s.verify(d),
    "local_path": lambda s, d, tmp: s.local_path(d),
}


@pytest.mark.parametrize("method", sorted(DIGEST_METHODS))
@pytest.mark.parametrize("digest", BAD_DIGESTS, ids=repr)
def test_invalid_digests_are_refused(store: BlobStore, tmp_path: Path, method: str, digest: str) -> None:
    with pytest.raises(InvalidInput) as e:
        check_digest(digest)
    assert e.value.details["digest"] == digest
    with pytest.raises(InvalidInput):
        DIGEST_METHODS[method](store, digest, tmp_path)
    assert not (tmp_path / "dest").exists()
    assert list(store.iter_digests()) == []
    assert temp_files(store) == []


def test_clean_temp(store: BlobStore) -> None:
    if not isinstance(store, LocalBlobStore):
        assert store.clean_temp(older_than_s=0, dry_run=False) == 0
        return
    assert store.clean_temp(older_than_s=0, dry_run=False) == 0  # no tmp folder yet
    digest = store.put(io.BytesIO(b"kept")).digest
    tmp = store.root / "tmp"
    old, fresh = tmp / "put-old.part", tmp / "put-fresh.part"
    old.write_bytes(b"left by a killed writer")
    fresh.write_bytes(b"being written")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    assert store.clean_temp(older_than_s=3600, dry_run=True) == 1
    assert old.exists() and fresh.exists()
    assert store.clean_temp(older_than_s=3600, dry_run=False) == 1
    assert not old.exists() and fresh.exists()
    assert store.exists(digest)


# --- the local folder ----------------------------------------------------------------------------


def test_local_layout_and_permissions(local: LocalBlobStore) -> None:
    data = b"weights"
    digest = local.put(io.BytesIO(data)).digest
    hexdigest = digest[7:]
    path = local.root / "sha256" / hexdigest[:2] / hexdigest[2:4] / hexdigest
    assert local.local_path(digest) == path
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert local.url == local.root.as_uri()
    local.delete(digest)
    assert not path.exists()


def test_unwritable_root_raises_storage_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_bytes(b"")
    store = LocalBlobStore(not_a_folder)
    with pytest.raises(StorageError) as e:
        store.put(io.BytesIO(b"data"))
    assert e.value.hint
    with pytest.raises(StorageError):
        list(store.iter_digests())
    with pytest.raises(StorageError):
        store.clean_temp(older_than_s=0, dry_run=True)
    with pytest.raises(StorageError):
        store.open(f"sha256:{'0' * 64}")


def test_open_blob_store(tmp_path: Path) -> None:
    assert isinstance(open_blob_store("memory://"), MemoryBlobStore)
    for url in (str(tmp_path / "a"), (tmp_path / "b").as_uri()):
        opened = open_blob_store(url)
        assert isinstance(opened, LocalBlobStore)
        assert opened.put(io.BytesIO(b"x")).created
    assert sorted(modelreg.blobs.__all__) == ["BlobInfo", "BlobStore", "check_digest", "open_blob_store"]


def test_large_files_stream_in_flat_memory(local: LocalBlobStore, tmp_path: Path) -> None:
    size = 64 * MiB
    block = payload(MiB + 7)  # odd length: chunks never line up with it
    expected = PatternStream.digest(size, block)
    limit = size // 4
    tracemalloc.start()
    try:
        info = local.put(PatternStream(size, block))  # type: ignore[arg-type]
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        dest = tmp_path / "out.bin"
        local.get_to_path(info.digest, dest)
        _, get_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with local.open(info.digest) as f:
            read = 0
            while chunk := f.read(MiB):
                read += len(chunk)
        _, open_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        assert local.verify(info.digest)
        _, verify_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.digest == expected and info.size == size
    assert dest.stat().st_size == size and read == size
    peaks = {"put": put_peak, "get_to_path": get_peak, "open": open_peak, "verify": verify_peak}
    assert all(peak < limit for peak in peaks.values()), peaks


# --- a writer killed midway ----------------------------------------------------------------------

_KILLED_WRITER = """
import sys
from pathlib import Path
from modelreg.blobs.local import LocalBlobStore
LocalBlobStore(Path(sys.argv[1])).put(sys.stdin.buffer)
"""


def _stream_blocks(total: int, block: bytes) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = block[: total - sent]
        sent += len(piece)
        yield piece


@pytest.mark.slow
def test_killed_writer_leaves_only_a_temp_file(local: LocalBlobStore) -> None:
    total, half = 200 * MiB, 100 * MiB
    block = payload(MiB)
    full_digest = PatternStream.digest(total, block)
    env = dict(os.environ)
    src = str(Path(sys.modules[LocalBlobStore.__module__].__file__ or "").parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(local.root)], stdin=subprocess.PIPE, env=env)
    try:
        assert proc.stdin is not None
        for piece in _stream_blocks(half, block):  # only half: the writer cannot finish
            proc.stdin.write(piece)
        proc.stdin.flush()
        deadline = time.monotonic() + 60
        while True:  # wait until the writer has put most of what it got on disk
            parts = temp_files(local)
            if parts and parts[0].stat().st_size >= half - 8 * MiB:
                break
            assert proc.poll() is None, "the writer ended early"
            assert time.monotonic() < deadline, "the writer wrote nothing"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()

    assert list(local.iter_digests()) == []
    assert not local.exists(full_digest)
    assert not local.exists(PatternStream.digest(half, block))
    leftovers = temp_files(local)
    assert len(leftovers) == 1
    assert local.clean_temp(older_than_s=0, dry_run=True) == 1
    assert leftovers[0].exists()
    assert local.clean_temp(older_than_s=0, dry_run=False) == 1
    assert temp_files(local) == []
    assert local.put(PatternStream(total, block)).digest == full_digest  # type: ignore[arg-type]
