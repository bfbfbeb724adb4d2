"""Core benchmarks of modelreg, through the SDK users call, with raw baselines measured in the same run.

    python bench/bench_core.py [--quick] [--skip-postgres] [--big-gib 2]

1. Registration rate on the embedded default (SQLite + local blobs): versions of three small files.
2. A model with 100,000 versions on SQLite and PostgreSQL: fill time, then first page, a page deep in
   the cursor chain, a filtered + metric-sorted search, and ``total`` (a ``limit=1`` query).
3. A large artifact (2 GiB): disk bandwidth, register and pull throughput against a raw copy, peak memory
   of each in a child process at two sizes, and the storage a re-registration of the same file adds.
4. ``resolve("model@production")`` on a warm cache, per call, and one cold call.

Prints the numbers and writes them into docs/benchmarks.md between ``<!-- bench_core:start -->`` and
``<!-- bench_core:end -->``. Every temporary folder and the scratch PostgreSQL database are removed.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import io
import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _bulk import bulk_versions
from _profile import counting_fsync, engine_of, profile_call, statements_of
from _util import (
    GiB,
    MiB,
    Stats,
    copy_with_fsync,
    evict,
    evict_tree,
    fresh_dir,
    hash_file,
    hashing_copy_with_fsync,
    machine_facts,
    markdown_table,
    mib_s,
    ms,
    pg_server_version,
    repeat,
    replace_section,
    scratch_dir,
    scratch_pg_database,
    sequential_read,
    text_table,
    tree_bytes,
    us,
    write_random_file,
)

import modelreg
from modelreg.blobs.local import COPY_CHUNK, LocalBlobStore
from modelreg.metadata.base import VersionDraft
from modelreg.service import Service
from modelreg.types import Artifact

HERE = Path(__file__).resolve().parent
KiB = 1024
QUERY_TARGET_S = 0.050
THROUGHPUT_TARGET = 0.70
RSS_TARGET_MB = 200.0
SECTIONS = ("registration", "big-model", "big-file", "resolve")
REG_MODEL = "bench-detector"
BIG_MODEL = "bench-100k"
FILTER = "metrics.map50 >= 0.8"


@dataclass(frozen=True)
class Config:
    quick: bool
    postgres_url: str | None  # None: PostgreSQL skipped
    big_bytes: int
    small_bytes: int
    versions: int
    batch: int
    registrations: int
    query_reps: int
    file_reps: int
    resolve_calls: int
    resolve_budget_s: float
    work_parent: Path | None
    doc: Path | None
    sections: frozenset[str]
    command: str


@dataclass
class Row:
    measure: str
    value: str
    target: str = ""
    ok: bool | None = None

    def cells(self) -> list[str]:
        verdict = "" if self.ok is None else ("✓" if self.ok else "✗ MISS")
        return [self.measure, self.value, self.target, verdict]


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profiles: list[tuple[str, str]] = field(default_factory=list)
    failed: bool = False


# ---------------------------------------------------------------- 1. registration rate


def small_files(config_yaml: bytes) -> dict[str, bytes]:
    return {"weights/best.pt": os.urandom(64 * KiB), "weights/last.pt": os.urandom(64 * KiB),
            "config.yaml": config_yaml}


def detection_metrics(rng: random.Random) -> dict[str, float]:
    map50 = rng.random()
    return {"map50": map50, "map50_95": map50 * rng.uniform(0.5, 0.8), "precision": rng.random(),
            "recall": rng.random()}


def bench_registration(reg: Service, cfg: Config) -> Section:
    section = Section("1. Registration rate — embedded default (SQLite + local blobs)")
    rng = random.Random(1)
    config_yaml = b"model: yolov8n.pt\nepochs: 100\nimgsz: 640\nbatch: 16\nlr0: 0.01\n"
    reg.register_version(REG_MODEL, files=small_files(config_yaml), metrics=detection_metrics(rng))  # warm-up
    samples = []
    for _ in range(cfg.registrations):
        files, metrics = small_files(config_yaml), detection_metrics(rng)  # made outside the timed call
        start = time.perf_counter()
        reg.register_version(REG_MODEL, files=files, metrics=metrics, params={"epochs": 100, "imgsz": 640})
        samples.append(time.perf_counter() - start)
    stats = Stats(tuple(samples))
    section.rows += [
        Row(f"versions/s ({stats.n} versions, 3 files: 2 × 64 KiB random + config.yaml, 4 metrics)",
            f"{stats.n / stats.total:.1f} /s"),
        Row("per version, p50", ms(stats.median)),
        Row("per version, p90", ms(stats.p90)),
    ]
    section.notes.append(put_chunk_note(cfg))
    engine = engine_of(reg)
    if engine is not None:
        files, metrics = small_files(config_yaml), detection_metrics(rng)
        start = time.perf_counter()
        with counting_fsync() as fsyncs:
            stmts = statements_of(engine, lambda: reg.register_version(REG_MODEL, files=files, metrics=metrics))
        took = time.perf_counter() - start
        section.notes.append(
            f"Anatomy of one more registration ({ms(took)}): {fsyncs.count} `os.fsync` calls from the blob store "
            f"({ms(fsyncs.seconds)}), {len(stmts)} SQL statements ({ms(sum(s.seconds for s in stmts))} inside the "
            "driver, SQLite's own commit included); the rest is SQLAlchemy, pydantic, hashing and writing.")
    return section


def put_random(store: LocalBlobStore, size: int) -> None:
    store.put(io.BytesIO(os.urandom(size)))


def put_chunk_note(cfg: Config) -> str:
    """How much of a small put is the copy buffers: default chunk (4 MiB, two buffers) against 256 KiB."""
    medians = {}
    with scratch_dir(cfg.work_parent, "bench_put_") as root:
        for chunk in (COPY_CHUNK, 256 * KiB):
            store = LocalBlobStore(root / str(chunk), chunk_size=chunk)
            stats = repeat(functools.partial(put_random, store, 64 * KiB), 40, warmup=5)
            medians[chunk] = stats.median
    default, small = medians[COPY_CHUNK], medians[256 * KiB]
    verdict = (f"the copy buffers cost {ms(default - small)} of every small put, whatever the source's size"
               if default > 1.5 * small else "the buffer size does not matter for small puts")
    return (f"`LocalBlobStore.put` of 64 KiB of new content: {ms(default)} with its default chunk_size "
            f"({COPY_CHUNK // MiB} MiB), {ms(small)} with chunk_size=256 KiB (medians of 40): {verdict}.")


# ---------------------------------------------------------------- 4. resolve


def bench_resolve(reg: Service, cfg: Config) -> Section:
    section = Section("4. `resolve(\"model@production\")` on a warm cache")
    ref = f"{REG_MODEL}@production"
    start = time.perf_counter()
    path = reg.resolve(ref)
    cold = time.perf_counter() - start
    samples: list[float] = []
    clock = time.perf_counter_ns
    deadline = clock() + int(cfg.resolve_budget_s * 1e9)
    while len(samples) < cfg.resolve_calls and clock() < deadline:
        t0 = clock()
        reg.resolve(ref)
        samples.append((clock() - t0) / 1e9)
    stats = Stats(tuple(samples))
    if stats.n < cfg.resolve_calls:
        section.notes.append(f"Stopped after {stats.n:,} calls: the {cfg.resolve_budget_s:.0f} s budget for this "
                             f"measurement ran out before {cfg.resolve_calls:,} calls.")
    section.rows += [
        Row(f"warm, median of {stats.n:,} calls", us(stats.median)),
        Row("warm, p99", us(stats.p99)),
        Row("cold: first call (looks up the alias, copies 3 files into the cache)", ms(cold)),
    ]
    token = reg.ctx.meta.change_token()
    section.notes.append(f"Resolved to `{path}`; the store's change token is "
                         f"{'offered' if token is not None else 'NOT offered (every call queries the database)'}.")
    if token is None or stats.median > 1e-3:
        section.profiles.append(("resolve, warm", profile_call(reg, lambda: reg.resolve(ref))))
    return section


# ---------------------------------------------------------------- 2. a model with 100,000 versions


@dataclass(frozen=True)
class Filled:
    via_store: int  # versions inserted through the store interface
    via_store_s: float
    bulk: int  # versions bulk-loaded into the store's tables
    bulk_s: float
    best_map50: float
    matching: int  # versions with map50 >= 0.8

    @property
    def versions(self) -> int:
        return self.via_store + self.bulk


class MetricSource:
    """Metrics of the next version, remembering the best map50 and how many pass the benchmark's filter."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.best = -1.0
        self.matching = 0

    def __call__(self) -> dict[str, float]:
        metrics = detection_metrics(self.rng)
        self.best = max(self.best, metrics["map50"])
        self.matching += metrics["map50"] >= 0.8
        return metrics


def fake_blobs(count: int) -> dict[str, int]:
    """Digests of made-up blobs (rows only; listing never reads blob contents)."""
    return {"sha256:" + hashlib.sha256(f"bench-blob-{i}".encode()).hexdigest(): 6_000_000 + i for i in range(count)}


def store_batch(reg: Service, model_id: int, numbers: range, t0: datetime, metrics: MetricSource,
                blobs: dict[str, int]) -> None:
    """One transaction of ``allocate_number`` + ``insert_version`` + ``add_artifacts`` (+ ``claim_blobs``)."""
    digests = list(blobs)
    with reg.ctx.meta.transaction() as tx:
        tx.claim_blobs(blobs=blobs)
        for i in numbers:
            number = tx.allocate_number(model_id=model_id)
            version = tx.insert_version(draft=VersionDraft(
                model_id=model_id, number=number, status="ready", created_at=t0 + timedelta(seconds=i),
                created_by="bench", metrics=metrics(), params={"epochs": 100, "imgsz": 640}))
            tx.add_artifacts(version_id=version.id, artifacts=[
                Artifact(path="weights/best.pt", digest=digests[i % 7], size=blobs[digests[i % 7]],
                         media_type="application/x-pytorch"),
                Artifact(path="config.yaml", digest=digests[7], size=blobs[digests[7]], media_type="application/yaml"),
            ])


def fill_versions(reg: Service, n: int, batch: int, label: str) -> Filled:
    """``n`` versions: the first ``batch`` through the store interface (the service is bypassed), the rest bulk."""
    model = reg.create_model(BIG_MODEL, task="detection", auto_activate_first=False)
    blobs, metrics = fake_blobs(8), MetricSource(42)
    t0 = datetime.now(UTC) - timedelta(seconds=n)
    engine = engine_of(reg)
    via_store = n if engine is None else min(n, batch)
    start = time.perf_counter()
    for first in range(0, via_store, batch):
        store_batch(reg, model.id, range(first, min(via_store, first + batch)), t0, metrics, blobs)
    via_store_s = time.perf_counter() - start
    print(f"  [{label}] {via_store:,} versions through the store in {via_store_s:.1f} s", flush=True)
    start = time.perf_counter()
    if via_store < n and engine is not None:
        bulk_versions(engine, model_id=model.id, first_number=via_store + 1, last_number=n, t0=t0,
                      metrics=metrics, digests=list(blobs)[:7])
    bulk_s = time.perf_counter() - start
    print(f"  [{label}] {n - via_store:,} versions bulk-loaded in {bulk_s:.1f} s", flush=True)
    return Filled(via_store, via_store_s, n - via_store, bulk_s, metrics.best, metrics.matching)


def deep_cursor(reg: Service, pages: int) -> tuple[str, float]:
    """Walk ``pages`` pages of 1,000 newest first; return the cursor there and the seconds the walk took."""
    cursor: str | None = None
    start = time.perf_counter()
    for _ in range(pages):
        page = reg.list_versions(BIG_MODEL, limit=1000, cursor=cursor)
        cursor = page.next_cursor
        if cursor is None:
            raise RuntimeError(f"the cursor chain ended after {page.total:,} versions")
    assert cursor is not None
    return cursor, time.perf_counter() - start


def check(section: Section, ok: bool, what: str) -> None:
    if not ok:
        section.notes.append(f"**WRONG RESULT**: {what}")


def bench_big_model(reg: Service, backend: str, cfg: Config) -> Section:
    section = Section(f"2. A model with {cfg.versions:,} versions — {backend}")
    filled = fill_versions(reg, cfg.versions, cfg.batch, backend)
    n = filled.versions
    rate = filled.via_store / filled.via_store_s
    section.rows.append(Row(f"fill via `store.transaction()`: {filled.via_store:,} versions, "
                            f"{cfg.batch:,} a transaction",
                            f"{filled.via_store_s:.1f} s = {rate:,.0f} versions/s (all {n:,} this way: "
                            f"~{n / rate / 60:.0f} min)"))
    if filled.bulk:
        section.rows.append(Row(f"fill the other {filled.bulk:,}: bulk `executemany` of cloned rows",
                                f"{filled.bulk_s:.1f} s"))
    section.notes.append(
        "Each version has 4 metrics (map50 uniform in 0..1, map50_95, precision, recall) and 2 artifacts over 8 "
        "reused digests. Through the store: `claim_blobs` once per transaction, then `allocate_number` + "
        "`insert_version` + `add_artifacts` per version. The rest is `bench/_bulk.py`: it clones, with "
        "`executemany`, every row the store wrote for its newest version (the `versions` row and every table that "
        "references it), with new numbers, times, metrics and digests, then updates the model's counters.")
    pages = max(1, int(n * 0.9) // 1000)
    cursor, walk_s = deep_cursor(reg, pages)
    section.notes.append(f"Walking {pages} pages of 1,000 to reach the deep cursor took {walk_s:.1f} s "
                         f"({walk_s / pages * 1e3:.0f} ms per page of 1,000).")

    def first_page() -> Any:
        return reg.list_versions(BIG_MODEL, limit=50)

    def deep_page() -> Any:
        return reg.list_versions(BIG_MODEL, limit=50, cursor=cursor)

    def filtered() -> Any:
        return reg.search_versions(FILTER, model=BIG_MODEL, sort="-metrics.map50", limit=50)

    def total() -> Any:
        return reg.list_versions(BIG_MODEL, limit=1)

    page = first_page()
    check(section, [v.number for v in page.items] == list(range(n, n - 50, -1)), "first page is not v{n}..v{n-49}")
    check(section, len(page.items[0].artifacts) == 2, "versions in a page lack their artifacts")
    page = deep_page()
    check(section, page.items[0].number == n - pages * 1000, f"deep page starts at v{page.items[0].number}")
    page = filtered()
    values = [v.metrics["map50"] for v in page.items]
    check(section, values == sorted(values, reverse=True) and min(values) >= 0.8, "filtered page order or filter")
    check(section, abs(values[0] - filled.best_map50) < 1e-9, "filtered page does not start at the best map50")
    check(section, page.total == filled.matching, f"filtered total {page.total} != {filled.matching}")
    check(section, total().total == n, "total is not the number of versions")
    engine = engine_of(reg)
    if engine is not None and engine.dialect.name == "postgresql":
        stale = [repeat(fn, 3) for fn in (first_page, deep_page, filtered, total)]
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        section.notes.append(
            "Right after the bulk load (no planner statistics, no visibility map) the four queries below took "
            f"{', '.join(ms(st.median) for st in stale)} (medians of 3). The table shows them after "
            "`VACUUM ANALYZE`, which autovacuum runs by itself shortly after a change of this size: a registry "
            "that grew to this size over time is in that state.")
    elif engine is not None:
        section.notes.append("SQLite is measured as users get it: nobody ran `ANALYZE` (the store does not).")

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("first page (limit 50, newest first)", first_page),
        (f"page of 50 at ~90% of the cursor chain (v{n - pages * 1000} down to v{n - pages * 1000 - 49})",
         deep_page),
        (f"`{FILTER}` sorted by `-metrics.map50`, first page ({filled.matching:,} match)", filtered),
        ("`total`: a `limit=1` query, so its cost is the count's", total),
    ]
    for label, fn in cases:
        stats = repeat(fn, cfg.query_reps, warmup=2)
        ok = stats.median < QUERY_TARGET_S
        section.rows.append(Row(label, f"median {ms(stats.median)}, p90 {ms(stats.p90)} (n={stats.n})",
                                f"< {QUERY_TARGET_S * 1e3:.0f} ms", ok))
        if not ok:
            section.profiles.append((f"{backend}: {label}", profile_call(reg, fn)))
    return section


# ---------------------------------------------------------------- 3. a large artifact


def run_child(*args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(HERE / "_big_child.py"), *args], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def child_register(home: Path, src: Path) -> dict[str, Any]:
    evict(src)  # the source is read from disk, like a checkpoint written a while ago
    return run_child("register", "--home", str(home), "--src", str(src))


def child_pull(home: Path, number: int, dest: Path) -> dict[str, Any]:
    evict_tree(home / "blobs")
    shutil.rmtree(dest, ignore_errors=True)
    try:
        return run_child("pull", "--home", str(home), "--ref", f"big:{number}", "--dest", str(dest))
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def size_label(size: int) -> str:
    return f"{size / GiB:g} GiB" if size >= GiB else f"{size / MiB:g} MiB"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def disk_baselines(work: Path, size: int, reps: int) -> dict[str, Stats]:
    """The disk alone: sequential write + fsync, cold and warm read; and SHA-256 in memory."""
    raw = work / "raw.bin"
    writes = []
    for _ in range(reps):
        raw.unlink(missing_ok=True)
        writes.append(timed(lambda: write_random_file(raw, size)))
    cold, warm = [], []
    for _ in range(reps):
        evict(raw)
        cold.append(timed(lambda: sequential_read(raw)))
        warm.append(timed(lambda: sequential_read(raw)))
    hashed = []
    for _ in range(reps):
        evict(raw)
        hashed.append(timed(lambda: hash_file(raw)))
    raw.unlink()
    block = os.urandom(64 * MiB)
    sha = repeat(lambda: [hashlib.sha256(block).digest() for _ in range(4)], reps, warmup=0)
    return {"write": Stats(tuple(writes)), "cold": Stats(tuple(cold)), "warm": Stats(tuple(warm)),
            "hash": Stats(tuple(hashed)), "sha256": sha}


@dataclass
class Rounds:
    """Per round, interleaved so that a slow spell of the shared machine hits every contender alike."""

    copy: list[float] = field(default_factory=list)
    naive: list[float] = field(default_factory=list)
    register: list[dict[str, Any]] = field(default_factory=list)
    pull: list[dict[str, Any]] = field(default_factory=list)


def transfer_rounds(work: Path, src: Path, home: Path, reps: int) -> Rounds:
    """Each round: raw copy, naive verified copy, register (into a fresh registry), pull of what was registered."""
    out, dst = Rounds(), work / "copy.bin"
    for _ in range(reps):
        for bucket, copier in ((out.copy, copy_with_fsync), (out.naive, hashing_copy_with_fsync)):
            dst.unlink(missing_ok=True)
            evict(src)
            bucket.append(timed(functools.partial(copier, src, dst)))
            dst.unlink()
        fresh_dir(home)
        out.register.append(child_register(home, src))
        out.pull.append(child_pull(home, 1, work / "pulled"))
    return out


def transfer_row(label: str, size: int, seconds: list[float], rounds: Rounds) -> Row:
    """Throughput, and its ratio to the raw copy of the same round (median of the per-round ratios)."""
    to_copy = statistics.median(c / s for c, s in zip(rounds.copy, seconds, strict=True))
    to_naive = statistics.median(n / s for n, s in zip(rounds.naive, seconds, strict=True))
    return Row(label, f"{mib_s(size, statistics.median(seconds)):,.0f} MiB/s = {to_copy:.0%} of the raw copy, "
                      f"{to_naive:.0%} of the naive verified copy (runs: "
                      f"{', '.join(f'{mib_s(size, x):.0f}' for x in seconds)})",
               f"≥ {THROUGHPUT_TARGET:.0%} of raw copy", to_copy >= THROUGHPUT_TARGET)


def rate_row(label: str, size: int, seconds: tuple[float, ...] | list[float]) -> Row:
    return Row(label, f"{mib_s(size, statistics.median(seconds)):,.0f} MiB/s "
                      f"(runs: {', '.join(f'{mib_s(size, s):.0f}' for s in seconds)})")


def mb(mib: float) -> float:
    return mib * MiB / 1e6


def bench_big_file(work: Path, cfg: Config) -> Section:
    size, reps = cfg.big_bytes, cfg.file_reps
    label = size_label(size)
    section = Section(f"3. A {label} artifact — register and pull against the disk")
    src, home = work / "big-src.bin", work / "big-home"
    gen = timed(lambda: write_random_file(src, size))
    section.notes.append(
        f"Source written in {gen:.1f} s (a 64 MiB random block, counter-stamped, then fsync). Every read of a "
        "source or blob is cold: its pages are dropped first with `posix_fadvise(DONTNEED)` (the host of the "
        "virtual disk may still cache them). Every write ends with fsync, so write numbers are the disk's, not "
        f"the page cache's. Copies, register and pull run interleaved in {reps} rounds; a ratio is the median "
        "of the per-round ratios. `shutil.copyfile` copies inside the kernel (`copy_file_range`/`sendfile`): "
        "it never brings the bytes into user space, which anything that verifies SHA-256 must do.")
    disk = disk_baselines(work, size, reps)
    rounds = transfer_rounds(work, src, home, reps)
    section.rows += [
        rate_row("SHA-256 in memory (hashlib, 64 MiB buffer)", 256 * MiB, disk["sha256"].samples),
        rate_row(f"raw sequential write + fsync ({label}, 64 MiB writes)", size, disk["write"].samples),
        rate_row("raw sequential read, cold", size, disk["cold"].samples),
        rate_row("raw sequential read, warm (page cache)", size, disk["warm"].samples),
        rate_row("read + SHA-256 of a cold file, one thread (what a dedup check needs)", size,
                 disk["hash"].samples),
        rate_row("raw copy: `shutil.copyfile` + fsync, source cold (**the baseline**)", size, rounds.copy),
        rate_row("naive verified copy: read 4 MiB → sha256 → write, one thread, + fsync", size, rounds.naive),
        transfer_row(f"`register_version` ({label}, new content, child process)", size,
                     [r["seconds"] for r in rounds.register], rounds),
        transfer_row(f"`pull` ({label}, verified, fsynced, child process)", size,
                     [p["seconds"] for p in rounds.pull], rounds),
    ]
    before = tree_bytes(home / "blobs")
    again = child_register(home, src)
    added = tree_bytes(home / "blobs") - before
    section.rows.append(Row("re-register the same file: storage added", f"{added:,} bytes "
                            f"(v{again['number']}; the call took {again['seconds']:.1f} s = "
                            f"{mib_s(size, again['seconds']):,.0f} MiB/s and wrote "
                            f"{again['disk_write_bytes'] / MiB:,.0f} MiB to the disk)", "0 bytes", added == 0))
    new_writes = statistics.median(r["disk_write_bytes"] for r in rounds.register)
    section.notes.append(
        f"Bytes written to the disk per call (`/proc/self/io` of the child): register of new content "
        f"{new_writes / MiB:,.0f} MiB, pull {statistics.median(p['disk_write_bytes'] for p in rounds.pull) / MiB:,.0f}"
        f" MiB, re-register of stored content {again['disk_write_bytes'] / MiB:,.0f} MiB. A re-registration "
        f"only needs to read and hash the file: {mib_s(size, disk['hash'].median):,.0f} MiB/s here.")
    shutil.rmtree(home, ignore_errors=True)
    src.unlink()
    section.rows += memory_rows(work, cfg.small_bytes, size, rounds.register, rounds.pull)
    inherited = max(r["ru_maxrss_mib"] for r in rounds.register + rounds.pull)
    section.notes.append(
        "Peak memory is the child's own high-water mark (`VmHWM` in /proc/self/status). Its `ru_maxrss` is not "
        "usable: Linux carries it across exec, so these children report the benchmark parent's size "
        f"({mb(inherited):.0f} MB) instead of their own.")
    return section


def memory_rows(work: Path, small: int, big: int, registers: list[dict[str, Any]],
                pulls: list[dict[str, Any]]) -> list[Row]:
    """Peak RSS of register and pull at a small size (measured here) and the big one (from the runs above)."""
    src, home = work / "small-src.bin", fresh_dir(work / "small-home")
    write_random_file(src, small)
    small_reg = child_register(home, src)
    small_pull = child_pull(home, 1, work / "small-pulled")
    shutil.rmtree(home, ignore_errors=True)
    src.unlink()
    rows = []
    for op, at_small, at_big in (("register_version", [small_reg], registers), ("pull", [small_pull], pulls)):
        peaks = {size_label(small): max(r["rss_peak_mib"] for r in at_small),
                 size_label(big): max(r["rss_peak_mib"] for r in at_big)}
        ready = max(r["rss_before_mib"] for r in at_small + at_big)
        worst = max(peaks.values())
        rows.append(Row(f"peak RSS of `{op}` in a child process",
                        ", ".join(f"{mb(v):.0f} MB at {k}" for k, v in peaks.items())
                        + f" (process after import + connect: {mb(ready):.0f} MB)",
                        f"< {RSS_TARGET_MB:.0f} MB, flat", mb(worst) < RSS_TARGET_MB))
    return rows


# ---------------------------------------------------------------- running and reporting


@contextmanager
def guarded(sections: list[Section], title: str) -> Iterator[None]:
    """Record a section that crashed instead of losing the others' numbers."""
    try:
        yield
    except Exception:
        failed = Section(title, failed=True)
        failed.notes.append("FAILED:\n\n```text\n" + traceback.format_exc()[-4000:] + "```")
        sections.append(failed)
        print(traceback.format_exc(), file=sys.stderr)


def announce(section: Section) -> Section:
    print(f"\n## {section.title}\n" + text_table(["measure", "value", "target", ""],
                                                 [r.cells() for r in section.rows]))
    for note in section.notes:
        print(f"  - {note}")
    for what, text in section.profiles:
        print(f"\n  profile of {what}:\n" + "\n".join("    " + line for line in text.splitlines()))
    return section


def run_registry_sections(work: Path, cfg: Config, out: list[Section]) -> None:
    with scratch_dir(work, "reg-") as home:
        reg = modelreg.connect(home=home)
        try:
            if "registration" in cfg.sections:
                with guarded(out, "1. Registration rate"):
                    out.append(announce(bench_registration(reg, cfg)))
            if "resolve" in cfg.sections:
                with guarded(out, "4. resolve"):
                    if "registration" not in cfg.sections:
                        reg.register_version(REG_MODEL, files=small_files(b"x: 1\n"))
                    out.append(announce(bench_resolve(reg, cfg)))
        finally:
            reg.close()


def run_big_model_sections(work: Path, cfg: Config, out: list[Section]) -> None:
    with guarded(out, "2. big model — SQLite"), scratch_dir(work, "sqlite-") as home:
        reg = modelreg.connect(home=home)
        try:
            out.append(announce(bench_big_model(reg, "SQLite", cfg)))
        finally:
            reg.close()
    if cfg.postgres_url is None:
        return
    name = f"bench_modelreg_{os.getpid()}"
    with guarded(out, "2. big model — PostgreSQL"), scratch_pg_database(cfg.postgres_url, name) as url, \
            scratch_dir(work, "pg-blobs-") as blobs:
        reg = modelreg.connect(url, artifacts=str(blobs))
        try:
            out.append(announce(bench_big_model(reg, "PostgreSQL", cfg)))
        finally:
            reg.close()


def render(cfg: Config, facts: dict[str, str], sections: list[Section], started: datetime, seconds: float) -> str:
    mode = "quick (`--quick`: fewer versions and repetitions, a smaller big file)" if cfg.quick else "full"
    parts = [
        "## Core benchmarks (`bench/bench_core.py`)",
        f"Measured {started:%Y-%m-%d %H:%M} UTC in {seconds / 60:.1f} min, mode: {mode}. Command:",
        f"```sh\n{cfg.command}\n```",
        "Timings are medians of repeated runs measured in this one run (p90/p99 where shown). The machine is "
        "shared and small, so expect run-to-run noise of 10–30%; compare against the raw baselines of the same run.",
        "### Machine",
        markdown_table(["", ""], [[k, v] for k, v in facts.items()]),
    ]
    for section in sections:
        parts.append(f"### {section.title}")
        if section.rows:
            parts.append(markdown_table(["measure", "value", "target", ""], [r.cells() for r in section.rows]))
        bullets = [f"- {note}" for note in section.notes if not note.startswith("FAILED")]
        if bullets:
            parts.append("\n".join(bullets))
        parts += [note for note in section.notes if note.startswith("FAILED")]
        for what, text in section.profiles:
            parts.append(f"<details><summary>Where the time goes: {what}</summary>\n\n```text\n{text}\n```\n"
                         "</details>")
    return "\n\n".join(parts) + "\n"


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer versions and repetitions (< 2 min)")
    parser.add_argument("--skip-postgres", action="store_true", help="do not run the PostgreSQL measurements")
    parser.add_argument("--big-gib", type=float, default=None, help="size of the big artifact (default 2; quick 0.5)")
    parser.add_argument("--versions", type=int, default=None, help="versions of the big model (default 100,000; "
                                                                   "quick 10,000)")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="a database to connect to while creating and dropping the scratch database")
    parser.add_argument("--dir", type=Path, default=None, help="where the scratch folders go (default: $TMPDIR)")
    parser.add_argument("--doc", type=Path, default=HERE.parent / "docs" / "benchmarks.md")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    args = parser.parse_args(argv)
    sections = frozenset(s.strip() for s in args.only.split(",") if s.strip())
    if unknown := sections - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    quick = bool(args.quick)
    return Config(
        quick=quick,
        postgres_url=None if args.skip_postgres else args.pg_url,
        big_bytes=int((args.big_gib if args.big_gib is not None else 0.5 if quick else 2) * GiB),
        small_bytes=256 * MiB,
        versions=args.versions or (10_000 if quick else 100_000),
        batch=1000,
        registrations=100 if quick else 300,
        query_reps=20 if quick else 30,
        file_reps=2 if quick else 5,
        resolve_calls=10_000,
        resolve_budget_s=10 if quick else 60,
        work_parent=args.dir,
        doc=None if args.no_doc else args.doc,
        sections=sections,
        command=shlex.join(["python", "bench/bench_core.py", *(sys.argv[1:] if argv is None else argv)]),
    )


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    started, clock = datetime.now(UTC), time.perf_counter()
    sections: list[Section] = []
    pg_version = pg_server_version(cfg.postgres_url) if cfg.postgres_url else None
    if cfg.postgres_url and pg_version is None:
        print(f"PostgreSQL at {cfg.postgres_url} is unreachable; its measurements are skipped", file=sys.stderr)
        cfg = dataclasses.replace(cfg, postgres_url=None)
    if cfg.work_parent is not None:
        cfg.work_parent.mkdir(parents=True, exist_ok=True)
    with scratch_dir(cfg.work_parent, "bench_core_") as work:
        facts = machine_facts(work, pg_version)
        print(text_table(["machine", ""], [[k, v] for k, v in facts.items()]), flush=True)
        if {"registration", "resolve"} & cfg.sections:
            run_registry_sections(work, cfg, sections)
        if "big-model" in cfg.sections:
            run_big_model_sections(work, cfg, sections)
        if "big-file" in cfg.sections:
            with guarded(sections, "3. big artifact"):
                sections.append(announce(bench_big_file(work, cfg)))
    order = {s: i for i, s in enumerate("1234")}
    sections.sort(key=lambda s: order.get(s.title[:1], 9))
    elapsed = time.perf_counter() - clock
    if cfg.doc is not None:
        replace_section(cfg.doc, "bench_core", render(cfg, facts, sections, started, elapsed))
        print(f"\nwrote {cfg.doc}")
    print(f"done in {elapsed / 60:.1f} min")
    return 1 if any(s.failed for s in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
