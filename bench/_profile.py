"""Where the time of one SDK call goes: its SQL statements (timed, the slowest explained) and a cProfile.

Used by the benchmarks when a number misses its target. Reaches into ``SqlMetadataStore.engine``;
that is fine for a benchmark and nothing else should.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass
class Statement:
    sql: str
    params: Any
    seconds: float


@dataclass
class StatementLog:
    items: list[Statement] = field(default_factory=list)

    def before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        conn.info.setdefault("bench_start", []).append(time.perf_counter())

    def after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        start = conn.info["bench_start"].pop()
        self.items.append(Statement(statement, parameters, time.perf_counter() - start))


@dataclass
class FsyncLog:
    count: int = 0
    seconds: float = 0.0


@contextmanager
def counting_fsync() -> Iterator[FsyncLog]:
    """Count and time ``os.fsync`` calls made from Python while the block runs (the blob store's)."""
    log, real = FsyncLog(), os.fsync

    def fsync(fd: Any) -> None:
        start = time.perf_counter()
        try:
            real(fd)
        finally:
            log.count += 1
            log.seconds += time.perf_counter() - start

    os.fsync = fsync
    try:
        yield log
    finally:
        os.fsync = real


def engine_of(reg: Any) -> Engine | None:
    engine = getattr(reg.ctx.meta, "engine", None)
    return engine if isinstance(engine, Engine) else None


def statements_of(engine: Engine, fn: Callable[[], object]) -> list[Statement]:
    log = StatementLog()
    event.listen(engine, "before_cursor_execute", log.before)
    event.listen(engine, "after_cursor_execute", log.after)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", log.before)
        event.remove(engine, "after_cursor_execute", log.after)
    return log.items


def explain(engine: Engine, stmt: Statement) -> str:
    """EXPLAIN QUERY PLAN (SQLite) or EXPLAIN (ANALYZE, BUFFERS) (PostgreSQL) of a captured statement."""
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(prefix + stmt.sql, stmt.params)
        rows = cursor.fetchall()
        raw.rollback()
    finally:
        raw.close()
    if engine.dialect.name == "sqlite":
        return "\n".join(f"{'  ' * _depth(rows, r)}{r[-1]}" for r in rows)
    return "\n".join(str(r[0]) for r in rows)


def _depth(rows: Sequence[Any], row: Any) -> int:
    parents = {r[0]: r[1] for r in rows}
    depth, parent = 0, row[1]
    while parent in parents:
        depth, parent = depth + 1, parents[parent]
    return depth


def cprofile_top(fn: Callable[[], object], count: int = 12) -> str:
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(count)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(lines[max(0, start - 1):])


def profile_call(reg: Any, fn: Callable[[], object]) -> str:
    """A text report: SQL statements by time (the slowest explained), then the Python profile."""
    parts: list[str] = []
    engine = engine_of(reg)
    if engine is not None:
        fn()  # warm
        stmts = statements_of(engine, fn)
        sql_total = sum(s.seconds for s in stmts)
        parts.append(f"{len(stmts)} SQL statements, {sql_total * 1e3:.1f} ms in the database driver:")
        for s in sorted(stmts, key=lambda s: -s.seconds)[:5]:
            parts.append(f"  {s.seconds * 1e3:8.2f} ms  {' '.join(s.sql.split())[:300]}")
        if stmts:
            slowest = max(stmts, key=lambda s: s.seconds)
            try:
                parts.append("plan of the slowest statement:\n" + explain(engine, slowest))
            except Exception as exc:  # a plan is a nice-to-have; the timings above already tell the story
                parts.append(f"(no plan: {exc})")
    parts.append("cProfile, by cumulative time:\n" + cprofile_top(fn))
    return "\n".join(parts)
