"""Throughput of LocalBlobStore put/get/verify against raw sequential I/O on the same filesystem.

    python bench/bench_blobs_local.py [--size-mib 1024] [--dir bench/.out] [--repeat 3] [--chunk-mib 4]

Cold-cache numbers need root (they drop the page cache between runs); otherwise reads are warm.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from modelreg.blobs.local import LocalBlobStore

MiB = 1024 * 1024


def drop_caches() -> bool:
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        return False
    return True


def raw_write(path: Path, size: int, block: bytes) -> None:
    with open(path, "wb", buffering=0) as f:
        left = size
        while left:
            left -= f.write(block[: min(left, len(block))]) or 0
        os.fsync(f.fileno())


def raw_read(path: Path, chunk: int) -> None:
    buf = bytearray(chunk)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def raw_copy(src: Path, dst: Path, chunk: int) -> None:
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open(src, "rb", buffering=0) as s, open(dst, "wb", buffering=0) as d:
        while n := s.readinto(buf):
            d.write(view[:n])
        os.fsync(d.fileno())


def hash_read(path: Path, chunk: int) -> None:
    buf = bytearray(chunk)
    view = memoryview(buf)
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])


def measure(
    name: str, size: int, repeat: int, cold: bool, run: Callable[[], object], before: Callable[[], object] | None = None
) -> None:
    rates = []
    for _ in range(repeat):
        if before is not None:
            before()
        if not (cold and drop_caches()):
            os.sync()  # start every run with no writeback pending
        start = time.perf_counter()
        run()
        rates.append(size / (time.perf_counter() - start) / 1e6)
    print(f"{name:34s} {statistics.median(rates):7.0f} MB/s  (runs: {', '.join(f'{r:.0f}' for r in rates)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--dir", type=Path, default=Path(__file__).parent / ".out")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk-mib", type=int, default=4)
    args = parser.parse_args()
    size, chunk = args.size_mib * MiB, args.chunk_mib * MiB
    work = args.dir / "bench-blobs"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cold = drop_caches()
    print(f"file {args.size_mib} MiB, chunk {args.chunk_mib} MiB, dir {work}, cold cache: {cold}")
    block = os.urandom(16 * MiB)
    src, raw_dst, out = work / "src.bin", work / "raw.bin", work / "out.bin"
    raw_write(src, size, block)

    def unlink(*paths: Path) -> Callable[[], None]:
        def remove() -> None:
            for p in paths:
                p.unlink(missing_ok=True)

        return remove

    measure(
        "raw write + fsync (dd conv=fsync)",
        size,
        args.repeat,
        False,
        lambda: raw_write(raw_dst, size, block),
        unlink(raw_dst),
    )
    measure("raw read", size, args.repeat, cold, lambda: raw_read(src, chunk))
    measure("raw copy + fsync", size, args.repeat, cold, lambda: raw_copy(src, raw_dst, chunk), unlink(raw_dst))
    measure("sha256 of a read (hot cache)", size, args.repeat, False, lambda: hash_read(src, chunk))

    store = LocalBlobStore(work / "store", chunk_size=chunk)
    digest = store.put_file(src).digest

    def fresh_store() -> None:
        store.delete(digest)

    measure("put (file -> store)", size, args.repeat, cold, lambda: store.put_file(src), fresh_store)
    measure("get_to_path (store -> file)", size, args.repeat, cold, lambda: store.get_to_path(digest, out), unlink(out))

    def read_all() -> None:
        with store.open(digest) as f:
            while f.read(chunk):
                pass

    measure("open().read (verifying reader)", size, args.repeat, cold, read_all)
    measure("verify", size, args.repeat, cold, lambda: store.verify(digest))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
