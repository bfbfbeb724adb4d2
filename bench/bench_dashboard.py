"""The dashboard's server time at 100,000 versions, its JavaScript weight, and a 5,000-version REST listing.

    python bench/bench_dashboard.py [--versions 100000] [--no-postgres] [--requests 30] [--rounds 2] [--no-docs]

A registry is filled on SQLite (the embedded default) and on PostgreSQL (127.0.0.1:5432, a scratch database
created and dropped here): one model, ``vision/big-detector``, with ``--versions`` versions (the worst case
for its page), plus 200 models of 3 versions each in four projects (the models page). Every version has 5
metrics, 10 per-class rows, 3 tags, params, a dataset and two files; its first versions and the last 5 are
registered through the SDK (the last 5 with 300 epochs each: the version page and the compare), the ones in
between bulk-cloned from the SDK's rows (``bench/_bulk.py``), with one ``version.registered`` event each as
the SDK writes. Aliases move a few times (production, staging, candidate), two versions are pinned.

Measured, each set ``--rounds`` times (the better round is reported, the machine being shared):

1. server time of ``/``, ``/m/vision/big-detector`` and ``/v/vision/big-detector/N``: the app in this process,
   requests through ``httpx.ASGITransport`` (no socket, no uvicorn); ``--requests`` after 3 warm-ups;
2. ``/compare`` of the 5 versions with 300 epochs each, the same way;
3. the JavaScript a dashboard page loads: every ``<script src>`` of the pages above, gzipped (level 6, as
   a reverse proxy would); ``/docs``'s Swagger UI apart (it is not a dashboard page);
4. on SQLite, a model of 5,000 versions listed through the SDK's HTTP client (``modelreg.connect(url)``)
   against a real ``modelreg serve`` process (uvicorn, one worker) on the same registry, with where its
   time goes: the store's query, the server's JSON, the client's decoding.

Prints the numbers and writes them into docs/benchmarks.md between ``<!-- bench_dashboard:start -->`` and
``<!-- bench_dashboard:end -->``. Scratch folders and the scratch database are removed.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gzip
import io
import json
import os
import pstats
import random
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _bulk import bulk_versions
from _profile import engine_of, statements_of
from _util import (
    Stats,
    machine_facts,
    markdown_table,
    ms,
    pg_server_version,
    repeat,
    replace_section,
    scratch_dir,
    scratch_pg_database,
    stop_process,
    text_table,
)
from sqlalchemy import Engine, insert, select, update

import modelreg
from modelreg.config import Settings
from modelreg.metadata.sql import schema as db
from modelreg.metadata.sql.version_json import refresh_listing

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
MODELREG = [sys.executable, "-c", "from modelreg.cli.main import run; run()"]

PROJECT = "vision"
BIG = f"{PROJECT}/big-detector"
LISTING = f"{PROJECT}/listing"  # versions of one file, 5 metrics and 3 tags
LISTING_FULL = f"{PROJECT}/listing-full"  # versions with all the metadata of the others
CLASSES = ["fire", "smoke", "person", "vehicle", "animal", "boat", "bicycle", "truck", "sign", "light"]
PROJECTS = {"vision": CLASSES, "retail": ["shelf", "gap", "price", "product"], "audio": ["speech", "music", "noise"],
            "text": ["spam", "ham"]}
OTHER_MODELS = 200
OTHER_VERSIONS = 3
SEEDS = 10  # versions of a bulk-filled model registered through the SDK before the bulk copy
EPOCHS = 300
COMPARED = 5
LISTED = 5000
PAGE_TARGET_S = 0.050
COMPARE_TARGET_S = 0.100
JS_TARGET_BYTES = 150 * 1000
LIST_TARGET_S = 0.100
JSON_BYTES = "the JSON of the 5 pages"


# ---------------------------------------------------------------- the data


def version_metrics(rng: random.Random) -> dict[str, float]:
    map50 = rng.uniform(0.30, 0.95)
    return {"map50": map50, "map50_95": map50 * rng.uniform(0.55, 0.7), "precision": rng.uniform(0.5, 0.95),
            "recall": rng.uniform(0.5, 0.95), "val_loss": rng.uniform(0.4, 2.0)}


def class_rows(rng: random.Random, classes: list[str]) -> list[dict[str, Any]]:
    return [{"class_name": name, "ap": rng.uniform(0.3, 0.95), "precision": rng.uniform(0.5, 0.95),
             "recall": rng.uniform(0.5, 0.95), "training_count": rng.randint(200, 5000),
             "validation_count": rng.randint(50, 1000)} for name in classes]


def epoch_rows(rng: random.Random, count: int) -> list[dict[str, Any]]:
    top = rng.uniform(0.6, 0.9)
    return [{"epoch": e, "train_loss": 2.5 / (1 + e / 20) + rng.uniform(0, 0.05),
             "val_loss": 2.7 / (1 + e / 25) + rng.uniform(0, 0.08), "map50": top * (1 - 0.98 ** (e + 1)),
             "map50_95": top * 0.62 * (1 - 0.98 ** (e + 1)), "lr": 0.01 * (1 - e / count)}
            for e in range(count)]


def version_fields(rng: random.Random, classes: list[str], i: int) -> dict[str, Any]:
    """What a training script registers: metrics, per-class rows, tags, params, dataset, training."""
    return {
        "metrics": version_metrics(rng), "class_metrics": class_rows(rng, classes),
        "tags": {"dataset": "cams-2026-06", "gpu": "a100", "run": f"r{i % 7}"},
        "params": {"epochs": EPOCHS, "batch_size": 16, "imgsz": 640, "lr0": 0.01, "optimizer": "SGD",
                   "pretrained": "yolov8n.pt", "augment": {"mosaic": 1.0, "mixup": 0.1}},
        "dataset": {"name": "cams", "version": "2026-06", "train_count": 12000, "val_count": 3000,
                    "classes": classes},
        "training": {"duration_s": 3600.0 + i, "hardware": "1x A100"},
        "notes": "nightly run", "description": f"run {i}",
    }


def files_of(model: str, i: int) -> dict[str, bytes]:
    return {"weights/best.pt": f"{model} weights {i} ".encode() + bytes(range(256)) * 4,
            "config.yaml": b"imgsz: 640\nepochs: 300\n"}


@dataclass
class Filled:
    versions: int = 0  # all versions of the registry
    big: int = 0  # versions of BIG
    sdk: int = 0  # versions registered through the SDK
    sdk_s: float = 0.0
    bulk: int = 0
    bulk_s: float = 0.0
    listing: int = 0  # versions of LISTING (0: not made)
    notes: list[str] = field(default_factory=list)


def bulk_events(engine: Engine, *, project: str, model: str, template_number: int, first: int, last: int,
                t0: datetime) -> None:
    """One ``version.registered`` event per bulk version, cloned from the one the SDK wrote for the template."""
    e = db.events
    with engine.begin() as conn:
        row = dict(conn.execute(select(e).where(e.c.project == project, e.c.model == model,
                                                e.c.version == template_number,
                                                e.c.action == "version.registered")).mappings().one())
        row.pop("id")
        for start in range(first, last + 1, 5000):
            conn.execute(insert(e), [{**row, "version": k, "at": t0 + timedelta(seconds=k - 1)}
                                     for k in range(start, min(last, start + 4999) + 1)])


def fill_model(reg: Any, name: str, count: int, rng: random.Random, filled: Filled, *, epochs_last: int = 0,
               light: bool = False, **model: Any) -> None:
    """``count`` versions of ``name``: SEEDS through the SDK, the rest but the last ``epochs_last`` cloned,
    those last through the SDK again with EPOCHS epochs each. ``light``: one file, 5 metrics and 3 tags."""

    def register(i: int, **more: Any) -> None:
        if light:
            reg.register_version(name, files={"weights/best.pt": files_of(name, i)["weights/best.pt"]},
                                 metrics=version_metrics(rng), tags={"stage": ("dev", "qa", "prod")[i % 3],
                                                                     "owner": "bench", "idx": str(i)})
        else:
            reg.register_version(name, files=files_of(name, i), **version_fields(rng, CLASSES, i), **more)

    reg.create_model(name, **model)
    project, short = name.split("/")
    t0 = datetime.now(UTC) - timedelta(seconds=count + 3600)
    seeds = min(SEEDS, count)
    start = time.perf_counter()
    for i in range(1, seeds + 1):
        register(i)
    filled.sdk_s += time.perf_counter() - start
    filled.sdk += seeds
    last_bulk = count - epochs_last
    engine = engine_of(reg)
    assert engine is not None, "the benchmark needs the SQL store"
    if last_bulk > seeds:
        start = time.perf_counter()
        digests = [v.artifacts[-1].digest for v in reg.list_versions(name, limit=seeds).items]
        mdl = reg.get_model(name)
        bulk_versions(engine, model_id=mdl.id, first_number=seeds + 1, last_number=last_bulk, t0=t0,
                      metrics=lambda: version_metrics(rng), digests=digests)
        bulk_events(engine, project=project, model=short, template_number=seeds, first=seeds + 1, last=last_bulk,
                    t0=t0)
        with engine.begin() as conn:  # the SDK's versions in the same timeline as the bulk ones
            v = db.versions
            for number in range(1, seeds + 1):
                at = t0 + timedelta(seconds=number - 1)
                conn.execute(update(v).where(v.c.model_id == mdl.id, v.c.number == number)
                             .values(created_at=at, updated_at=at))
            refresh_listing(conn, (v.c.model_id == mdl.id) & (v.c.number <= seeds))  # as the store would
        filled.bulk_s += time.perf_counter() - start
        filled.bulk += last_bulk - seeds
    start = time.perf_counter()
    for i in range(max(seeds, last_bulk) + 1, count + 1):
        register(i, epochs=epoch_rows(rng, EPOCHS))
    filled.sdk_s += time.perf_counter() - start
    filled.sdk += count - max(seeds, last_bulk)


def fill(reg: Any, versions: int, *, listing: bool) -> Filled:
    rng = random.Random(7)
    filled = Filled()
    for name, labels in PROJECTS.items():
        reg.create_project(name, labels=labels, description=f"{name} models")
    fill_model(reg, BIG, versions, rng, filled, epochs_last=COMPARED, task="detection", best_metric="map50",
               baseline="yolov8n", auto_activate_first=False, description="Fire and smoke in camera frames",
               tags={"team": "vision", "site": "north"})
    n = versions
    for target in (n - 400, n - 300, n - 200, n - 100, n - 50, n - 20, n - 10):
        reg.set_alias(f"{BIG}:{max(1, target)}", "production")
    reg.rollback(BIG)
    reg.set_alias(f"{BIG}:{n - 3}", "production")
    reg.set_alias(f"{BIG}:{n}", "staging")
    reg.set_alias(f"{BIG}:{n - 1}", "candidate")
    reg.pin(f"{BIG}:{n - 3}")
    reg.pin(f"{BIG}:{max(1, n - 100)}")
    filled.big = n
    start = time.perf_counter()
    names = list(PROJECTS)
    for m in range(OTHER_MODELS):
        project = names[m % len(names)]
        name = f"{project}/model-{m:03d}"
        reg.create_model(name, task="detection" if project == "vision" else "classification",
                         best_metric="map50" if m % 2 else None, tags={"team": project})
        for i in range(1, OTHER_VERSIONS + 1):
            fields = version_fields(rng, PROJECTS[project], i)
            reg.register_version(name, files=files_of(name, i), **fields)
    filled.sdk_s += time.perf_counter() - start
    filled.sdk += OTHER_MODELS * OTHER_VERSIONS
    if listing:
        fill_model(reg, LISTING, LISTED, rng, filled, light=True, task="detection", best_metric="map50")
        fill_model(reg, LISTING_FULL, LISTED, rng, filled, task="detection", best_metric="map50")
        filled.listing = 2 * LISTED
    filled.versions = n + OTHER_MODELS * OTHER_VERSIONS + filled.listing
    engine = engine_of(reg)
    if engine is not None and engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        filled.notes.append("PostgreSQL: `VACUUM ANALYZE` after the bulk load (what autovacuum does by itself "
                            "shortly after a change of this size).")
    return filled


# ---------------------------------------------------------------- server time of the pages


@dataclass(frozen=True)
class Case:
    label: str
    path: str
    target: float
    expect: str  # text the page must contain


@dataclass
class Timed:
    case: Case
    stats: Stats
    size: int
    round: int


def cases_for(n: int) -> list[Case]:
    refs = "&".join(f"ref={BIG}:{k}" for k in range(n - COMPARED + 1, n + 1))
    return [
        Case("models page `/`", "/", PAGE_TARGET_S, "big-detector"),
        Case(f"model page `/m/{BIG}` ({n:,} versions)", f"/m/{BIG}", PAGE_TARGET_S, f"v{n}"),
        Case(f"version page `/v/{BIG}/{n}` ({EPOCHS} epochs)", f"/v/{BIG}/{n}", PAGE_TARGET_S, "fire"),
        Case(f"compare of {COMPARED} versions, {EPOCHS} epochs each", f"/compare?{refs}", COMPARE_TARGET_S,
             f"v{n - COMPARED + 1}"),
    ]


@dataclass(frozen=True)
class App:
    """The dashboard's app in this process: ``get(path)`` through ASGI, and its database engine."""

    get: Callable[[str], Any]
    engine: Engine


@contextmanager
def app_client(settings: Settings) -> Iterator[App]:
    """The app over ``settings``'s stores, requests on one event loop (no socket, no uvicorn)."""
    from modelreg.server import create_app

    app = create_app(settings)
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")
    try:
        yield App(lambda path: loop.run_until_complete(client.get(path)), app.state.server.meta.engine)
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
        app.state.server.close()


def time_pages(get: Callable[[str], Any], cases: list[Case], requests: int, rounds: int) -> list[Timed]:
    best: dict[str, Timed] = {}
    for r in range(1, rounds + 1):
        for case in cases:
            for _ in range(3):
                response = get(case.path)
                assert response.status_code == 200, f"{case.path}: {response.status_code} {response.text[:500]}"
                assert case.expect in response.text, f"{case.path} lacks {case.expect!r}"
            samples = []
            for _ in range(requests):
                start = time.perf_counter()
                response = get(case.path)
                samples.append(time.perf_counter() - start)
                assert response.status_code == 200
            timed = Timed(case, Stats(tuple(samples)), len(response.content), r)
            if case.label not in best or timed.stats.median < best[case.label].stats.median:
                best[case.label] = timed
            print(f"    round {r}: {case.label:55} p50 {ms(timed.stats.median):>9}  p90 {ms(timed.stats.p90):>9}",
                  flush=True)
    return [best[c.label] for c in cases]


@dataclass(frozen=True)
class PageProfile:
    what: str
    summary: str  # one line: the SQL's share and its largest statement
    text: str  # the statements and the cProfile


def profile_page(app: App, what: str, path: str, p50: float, count: int = 15) -> PageProfile:
    """Where one request's time goes: its SQL statements (grouped, the costliest first), then a cProfile by own
    time with the page's blocking work run on the event loop's thread (the dashboard hands it to a worker
    thread, which cProfile does not follow)."""
    import anyio.to_thread

    app.get(path)
    statements = statements_of(app.engine, lambda: app.get(path))
    groups: dict[str, list[float]] = {}
    for st in statements:
        groups.setdefault(" ".join(st.sql.split())[:160], []).append(st.seconds)
    costly = sorted(groups.items(), key=lambda kv: -sum(kv[1]))
    sql_s = sum(st.seconds for st in statements)
    lines = [f"{len(statements)} SQL statements, {sql_s * 1e3:.1f} ms in the database driver; the costliest:"]
    lines += [f"  {len(times)} × {sum(times) * 1e3:8.2f} ms  {sql}" for sql, times in costly[:5]]
    top_sql, top_times = costly[0] if costly else ("", [0.0])
    summary = (f"{what}: {len(statements)} SQL statements, {ms(sql_s)} in the database (p50 {ms(p50)}); the "
               f"costliest: {len(top_times)} × `{top_sql[:90]}…` ({ms(sum(top_times))})")
    threaded = anyio.to_thread.run_sync

    async def inline(func: Callable[..., Any], *args: Any, **_: Any) -> Any:
        return func(*args)

    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    try:
        table = own_time_profile(lambda: app.get(path), count)
    finally:
        anyio.to_thread.run_sync = threaded
    return PageProfile(what, summary, "\n".join([*lines, "cProfile, by own time:", table]))


# ---------------------------------------------------------------- JavaScript


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        src = dict(attrs).get("src")
        if tag == "script" and src:
            self.sources.append(src)


def scripts_of(html: str) -> list[str]:
    parser = _Scripts()
    parser.feed(html)
    return parser.sources


@dataclass
class JsWeight:
    per_page: dict[str, list[str]]  # page -> its script URLs
    sizes: dict[str, tuple[int, int]]  # script URL -> (bytes, gzipped bytes)
    docs: list[str]

    def page_gzip(self, page: str) -> int:
        return sum(self.sizes[s][1] for s in self.per_page[page])

    @property
    def largest(self) -> tuple[str, int]:
        page = max(self.per_page, key=self.page_gzip)
        return page, self.page_gzip(page)

    @property
    def docs_gzip(self) -> int:
        return sum(self.sizes[s][1] for s in self.docs)


def js_weight(get: Callable[[str], Any], pages: list[str]) -> JsWeight:
    per_page = {page: scripts_of(get(page).text) for page in pages}
    docs = scripts_of(get("/docs").text)
    sizes: dict[str, tuple[int, int]] = {}
    for src in {s for srcs in [*per_page.values(), docs] for s in srcs}:
        body = get(src)
        assert body.status_code == 200, src
        sizes[src] = (len(body.content), len(gzip.compress(body.content, 6)))
    return JsWeight(per_page, sizes, docs)


# ---------------------------------------------------------------- the REST listing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Served:
    url: str
    pid: int


@contextmanager
def serving(home: Path, log: Path) -> Iterator[Served]:
    """``modelreg serve`` on ``home`` as a subprocess on a free loopback port (one worker: uvicorn runs in that
    process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELREG_", "MODEL_ENVIRONMENT"))}
    env.update({"MODELREG_HOME": str(home), "MODELREG_ACTOR": "bench"})
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen([*MODELREG, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(url + "/api/v1/ready", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"modelreg serve did not start: {log.read_text()}")
                time.sleep(0.01)
            yield Served(url, proc.pid)
        finally:
            stop_process(proc)


@dataclass
class Listing:
    label: str
    stats: Stats
    target: float | None
    round: int


def listing_cases(reg: Any, url: str) -> list[tuple[str, Callable[[], int], float | None]]:
    path = f"{url}/api/v1/projects/{PROJECT}/models/{LISTING.split('/')[1]}/versions"
    raw = httpx.Client()

    def client_iter(model: str = LISTING) -> int:
        return sum(1 for _ in reg.iter_versions(model=model, limit=1000))

    def client_pages() -> int:
        count, cursor = 0, None
        while True:
            page = reg.list_versions(LISTING, limit=1000, cursor=cursor)
            count += len(page.items)
            cursor = page.next_cursor
            if cursor is None:
                return count

    def rest_json() -> int:
        count, cursor = 0, None
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            body = raw.get(path, params=params).json()
            count += len(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                return count

    def client_default() -> int:
        return sum(1 for _ in reg.iter_versions(model=LISTING))

    return [
        (f"`iter_versions(model=…, limit=1000)`: {LISTED:,} versions, 5 pages", client_iter, LIST_TARGET_S),
        (f"`list_versions(…, limit=1000)` page by page, asking and decoding in turn: {LISTED:,} versions",
         client_pages, None),
        ("the same 5 pages with plain httpx + `json` (no SDK, no `Version` objects)", rest_json, None),
        (f"`iter_versions(model=…)` with its default pages of 50 ({LISTED // 50} requests)", client_default, None),
        (f"`iter_versions(model=…, limit=1000)` of `{LISTING_FULL}` (every version with 10 per-class rows, "
         "params, dataset…)", lambda: client_iter(LISTING_FULL), None),
    ]


def time_listing(url: str, requests: int, rounds: int) -> list[Listing]:
    """The listing cases timed in a fresh process (as ``listing_parts``): the benchmark's own heap, hundreds of
    thousands of objects from filling the registry, would otherwise be walked by every collection the client
    makes, which a program that only lists does not carry."""
    done = subprocess.run([sys.executable, __file__, "--listing-of", url, str(requests), str(rounds)],
                          stdout=subprocess.PIPE, text=True, check=True)
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    return [Listing(r["label"], Stats(tuple(r["samples"])), r["target"], r["round"]) for r in rows]


def measure_listing(url: str, requests: int, rounds: int) -> list[Listing]:
    """``time_listing`` in the process it runs in (progress on stderr)."""
    reg = modelreg.connect(url)
    try:
        cases = listing_cases(reg, url)
        best: dict[str, Listing] = {}
        for r in range(1, rounds + 1):
            for label, fn, target in cases:
                times = requests if target is not None else max(5, requests // 3)
                for _ in range(2):
                    assert fn() == LISTED, label
                samples = []
                for _ in range(times):
                    start = time.perf_counter()
                    fn()
                    samples.append(time.perf_counter() - start)
                got = Listing(label, Stats(tuple(samples)), target, r)
                if label not in best or got.stats.median < best[label].stats.median:
                    best[label] = got
                print(f"    round {r}: {label[:70]:70} p50 {ms(got.stats.median):>9}  p90 {ms(got.stats.p90):>9}",
                      file=sys.stderr, flush=True)
        return [best[label] for label, _, _ in cases]
    finally:
        reg.close()


def listing_parts(home: Path, model: str) -> dict[str, float]:
    """Where a 5-page listing of ``model`` goes, each part timed alone in a fresh process (medians of 5), whose
    heap holds little else (the collector's passes grow with everything a process keeps)."""
    done = subprocess.run([sys.executable, __file__, "--parts-of", str(home), model], capture_output=True, text=True,
                          check=True)
    parts: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return parts


def measure_parts(home: Path, model: str) -> dict[str, float]:
    """``listing_parts`` in the process it runs in."""
    from pydantic import TypeAdapter

    from modelreg import collector
    from modelreg.server.wire import reply_page
    from modelreg.service.versions import search_versions_json
    from modelreg.types import Page, PageJson, Version

    reg = modelreg.connect(home=home)
    try:
        def walk(fetch: Callable[[str | None], Any]) -> list[Any]:
            out, cursor = [], None
            while True:
                out.append(fetch(cursor))
                cursor = out[-1].next_cursor
                if cursor is None:
                    return out

        def written() -> list[PageJson]:
            return walk(lambda c: search_versions_json(reg, model=model, limit=1000, cursor=c))

        def objects() -> list[Page[Version]]:
            return walk(lambda c: reg.list_versions(model, limit=1000, cursor=c))

        pages = written()
        bodies = [bytes(reply_page(p).body) for p in pages]
        adapter = TypeAdapter(Page[Version])

        def decode() -> None:
            for body in bodies:
                with collector.paused():  # as the client decodes a large reply
                    adapter.validate_json(body)

        parts: list[tuple[str, Callable[[], object]]] = [
            ("the server's work: 5 × `search_versions_json(limit=1000)`, the JSON written by SQL", written),
            ("the server's reply: the pages wrapped (`wire.reply_page`)", lambda: [reply_page(p) for p in pages]),
            ("the client's decoding: JSON → `Page[Version]`, the collector paused", decode),
            ("for scale: `json.loads` of the same bodies", lambda: [json.loads(b) for b in bodies]),
            ("for scale: the in-process SDK, 5 × `list_versions(limit=1000)` → `Version` objects", objects),
        ]
        out = {label: repeat(fn, 5).median for label, fn in parts}
        out[JSON_BYTES] = float(sum(len(b) for b in bodies))
        return out
    finally:
        reg.close()


# Leaf frames of a thread that waits (the event loop in epoll, idle worker threads): not the server's work.
IDLE = ("select (selectors", "_run_once (asyncio", "Runner.run (asyncio", "wait (threading", "_worker (concurrent",
        "get (queue", "run (anyio", "poll (", "_bootstrap (threading")


def spy_server(pid: int, work: Path, workload: Callable[[], object], seconds: float = 4.0) -> str:
    """Where the server's time goes while ``workload`` runs again and again: py-spy's samples of the server
    process (200 a second), by own time, the waits left out. Empty without py-spy (``pip install py-spy``)."""
    spy = shutil.which("py-spy")
    if spy is None:
        return ""
    out = work / "spy.txt"
    proc = subprocess.Popen([spy, "record", "-p", str(pid), "-r", "200", "-f", "raw", "-o", str(out), "-d",
                             str(int(seconds))], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # attached
    runs = 0
    while proc.poll() is None:
        workload()
        runs += 1
    if proc.wait() != 0 or not out.exists():
        return ""
    own: dict[str, int] = {}
    busy = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        leaf = stack.rsplit(";", 1)[-1]
        if any(mark in leaf for mark in IDLE):
            continue
        busy += int(count)
        own[leaf] = own.get(leaf, 0) + int(count)
    top = sorted(own.items(), key=lambda kv: -kv[1])[:14]
    lines = [f"{runs} walks under py-spy, {busy} busy samples of the server (waits left out), by own time:"]
    lines += [f"  {count / busy:6.1%}  {frame[:150]}" for frame, count in top]
    return "\n".join(lines)


def own_time_profile(fn: Callable[[], object], count: int) -> str:
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(count)
    table = [line for line in out.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(table) if "ncalls" in line), 0)
    return "\n".join(table[start:])


# ---------------------------------------------------------------- a backend, start to end


@dataclass
class Backend:
    name: str
    filled: Filled
    fill_s: float
    pages: list[Timed]
    profiles: list[PageProfile] = field(default_factory=list)
    js: JsWeight | None = None
    listing: list[Listing] = field(default_factory=list)
    parts: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> part -> seconds
    listing_profile: str = ""


def run_backend(name: str, settings: Settings, connect: Callable[[], Any], args: argparse.Namespace,
                work: Path) -> Backend:
    print(f"[{name}] filling: {args.versions:,} versions in {BIG}, {OTHER_MODELS} other models", flush=True)
    start = time.perf_counter()
    reg = connect()
    try:
        filled = fill(reg, args.versions, listing=name == "SQLite")
    finally:
        reg.close()
    fill_s = time.perf_counter() - start
    print(f"[{name}] filled in {fill_s:.0f} s ({filled.sdk:,} versions through the SDK in {filled.sdk_s:.0f} s, "
          f"{filled.bulk:,} bulk in {filled.bulk_s:.0f} s)", flush=True)
    cases = cases_for(args.versions)
    with app_client(settings) as app:
        pages = time_pages(app.get, cases, args.requests, args.rounds)
        backend = Backend(name, filled, fill_s, pages)
        for timed in pages:
            if timed.stats.median > timed.case.target:
                backend.profiles.append(profile_page(app, f"{name}: {timed.case.label}", timed.case.path,
                                                     timed.stats.median))
        if name == "SQLite":
            backend.js = js_weight(app.get, [c.path for c in cases])
    if filled.listing:
        print(f"[{name}] REST listing of {LISTED:,} versions against `modelreg serve`", flush=True)
        with serving(settings.home, work / "serve.log") as served:
            backend.listing = time_listing(served.url, args.requests, args.rounds)
            reg = modelreg.connect(served.url)
            try:
                def walk() -> int:
                    return sum(1 for _ in reg.iter_versions(model=LISTING, limit=1000))

                backend.listing_profile = "\n\n".join(x for x in [
                    spy_server(served.pid, work, walk),
                    "The client (cProfile of one walk, by own time; `recv` is the wait for the server):\n"
                    + own_time_profile(walk, 8)] if x)
            finally:
                reg.close()
        backend.parts = {m: listing_parts(settings.home, m) for m in (LISTING, LISTING_FULL)}
    return backend


# ---------------------------------------------------------------- the report


def verdict(value: float, target: float) -> str:
    return "✓" if value <= target else "✗"


def render(args: argparse.Namespace, backends: list[Backend], facts: dict[str, str], started: datetime,
           seconds: float) -> tuple[str, str]:
    rows = []
    misses = []
    for b in backends:
        for t in b.pages:
            mark = verdict(t.stats.median, t.case.target)
            rows.append([b.name, t.case.label, ms(t.stats.median), ms(t.stats.p90), f"{t.size / 1000:.0f} kB",
                         f"p50 ≤ {t.case.target * 1e3:.0f} ms", mark])
            if mark == "✗":
                misses.append(f"{b.name}: {t.case.label} (p50 {ms(t.stats.median)})")
    header = ["database", "page (server time)", "p50", "p90", "HTML", "target", ""]
    js = next((b.js for b in backends if b.js is not None), None)
    js_rows: list[list[str]] = []
    js_text = ""
    if js is not None:
        page, total = js.largest
        mark = verdict(total, JS_TARGET_BYTES)
        if mark == "✗":
            misses.append(f"JavaScript of a page ({total / 1000:.1f} kB gzipped)")
        for src, (raw, gz) in sorted(js.sizes.items()):
            if src in js.docs and not any(src in s for s in js.per_page.values()):
                continue
            js_rows.append([f"`{src}`", f"{raw / 1000:.1f} kB", f"{gz / 1000:.1f} kB"])
        js_rows.append([f"**every script of a dashboard page** (the most: `{page.split('?')[0]}`)",
                        f"{sum(js.sizes[s][0] for s in js.per_page[page]) / 1000:.1f} kB",
                        f"**{total / 1000:.1f} kB** (≤ {JS_TARGET_BYTES / 1000:.0f} kB {mark})"])
        js_rows.append(["`/docs` (Swagger UI, not a dashboard page), apart",
                        f"{sum(js.sizes[s][0] for s in js.docs) / 1000:.1f} kB", f"{js.docs_gzip / 1000:.1f} kB"])
        same = len({tuple(v) for v in js.per_page.values()}) == 1
        js_text = ("Every dashboard page measured loads the same scripts." if same else
                   "Pages load different scripts; the row above is the page that loads the most.")
    list_rows = []
    for b in backends:
        for item in b.listing:
            mark = "" if item.target is None else verdict(item.stats.median, item.target)
            if mark == "✗":
                misses.append(f"{b.name}: {item.label} (p50 {ms(item.stats.median)})")
            list_rows.append([item.label, ms(item.stats.median), ms(item.stats.p90), str(item.stats.n),
                              "" if item.target is None else f"≤ {item.target * 1e3:.0f} ms", mark])
    list_header = ["listing through `modelreg serve` (SQLite), wall clock at the client", "p50", "p90", "n",
                   "target", ""]
    parts = next((b.parts for b in backends if b.parts), {})
    part_header = ["5 pages of 1,000, part by part, in a fresh process", *(f"`{m}`" for m in parts)]
    part_rows = [[label, *(f"{p[label] / 1e6:.1f} MB" if label == JSON_BYTES else ms(p[label])
                           for p in parts.values())] for label in next(iter(parts.values()), {})]
    text = "\n\n".join(x for x in [
        text_table(header, rows),
        text_table(["script", "bytes", "gzipped"], js_rows) if js_rows else "",
        text_table(list_header, list_rows) if list_rows else "",
        text_table(part_header, part_rows) if part_rows else "",
        "\n".join(prof.summary for b in backends for prof in b.profiles),
    ] if x)
    command = shlex.join(["python", "bench/bench_dashboard.py", *sys.argv[1:]])
    fills = [f"- {b.name}: {b.filled.versions:,} versions ({b.filled.big:,} in `{BIG}`, "
             f"{OTHER_MODELS * OTHER_VERSIONS} in {OTHER_MODELS} other models"
             + (f", {LISTED:,} in `{LISTING}` and {LISTED:,} in `{LISTING_FULL}`" if b.filled.listing else "")
             + f"), filled in {b.fill_s:.0f} s: {b.filled.sdk:,} through the SDK ({b.filled.sdk_s:.0f} s), "
             f"{b.filled.bulk:,} bulk-cloned ({b.filled.bulk_s:.0f} s)." for b in backends]
    notes = [n for b in backends for n in b.filled.notes]
    profiles = [prof for b in backends for prof in b.profiles]
    listing_profile = next((b.listing_profile for b in backends if b.listing_profile), "")
    body = "\n".join([
        "## Dashboard pages and the REST listing (`bench/bench_dashboard.py`)", "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC in {seconds / 60:.1f} min. Command:", "",
        "```sh", command, "```", "",
        "**The data.** One model, `vision/big-detector`, with "
        f"{args.versions:,} versions (the worst case for its page) and {OTHER_MODELS} models of "
        f"{OTHER_VERSIONS} versions in four projects (the models page). Every version has 5 metrics, 10 per-class "
        "rows, 3 tags, params, a dataset, training facts and two files. The first "
        f"{SEEDS} versions of a big model and its last {COMPARED} are registered through the SDK (the last "
        f"{COMPARED} with {EPOCHS} epochs each); the ones between are cloned from the SDK's rows by "
        "`bench/_bulk.py`, each with the `version.registered` event the SDK writes. Production moved 9 times "
        "(one rollback), staging and candidate point at the newest versions, two versions are pinned.", "",
        *fills, *[f"- {n}" for n in notes], "",
        "**Server time.** The app runs in the benchmark's process and each request goes through "
        "`httpx.ASGITransport` (no socket, no uvicorn), timed from the call to the whole body read: the "
        "dashboard's own work (queries, rendering) plus a few hundred µs of httpx and ASGI plumbing. "
        f"p50 and p90 of {args.requests} sequential requests after 3 warm-ups; the whole set ran {args.rounds} "
        "times (the machine is shared) and each row is the round with the lower p50.", "",
        markdown_table(header, rows), "",
        "**JavaScript.** Every `<script src>` of the pages above, fetched and gzipped (level 6, what a reverse "
        "proxy sends; the server itself does not compress). " + js_text, "",
        markdown_table(["script", "bytes", "gzipped"], js_rows) if js_rows else "(not measured)", "",
        f"**REST listing.** Two models of {LISTED:,} versions in the SQLite registry above: `{LISTING}`, whose "
        "versions hold one file, 5 metrics and 3 tags (the shape of the earlier 5,000-version measurement, "
        f"`bench/bench_vs_mlflow.py`), and `{LISTING_FULL}`, whose versions hold everything the big model's do "
        "(10 per-class rows, params, dataset…), about four times the JSON. A real `modelreg serve` process "
        "(uvicorn, 1 worker) serves the registry on loopback; the SDK's HTTP client (`modelreg.connect(url)`) "
        "walks a model on one kept-alive connection, in a fresh process (as the parts below). p50 of n walks "
        f"after 2 warm-ups, better of {args.rounds} rounds. The server sends each page as the database wrote it "
        "(every version's JSON is kept in `versions.listing` when it changes, the names, parent, aliases and best "
        "flag added at the "
        "read); `iter_versions` asks for the next page while it decodes one (the next cursor is in a header), "
        "so a walk costs about the server's time plus the last page's decoding; `list_versions` page by page "
        "asks and decodes in turn.", "",
        markdown_table(list_header, list_rows) if list_rows else "(not measured)", "",
        "Where a walk's time goes: each part alone, in a fresh process, on the same registry:", "",
        markdown_table(part_header, part_rows) if part_rows else "", "",
        ("**Missed targets**: " + "; ".join(misses) + "." if misses else "**Every target is met.**"), "",
        *([f"<details><summary>Where a walk's time goes: the server (py-spy) and the client (cProfile)</summary>\n\n"
           f"```\n{listing_profile}\n```\n</details>", ""] if listing_profile else []),
        *(["Where the time of each missed page goes (one request, after the measurement):", "",
            *[f"- {prof.summary}" for prof in profiles], ""] if profiles else []),
        *[f"<details><summary>{prof.what}: SQL statements and cProfile</summary>\n\n"
          f"```\n{prof.text}\n```\n</details>\n" for prof in profiles],
        "Machine:", *[f"- {k}: {v}" for k, v in facts.items()],
    ])
    return text, body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=100_000, help="versions of the big model")
    parser.add_argument("--no-postgres", action="store_true", help="measure SQLite only")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page (after 3 warm-ups)")
    parser.add_argument("--rounds", type=int, default=2, help="times each set is measured; the better is shown")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--parts-of", nargs=2, metavar=("HOME", "MODEL"), help=argparse.SUPPRESS)
    parser.add_argument("--listing-of", nargs=3, metavar=("URL", "REQUESTS", "ROUNDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.listing_of:  # the listing, in a fresh process (see time_listing)
        url, requests, rounds = args.listing_of
        timed = measure_listing(url, int(requests), int(rounds))
        print(json.dumps([{"label": t.label, "samples": list(t.stats.samples), "target": t.target, "round": t.round}
                          for t in timed]))
        return
    if args.parts_of:  # the listing's parts, in a fresh process (see listing_parts)
        print(json.dumps(measure_parts(Path(args.parts_of[0]), args.parts_of[1])))
        return
    if args.versions < 500:
        parser.error("--versions must be at least 500 (the aliases move among the newest 400)")
    started = datetime.now(UTC)
    clock = time.perf_counter()
    backends: list[Backend] = []
    pg_version = None if args.no_postgres else pg_server_version(PG_ADMIN)
    if not args.no_postgres and pg_version is None:
        raise SystemExit(f"PostgreSQL is not reachable at {PG_ADMIN}; pass --no-postgres to measure SQLite only")
    with scratch_dir(None, "bench_dashboard_") as work:
        facts = machine_facts(work, pg_version)
        home = work / "home"
        settings = Settings(home=home, actor="bench")
        backends.append(run_backend("SQLite", settings, lambda: modelreg.connect(home=home), args, work))
        if not args.no_postgres:
            with scratch_pg_database(PG_ADMIN, f"bench_dashboard_{os.getpid()}") as url:
                blobs = work / "pg-blobs"
                pg = Settings(home=work / "pg-home", database_url=url, artifacts=str(blobs), actor="bench")
                backends.append(run_backend("PostgreSQL", pg, lambda: modelreg.connect(url, artifacts=str(blobs)),
                                            args, work))
    text, body = render(args, backends, facts, started, time.perf_counter() - clock)
    print()
    print(text)
    if not args.no_docs:
        replace_section(DOC, "bench_dashboard", body)
        print(f"\nwrote the bench_dashboard section of {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
