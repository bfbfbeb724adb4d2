"""The MetadataStore contract: every implementation (memory, SQLite, PostgreSQL) passes these tests."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelreg.errors import (
    AlreadyExists,
    InvalidFilter,
    InvalidInput,
    InvalidMetadata,
    InvalidState,
    ModelNotFound,
    VersionInUse,
)
from modelreg.filters import (
    Field,
    Sort,
    decode_cursor,
    evaluate,
    model_fields,
    parse_filter,
    parse_sort,
    version_fields,
)
from modelreg.metadata.base import MetadataStore, MetadataTx, VersionDraft
from modelreg.types import (
    Artifact,
    ClassMetric,
    DatasetRef,
    Epoch,
    Model,
    Policies,
    Signature,
    SourceInfo,
    TensorSpec,
    TrainingInfo,
    Version,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


class Boom(Exception):
    pass


def setup_model(tx: MetadataTx, name: str = "det", project: str = "default", **kw: Any) -> Model:
    p = tx.get_project(name=project) or tx.create_project(name=project, now=T0)
    return tx.create_model(project_id=p.id, name=name, now=T0, **kw)


def add_version(tx: MetadataTx, model: Model, *, files: int = 0, **kw: Any) -> Version:
    number = tx.allocate_number(model_id=model.id)
    kw.setdefault("created_at", T0 + timedelta(minutes=number))
    version = tx.insert_version(draft=VersionDraft(model_id=model.id, number=number, status=kw.pop("status", "ready"),
                                                   **kw))
    if files:
        arts = [Artifact(path=f"weights/{i}.pt", digest=digest(version.id * 10 + i), size=i + 1) for i in range(files)]
        tx.claim_blobs(blobs={a.digest: a.size for a in arts})
        tx.add_artifacts(version_id=version.id, artifacts=arts)
    return version


# ---------------------------------------------------------------- projects and models


def test_projects(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        b = tx.create_project(name="beta", description="second", labels=["cat", "dog"], now=T0)
        tx.create_project(name="alpha", now=T0)
        with pytest.raises(AlreadyExists):
            tx.create_project(name="beta", now=T0)
        assert tx.update_project(project_id=b.id, labels=["dog", "cat", "fox"]).labels == ["dog", "cat", "fox"]
        assert tx.update_project(project_id=b.id, description="changed").description == "changed"
    with metadata_store.read() as tx:
        assert [p.name for p in tx.list_projects()] == ["alpha", "beta"]
        got = tx.get_project(name="beta")
        assert got is not None and got.labels == ["dog", "cat", "fox"] and got.created_at == T0
        assert tx.get_project(name="nope") is None
        assert tx.count_models(project_id=b.id) == 0
    with metadata_store.transaction() as tx:
        setup_model(tx, project="beta")
        assert tx.count_models(project_id=b.id) == 1
        with pytest.raises(InvalidState):
            tx.delete_project(project_id=b.id)
        alpha = tx.get_project(name="alpha")
        assert alpha is not None
        tx.delete_project(project_id=alpha.id)
    with metadata_store.read() as tx:
        assert [p.name for p in tx.list_projects()] == ["beta"]


def test_models_create_get_update(metadata_store: MetadataStore) -> None:
    policies = Policies(best_metric="map50", best_mode="max", protected_aliases=["production", "staging"])
    with metadata_store.transaction() as tx:
        m = setup_model(tx, description="fire", task="detection", baseline="yolov8n", tags={"team": "red"},
                        policies=policies)
        assert (m.project, m.name, m.task, m.baseline, m.tags, m.policies) == (
            "default", "det", "detection", "yolov8n", {"team": "red"}, policies)
        assert m.latest_number == 0 and not m.pinned and m.marked_best is None and m.created_at == T0
        with pytest.raises(AlreadyExists):
            setup_model(tx)
        other = setup_model(tx, name="seg")
        # a refused rename leaves the transaction usable
        with pytest.raises(AlreadyExists):
            tx.update_model(model_id=other.id, changes={"name": "det"}, now=T0)
        later = T0 + timedelta(hours=1)
        changed = tx.update_model(model_id=m.id, changes={
            "name": "fire", "description": "d2", "task": "segmentation", "baseline": None, "tags": {"a": "1"},
            "pinned": True, "policies": Policies(best_metric="loss", best_mode="min"), "marked_best": 3},
            now=later)
        assert (changed.name, changed.description, changed.task, changed.baseline, changed.tags, changed.pinned,
                changed.policies.best_mode, changed.marked_best, changed.updated_at) == (
            "fire", "d2", "segmentation", None, {"a": "1"}, True, "min", 3, later)
        assert tx.get_model(project="default", name="fire", lock=True) == changed
    with metadata_store.read() as tx:
        assert tx.get_model(project="default", name="det") is None
        assert tx.get_model(project="default", name="fire", lock=True) == changed
        assert tx.get_model(project="nope", name="fire") is None
        assert tx.get_model_by_id(model_id=changed.id) == changed
        assert tx.get_model_by_id(model_id=10_000) is None


def test_allocate_number_is_gapless_under_threads(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        model = setup_model(tx)
    got: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(15):
                with metadata_store.transaction() as tx:
                    n = tx.allocate_number(model_id=model.id)
                with lock:
                    got.append(n)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(got) == list(range(1, 121))
    with metadata_store.read() as tx:
        found = tx.get_model_by_id(model_id=model.id)
        assert found is not None and found.latest_number == 120


def test_allocate_number_unknown_model(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx, pytest.raises(ModelNotFound):
        tx.allocate_number(model_id=999)


# ---------------------------------------------------------------- versions


def full_draft(model_id: int, number: int, parent_id: int | None = None) -> VersionDraft:
    return VersionDraft(
        model_id=model_id, number=number, status="ready", created_at=T0, created_by="ana",
        description="first", notes="n", changelog=["a", "b"], limitations="night", tags={"team": "red"},
        metrics={"map50": 0.8, "loss": 1.5},
        class_metrics=[ClassMetric(class_name="fire", ap=0.9, training_count=10, extra_field="kept")],
        params={"epochs": 10, "nested": {"lr": 0.01, "list": [1, (2, 3)]}},
        dataset=DatasetRef(name="fires", version="3", classes=["fire", "smoke"]),
        training=TrainingInfo(started_at=T0, duration_s=12.5, hardware={"gpu": "a100"}),
        source=SourceInfo(git_commit="abc", framework_versions={"torch": "2.3"}),
        signature=Signature(inputs=[TensorSpec(name="images", shape=[-1, 3, 640, 640])]),
        parent_id=parent_id, extra={"x": 1}, pinned=True,
    )


def test_version_round_trip_update_and_children(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        model = setup_model(tx)
        tx.allocate_number(model_id=model.id)
        v1 = tx.insert_version(draft=full_draft(model.id, 1))
        assert (v1.project, v1.model, v1.number, v1.status, v1.pinned, v1.archived) == (
            "default", "det", 1, "ready", True, False)
        assert v1.params == {"epochs": 10, "nested": {"lr": 0.01, "list": [1, [2, 3]]}}
        assert v1.class_metrics[0].model_dump() == {
            "class_name": "fire", "annotation_type": None, "ap": 0.9, "precision": None, "recall": None,
            "training_count": 10, "validation_count": None, "metrics": {}, "extra_field": "kept"}
        assert v1.dataset is not None and v1.dataset.classes == ["fire", "smoke"]
        assert v1.training is not None and v1.training.started_at == T0 and v1.training.hardware == {"gpu": "a100"}
        assert v1.signature is not None and v1.signature.inputs[0].shape == [-1, 3, 640, 640]
        assert v1.source is not None and v1.source.framework_versions == {"torch": "2.3"}
        assert (v1.metrics, v1.tags, v1.changelog, v1.extra) == (
            {"map50": 0.8, "loss": 1.5}, {"team": "red"}, ["a", "b"], {"x": 1})
        assert v1.created_at == v1.updated_at == T0 and v1.created_at.tzinfo is not None
        with pytest.raises(AlreadyExists):
            tx.insert_version(draft=full_draft(model.id, 1))
        # inserting a number above latest_number moves it, so numbers are never reused
        v5 = tx.insert_version(draft=full_draft(model.id, 5, parent_id=v1.id))
        assert tx.allocate_number(model_id=model.id) == 6
        assert v5.parent is not None and str(v5.parent) == "default/det:v1"
        with pytest.raises(InvalidMetadata):
            tx.insert_version(draft=VersionDraft(model_id=model.id, number=9, status="ready", created_at=T0,
                                                 params={"lr": float("nan")}))
    with metadata_store.read() as tx:
        assert tx.get_version(model_id=model.id, number=1) == v1
        assert tx.get_version_by_id(version_id=v5.id) == v5
        assert tx.get_version(model_id=model.id, number=2) is None
        assert tx.get_version_by_id(version_id=10_000) is None
        assert [str(k) for k in tx.children(version_id=v1.id)] == ["default/det:v5"]
        key = tx.version_key(version_id=v5.id)
        assert key is not None and (key.project, key.model, key.number) == ("default", "det", 5)
        assert tx.version_key(version_id=10_000) is None
    later = T0 + timedelta(days=1)
    with metadata_store.transaction() as tx:
        changed = tx.update_version(version_id=v1.id, now=later, changes={
            "status": "failed", "archived": True, "pinned": False, "description": "d", "notes": "m",
            "changelog": ["c"], "limitations": "l", "tags": {"b": "2"}, "metrics": {"acc": 0.5},
            "class_metrics": [], "params": {"p": 1}, "dataset": None, "training": None, "source": None,
            "signature": None, "error": "oom", "extra": {}, "parent_id": v5.id})
        assert (changed.status, changed.archived, changed.pinned, changed.description, changed.notes,
                changed.changelog, changed.limitations, changed.tags, changed.metrics, changed.class_metrics,
                changed.params, changed.dataset, changed.training, changed.error, changed.extra) == (
            "failed", True, False, "d", "m", ["c"], "l", {"b": "2"}, {"acc": 0.5}, [], {"p": 1}, None, None,
            "oom", {})
        assert changed.updated_at == later and changed.created_at == T0
        assert changed.parent is not None and changed.parent.number == 5
        assert tx.get_version_by_id(version_id=v1.id) == changed


def test_delete_version_returns_digests_and_removes_children_rows(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        model = setup_model(tx)
        v1 = add_version(tx, model, files=2, metrics={"map50": 0.5}, tags={"a": "b"})
        v2 = add_version(tx, model, files=1, parent_id=v1.id)
        shared = Artifact(path="shared.bin", digest=digest(1), size=7)
        tx.claim_blobs(blobs={shared.digest: shared.size})
        tx.add_artifacts(version_id=v1.id, artifacts=[shared])
        tx.add_artifacts(version_id=v2.id, artifacts=[shared])
        tx.add_epochs(version_id=v1.id, epochs=[Epoch(epoch=1, metrics={"loss": 1.0}, timestamp=T0)])
        tx.set_alias(model_id=model.id, alias="production", version_id=v1.id, now=T0)
        with pytest.raises(VersionInUse) as info:
            tx.delete_version(version_id=v1.id)
        assert "production" in str(info.value)
        tx.delete_alias(model_id=model.id, alias="production")
        digests = tx.delete_version(version_id=v1.id)
        assert digests == sorted({digest(v1.id * 10), digest(v1.id * 10 + 1), digest(1)})
    with metadata_store.read() as tx:
        assert tx.get_version(model_id=model.id, number=1) is None
        assert tx.list_epochs(version_id=v1.id) == []
        after = tx.get_version_by_id(version_id=v2.id)
        assert after is not None and after.parent is None  # its parent is gone
        assert tx.referenced_digests() == {digest(v2.id * 10): 1, digest(1): 7}
        everything = tx.search_versions(model_id=model.id, project=None, where=None,
                                        sort=parse_sort("-number", version_fields, "-number"), cursor=None, limit=10)
        assert [v.number for v in everything.items] == [2] and everything.total == 1
        assert set(tx.unreferenced_blobs()) == {digest(v1.id * 10), digest(v1.id * 10 + 1)}
        page = tx.search_versions(model_id=None, project=None, where=parse_filter("metrics.map50 >= 0"),
                                  sort=Sort(Field("column", "number", "num"), False), cursor=None, limit=10)
        assert page.total == 0
        assert tx.search_versions(model_id=None, project=None, where=parse_filter("tags.a = 'b'"),
                                  sort=Sort(Field("column", "number", "num"), False), cursor=None,
                                  limit=10).total == 0


def test_delete_model_removes_everything(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        model = setup_model(tx, tags={"t": "1"})
        other = setup_model(tx, name="other")
        v1 = add_version(tx, model, files=1)
        add_version(tx, model, files=1, parent_id=v1.id)
        child = add_version(tx, other, parent_id=v1.id)
        tx.add_epochs(version_id=v1.id, epochs=[Epoch(epoch=0, metrics={}, timestamp=T0)])
        tx.set_alias(model_id=model.id, alias="production", version_id=v1.id, now=T0)
        tx.record_alias_move(model_id=model.id, alias="production", from_number=None, to_number=1, kind="set",
                             actor="a", now=T0)
    with metadata_store.transaction() as tx:
        tx.delete_model(model_id=model.id)
    with metadata_store.read() as tx:
        assert tx.get_model_by_id(model_id=model.id) is None
        assert tx.get_version_by_id(version_id=v1.id) is None
        assert tx.list_epochs(version_id=v1.id) == []
        assert tx.alias_moves(model_id=model.id, alias="production") == []
        assert tx.referenced_digests() == {}
        assert len(tx.unreferenced_blobs()) == 2  # blob rows stay for gc
        kept = tx.get_version_by_id(version_id=child.id)
        assert kept is not None and kept.parent is None
    with metadata_store.transaction() as tx:  # the name is free again
        setup_model(tx)


def test_write_transaction_rolls_back_everything(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        model = setup_model(tx)
        v1 = add_version(tx, model, files=1)
        tx.set_alias(model_id=model.id, alias="production", version_id=v1.id, now=T0)
    with metadata_store.read() as tx:
        before_blobs = tx.blob_rows()
        v1 = tx.get_version_by_id(version_id=v1.id)  # type: ignore[assignment]
    with pytest.raises(Boom), metadata_store.transaction() as tx:
        v2 = add_version(tx, model, files=2, metrics={"map50": 0.9}, tags={"a": "b"})
        tx.set_alias(model_id=model.id, alias="production", version_id=v2.id, now=T0)
        tx.set_alias(model_id=model.id, alias="staging", version_id=v2.id, now=T0)
        tx.record_alias_move(model_id=model.id, alias="production", from_number=1, to_number=2, kind="set",
                             actor="a", now=T0)
        tx.add_epochs(version_id=v2.id, epochs=[Epoch(epoch=1, metrics={"x": 1.0}, timestamp=T0)])
        tx.update_model(model_id=model.id, changes={"name": "renamed", "tags": {"z": "z"}}, now=T0)
        tx.update_version(version_id=v1.id, changes={"notes": "changed", "metrics": {"m": 1.0}}, now=T0)
        tx.append_event(actor="a", action="version.created", now=T0, project="default", model="det", version=2)
        tx.create_project(name="ghost", now=T0)
        tx.delete_version(version_id=add_version(tx, model).id)
        raise Boom
    with metadata_store.read() as tx:
        m = tx.get_model(project="default", name="det")
        assert m is not None and m.latest_number == 1 and m.tags == {}
        assert tx.get_version(model_id=model.id, number=2) is None
        assert tx.get_version_by_id(version_id=v1.id) == v1
        assert [a.alias for a in tx.list_aliases(model_id=model.id)] == ["production"]
        alias = tx.get_alias(model_id=model.id, alias="production")
        assert alias is not None and alias.number == 1
        assert tx.alias_moves(model_id=model.id, alias="production") == []
        assert tx.list_events().total == 0
        assert tx.get_project(name="ghost") is None
        assert tx.blob_rows() == before_blobs
        page = tx.search_versions(model_id=model.id, project=None, where=None,
                                  sort=parse_sort("-number", version_fields, "-number"), cursor=None, limit=5)
        assert [v.number for v in page.items] == [1] and page.total == 1


def test_read_transaction_refuses_writes(metadata_store: MetadataStore) -> None:
    with metadata_store.read() as tx, pytest.raises(RuntimeError):
        tx.create_project(name="x", now=T0)


# ---------------------------------------------------------------- artifacts and blob rows


def test_artifacts(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        model = setup_model(tx)
        v = add_version(tx, model)
        arts = [Artifact(path=p, digest=digest(i), size=i, media_type="x/y")
                for i, p in enumerate(["z.yaml", "weights/best.pt", "a.txt"], start=1)]
        assert tx.claim_blobs(blobs={a.digest: a.size for a in arts}) == []
        tx.add_artifacts(version_id=v.id, artifacts=arts[:2])
        tx.add_artifacts(version_id=v.id, artifacts=arts[2:])
        with pytest.raises(AlreadyExists):
            tx.add_artifacts(version_id=v.id, artifacts=[arts[0]])
        with pytest.raises(InvalidState):  # every referenced blob has a row (claim_blobs first)
            tx.add_artifacts(version_id=v.id, artifacts=[Artifact(path="new", digest=digest(99), size=1)])
        got = tx.get_version_by_id(version_id=v.id)
        assert got is not None and got.artifacts == sorted(arts, key=lambda a: a.path)
        assert got.size == 6


def test_blob_row_protocol(metadata_store: MetadataStore) -> None:
    d_live, d_free, d_orphan = digest(1), digest(2), digest(3)
    with metadata_store.transaction() as tx:
        model = setup_model(tx)
        v = add_version(tx, model)
        assert tx.claim_blobs(blobs={d_live: 10, d_free: 20}) == []
        tx.add_artifacts(version_id=v.id, artifacts=[Artifact(path="w.pt", digest=d_live, size=10)])
    with metadata_store.read() as tx:
        assert tx.blob_rows() == {d_live: (10, "live"), d_free: (20, "live")}
        assert tx.unreferenced_blobs() == {d_free: 20}
        assert tx.referenced_digests() == {d_live: 10}
    with metadata_store.transaction() as tx:
        assert tx.mark_blob_deleting(digest=d_live, size=10) is False  # referenced
        assert tx.mark_blob_deleting(digest=d_free, size=20) is True
        assert tx.mark_blob_deleting(digest=d_free, size=20) is False  # already marked
        assert tx.mark_blob_deleting(digest=d_orphan, size=30) is True  # a file without a row
    with metadata_store.read() as tx:
        assert tx.blob_rows() == {d_live: (10, "live"), d_free: (20, "deleting"), d_orphan: (30, "deleting")}
    with metadata_store.transaction() as tx:
        # a registration that meets a deleting blob is told so (and the service rolls back and retries)
        assert tx.claim_blobs(blobs={d_free: 20, d_live: 10, digest(4): 5}) == [d_free]
    with metadata_store.transaction() as tx:
        tx.delete_blob_row(digest=d_free)
        tx.delete_blob_row(digest=d_orphan)
        with pytest.raises(InvalidState):
            tx.delete_blob_row(digest=d_live)
    with metadata_store.read() as tx:
        assert tx.blob_rows() == {d_live: (10, "live"), digest(4): (5, "live")}
    with metadata_store.transaction() as tx:
        assert tx.claim_blobs(blobs={d_free: 20}) == []  # a fresh row after gc finished
        assert tx.blob_rows()[d_free] == (20, "live")


def test_blob_grants_and_which_project_holds_a_blob(metadata_store: MetadataStore) -> None:
    held, uploaded, other = digest(11), digest(12), digest(13)
    with metadata_store.transaction() as tx:
        model = setup_model(tx, project="alpha")
        v = add_version(tx, model)
        tx.claim_blobs(blobs={held: 1})
        tx.add_artifacts(version_id=v.id, artifacts=[Artifact(path="w.pt", digest=held, size=1)])
        tx.grant_blob(digest=uploaded, project="alpha", now=T0)
        tx.grant_blob(digest=uploaded, project="alpha", now=T0)  # idempotent
        setup_model(tx, project="beta")
    with metadata_store.read() as tx:
        assert tx.blob_in_project(digest=held, project="alpha") is True  # an artifact of a version there
        assert tx.blob_in_project(digest=uploaded, project="alpha") is True  # its own upload
        assert tx.blob_in_project(digest=held, project="beta") is False
        assert tx.blob_in_project(digest=uploaded, project="beta") is False
        assert tx.blob_in_project(digest=other, project="alpha") is False
    with metadata_store.transaction() as tx:  # gc of the upload drops its grants with its row
        assert tx.mark_blob_deleting(digest=uploaded, size=5) is True
        tx.delete_blob_row(digest=uploaded)
    with metadata_store.read() as tx:
        assert tx.blob_in_project(digest=uploaded, project="alpha") is False


def test_gc_waits_for_a_registration_holding_the_blob(metadata_store: MetadataStore) -> None:
    """A registration that claimed a blob and commits a reference wins over a concurrent gc."""
    d = digest(7)
    with metadata_store.transaction() as tx:
        model = setup_model(tx)
        tx.claim_blobs(blobs={d: 1})
    claimed = threading.Event()
    results: dict[str, Any] = {}

    def register() -> None:
        with metadata_store.transaction() as tx:
            v = add_version(tx, model)
            results["deleting"] = tx.claim_blobs(blobs={d: 1})
            claimed.set()
            time.sleep(0.3)
            tx.add_artifacts(version_id=v.id, artifacts=[Artifact(path="f", digest=d, size=1)])

    def gc() -> None:
        claimed.wait(5)
        with metadata_store.transaction() as tx:
            results["marked"] = tx.mark_blob_deleting(digest=d, size=1)

    threads = [threading.Thread(target=register), threading.Thread(target=gc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"deleting": [], "marked": False}
    with metadata_store.read() as tx:
        assert tx.blob_rows() == {d: (1, "live")}


# ---------------------------------------------------------------- aliases, moves, epochs, events


def test_aliases_and_moves(metadata_store: MetadataStore) -> None:
    later = T0 + timedelta(hours=1)
    with metadata_store.transaction() as tx:
        model = setup_model(tx, policies=Policies(protected_aliases=["production"]))
        other = setup_model(tx, name="other")
        v1, v2 = add_version(tx, model), add_version(tx, model)
        foreign = add_version(tx, other)
        tx.set_alias(model_id=model.id, alias="production", version_id=v1.id, now=T0)
        tx.set_alias(model_id=model.id, alias="staging", version_id=v1.id, now=T0)
        tx.set_alias(model_id=model.id, alias="production", version_id=v2.id, now=later)
        with pytest.raises(InvalidState):
            tx.set_alias(model_id=model.id, alias="x", version_id=foreign.id, now=T0)
        m1 = tx.record_alias_move(model_id=model.id, alias="production", from_number=None, to_number=1,
                                  kind="set", actor="ana", now=T0)
        m2 = tx.record_alias_move(model_id=model.id, alias="production", from_number=1, to_number=2,
                                  kind="set", actor="bob", now=later)
        tx.record_alias_move(model_id=model.id, alias="staging", from_number=None, to_number=1, kind="set",
                             actor="ana", now=T0)
        tx.mark_move_reverted(move_id=m1.id)
    with metadata_store.read() as tx:
        prod = tx.get_alias(model_id=model.id, alias="production")
        assert prod is not None and (prod.number, prod.protected, prod.updated_at) == (2, True, later)
        assert [(a.alias, a.number, a.protected) for a in tx.list_aliases(model_id=model.id)] == [
            ("production", 2, True), ("staging", 1, False)]
        assert tx.get_alias(model_id=model.id, alias="nope") is None
        assert tx.list_aliases(model_id=other.id) == []
        moves = tx.alias_moves(model_id=model.id, alias="production")
        assert [(m.id, m.from_number, m.to_number, m.reverted, m.actor) for m in moves] == [
            (m2.id, 1, 2, False, "bob"), (m1.id, None, 1, True, "ana")]
        v = tx.get_version_by_id(version_id=v1.id)
        assert v is not None and v.aliases == ["staging"]
    with metadata_store.transaction() as tx:
        tx.delete_alias(model_id=model.id, alias="staging")
        tx.delete_alias(model_id=model.id, alias="staging")  # absent is fine
        assert [a.alias for a in tx.list_aliases(model_id=model.id)] == ["production"]


def test_epochs(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        v = add_version(tx, setup_model(tx))
        tx.add_epochs(version_id=v.id, epochs=[Epoch(epoch=e, metrics={"loss": 1.0 / (e + 1)},
                                                     timestamp=T0 + timedelta(minutes=e)) for e in (2, 0, 1)])
        tx.add_epochs(version_id=v.id, epochs=[Epoch(epoch=1, metrics={"loss": 9.0}, timestamp=T0)])
        got = tx.list_epochs(version_id=v.id)
        assert [(e.epoch, e.metrics["loss"]) for e in got] == [(0, 1.0), (1, 9.0), (2, 1 / 3)]
        assert got[0].timestamp == T0 and got[2].timestamp == T0 + timedelta(minutes=2)


def test_epochs_are_thinned_by_the_store(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        v = add_version(tx, setup_model(tx))
        tx.add_epochs(version_id=v.id, epochs=[Epoch(epoch=e * 2, metrics={"loss": float(e)}, timestamp=T0)
                                               for e in range(1001)])
    with metadata_store.read() as tx:
        assert tx.count_epochs(version_id=v.id) == 1001
        assert len(tx.list_epochs(version_id=v.id, max_rows=2000)) == 1001
        thin = [e.epoch for e in tx.list_epochs(version_id=v.id, max_rows=100)]
        assert len(thin) <= 100 and thin[0] == 0 and thin[-1] == 2000 and thin == sorted(thin)
        steps = {b - a for a, b in itertools.pairwise(thin[:-1])}
        assert len(steps) == 1  # evenly spaced (the last may come sooner)


def test_events_paginate_newest_first(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        first = tx.append_event(actor="ana", action="model.created", now=T0, project="p", model="m",
                                before=None, after={"tags": ("a", "b"), "when": T0})
        assert first.after == {"tags": ["a", "b"], "when": "2024-05-01T12:00:00Z"}
        for i in range(11):
            tx.append_event(actor="bob", action="version.created" if i % 2 else "alias.set", now=T0,
                            project="p", model="m" if i < 8 else "n", version=i, alias="production")
    with metadata_store.read() as tx:
        all_events = tx.list_events(limit=100)
        assert all_events.total == 12 and all_events.next_cursor is None
        ids = [e.id for e in all_events.items]
        assert ids == sorted(ids, reverse=True)
        assert all_events.items[-1] == first
        seen: list[int] = []
        cursor = None
        while True:
            page = tx.list_events(project="p", model="m", cursor=decode_cursor(cursor), limit=4)
            assert page.total == 9
            seen += [e.id for e in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == [i for i in ids if i in {e.id for e in all_events.items if e.model == "m"}]
        assert [e.version for e in tx.list_events(action="version.created").items] == [9, 7, 5, 3, 1]
        assert [e.version for e in tx.list_events(version=3).items] == [3]
        with pytest.raises(InvalidFilter):
            tx.list_events(cursor=["x"])


# ---------------------------------------------------------------- search against a Python oracle


@dataclass
class World:
    versions: list[Version]
    models: list[Model]


@pytest.fixture
def world(metadata_store: MetadataStore) -> World:
    rng = random.Random(7)
    out: list[Version] = []
    with metadata_store.transaction() as tx:
        det = setup_model(tx, "det", description="fire detector", task="detection", baseline="yolov8n",
                          tags={"team": "red"})
        seg = setup_model(tx, "seg-model", description="100% segmentation_v2", task="segmentation",
                          tags={"team": "blue"})
        cls = setup_model(tx, "classifier", project="other", task="classification", baseline="resnet50")
        setup_model(tx, "empty", project="other", description="back\\slash")
        for i in range(60):
            model = det if i < 36 else seg if i < 50 else cls
            metrics: dict[str, float] = {}
            if i % 3:
                metrics["map50"] = round(rng.choice([0.5, 0.7, 0.85, 0.9, rng.random()]), 3)
            if i % 4 == 0:
                metrics["loss"] = rng.random()
            tags = {"team": rng.choice(["red", "blue", "green"])} if i % 5 else {}
            if i % 7 == 0:
                tags["note"] = rng.choice(["50%_off", "Mixed Case", "back\\slash", "x' OR 1=1"])
            out.append(add_version(
                tx, model, created_at=T0 + timedelta(minutes=i // 4), metrics=metrics, tags=tags,
                status=["ready", "ready", "training", "failed", "pending"][i % 5], pinned=i % 6 == 0,
                archived=i % 8 == 0, description=rng.choice(["", "Fire at night", "smoke_2 100%", "a\\b"]),
                notes="n" if i % 2 else "", created_by=rng.choice(["ana", "bob"])))
        models = [m for m in (tx.get_model_by_id(model_id=x.id) for x in (det, seg, cls)) if m]
        empty = tx.get_model(project="other", name="empty")
        assert empty is not None
    return World(out, [*models, empty])


def version_getter(v: Version) -> Callable[[Field], Any]:
    def get(f: Field) -> Any:
        if f.kind == "metric":
            return v.metrics.get(f.name)
        if f.kind == "tag":
            return v.tags.get(f.name)
        if f.type == "time":
            raise AssertionError("time fields are checked separately")
        return getattr(v, f.name)

    return get


VERSION_FILTERS = [
    "metrics.map50 >= 0.8",
    "metrics.map50 > 0.5 and metrics.map50 <= 0.9",
    "metrics.map50 = 0.85 or metrics.loss < 0.5",
    "not metrics.map50 >= 0.8",
    "metrics.map50 != 0.5",
    "not (metrics.map50 >= 0.8 or pinned)",
    "(status = 'ready' or status = 'training') and not archived",
    "status != 'ready'",
    "status contains 'AIN'",
    "pinned",
    "pinned = false",
    "archived and pinned",
    "tags.team = 'red'",
    "not tags.team = 'red'",
    "tags.team != 'red'",
    "tags.team > 'blue'",
    "tags.note contains '%'",
    "tags.note contains '_'",
    "tags.note contains '\\\\'",
    "tags.note contains 'mixed case'",
    "tags.note contains ''",
    "name contains 'DE'",
    "name = 'det' and metrics.map50 >= 0.7",
    "model != 'det'",
    "project = 'other' or name = 'seg-model'",
    "description contains 'fire'",
    "description contains '100%'",
    "description contains '_2'",
    "description contains '\\\\'",
    "number >= 3 and number < 7.5",
    "number = 2",
    "version = 2.5",
    "created_by = 'ana' and notes = 'n'",
    "notes = ''",
    "description < 'b'",
]


def test_search_versions_matches_oracle(metadata_store: MetadataStore, world: World) -> None:
    sort = parse_sort("number", version_fields, "number")
    det = world.models[0]
    scopes: list[tuple[int | None, str | None, Callable[[Version], bool]]] = [
        (None, None, lambda v: True), (det.id, None, lambda v: v.model == "det"),
        (None, "default", lambda v: v.project == "default")]
    with metadata_store.read() as tx:
        for expr in VERSION_FILTERS:
            node = parse_filter(expr)
            matches = [v for v in world.versions if evaluate(node, version_getter(v))]
            assert 0 < len(matches) < len(world.versions) or expr in ("number = 2", "version = 2.5"), expr
            for model_id, project, in_scope in scopes:
                expected = sorted(v.id for v in matches if in_scope(v))
                page = tx.search_versions(model_id=model_id, project=project, where=node, sort=sort, cursor=None,
                                          limit=1000)
                assert sorted(v.id for v in page.items) == expected, (expr, model_id, project)
                assert page.total == len(expected) and page.next_cursor is None, (expr, model_id, project)


def test_search_versions_scope(metadata_store: MetadataStore, world: World) -> None:
    det = world.models[0]
    sort = parse_sort("-number", version_fields, "-number")
    with metadata_store.read() as tx:
        page = tx.search_versions(model_id=det.id, project=None, where=parse_filter("pinned"), sort=sort,
                                  cursor=None, limit=100)
        assert [v.number for v in page.items] == [v.number for v in reversed(world.versions)
                                                  if v.model == "det" and v.pinned]
        other = tx.search_versions(model_id=None, project="other", where=None, sort=sort, cursor=None, limit=100)
        assert {v.model for v in other.items} == {"classifier"} and other.total == 10
        none = tx.search_versions(model_id=None, project="nope", where=None, sort=sort, cursor=None, limit=100)
        assert none.total == 0 and none.items == []
        assert tx.search_versions(model_id=det.id, project="other", where=None, sort=sort, cursor=None,
                                  limit=5).total == 0


def test_search_versions_by_time(metadata_store: MetadataStore, world: World) -> None:
    sort = parse_sort("created_at", version_fields, "created_at")
    cut = T0 + timedelta(minutes=5)
    cases = {
        f"created_at >= '{cut.isoformat()}'": lambda v: v.created_at >= cut,
        "created_at < '2024-05-01T14:05:00+02:00'": lambda v: v.created_at < cut,
        "created_at = '2024-05-01 12:05:00'": lambda v: v.created_at == cut,
        "created_at > '2024-05-01T12:05:00Z' and created_at <= '2024-05-01T12:08:00Z'":
            lambda v: cut < v.created_at <= T0 + timedelta(minutes=8),
    }
    with metadata_store.read() as tx:
        for expr, check in cases.items():
            page = tx.search_versions(model_id=None, project=None, where=parse_filter(expr), sort=sort,
                                      cursor=None, limit=1000)
            assert sorted(v.id for v in page.items) == sorted(v.id for v in world.versions if check(v)), expr
        with pytest.raises(InvalidFilter):
            tx.search_versions(model_id=None, project=None, where=parse_filter("created_at > 'yesterday'"),
                               sort=sort, cursor=None, limit=10)


def oracle_order(items: list[Any], key: Callable[[Any], Any], descending: bool) -> list[int]:
    present = sorted((x for x in items if key(x) is not None), key=lambda x: (key(x), x.id), reverse=descending)
    missing = sorted((x for x in items if key(x) is None), key=lambda x: x.id, reverse=descending)
    return [x.id for x in present + missing]


def walk(fetch: Callable[[list[Any] | None], Any]) -> Iterator[Any]:
    cursor: str | None = None
    pages = 0
    while True:
        page = fetch(decode_cursor(cursor))
        pages += 1
        assert pages < 100
        yield page
        cursor = page.next_cursor
        if cursor is None:
            return


VERSION_SORTS: dict[str, Callable[[Version], Any]] = {
    "-created_at": lambda v: v.created_at, "created_at": lambda v: v.created_at,
    "number": lambda v: v.number, "-number": lambda v: v.number,
    "metrics.map50": lambda v: v.metrics.get("map50"), "-metrics.map50": lambda v: v.metrics.get("map50"),
    "-metrics.loss": lambda v: v.metrics.get("loss"),
    "status": lambda v: v.status, "-pinned": lambda v: v.pinned,
    "tags.team": lambda v: v.tags.get("team"), "-tags.team": lambda v: v.tags.get("team"),
    "model": lambda v: v.model, "-description": lambda v: v.description,
}


@pytest.mark.parametrize("expr", [None, "not archived", "metrics.map50 >= 0.7"])
def test_search_versions_pagination(metadata_store: MetadataStore, world: World, expr: str | None) -> None:
    """Walking every page gives each match once, in the oracle's order, for every sort."""
    node = parse_filter(expr)
    wanted = [v for v in world.versions if evaluate(node, version_getter(v))]
    det = world.models[0]
    with metadata_store.read() as tx:
        for sort_text, key in VERSION_SORTS.items():
            sort = parse_sort(sort_text, version_fields, "-created_at")
            for model_id in (None, det.id):
                in_scope = [v for v in wanted if model_id is None or v.model == "det"]
                expected = oracle_order(in_scope, key, sort.descending)
                got: list[int] = []
                for page in walk(lambda c, sort=sort, model_id=model_id: tx.search_versions(  # type: ignore[misc]
                        model_id=model_id, project=None, where=node, sort=sort, cursor=c, limit=7)):
                    assert page.total == len(expected) and len(page.items) <= 7, (sort_text, model_id)
                    got += [v.id for v in page.items]
                assert got == expected, (sort_text, model_id)


def test_search_versions_page_items_are_complete(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        model = setup_model(tx)
        v1 = add_version(tx, model, files=2, metrics={"a": 1.0}, tags={"t": "x"})
        v2 = add_version(tx, model, files=1, parent_id=v1.id)
        tx.set_alias(model_id=model.id, alias="production", version_id=v2.id, now=T0)
        tx.set_alias(model_id=model.id, alias="canary", version_id=v2.id, now=T0)
    with metadata_store.read() as tx:
        page = tx.search_versions(model_id=model.id, project=None, where=None,
                                  sort=parse_sort("number", version_fields, "number"), cursor=None, limit=10)
        assert page.items == [tx.get_version_by_id(version_id=v1.id), tx.get_version_by_id(version_id=v2.id)]
        assert page.items[1].aliases == ["canary", "production"] and len(page.items[0].artifacts) == 2


def test_search_rejects_bad_cursors_and_limits(metadata_store: MetadataStore, world: World) -> None:
    sort = parse_sort("-metrics.map50", version_fields, "-number")
    with metadata_store.read() as tx:
        for bad in (["x", 1], [0.5], [0.5, "1"], [0.5, 1, 2], [True, 1]):
            with pytest.raises(InvalidFilter):
                tx.search_versions(model_id=None, project=None, where=None, sort=sort, cursor=bad, limit=5)
        with pytest.raises(InvalidFilter):
            tx.search_versions(model_id=None, project=None, where=None,
                               sort=parse_sort("created_at", version_fields, "number"), cursor=["nope", 1],
                               limit=5)
        with pytest.raises(InvalidFilter):  # models have no metrics
            tx.search_models(project=None, where=None, sort=sort, cursor=None, limit=5)
        with pytest.raises(InvalidInput, match="limit"):
            tx.search_versions(model_id=None, project=None, where=None, sort=sort, cursor=None, limit=0)


def test_filter_values_are_never_sql(metadata_store: MetadataStore, world: World) -> None:
    sort = parse_sort("number", version_fields, "number")
    with metadata_store.read() as tx:
        total = tx.search_versions(model_id=None, project=None, where=None, sort=sort, cursor=None,
                                   limit=1).total
        for expr in ("name = 'x\\' OR 1=1 --'", "name = \"x' OR '1'='1\"",
                     "tags.note = 'x\\'; DROP TABLE versions; --'", "description contains '%\\' OR 1=1 --'",
                     "status contains \"'; DELETE FROM versions; --\""):
            page = tx.search_versions(model_id=None, project=None, where=parse_filter(expr), sort=sort,
                                      cursor=None, limit=100)
            assert page.total == 0 and page.items == [], expr
        with pytest.raises(InvalidFilter):  # SQL's doubled quote is not an escape in the filter language
            parse_filter("name = 'x'' OR 1=1 --'")
        hit = tx.search_versions(model_id=None, project=None, where=parse_filter("tags.note = 'x\\' OR 1=1'"),
                                 sort=sort, cursor=None, limit=100)
        assert {v.tags["note"] for v in hit.items} <= {"x' OR 1=1"}
    with metadata_store.read() as tx:
        assert tx.search_versions(model_id=None, project=None, where=None, sort=sort, cursor=None,
                                  limit=1).total == total == len(world.versions)


# ---------------------------------------------------------------- models search


def model_getter(m: Model) -> Callable[[Field], Any]:
    def get(f: Field) -> Any:
        if f.kind == "tag":
            return m.tags.get(f.name)
        if f.type == "time":
            raise AssertionError("not used")
        return getattr(m, f.name)

    return get


MODEL_FILTERS = [
    "name contains 'DE'", "baseline = 'yolov8n'", "not baseline = 'yolov8n'", "baseline != 'yolov8n'",
    "baseline contains 'n'", "tags.team = 'red'", "not tags.team = 'red'", "pinned", "not pinned",
    "task = 'detection' or task = 'segmentation'", "project = 'other'", "description contains '%'",
    "description contains '_'", "description contains '\\\\'", "name > 'd'",
]


def test_search_models_matches_oracle(metadata_store: MetadataStore, world: World) -> None:
    with metadata_store.read() as tx:
        for expr in MODEL_FILTERS:
            node = parse_filter(expr, model_fields)
            expected = sorted(m.id for m in world.models if evaluate(node, model_getter(m)))
            page = tx.search_models(project=None, where=node, sort=parse_sort("name", model_fields, "name"),
                                    cursor=None, limit=100)
            assert sorted(m.id for m in page.items) == expected and page.total == len(expected), expr


MODEL_SORTS: dict[str, Callable[[Model], Any]] = {
    "name": lambda m: m.name, "-name": lambda m: m.name, "baseline": lambda m: m.baseline,
    "-baseline": lambda m: m.baseline, "-tags.team": lambda m: m.tags.get("team"),
    "created_at": lambda m: m.created_at, "-project": lambda m: m.project,
}


def test_search_models_pagination(metadata_store: MetadataStore, world: World) -> None:
    with metadata_store.read() as tx:
        for sort_text, key in MODEL_SORTS.items():
            sort = parse_sort(sort_text, model_fields, "name")
            expected = oracle_order(world.models, key, sort.descending)
            got: list[int] = []
            for page in walk(lambda c, sort=sort: tx.search_models(  # type: ignore[misc]
                    project=None, where=None, sort=sort, cursor=c, limit=1)):
                assert page.total == len(world.models), sort_text
                got += [m.id for m in page.items]
            assert got == expected, sort_text
        scoped = tx.search_models(project="other", where=parse_filter("not pinned", model_fields),
                                  sort=parse_sort("name", model_fields, "name"), cursor=None, limit=10)
        assert [m.name for m in scoped.items] == ["classifier", "empty"] and scoped.total == 2


# ---------------------------------------------------------------- SQL stores only


@pytest.fixture
def sql_url(metadata_url: str) -> str:
    if metadata_url.startswith("memory"):
        pytest.skip("SQL stores only")
    return metadata_url


def test_migrated_schema_matches_the_table_definitions(sql_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from modelreg.metadata.sql import SqlMetadataStore
    from modelreg.metadata.sql.migrate import current_revision
    from modelreg.metadata.sql.schema import HEAD_REVISION, metadata

    store = SqlMetadataStore(sql_url)
    try:
        assert current_revision(store.engine) == HEAD_REVISION
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        store.close()


def test_head_revision_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from modelreg.metadata.sql.migrate import ALEMBIC_INI
    from modelreg.metadata.sql.schema import HEAD_REVISION

    assert ScriptDirectory.from_config(Config(str(ALEMBIC_INI))).get_heads() == [HEAD_REVISION]


OPEN_AND_WRITE = """
import sys
from datetime import UTC, datetime
from modelreg.metadata.base import open_metadata_store
store = open_metadata_store(sys.argv[1])
with store.transaction() as tx:
    tx.create_project(name="p" + sys.argv[2], now=datetime.now(UTC))
store.close()
"""


@pytest.mark.slow
def test_processes_opening_a_fresh_database_at_once(sql_url: str, tmp_path: Any) -> None:
    import subprocess
    import sys

    import psycopg

    url = f"sqlite:///{tmp_path / 'fresh' / 'registry.db'}"
    fresh_db = None
    if sql_url.startswith("postgresql"):
        fresh_db = sql_url.rsplit("/", 1)[1] + "_fresh"
        with psycopg.connect(sql_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{fresh_db}"')
        url = sql_url.rsplit("/", 1)[0] + "/" + fresh_db
    try:
        procs = [subprocess.Popen([sys.executable, "-c", OPEN_AND_WRITE, url, str(i)], stderr=subprocess.PIPE,
                                  text=True) for i in range(4)]
        errors = [proc.communicate(timeout=120)[1] for proc in procs]  # every pipe read and closed, then judged
        for proc, err in zip(procs, errors, strict=True):
            assert proc.returncode == 0, err
        from modelreg.metadata.base import open_metadata_store

        store = open_metadata_store(url)
        try:
            with store.read() as tx:
                assert sorted(p.name for p in tx.list_projects()) == [f"p{i}" for i in range(4)]
        finally:
            store.close()
    finally:
        if fresh_db:
            with psycopg.connect(sql_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{fresh_db}" WITH (FORCE)')


def test_unreachable_database_is_a_storage_error_with_a_hint() -> None:
    from modelreg.errors import StorageError
    from modelreg.metadata.sql import SqlMetadataStore

    with pytest.raises(StorageError) as info:
        SqlMetadataStore("postgresql://nobody@127.0.0.1:1/none")
    assert info.value.hint and "127.0.0.1:1" in info.value.message


def test_unsupported_urls_are_refused() -> None:
    from modelreg.metadata.base import open_metadata_store

    for url in ("mysql://x/y", "sqlite://", "sqlite:///:memory:"):
        with pytest.raises(InvalidInput):
            open_metadata_store(url)


def test_sqlite_collects_planner_statistics_once(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3
    from contextlib import closing

    from modelreg.metadata.sql import SqlMetadataStore, store

    url = f"sqlite:///{tmp_path / 'r.db'}"
    monkeypatch.setattr(store, "SQLITE_ANALYZE_AT_VERSIONS", 3)
    first = SqlMetadataStore(url)
    with first.transaction() as tx:
        model = setup_model(tx)
        for _ in range(3):
            add_version(tx, model)
    first.close()

    def has_stats() -> bool:
        with closing(sqlite3.connect(tmp_path / "r.db")) as conn:
            return bool(conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()[0])

    SqlMetadataStore(url).close()
    assert has_stats()


def test_a_statement_sqlite_answers_locked_is_tried_again_until_its_deadline() -> None:
    """Opening a database another process is creating: the journal-mode change can be answered "database is
    locked" without SQLite's busy handler; it is tried again (other errors and the deadline are not)."""
    import sqlite3

    from modelreg.metadata.sql.store import _while_locked

    answers = [sqlite3.OperationalError("database is locked")] * 3
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if answers:
            raise answers.pop()

    _while_locked(flaky, timeout_s=5)
    assert len(calls) == 4
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        _while_locked(lambda: (_ for _ in ()).throw(sqlite3.OperationalError("no such table: x")), timeout_s=5)
    always = sqlite3.OperationalError("database is locked")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _while_locked(lambda: (_ for _ in ()).throw(always), timeout_s=0.2)
