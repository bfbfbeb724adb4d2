"""Store reads made for pages and hot paths: ``best_version``, ``best_numbers``, ``first_version``,
``version_counts``, ``alias_targets``, and the ``total`` of a page.

Each runs on every store (memory, SQLite, PostgreSQL) and must answer what the general reads answer:
``best_version`` the first version of the search over ``best_candidates`` sorted by the metric, and
``alias_targets`` what ``get_alias`` + ``get_version`` give model by model.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelreg.filters import Field, Sort, decode_cursor, model_fields, parse_filter, parse_sort, version_fields
from modelreg.metadata.base import MetadataStore, MetadataTx, VersionDraft, best_candidates
from modelreg.types import Artifact, ClassMetric, Model, Version

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def setup_model(tx: MetadataTx, name: str, project: str = "default") -> Model:
    p = tx.get_project(name=project) or tx.create_project(name=project, now=T0)
    return tx.create_model(project_id=p.id, name=name, now=T0)


def add_version(tx: MetadataTx, model: Model, **kw: Any) -> Version:
    number = tx.allocate_number(model_id=model.id)
    version = tx.insert_version(draft=VersionDraft(model_id=model.id, number=number, status=kw.pop("status", "ready"),
                                                   created_at=T0 + timedelta(minutes=number), **kw))
    digest = f"sha256:{version.id:064x}"
    tx.claim_blobs(blobs={digest: 10})
    tx.add_artifacts(version_id=version.id, artifacts=[Artifact(path="weights/best.pt", digest=digest, size=10)])
    return version


def searched_best(tx: MetadataTx, model: Model, metric: str, descending: bool) -> Version | None:
    page = tx.search_versions(model_id=model.id, project=None, where=best_candidates(metric),
                              sort=Sort(Field("metric", metric, "num"), descending=descending), cursor=None, limit=1)
    return page.items[0] if page.items else None


def test_best_version_is_the_first_of_the_search_over_ready_versions_with_the_metric(
        metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        det, other = setup_model(tx, "det"), setup_model(tx, "other")
        add_version(tx, det, metrics={"map50": 0.5, "loss": 0.9})
        add_version(tx, det, metrics={"map50": 0.8, "loss": 0.4})
        add_version(tx, det, metrics={"map50": 0.8, "loss": 0.4})  # a tie with v2
        add_version(tx, det, metrics={"map50": 0.99, "loss": 0.1}, status="failed")  # not ready: never best
        add_version(tx, det, metrics={"loss": 0.05})  # lacks map50
        add_version(tx, other, metrics={"map50": 1.0, "loss": 0.0})  # another model's
    with metadata_store.read() as tx:
        for metric, descending in (("map50", True), ("map50", False), ("loss", True), ("loss", False)):
            best = tx.best_version(model_id=det.id, metric=metric, descending=descending)
            assert best == searched_best(tx, det, metric, descending), (metric, descending)
        numbers = [getattr(tx.best_version(model_id=det.id, metric=metric, descending=descending), "number", None)
                   for metric, descending in (("map50", True), ("map50", False), ("loss", False))]
        assert numbers == [3, 1, 5]  # a tie goes to the newest when descending
        assert tx.best_version(model_id=det.id, metric="recall", descending=True) is None
        best = tx.best_version(model_id=det.id, metric="map50", descending=True)
        assert best is not None and [a.path for a in best.artifacts] == ["weights/best.pt"]


def test_best_numbers_are_the_numbers_of_best_version_model_by_model(metadata_store: MetadataStore) -> None:
    """One read for a page of models, grouped by metric and direction, answers what ``best_version`` answers."""
    with metadata_store.transaction() as tx:
        models = [setup_model(tx, f"m{i}") for i in range(5)]
        for i, model in enumerate(models):
            for n in range(i + 1):
                add_version(tx, model, metrics={"map50": round((n * 7 % 5) / 10, 1), "loss": 1 / (n + 1)},
                            status="failed" if n == 3 else "ready")
        add_version(tx, models[0], metrics={"loss": 0.001})  # no map50: never best by it
    asked = {m.id: (("map50", "loss")[i % 2], i % 3 != 0) for i, m in enumerate(models)}
    asked[models[4].id] = ("recall", True)  # a metric no version has
    with metadata_store.read() as tx:
        expected = {}
        for model_id, (metric, descending) in asked.items():
            best = tx.best_version(model_id=model_id, metric=metric, descending=descending)
            if best is not None:
                expected[model_id] = best.number
        assert tx.best_numbers(by_metric=asked) == expected
        assert len(expected) == 4 and models[4].id not in expected
        assert tx.best_numbers(by_metric={}) == {}


def test_first_version_and_version_counts(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        det, empty = setup_model(tx, "det"), setup_model(tx, "empty")
        for n in range(5):
            add_version(tx, det, metrics={"map50": n / 10}, status="failed" if n == 4 else "ready")
    newest = Sort(Field("column", "number", "num"), descending=True)
    ready = parse_filter("status = 'ready'", version_fields)
    with metadata_store.read() as tx:
        first = tx.first_version(model_id=det.id, where=ready, sort=newest)
        assert first is not None and first.number == 4
        assert first == tx.search_versions(model_id=det.id, project=None, where=ready, sort=newest, cursor=None,
                                           limit=1).items[0]
        assert tx.first_version(model_id=empty.id, where=None, sort=newest) is None
        assert tx.version_counts(model_ids=[det.id, empty.id]) == {det.id: 5, empty.id: 0}
        assert tx.version_counts(model_ids=[]) == {}


@pytest.mark.parametrize("limit", [1, 3, 10])
def test_the_total_of_versions_not_archived_leaves_out_the_archived(metadata_store: MetadataStore, limit: int) -> None:
    """The model page hides archived versions: its total counts the rest, whichever way the store counts."""
    with metadata_store.transaction() as tx:
        det = setup_model(tx, "det")
        for n in range(6):
            add_version(tx, det, archived=n in (1, 4))
    sort = Sort(Field("column", "number", "num"), descending=True)
    with metadata_store.read() as tx:
        for text, matches in (("not archived", 4), ("archived", 2), ("archived = false", 4)):
            where = parse_filter(text, version_fields)
            cursor, seen = None, 0
            while True:
                page = tx.search_versions(model_id=det.id, project=None, where=where, sort=sort, cursor=cursor,
                                          limit=limit)
                assert page.total == matches and all(v.archived == (text == "archived") for v in page.items)
                seen += len(page.items)
                if page.next_cursor is None:
                    break
                cursor = decode_cursor(page.next_cursor)
            assert seen == matches, text


def test_alias_targets_are_what_get_alias_and_get_version_give(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        models = [setup_model(tx, f"m{i}", project="p" if i % 2 else "default") for i in range(4)]
        for i, model in enumerate(models):
            for n in range(i + 1):
                add_version(tx, model, metrics={"map50": n / 10}, tags={"n": str(n)},
                            class_metrics=[ClassMetric(class_name="fire", ap=0.5, training_count=3)])
        for i, model in enumerate(models[:3]):  # m3 has no production
            target = tx.get_version(model_id=model.id, number=i // 2 + 1)
            assert target is not None
            tx.set_alias(model_id=model.id, alias="production", version_id=target.id, now=T0)
        last = tx.get_version(model_id=models[2].id, number=3)
        assert last is not None
        tx.set_alias(model_id=models[2].id, alias="staging", version_id=last.id, now=T0)
    with metadata_store.read() as tx:
        ids = [m.id for m in models]
        for alias in ("production", "staging", "nothing"):
            expected = {}
            for model in models:
                info = tx.get_alias(model_id=model.id, alias=alias)
                if info is not None:
                    expected[model.id] = tx.get_version(model_id=model.id, number=info.number)
            assert tx.alias_targets(model_ids=ids, alias=alias) == expected, alias
        both = tx.alias_targets(model_ids=ids, alias="production")
        assert set(both) == {m.id for m in models[:3]}
        assert all("production" in v.aliases for v in both.values())
        assert tx.alias_targets(model_ids=[], alias="production") == {}
        assert tx.alias_targets(model_ids=[models[3].id], alias="production") == {}


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 10])
def test_the_total_of_a_first_page_that_holds_every_match_and_of_the_next_pages(
        metadata_store: MetadataStore, limit: int) -> None:
    """A first page with every match counts its rows; any other page counts in the database: both agree."""
    with metadata_store.transaction() as tx:
        model = setup_model(tx, "det")
        for n in range(4):
            add_version(tx, model, metrics={"map50": n / 10} if n != 2 else {})
        for _ in range(3):
            tx.append_event(actor="me", action="version.updated", now=T0, project="default", model="det", version=1)
    where = parse_filter("number >= 2", version_fields)
    with metadata_store.read() as tx:
        for scope in ({"model_id": model.id, "project": None}, {"model_id": None, "project": "default"}):
            for sort in (parse_sort(text, version_fields, "-number") for text in ("-metrics.map50", "number")):
                for condition, matches in ((None, 4), (where, 3)):
                    seen, cursor = 0, None
                    while True:
                        page = tx.search_versions(**scope, where=condition, sort=sort, cursor=cursor, limit=limit)
                        assert page.total == matches, (scope, sort, condition, limit)
                        seen += len(page.items)
                        if page.next_cursor is None:
                            break
                        cursor = decode_cursor(page.next_cursor)
                    assert seen == matches
        events = tx.list_events(project="default", model="det", version=1, limit=limit)
        assert events.total == 3 and len(events.items) == min(limit, 3)
        models = tx.search_models(project=None, where=None, sort=parse_sort("name", model_fields, "name"), cursor=None,
                                  limit=limit)
        assert models.total == 1


def test_a_page_of_versions_never_shifts_a_cell_the_store_did_not_write(metadata_store: MetadataStore) -> None:
    """SQL stores decode a page's JSON cells at once: text that is not one JSON value fails as it would alone."""
    engine = getattr(metadata_store, "engine", None)
    if engine is None or engine.dialect.name != "sqlite":
        pytest.skip("SQLite only: PostgreSQL refuses text that is not JSON in a JSON column")
    from sqlalchemy import text, update

    from modelreg.metadata.sql.schema import versions

    with metadata_store.transaction() as tx:
        model = setup_model(tx, "det")
        first, second = add_version(tx, model, params={"a": 1}), add_version(tx, model, params={"b": 2})
    sort = parse_sort("number", version_fields, "-number")
    with engine.begin() as conn:
        conn.execute(text("UPDATE versions SET params = :params WHERE id = :id"),
                     {"params": '{"a": 1}, {"b": 2}', "id": first.id})
    with metadata_store.read() as tx, pytest.raises(ValueError):
        tx.search_versions(model_id=model.id, project=None, where=None, sort=sort, cursor=None, limit=10)
    with engine.begin() as conn:
        conn.execute(update(versions).where(versions.c.id == first.id).values(params={"a": 1}))
    with metadata_store.read() as tx:
        page = tx.search_versions(model_id=model.id, project=None, where=None, sort=sort, cursor=None, limit=10)
        assert [v.params for v in page.items] == [{"a": 1}, {"b": 2}] and page.items[1].id == second.id


def test_epochs_read_back_as_validated_epochs(metadata_store: MetadataStore) -> None:
    """Stored epochs come back built without their validators: equal to validated ones, metric values floats,
    thinned or whole."""
    from modelreg.types import Epoch

    written = [Epoch(epoch=e, metrics={"loss": 1 / (e + 1), "map50": e, "lr": 0.01},  # map50 an int: made float
                     timestamp=T0 + timedelta(seconds=e)) for e in range(1, 31)]
    with metadata_store.transaction() as tx:
        version = add_version(tx, setup_model(tx, "det"))
        tx.add_epochs(version_id=version.id, epochs=written)
    with metadata_store.read() as tx:
        whole = tx.list_epochs(version_id=version.id)
        assert whole == written
        assert all(type(v) is float for e in whole for v in e.metrics.values())
        assert [Epoch.model_validate(e.model_dump()) for e in whole] == whole
        thinned = tx.list_epochs(version_id=version.id, max_rows=7)
        assert thinned[0] == written[0] and thinned[-1] == written[-1] and len(thinned) <= 8
        assert all(e in written for e in thinned)
