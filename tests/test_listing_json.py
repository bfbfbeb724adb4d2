"""Listings of versions written as JSON by the store, and the client that walks them page after page.

The REST listing of versions leaves the database as the text the reply sends (``search_versions_json``):
these tests check that it is the very ``Version`` the object path loads, field by field, for versions that
hold everything a version can hold (odd text, nested documents, several files, aliases, a parent in another
model, the best flag), on every store and every search shape; that the permission and the scope are the
same; and that the SDK's walk asks for the next page while it decodes one, stops cleanly and fails loudly.
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, cast

import httpx
import pytest
from pydantic import TypeAdapter

from modelreg import collector
from modelreg.client import pages
from modelreg.client.pages import THREAD_NAME, pages_ahead
from modelreg.errors import NotFound, StorageError
from modelreg.filters import NEXT_CURSOR_HEADER
from modelreg.service import Service
from modelreg.service.versions import list_versions_json, search_versions_json
from modelreg.types import Page, PageJson, Version
from test_security import as_token, token

VERSIONS = TypeAdapter(list[Version])
ODD = 'quote " backslash \\ newline \n tab \t nul-free control \x01 emoji 🔥 ünï — </script> \' ; DROP'


def _fill(reg: Service) -> None:
    """Two projects; a model whose versions hold everything, one of few fields, archived, failed, with a
    parent in another model, several aliases, files whose order by path differs from their upload order."""
    reg.create_project("vision", labels=["fire", "smoke"])
    reg.create_model("vision/det", best_metric="map50", tags={"team": "v"})
    reg.create_model("other/base")
    base = reg.register_version("other/base", files={"w.pt": b"base"}, metrics={"map50": 0.1})
    reg.register_version(
        "vision/det", files={"weights/best.pt": b"one", "a/config.yaml": b"x: 1", "z.txt": b"z"},
        metrics={"map50": 0.5, "loss": 1e-12, "big": 1.7976931348623157e308, "neg": -0.0},
        class_metrics=[{"class_name": "fire", "ap": 0.4, "precision": 0.5, "recall": 0.6, "training_count": 10,
                        "validation_count": 3, "annotation_type": ODD},
                       {"class_name": ODD, "metrics": {"f1": 0.5}}],
        params={"lr": 0.01, "nested": {"list": [1, 2.5, None, True, "s"], "deep": {"k": ODD}}, "empty": {}},
        dataset={"name": "cams", "version": "2026-06", "train_count": 100, "classes": ["fire", "smoke"],
                 "own_field": {"x": [1]}},
        training={"duration_s": 12.5, "hardware": {"gpu": "a100", "count": 2}},
        source={"git_commit": "abc", "framework_versions": {"torch": "2.13"}},
        signature={"inputs": [{"name": "images", "shape": [-1, 3, 64, 64]}], "outputs": [{"name": "out"}]},
        description=ODD, notes=ODD, changelog=["first", ODD], limitations=ODD,
        tags={"k": ODD, "k.2": "v"}, extra={"x": {"y": [ODD, 1]}, "n": None},
        label="first-one", parent="other/base:1")
    reg.register_version("vision/det", files={"w.pt": b"two"}, metrics={"map50": 0.9})  # the best
    reg.register_version("vision/det", files={"w.pt": b"three"}, metrics={"map50": 0.2}, parent="vision/det:1")
    reg.register_version("vision/det", files={"w.pt": b"four"})
    reg.set_alias("vision/det:2", "staging")
    reg.set_alias("vision/det:2", "candidate")
    reg.pin("vision/det:3")
    reg.archive("vision/det:4")
    run = reg.start_run("vision/det", params={"epochs": 3})
    run.fail("out of memory: " + ODD)
    assert base.number == 1


SEARCHES: list[tuple[str, dict[str, Any]]] = [
    ("a model's versions", {"model": "vision/det"}),
    ("pages of two", {"model": "vision/det", "limit": 2}),
    ("a filter", {"query": "metrics.map50 >= 0.2", "model": "vision/det"}),
    ("by a metric, missing last", {"model": "vision/det", "sort": "-metrics.map50", "limit": 2}),
    ("across models", {"query": "status = 'ready'"}),
    ("a project", {"project": "vision", "limit": 3}),
    ("none", {"query": "metrics.map50 > 5"}),
]


def _walk(fetch: Callable[[str | None], Any]) -> list[Any]:
    pages, cursor = [], None
    while True:
        pages.append(fetch(cursor))
        cursor = pages[-1].next_cursor
        if cursor is None:
            return pages


@pytest.mark.parametrize(("what", "search"), SEARCHES, ids=[s[0] for s in SEARCHES])
def test_the_store_writes_the_versions_the_object_path_loads(reg: Service, what: str,
                                                             search: dict[str, Any]) -> None:
    _fill(reg)
    query = search.pop("query", None)
    objects = _walk(lambda c: reg.search_versions(query, cursor=c, **search))
    written = _walk(lambda c: search_versions_json(reg, query, cursor=c, **search))
    assert [(p.next_cursor, p.total) for p in written] == [(p.next_cursor, p.total) for p in objects]
    for page, obj in zip(written, objects, strict=True):
        assert isinstance(page, PageJson)
        decoded = VERSIONS.validate_json(page.items)
        assert decoded == obj.items  # every field, nested models included
        raw = json.loads(page.items)  # strict JSON
        assert [set(item) for item in raw] == [set(Version.model_fields)] * len(raw)
        assert Page[Version].model_validate_json(page.to_json()) == obj


def test_the_written_listing_marks_the_best_and_keeps_what_a_version_holds(reg: Service) -> None:
    _fill(reg)
    page = list_versions_json(reg, "vision/det")
    got = {v.number: v for v in VERSIONS.validate_json(page.items)}
    assert [n for n, v in got.items() if v.is_best] == [2]
    assert got[2].aliases == ["candidate", "staging"]
    assert [a.path for a in got[1].artifacts] == ["a/config.yaml", "weights/best.pt", "z.txt"]
    assert got[1].parent is not None and (got[1].parent.project, got[1].parent.model) == ("other", "base")
    assert got[1].notes == ODD and got[1].params["nested"]["deep"]["k"] == ODD
    assert got[1].metrics["big"] == 1.7976931348623157e308 and got[1].metrics["loss"] == 1e-12
    assert got[5].status == "failed" and got[5].error is not None and ODD in got[5].error
    assert got[4].archived and got[3].pinned
    hidden = list_versions_json(reg, "vision/det", include_archived=False)
    assert 4 not in {v.number for v in VERSIONS.validate_json(hidden.items)} and hidden.total == 4


def test_the_written_listing_refuses_what_the_search_refuses(reg: Service) -> None:
    _fill(reg)
    with pytest.raises(NotFound):
        list_versions_json(reg, "vision/nothing")
    for bad in ({"limit": 0}, {"limit": 1001}, {"cursor": "not-a-cursor"}, {"sort": "-nonsense"}):
        with pytest.raises(Exception) as written:
            search_versions_json(reg, model="vision/det", **bad)
        with pytest.raises(Exception) as objects:
            reg.search_versions(model="vision/det", **bad)
        assert (type(written.value), str(written.value)) == (type(objects.value), str(objects.value))


def test_a_scoped_token_lists_only_its_project(backend_api: httpx.Client, backend_state: Any) -> None:
    _fill(backend_state.service())
    scoped = as_token(backend_api, token(backend_state, "vision-viewer", "viewer", "vision"))
    listed = scoped.post("/versions/search", json={"query": None, "limit": 100})
    assert listed.status_code == 200
    assert {v["project"] for v in listed.json()["items"]} == {"vision"}
    refused = scoped.get("/projects/default/models/base/versions")
    assert refused.status_code in (403, 404), refused.text
    assert refused.json()["error"]["code"] in ("permission_denied", "not_found")
    anonymous = as_token(backend_api, None).get("/projects/vision/models/det/versions")
    assert anonymous.status_code == 401


def test_the_reply_names_the_next_page_in_a_header(backend_api: httpx.Client, backend_state: Any) -> None:
    _fill(backend_state.service())
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        reply = backend_api.get("/projects/vision/models/det/versions", params=params)
        body = reply.json()
        assert reply.headers.get(NEXT_CURSOR_HEADER) == body["next_cursor"]
        seen += [v["number"] for v in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [5, 4, 3, 2, 1]
    searched = backend_api.post("/versions/search", json={"model": "vision/det", "limit": 4})
    assert searched.headers[NEXT_CURSOR_HEADER] == searched.json()["next_cursor"]


def test_the_sdk_walks_every_page_of_a_server(http_registry: Any) -> None:
    http_registry.create_model("det", best_metric="map50")
    for i in range(7):
        http_registry.register_version("det", files={"w.pt": f"{i}".encode()}, metrics={"map50": i / 10})
    walked = list(http_registry.iter_versions(model="det", limit=2))
    assert [v.number for v in walked] == [7, 6, 5, 4, 3, 2, 1]
    assert walked == list(http_registry.search_versions(model="det", limit=10))
    assert [v.number for v in http_registry.iter_versions("metrics.map50 >= 0.3", model="det", limit=3,
                                                          sort="metrics.map50")] == [4, 5, 6, 7]
    walk = http_registry.iter_versions(model="det", limit=2)
    assert next(walk).number == 7
    walk.close()  # stopping early leaves no thread asking for pages
    _no_walk_left()
    with pytest.raises(TypeError, match="unexpected keyword"):
        list(http_registry.iter_versions(model="det", cursor="x"))
    with pytest.raises(NotFound):
        list(http_registry.iter_versions(model="nothing"))


def _no_walk_left() -> None:
    for thread in [t for t in threading.enumerate() if t.name == THREAD_NAME]:
        thread.join(10)
        assert not thread.is_alive(), "a walk's thread still runs after the walk stopped"


def _reply(items: list[int], cursor: str | None, header: bool = True) -> httpx.Response:
    body = {"items": items, "next_cursor": cursor, "total": 9}
    headers = {NEXT_CURSOR_HEADER: cursor} if cursor is not None and header else {}
    return httpx.Response(200, json=body, headers=headers)


PAGES = {None: ([1, 2], "b"), "b": ([3, 4], "c"), "c": ([5], None)}


def _int_page(body: bytes) -> Page[int]:
    return Page[int].model_validate_json(body)


def test_the_walk_asks_ahead_and_falls_back_without_the_header() -> None:
    asked: list[str | None] = []

    def request(cursor: str | None, sent: Callable[[], None]) -> httpx.Response:
        asked.append(cursor)
        sent()
        items, following = PAGES[cursor]
        return _reply(items, following)

    assert list(pages_ahead(request, _int_page)) == [1, 2, 3, 4, 5]
    assert asked == [None, "b", "c"]

    def old_server(cursor: str | None, sent: Callable[[], None]) -> httpx.Response:
        items, following = PAGES[cursor]
        return _reply(items, following, header=False)

    assert list(pages_ahead(old_server, _int_page)) == [1, 2, 3, 4, 5]


def test_a_page_is_decoded_once_the_next_request_is_written() -> None:
    order: list[str] = []

    def decode(body: bytes) -> Page[int]:
        order.append("decode")
        return _int_page(body)

    def request(cursor: str | None, sent: Callable[[], None]) -> httpx.Response:
        if cursor is not None:
            threading.Event().wait(0.05)  # writing takes a while: the decoding must not start before
            order.append(f"wrote {cursor}")
            sent()
        items, following = PAGES[cursor]
        return _reply(items, following)

    assert list(pages_ahead(request, decode)) == [1, 2, 3, 4, 5]
    assert order == ["wrote b", "decode", "wrote c", "decode", "decode"]


def test_a_slow_reader_never_waits_for_a_request_already_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server answers at once, the caller reads slowly: the asking thread has asked for every page before
    the caller decodes the second; waiting for a request already written would stall (here: for ever)."""
    monkeypatch.setattr(pages, "SEND_WAIT_S", 3600.0)

    def request(cursor: str | None, sent: Callable[[], None]) -> httpx.Response:  # a transport with no trace
        items, following = PAGES[cursor]
        return _reply(items, following)

    got: list[int] = []

    def walk() -> None:
        for item in pages_ahead(request, _int_page):
            threading.Event().wait(0.05)
            got.append(item)

    walker = threading.Thread(target=walk, daemon=True)
    walker.start()
    walker.join(30)
    assert not walker.is_alive() and got == [1, 2, 3, 4, 5]


def test_a_failed_page_is_raised_where_the_walk_reaches_it() -> None:
    def request(cursor: str | None, sent: Callable[[], None]) -> httpx.Response:
        if cursor == "c":
            raise StorageError("the server went away", hint="start it again")
        items, following = PAGES[cursor]
        return _reply(items, following)

    got: list[int] = []
    with pytest.raises(StorageError, match="went away"):
        for item in pages_ahead(request, _int_page):
            got.append(item)
    assert got == [1, 2, 3, 4]


def test_stopping_early_ends_the_thread_even_with_replies_waiting() -> None:
    released = threading.Event()

    def endless(cursor: str | None, sent: Callable[[], None]) -> httpx.Response:
        number = int(cursor or "0")
        if number > 3:
            released.wait(5)
        return _reply([number], str(number + 1))

    walk: Iterator[int] = pages_ahead(endless, _int_page)
    assert next(walk) == 0
    released.set()
    walk.close()  # type: ignore[attr-defined]
    _no_walk_left()  # it asks for nothing more and ends after the request under way


def test_the_collector_is_paused_inside_and_restored_after() -> None:
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still holds it
    assert gc.isenabled()
    with pytest.raises(ValueError), collector.paused():
        raise ValueError("decoding failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()  # off before, off after
    finally:
        gc.enable()


def test_the_collector_resumes_when_the_last_of_two_threads_ends() -> None:
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with collector.paused():
            inside.set()
            leave.wait(5)

    other = threading.Thread(target=hold)
    other.start()
    inside.wait(5)
    with collector.paused():
        pass
    assert not gc.isenabled()  # the other thread is still decoding
    leave.set()
    other.join(5)
    assert gc.isenabled()


def test_a_large_reply_is_decoded_with_the_collector_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelreg.client import http

    seen: list[bool] = []
    original = TypeAdapter.validate_json

    def spy(self: TypeAdapter[Any], data: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(TypeAdapter, "validate_json", spy)
    small = json.dumps([1, 2]).encode()
    large = json.dumps(list(range(http.LARGE_REPLY))).encode()
    assert http._validate(list[int], small) == [1, 2]
    assert len(http._validate(list[int], large)) == http.LARGE_REPLY
    assert seen == [True, False] and gc.isenabled()


# ---- the JSON kept in versions.listing

def _migration(name: str) -> Any:
    import importlib.util
    from pathlib import Path

    import modelreg.metadata.sql as sql

    path = next((Path(sql.__file__).parent / "migrations" / "versions").glob(f"{name}_*.py"))
    spec = importlib.util.spec_from_file_location(f"migration_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_listing_is_written_as_the_last_migration_froze_it(dialect: str) -> None:
    """Migration 0011 wrote every listing with SQL frozen from ``own_json``: while they agree, every stored
    listing is what the store writes today. When ``Version`` changes they part: add a migration that writes
    the column again with the new SQL (frozen the same way), and compare with that one here."""
    from sqlalchemy import update
    from sqlalchemy.dialects import postgresql, sqlite

    from modelreg.metadata.sql.schema import versions
    from modelreg.metadata.sql.version_json import JOINED_FIELDS, OWN_FIELDS, own_json

    engine_dialect = sqlite.dialect() if dialect == "sqlite" else postgresql.dialect()
    now = update(versions).where(versions.c.listing.is_(None)).values(listing=own_json(dialect))
    compiled = str(now.compile(dialect=engine_dialect, compile_kwargs={"literal_binds": True}))
    assert compiled == _migration("0011").WRITE_LISTINGS[dialect], "add a migration that writes versions.listing"
    assert sorted(OWN_FIELDS + JOINED_FIELDS) == sorted(Version.model_fields)


def _kept_and_computed(reg: Service) -> list[tuple[int, str | None, str]]:
    from sqlalchemy import select

    from modelreg.metadata.sql.schema import versions
    from modelreg.metadata.sql.version_json import own_json

    engine = reg.ctx.meta.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(select(versions.c.id, versions.c.listing, own_json(conn.dialect.name))
                            .order_by(versions.c.id)).all()
    return [(r[0], r[1], r[2]) for r in rows]


@pytest.fixture
def sql_reg(reg: Service) -> Service:
    if reg.ctx.meta.url.startswith("memory"):
        pytest.skip("the SQL stores keep the listing")
    return reg


def test_every_write_keeps_the_listing_of_what_it_changed(sql_reg: Service, tmp_path: Any) -> None:
    reg = sql_reg
    _fill(reg)
    reg.update_version("vision/det:3", notes="changed", metrics={"map50": 0.95, "extra_metric": 2.0},
                       tags={"k": None, "new": "t"}, params={"lr": 0.5}, dataset={"name": "other"}, label="three",
                       changelog=["a"], parent="other/base:1")
    reg.update_version("vision/det:1", parent=None, description="")
    reg.unpin("vision/det:3")
    reg.unarchive("vision/det:4")
    reg.mark_best("vision/det:4")
    run = reg.start_run("vision/det", params={"epochs": 1})
    run.log_epoch(0, loss=1.0)
    (tmp_path / "w.pt").write_bytes(b"run weights")
    run.log_file(tmp_path / "w.pt")
    run.log_metrics(map50=0.3)
    run.finish()
    reg.update_model("vision/det", rename="detector")
    reg.set_alias("vision/detector:2", "production")
    kept = _kept_and_computed(reg)
    assert kept and all(listing == computed for _, listing, computed in kept), [
        i for i, listing, computed in kept if listing != computed]
    objects = list(reg.iter_versions(model="vision/detector"))
    page = search_versions_json(reg, model="vision/detector", limit=100)
    assert VERSIONS.validate_json(page.items) == objects  # the renamed model's names, the moved alias


def test_a_version_without_its_listing_is_written_when_listed(sql_reg: Service) -> None:
    from sqlalchemy import update

    from modelreg.metadata.sql.schema import versions

    _fill(sql_reg)
    with sql_reg.ctx.meta.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(update(versions).values(listing=None))  # rows written by something else (a bulk copy)
    assert all(listing is None for _, listing, _ in _kept_and_computed(sql_reg))
    page = list_versions_json(sql_reg, "vision/det")
    assert VERSIONS.validate_json(page.items) == list(sql_reg.iter_versions(model="vision/det"))


def test_a_cell_the_store_did_not_write_fails_and_never_shifts_a_field(sql_reg: Service) -> None:
    from sqlalchemy import text

    engine = sql_reg.ctx.meta.engine  # type: ignore[attr-defined]
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only: PostgreSQL refuses text that is not JSON in a JSON column")
    _fill(sql_reg)
    with engine.begin() as conn:  # two values in one cell, as if the next field had been written into it
        conn.execute(text("UPDATE versions SET params = :bad, listing = NULL WHERE number = 3"),
                     {"bad": '{"a": 1}, "archived": true, "x": {}'})
    with pytest.raises(StorageError, match="malformed JSON"):
        list_versions_json(sql_reg, "vision/det")


def test_migrating_an_older_registry_writes_every_listing(tmp_path: Any) -> None:
    from alembic import command
    from alembic.config import Config

    import modelreg
    from modelreg.metadata.sql.migrate import ALEMBIC_INI

    home = tmp_path / "home"
    reg = cast(Service, modelreg.connect(home=home))
    _fill(reg)
    engine = reg.ctx.meta.engine  # type: ignore[attr-defined]
    config = Config(str(ALEMBIC_INI))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0010")  # as a registry of the release before
    reg.close()
    reg = cast(Service, modelreg.connect(home=home))  # opening it migrates
    try:
        kept = _kept_and_computed(reg)
        assert len(kept) == 6 and all(listing == computed for _, listing, computed in kept)
    finally:
        reg.close()
