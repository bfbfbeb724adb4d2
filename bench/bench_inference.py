"""Inference records at a million: batch ingestion, filtered pages and live figures, and what logging costs serving.

    python bench/bench_inference.py [--records 1000000] [--no-postgres] [--rounds 2] [--no-docs]

For each database, SQLite (the embedded default, ``modelreg.connect(home=…)``) and PostgreSQL
(127.0.0.1:5432, a scratch database created and dropped here), one project with the label set
``ok, ng, scratch, dent`` and one model, ``line/inspector``, of 3 versions; then:

1. **ingestion**: ``--records`` records logged with ``reg.log_inferences`` in batches of 1,000 (the way a
   serving stack or the live handle's logger sends them), the rate reported per 100,000; every record a
   classification answer (``{"class", "score"}``), a latency, 1 % errors, an input reference, times spread over
   10 days (v1 the first 4, v2 the next 3, v3 the last 3, with v2 beside it as a shadow on 10 % of the traffic);
   then 20,000 records whose outputs are 5 detections each (class, score, box), to show the cost of bigger
   outputs;
2. **feedback** on 0.5 % of the records (``reg.feedback`` one by one, a label from the label set);
3. **queries** on the million: pages of 50 through ``reg.list_inferences`` with the filters a user types
   (a version over a day, errors, with feedback, the filter language over outputs and feedback, a page deep in
   the keyset), and ``reg.inference_stats`` for a version over a day and for every version over the last day;
   p50 and p90 of ``--requests`` calls after 2 warm-ups, the better of ``--rounds`` rounds;
4. on SQLite, **through ``modelreg serve``** (uvicorn, one worker, on the same registry): 100,000 records sent
   by one client, the SDK's HTTP client (``modelreg.connect(url).log_inferences``, JSON lines), in batches of
   1,000 and of 5,000;
5. **how soon a live handle follows a move**: 20 activations by one registry object while a live handle of
   another serves, on the SQLite registry and through ``modelreg serve``;
6. **the serving path's cost of ``log=True``**, measured by ``bench/bench_live.py`` (in-process, no database).

Prints the numbers and writes them into docs/benchmarks.md between ``<!-- bench_inference:start -->`` and
``<!-- bench_inference:end -->``. Scratch folders and the scratch database are removed.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _profile import engine_of
from _util import (
    Stats,
    machine_facts,
    markdown_table,
    ms,
    pg_server_version,
    replace_section,
    scratch_dir,
    scratch_pg_database,
)
from bench_dashboard import serving
from bench_live import measure as measure_live

import modelreg

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PROJECT = "line"
MODEL = f"{PROJECT}/inspector"
DETECTOR = f"{PROJECT}/detector"  # the detection records' model, apart: its outputs have no top-level class
LABELS = ["ok", "ng", "scratch", "dent"]
DAYS = 10
BATCH = 1000
DETECTION_RECORDS = 20_000
FEEDBACK_SHARE = 0.005
SERVED_RECORDS = 100_000
EMBEDDED_TARGET = 20_000.0  # records/s
SERVED_TARGET = 10_000.0
PAGE_TARGET_S = 0.050
STATS_TARGET_S = 0.200
LOG_TARGET_US = 50.0


# ---------------------------------------------------------------- the records


def serving_version(day: float, rng: random.Random) -> int:
    """v1 serves the first 4 days, v2 the next 3, v3 the last 3 with v2 as a shadow on 10 % of the traffic."""
    if day < 4:
        return 1
    if day < 7:
        return 2
    return 2 if rng.random() < 0.1 else 3


def classification(rng: random.Random, start: datetime, span_s: float, i: int, n: int) -> dict[str, Any]:
    at = start + timedelta(seconds=span_s * i / n)
    day = (at - start).total_seconds() / 86400
    failed = rng.random() < 0.01
    record: dict[str, Any] = {
        "model": MODEL, "version": serving_version(day, rng), "time": at,
        "latency_ms": round(rng.lognormvariate(3.0, 0.5), 2),
        "input_ref": f"s3://frames/cam-{i % 40:02d}/{i:08d}.jpg", "sample_rate": 1.0}
    if failed:
        record.update(status="error", error="CUDA out of memory")
    else:
        record["outputs"] = {"class": rng.choices(LABELS, weights=(85, 9, 4, 2))[0],
                             "score": round(rng.uniform(0.5, 1.0), 4)}
    return record


def detections(rng: random.Random, at: datetime) -> dict[str, Any]:
    return {"model": DETECTOR, "version": 1, "time": at, "latency_ms": round(rng.lognormvariate(3.5, 0.4), 2),
            "input_ref": f"s3://frames/det/{rng.getrandbits(48):012x}.jpg",
            "outputs": {"detections": [
                {"class": rng.choice(LABELS[1:]), "score": round(rng.uniform(0.3, 1.0), 4),
                 "box": [round(rng.uniform(0, 600), 1), round(rng.uniform(0, 600), 1),
                         round(rng.uniform(10, 200), 1), round(rng.uniform(10, 200), 1)]} for _ in range(5)]}}


def batches(records: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# ---------------------------------------------------------------- ingestion


@dataclass
class Ingested:
    records: int = 0
    seconds: float = 0.0
    steps: list[tuple[int, float]] = field(default_factory=list)  # (records in the step, seconds)
    detection_s: float = 0.0
    feedback: int = 0
    feedback_s: float = 0.0
    day_of_v3: tuple[datetime, datetime] | None = None  # a whole day of v3's traffic

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def worst_step_rate(self) -> float:
        return min(n / s for n, s in self.steps)


def prepare(reg: Any) -> None:
    reg.create_project(PROJECT, labels=LABELS, description="surface inspection")
    reg.create_model(MODEL, task="classification")
    for v in range(1, 4):
        reg.register_version(MODEL, files={"model.onnx": f"weights {v}".encode()}, metrics={"accuracy": 0.9 + v / 100})
    reg.create_model(DETECTOR, task="detection")
    reg.register_version(DETECTOR, files={"model.onnx": b"detector weights"}, metrics={"map50": 0.7})


def ingest(reg: Any, total: int, name: str) -> Ingested:
    rng = random.Random(11)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    start = end - timedelta(days=DAYS)
    out = Ingested()
    span = (end - start).total_seconds()
    step_n, step_s = 0, 0.0
    gen = (classification(rng, start, span, i, total) for i in range(total))
    for batch in batches(gen, BATCH):
        t = time.perf_counter()
        reg.log_inferences(batch)
        took = time.perf_counter() - t
        out.seconds += took
        out.records += len(batch)
        step_n, step_s = step_n + len(batch), step_s + took
        if step_n >= 100_000:
            out.steps.append((step_n, step_s))
            print(f"[{name}]   {out.records:>9,} records, {step_n / step_s:8,.0f} records/s in the last "
                  f"{step_n:,}", flush=True)
            step_n, step_s = 0, 0.0
    if step_n:
        out.steps.append((step_n, step_s))
    det = [detections(rng, end - timedelta(seconds=i)) for i in range(DETECTION_RECORDS)]
    t = time.perf_counter()
    for batch in batches(iter(det), BATCH):
        reg.log_inferences(batch)
    out.detection_s = time.perf_counter() - t
    # feedback on 0.5 % of the classification records, a label from the label set
    judged = 0
    t = time.perf_counter()
    cursor = None
    wanted = int(total * FEEDBACK_SHARE)
    while judged < wanted:
        page = reg.list_inferences(MODEL, status="ok", limit=1000, cursor=cursor)
        for record in page.items[::50]:
            if "class" in (record.outputs or {}):
                label = record.outputs["class"] if rng.random() < 0.8 else rng.choice(LABELS)
                reg.feedback(record.request_id, label=label, source="human", author="qa")
                judged += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    out.feedback, out.feedback_s = judged, time.perf_counter() - t
    out.day_of_v3 = (end - timedelta(days=2), end - timedelta(days=1))
    return out


# ---------------------------------------------------------------- queries


@dataclass(frozen=True)
class Query:
    label: str
    run: Callable[[Any], Any]
    target: float | None  # None: shown for what it is, no target (a filter almost nothing matches)
    kind: str  # "page" or "stats"
    requests: int | None = None  # timed calls, when fewer than --requests


def queries(ingested: Ingested) -> list[Query]:
    assert ingested.day_of_v3 is not None
    since, until = ingested.day_of_v3

    def deep_cursor(reg: Any) -> str | None:
        cursor = None
        for _ in range(20):
            cursor = reg.list_inferences(MODEL, limit=50, cursor=cursor).next_cursor
        return cursor

    deep: dict[int, str | None] = {}

    def page_21(reg: Any) -> Any:
        key = id(reg)
        if key not in deep:
            deep[key] = deep_cursor(reg)
        return reg.list_inferences(MODEL, limit=50, cursor=deep[key])

    def page(**kw: Any) -> Callable[[Any], Any]:
        return lambda reg: reg.list_inferences(MODEL, limit=50, **kw)

    return [
        Query("newest 50, no filter", page(), PAGE_TARGET_S, "page"),
        Query("version 3 over one day (`version=3, since, until`)", page(version=3, since=since, until=until),
              PAGE_TARGET_S, "page"),
        Query("errors (`status=error`)", page(status="error"), PAGE_TARGET_S, "page"),
        Query("with feedback (`has_feedback=True`)", page(has_feedback=True), PAGE_TARGET_S, "page"),
        Query('`outputs.class = "ng" and latency_ms > 50`', page(where='outputs.class = "ng" and latency_ms > 50'),
              PAGE_TARGET_S, "page"),
        Query("`feedback.label != outputs.class` (the model was wrong)", page(where="feedback.label != outputs.class"),
              PAGE_TARGET_S, "page"),
        Query('`outputs.class = "dent" and outputs.score < 0.6` on version 2',
              page(version=2, where='outputs.class = "dent" and outputs.score < 0.6'), PAGE_TARGET_S, "page"),
        Query("page 21 by cursor (keyset)", page_21, PAGE_TARGET_S, "page"),
        Query('`outputs.class = "dent" and latency_ms > 100`: matches 1 record in ~70,000, so the page is '
              "read from every record of the model", page(where='outputs.class = "dent" and latency_ms > 100'),
              None, "page", requests=3),
        Query("live figures of version 3 over one day", lambda reg: reg.inference_stats(
            MODEL, versions=[3], since=since, until=until), STATS_TARGET_S, "stats"),
        Query("live figures of every version over the last day", lambda reg: reg.inference_stats(MODEL),
              STATS_TARGET_S, "stats"),
    ]


@dataclass
class Timed:
    query: Query
    stats: Stats
    found: int


def time_queries(reg: Any, qs: list[Query], requests: int, rounds: int, name: str) -> list[Timed]:
    best: dict[str, Timed] = {}
    for r in range(1, rounds + 1):
        for q in qs:
            for _ in range(1 if q.requests else 2):
                answer = q.run(reg)
            samples = []
            for _ in range(min(requests, q.requests or requests)):
                t = time.perf_counter()
                answer = q.run(reg)
                samples.append(time.perf_counter() - t)
            found = sum(s.records for s in answer) if q.kind == "stats" else len(answer.items)
            timed = Timed(q, Stats(tuple(samples)), found)
            if q.label not in best or timed.stats.median < best[q.label].stats.median:
                best[q.label] = timed
            print(f"[{name}]   round {r}: {q.label:60} p50 {ms(timed.stats.median):>9}  "
                  f"p90 {ms(timed.stats.p90):>9}  ({found:,})", flush=True)
    return [best[q.label] for q in qs]


# ---------------------------------------------------------------- through modelreg serve


@dataclass
class Sent:
    batch: int
    records: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds


def through_serve(home: Path, work: Path) -> tuple[list[Sent], Stats]:
    rng = random.Random(5)
    out = []
    with serving(home, work / "serve.log") as served:
        follow = follow_latency(lambda: modelreg.connect(served.url), work, "serve")
        reg = modelreg.connect(served.url)
        try:
            for size in (BATCH, 5 * BATCH):
                end = datetime.now(UTC)
                start = end - timedelta(hours=1)
                records = [classification(rng, start, 3600.0, i, SERVED_RECORDS) for i in range(SERVED_RECORDS)]
                reg.log_inferences(records[:size])  # warm-up: the connection and the server's first request
                t = time.perf_counter()
                for batch in batches(iter(records[size:]), size):
                    reg.log_inferences(batch)
                out.append(Sent(size, SERVED_RECORDS - size, time.perf_counter() - t))
                print(f"[serve]   batches of {size:,}: {out[-1].rate:,.0f} records/s", flush=True)
        finally:
            reg.close()
    return out, follow


# ---------------------------------------------------------------- how soon a live handle follows a move


FOLLOW_MODEL = f"{PROJECT}/followed"
MOVES = 20


def follow_latency(connect: Callable[[], Any], work: Path, name: str) -> Stats:
    """Seconds from an activation's return (by a second registry object, as another process would) to the
    moment a live handle of another serves the new version; ``MOVES`` moves between two versions."""
    files = work / f"follow-{name}"
    files.mkdir(exist_ok=True)
    writer, reader = connect(), connect()
    try:
        for v in (1, 2):
            (files / "model.txt").write_text(f"v{v}")
            writer.register_version(FOLLOW_MODEL, files={"model.txt": files / "model.txt"})
        writer.activate(f"{FOLLOW_MODEL}:1")
        handle = reader.live(FOLLOW_MODEL, loader=lambda path: Path(path).read_text())
        try:
            handle.wait_for(1)
            samples = []
            for k in range(MOVES):
                target = 2 if k % 2 == 0 else 1
                writer.activate(f"{FOLLOW_MODEL}:{target}")
                t = time.perf_counter()
                while handle.version != target:
                    if time.perf_counter() - t > 30:
                        raise RuntimeError(f"the live handle did not follow to v{target} in 30 s")
                    time.sleep(0.0005)
                samples.append(time.perf_counter() - t)
                time.sleep(0.2)
        finally:
            handle.close()
    finally:
        writer.close()
        reader.close()
    stats = Stats(tuple(samples))
    print(f"[{name}]   a live handle followed {MOVES} moves: p50 {ms(stats.median)}, max {ms(max(samples))}",
          flush=True)
    return stats


# ---------------------------------------------------------------- the run


@dataclass
class Backend:
    name: str
    ingested: Ingested
    timed: list[Timed]
    sent: list[Sent] = field(default_factory=list)
    follow: dict[str, Stats] = field(default_factory=dict)  # how -> seconds to follow a move


def run_backend(name: str, connect: Callable[[], Any], args: argparse.Namespace) -> Backend:
    print(f"[{name}] logging {args.records:,} records in batches of {BATCH:,}", flush=True)
    reg = connect()
    try:
        prepare(reg)
        ingested = ingest(reg, args.records, name)
        print(f"[{name}] {ingested.rate:,.0f} records/s; {DETECTION_RECORDS:,} detection records in "
              f"{ingested.detection_s:.1f} s; {ingested.feedback:,} feedback in {ingested.feedback_s:.1f} s",
              flush=True)
        engine = engine_of(reg)
        if engine is not None and engine.dialect.name == "postgresql":  # what autovacuum does soon by itself
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        timed = time_queries(reg, queries(ingested), args.requests, args.rounds, name)
    finally:
        reg.close()
    return Backend(name, ingested, timed)


def verdict(ok: bool) -> str:
    return "✓" if ok else "✗"


def render(args: argparse.Namespace, backends: list[Backend], live: dict[str, float], facts: dict[str, str],
           started: datetime, seconds: float) -> str:
    command = " ".join(["python bench/bench_inference.py", *map(shlex.quote, sys.argv[1:])])
    misses: list[str] = []
    ingest_rows = []
    for b in backends:
        i = b.ingested
        ok = i.rate >= EMBEDDED_TARGET
        if not ok:
            misses.append(f"{b.name}: ingestion {i.rate:,.0f} records/s")
        ingest_rows.append([b.name, f"`log_inferences`, batches of {BATCH:,}, {i.records:,} classification records",
                            f"{i.rate:,.0f}", f"{i.worst_step_rate:,.0f}", f"≥ {EMBEDDED_TARGET:,.0f}", verdict(ok)])
        ingest_rows.append([b.name, f"`log_inferences`, batches of {BATCH:,}, {DETECTION_RECORDS:,} records of 5 "
                            "detections", f"{DETECTION_RECORDS / i.detection_s:,.0f}", "", "", ""])
        ingest_rows.append([b.name, f"`feedback`, one call each, {i.feedback:,} records",
                            f"{i.feedback / i.feedback_s:,.0f}", "", "", ""])
        for s in b.sent:
            ok = s.rate >= SERVED_TARGET
            if not ok:
                misses.append(f"{b.name} through `modelreg serve`, batches of {s.batch:,}: {s.rate:,.0f} records/s")
            ingest_rows.append([f"{b.name} via `modelreg serve`",
                                f"HTTP client `log_inferences`, batches of {s.batch:,}, {s.records:,} records",
                                f"{s.rate:,.0f}", "", f"≥ {SERVED_TARGET:,.0f}", verdict(ok)])
    query_rows = []
    for b in backends:
        for t in b.timed:
            found = f"{t.found:,} records" if t.query.kind == "stats" else f"{t.found}"
            if t.query.target is None:
                query_rows.append([b.name, t.query.label, ms(t.stats.median), ms(t.stats.p90), found, "", ""])
                continue
            ok = t.stats.median <= t.query.target
            if not ok:
                misses.append(f"{b.name}: {t.query.label} (p50 {ms(t.stats.median)})")
            query_rows.append([b.name, t.query.label, ms(t.stats.median), ms(t.stats.p90), found,
                               f"p50 ≤ {t.query.target * 1e3:.0f} ms", verdict(ok)])
    follow_rows = [[b.name, how, ms(st.median), ms(st.p90), ms(max(st.samples)), "≤ 1 s", verdict(max(st.samples) <= 1)]
                   for b in backends for how, st in b.follow.items()]
    misses += [f"{b.name}, {how}: a move followed after {ms(max(st.samples))}" for b in backends
               for how, st in b.follow.items() if max(st.samples) > 1]
    overhead = live["with_log"] - live["base"]
    sampled = live["with_sample"] - live["base"]
    if overhead > LOG_TARGET_US:
        misses.append(f"log=True costs {overhead:.1f} µs a call")
    live_rows = [
        ["`m(x)`, `log=False`", f"{live['base']:.2f} µs", "", ""],
        ["`m(x)`, `log=True`", f"{live['with_log']:.2f} µs", f"{overhead:.2f} µs (≤ {LOG_TARGET_US:.0f} µs)",
         verdict(overhead <= LOG_TARGET_US)],
        ["`m(x)`, `log=True, sample=0.1`", f"{live['with_sample']:.2f} µs", f"{sampled:.2f} µs", ""],
        ["`InferenceLogger.log`, the sink keeping up", f"{live['log_alone']:.2f} µs", "", ""],
        ["`InferenceLogger.log`, the sink down (dropped, counted)", f"{live['log_down']:.2f} µs", "", ""],
    ]
    load = os.getloadavg()
    lines = [
        "## Inference records (`bench/bench_inference.py`)", "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC in {seconds / 60:.1f} min. Command:", "",
        "```sh", command, "```", "",
        f"**The data.** One project with the label set `{', '.join(LABELS)}`, one model `{MODEL}` of 3 versions. "
        f"{args.records:,} classification records (`{{class, score}}`, a latency, an input reference, 1 % errors) "
        f"over {DAYS} days: v1 serves the first 4, v2 the next 3, v3 the last 3 with v2 as a shadow on 10 % of the "
        f"traffic; {DETECTION_RECORDS:,} records of 5 detections each for a second model, `{DETECTOR}`; "
        "feedback (a label) on "
        f"{FEEDBACK_SHARE:.1%} of the classification records. Every record goes through the SDK "
        "(`reg.log_inferences`, the service's checks and the store), nothing is bulk-loaded.", "",
        "**Ingestion** (records per second of wall clock in the calls; the worst 100,000 shows whether the rate "
        "holds as the table grows):", "",
        markdown_table(["database", "what", "records/s", "worst 100,000", "target", ""], ingest_rows), "",
        f"**Queries on `{MODEL}`'s {args.records:,} records**, through the SDK on the embedded "
        f"registry (pages of 50, newest first; p50 and p90 of {args.requests} calls after 2 warm-ups, the better "
        f"of {args.rounds} rounds; 'found': the page's records, or the records the figures summed):", "",
        markdown_table(["database", "query", "p50", "p90", "found", "target", ""], query_rows), "",
        f"**How soon a live handle follows a move**: {MOVES} activations alternating between two versions of "
        f"`{FOLLOW_MODEL}`, each by one registry object while a live handle of another serves; from the "
        "activation's return to the handle's `version` being the new one (the new version loaded: a text file):",
        "",
        markdown_table(["database", "the handle on", "p50", "p90", "slowest", "target", ""], follow_rows), "",
        f"**The serving path's cost of `log=True`**, from `bench/bench_live.py` in this run ({live['calls']:,.0f} "
        f"calls, best of {live['repeat']:.0f}; a live handle on an in-memory registry serving a model that answers "
        "at once, so the difference is all logging: the sampling draw, the timing, the request id, the outputs as "
        "JSON and the record queued for the sender thread):", "",
        markdown_table(["call", "per call", "overhead", ""], live_rows), "",
    ]
    if misses:
        lines += [f"**Missed targets**: {'; '.join(misses)}.", ""]
    else:
        lines += ["Every target met.", ""]
    lines += ["Machine:", *[f"- {k}: {v}" for k, v in facts.items()],
              f"- load average at the end (1, 5, 15 min): {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="classification records per database")
    parser.add_argument("--no-postgres", action="store_true", help="measure SQLite only")
    parser.add_argument("--requests", type=int, default=30, help="timed calls per query (after 2 warm-ups)")
    parser.add_argument("--rounds", type=int, default=2, help="times each query set is measured; the better shown")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if args.records < 100_000:
        parser.error("--records must be at least 100,000")
    started = datetime.now(UTC)
    clock = time.perf_counter()
    pg_version = None if args.no_postgres else pg_server_version(PG_ADMIN)
    if not args.no_postgres and pg_version is None:
        raise SystemExit(f"PostgreSQL is not reachable at {PG_ADMIN}; pass --no-postgres to measure SQLite only")
    backends: list[Backend] = []
    with scratch_dir(None, "bench_inference_") as work:
        facts = machine_facts(work, pg_version)
        home = work / "home"
        sqlite = run_backend("SQLite", lambda: modelreg.connect(home=home), args)
        print("[serve] the HTTP client against `modelreg serve` on the SQLite registry", flush=True)
        sqlite.follow["the SQLite registry in another object (as another process)"] = follow_latency(
            lambda: modelreg.connect(home=home), work, "SQLite")
        sqlite.sent, served_follow = through_serve(home, work)
        sqlite.follow["`modelreg serve` on that registry (the HTTP long poll)"] = served_follow
        backends.append(sqlite)
        if not args.no_postgres:
            with scratch_pg_database(PG_ADMIN, f"bench_inference_{os.getpid()}") as url:
                blobs = str(work / "pg-blobs")
                backends.append(run_backend("PostgreSQL", lambda: modelreg.connect(url, artifacts=blobs), args))
    print("[live] the serving path's cost of log=True (bench/bench_live.py)", flush=True)
    live = measure_live(calls=200_000, repeat=5)
    body = render(args, backends, live, facts, started, time.perf_counter() - clock)
    print()
    print(body)
    if not args.no_docs:
        replace_section(DOC, "bench_inference", body)
        print(f"\nwrote the bench_inference section of {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
