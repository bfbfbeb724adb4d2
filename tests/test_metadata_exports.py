"""The exports part of the MetadataStore contract (memory, SQLite, PostgreSQL): records, files and gc."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.test_metadata_contract import T0, add_version, digest, setup_model

from modelreg.errors import InvalidState, NotFound, VersionNotFound
from modelreg.metadata.base import MetadataStore
from modelreg.types import Artifact


def record(status: str = "ok", **extra: Any) -> dict[str, Any]:
    return {"status": status, "options": {"dynamic_batch": True},
            "source": {"path": "weights/best.pt", "digest": digest(1), "kind": "pickled_module"},
            "toolchain": {"torch": "2.13.0"}, "duration_s": 1.5, **extra}


def files(*numbers: int, key: str = "k1") -> list[Artifact]:
    return [Artifact(path=f"exports/onnx/{key}/f{n}", digest=digest(900 + n), size=n) for n in numbers]


def test_save_get_list_and_replace(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        model = setup_model(tx)
        version = add_version(tx, model, files=1)
        tx.claim_blobs(blobs={a.digest: a.size for a in files(1, 2, 3)})
        first = tx.save_export(version_id=version.id, format="onnx", key="k1", record=record(), files=files(2, 1),
                               now=T0)
        assert (first.project, first.model, first.version, first.format, first.key) == ("default", "det", 1, "onnx",
                                                                                         "k1")
        assert [f.path for f in first.files] == ["exports/onnx/k1/f1", "exports/onnx/k1/f2"]
        assert first.status == "ok" and first.options.dynamic_batch and first.source.kind == "pickled_module"
        assert first.created_at == T0 and first.toolchain == {"torch": "2.13.0"}
        other = tx.save_export(version_id=version.id, format="torchscript", key="k2", record=record(),
                               files=[], now=T0)
        # the same version + format + key replaces the export and its files
        again = tx.save_export(version_id=version.id, format="onnx", key="k1", record=record("failed-parity"),
                               files=files(3), now=T0 + timedelta(hours=1))
    with metadata_store.read() as tx:
        got = tx.get_export(version_id=version.id, format="onnx", key="k1")
        assert got is not None and got.status == "failed-parity" and [f.digest for f in got.files] == [digest(903)]
        assert got.id == again.id != first.id
        assert tx.get_export(version_id=version.id, format="onnx", key="nope") is None
        assert [e.id for e in tx.list_exports(version_id=version.id)] == [other.id, again.id]
        # the replaced export's files no longer hold their blobs; the new ones do
        unreferenced = tx.unreferenced_blobs()
        assert digest(901) in unreferenced and digest(902) in unreferenced and digest(903) not in unreferenced
        assert digest(903) in tx.referenced_digests()
        # the version itself does not list export files among its artifacts
        v = tx.get_version(model_id=model.id, number=1)
        assert v is not None and all(not a.path.startswith("exports/") for a in v.artifacts)


def test_update_export_changes_the_record_only(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        version = add_version(tx, setup_model(tx))
        tx.claim_blobs(blobs={a.digest: a.size for a in files(1)})
        saved = tx.save_export(version_id=version.id, format="onnx", key="k1", record=record(), files=files(1),
                               now=T0)
        bench = {"rows": [{"runtime": "onnxruntime", "batch": 1, "p50_ms": 1.0, "p90_ms": 2.0,
                           "throughput_per_s": 1000.0, "runs": 10}], "machine": {"cpu": "x"}}
        updated = tx.update_export(export_id=saved.id, record={**record(), "bench": bench}, now=T0)
        assert updated.bench is not None and updated.bench.rows[0].p50_ms == 1.0 and updated.files == saved.files
        with pytest.raises(NotFound):
            tx.update_export(export_id=saved.id + 1000, record=record(), now=T0)


def test_export_files_keep_blobs_from_gc(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        version = add_version(tx, setup_model(tx))
        tx.claim_blobs(blobs={a.digest: a.size for a in files(1)})
        tx.save_export(version_id=version.id, format="onnx", key="k1", record=record(), files=files(1), now=T0)
    with metadata_store.transaction() as tx:
        assert tx.mark_blob_deleting(digest=digest(901), size=1) is False
        with pytest.raises(InvalidState):
            tx.delete_blob_row(digest=digest(901))


def test_deleting_the_version_deletes_its_exports(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        model = setup_model(tx)
        version = add_version(tx, model, files=1)
        kept = add_version(tx, model)
        tx.claim_blobs(blobs={a.digest: a.size for a in files(1, 2)})
        tx.save_export(version_id=version.id, format="onnx", key="k1", record=record(), files=files(1), now=T0)
        tx.save_export(version_id=kept.id, format="onnx", key="k1", record=record(), files=files(2), now=T0)
    with metadata_store.transaction() as tx:
        held = tx.delete_version(version_id=version.id)
        assert digest(901) in held and digest(version.id * 10) in held
    with metadata_store.read() as tx:
        assert digest(901) in tx.unreferenced_blobs() and digest(902) not in tx.unreferenced_blobs()
        assert len(tx.list_exports(version_id=kept.id)) == 1
    with metadata_store.transaction() as tx:
        tx.delete_model(model_id=model.id)
    with metadata_store.read() as tx:
        assert digest(902) in tx.unreferenced_blobs()


def test_save_export_checks_its_inputs(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        version = add_version(tx, setup_model(tx))
        with pytest.raises(InvalidState):
            tx.save_export(version_id=version.id, format="onnx", key="k1", record=record(), files=files(7), now=T0)
        with pytest.raises(VersionNotFound):
            tx.save_export(version_id=version.id + 99, format="onnx", key="k1", record=record(), files=[], now=T0)


def test_a_rolled_back_export_leaves_nothing(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        version = add_version(tx, setup_model(tx))
    with pytest.raises(RuntimeError), metadata_store.transaction() as tx:
        tx.claim_blobs(blobs={a.digest: a.size for a in files(1)})
        tx.save_export(version_id=version.id, format="onnx", key="k1", record=record(), files=files(1), now=T0)
        raise RuntimeError("crash after the insert")
    with metadata_store.read() as tx:
        assert tx.list_exports(version_id=version.id) == [] and digest(901) not in tx.referenced_digests()
