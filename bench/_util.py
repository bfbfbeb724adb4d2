"""Helpers shared by the benchmark scripts: timing statistics, machine facts, scratch places, the docs file.

Nothing here runs at import time; every function takes what it needs as arguments.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024
GiB = 1024 * MiB


# ---------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Stats:
    """Summary of repeated timings, in seconds."""

    samples: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def quantile(self, q: float) -> float:
        """Nearest-rank quantile (``q`` in 0..1): the smallest sample with at least q of the samples at or below."""
        ordered = sorted(self.samples)
        return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]

    @property
    def p90(self) -> float:
        return self.quantile(0.90)

    @property
    def p99(self) -> float:
        return self.quantile(0.99)

    @property
    def total(self) -> float:
        return sum(self.samples)


def repeat(fn: Callable[[], object], times: int, *, warmup: int = 1) -> Stats:
    """Call ``fn`` ``warmup`` times untimed, then ``times`` times, each timed on its own."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return Stats(tuple(samples))


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds < 0.1 else f"{seconds * 1e3:.0f} ms"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def mib_s(size: int, seconds: float) -> float:
    return size / MiB / seconds


# ---------------------------------------------------------------- files and disks


def tree_bytes(root: Path) -> int:
    """Bytes the files under ``root`` occupy on disk (allocated blocks, not apparent sizes)."""
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


def evict(path: Path) -> None:
    """Drop the page-cache pages of one file (``POSIX_FADV_DONTNEED``; clean pages only, so fsync first).

    Targets only our own files, unlike ``/proc/sys/vm/drop_caches``, which would slow everyone else
    on a shared machine.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def evict_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                evict(Path(dirpath) / name)


def write_random_file(path: Path, size: int, *, block: int = 64 * MiB) -> None:
    """``size`` bytes of incompressible data fast: one random block, its first 8 bytes a counter so blocks differ."""
    base = bytearray(os.urandom(block))
    view = memoryview(base)
    with open(path, "wb", buffering=0) as f:
        written, counter = 0, 0
        while written < size:
            base[:8] = counter.to_bytes(8, "little")
            n = min(block, size - written)
            f.write(view[:n])
            written += n
            counter += 1
        os.fsync(f.fileno())


def sequential_read(path: Path, *, block: int = 64 * MiB) -> int:
    buf = bytearray(block)
    total = 0
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            total += n
    return total


def copy_with_fsync(src: Path, dst: Path) -> None:
    """The raw "copy" baseline: ``shutil.copyfile`` (sendfile/copy_file_range on Linux) then fsync."""
    shutil.copyfile(src, dst)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def hash_file(path: Path, *, chunk: int = 4 * MiB) -> str:
    """Read and SHA-256 a file, one thread: all a "do I have this content already?" check needs."""
    buf = bytearray(chunk)
    view = memoryview(buf)
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def hashing_copy_with_fsync(src: Path, dst: Path, *, chunk: int = 4 * MiB) -> str:
    """The naive verified copy: read a chunk, SHA-256 it, write it, one thread; then fsync."""
    buf = bytearray(chunk)
    view = memoryview(buf)
    digest = hashlib.sha256()
    with open(src, "rb", buffering=0) as s, open(dst, "wb", buffering=0) as d:
        while n := s.readinto(buf):
            digest.update(view[:n])
            d.write(view[:n])
        os.fsync(d.fileno())
    return digest.hexdigest()


@contextlib.contextmanager
def scratch_dir(parent: Path | None, prefix: str) -> Iterator[Path]:
    """A temporary folder, removed on the way out whatever happens."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# ---------------------------------------------------------------- PostgreSQL


def pg_conninfo(url: str) -> str:
    """psycopg takes ``postgresql://`` URLs; drop an SQLAlchemy driver suffix if one is there."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def with_database(url: str, name: str) -> str:
    head, _, _ = pg_conninfo(url).rpartition("/")
    return f"{head}/{name}"


@contextlib.contextmanager
def scratch_pg_database(admin_url: str, name: str) -> Iterator[str]:
    """Create database ``name`` through ``admin_url``, yield its URL, drop it (closing stray sessions) after."""
    import psycopg

    with psycopg.connect(pg_conninfo(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin_url, name)
    finally:
        with psycopg.connect(pg_conninfo(admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_server_version(admin_url: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(pg_conninfo(admin_url), connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else None
    except Exception:
        return None


# ---------------------------------------------------------------- the machine


def _first_line_with(path: str, key: str) -> str | None:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    return None


def _mount_of(path: Path) -> tuple[str, str, str]:
    """(device, mount point, filesystem type) of the mount holding ``path``."""
    best = ("?", "/", "?")
    target = str(path.resolve())
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mnt, fstype, *_ = line.split()
            if (target == mnt or target.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best[1]):
                best = (dev, mnt, fstype)
    return best


def _rotational(device: str) -> str:
    name = Path(device).name
    for candidate in (name, name.rstrip("0123456789"), name.rstrip("0123456789").removesuffix("p")):
        flag = Path(f"/sys/block/{candidate}/queue/rotational")
        if flag.exists():
            return "rotational" if flag.read_text().strip() == "1" else "non-rotational"
    return "unknown kind"


def machine_facts(work: Path, pg_version: str | None) -> dict[str, str]:
    mem_kib = int((_first_line_with("/proc/meminfo", "MemTotal") or "0 kB").split()[0])
    dev, mnt, fstype = _mount_of(work)
    usage = shutil.disk_usage(work)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "CPU": _first_line_with("/proc/cpuinfo", "model name") or platform.processor() or "?",
        "cores": f"{os.cpu_count()} logical ({len(os.sched_getaffinity(0))} usable by this process)",
        "RAM": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "disk": f"{dev} ({_rotational(dev)}), {fstype} mounted at {mnt}, {usage.total / 1e9:.0f} GB, "
                f"{usage.free / 1e9:.0f} GB free; scratch folders under {work.parent}",
        "OS": f"{_os_release_name()}, Linux {platform.release()}",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "PostgreSQL": pg_version or "not measured",
        "load average at start (1, 5, 15 min)": load,
    }


def _os_release_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    return platform.system()


# ---------------------------------------------------------------- docs/benchmarks.md


DOC_INTRO = """# Benchmarks

Numbers measured by the scripts in `bench/`, each writing its own section between markers. Re-run a
script to refresh its section; the rest of the file is left alone. Absolute numbers depend on the machine
(its facts are listed in each section); read them against the raw baselines measured in the same run.
"""


def replace_section(doc: Path, name: str, body: str) -> None:
    """Put ``body`` between ``<!-- {name}:start -->`` and ``<!-- {name}:end -->`` in ``doc`` (created if missing)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = doc.read_text(encoding="utf-8") if doc.exists() else DOC_INTRO
    if start in text and end in text and text.index(start) < text.index(end):
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)


# ---------------------------------------------------------------- processes


def tree_pids(pid: int) -> list[int]:
    """A process and all its descendants (Linux /proc), parent first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, stack = [], [pid]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(children.get(current, []))
    return out


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server started by a benchmark; kill it if it has not exited within 20 s."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
