"""The SDK's contract: the same calls behave the same on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import modelreg
from modelreg import (
    AliasNotFound,
    ClassMetric,
    GateFailed,
    InvalidArtifactPath,
    InvalidFilter,
    InvalidMetadata,
    InvalidName,
    InvalidReference,
    ModelNotFound,
    NothingToRollBack,
    VersionInUse,
    VersionNotFound,
)
from modelreg.service import Service

FIRE_DETECTOR_VERSIONS = [  # (map50, hours) of the fire-detector workflow's five versions, v1..v5
    (0.0, 0.0), (0.7834, 0.98), (0.8521, 1.25), (0.8945, 1.80), (0.9123, 2.15),
]


def register_fire_detector_versions(reg: Service, model: str = "fire-detector") -> None:
    for i, (map50, hours) in enumerate(FIRE_DETECTOR_VERSIONS, start=1):
        reg.register_version(model, files={"weights/best.pt": f"best-{i}".encode(), "weights/last.pt": b"last"},
                             metrics={"map50": map50, "map50_95": map50 * 0.8},
                             training={"duration_s": hours * 3600}, params={"epochs": 100, "lr": 0.01 * i})


def state(reg: Service, model: str = "fire-detector") -> tuple[list[int], list[tuple[str, int]], int]:
    """What a failed operation must leave unchanged: version numbers, aliases, event count."""
    numbers = [v.number for v in reg.iter_versions(model=model)]
    aliases = [(a.alias, a.number) for a in reg.list_aliases(model)]
    return numbers, aliases, reg.events(limit=1000).total


def test_fire_detector_five_version_workflow(reg: Service) -> None:
    register_fire_detector_versions(reg)
    versions = reg.list_versions("fire-detector").items
    assert [v.number for v in versions] == [5, 4, 3, 2, 1]  # newest first
    assert reg.get_version("fire-detector@production").number == 1  # the first version is auto-activated
    reg.activate("fire-detector:v5")
    assert reg.get_version("fire-detector").number == 5
    assert reg.get_version("fire-detector:5").aliases == ["production"]
    with pytest.raises(VersionInUse) as err:
        reg.delete_version("fire-detector:5")
    assert "production" in err.value.message and err.value.hint and "reg.set_alias(" in err.value.hint
    assert err.value.http_status == 409
    plan = reg.rollback("fire-detector")
    assert (plan.from_number, plan.to_number) == (5, 1)
    assert reg.get_version("fire-detector@production").number == 1
    reg.delete_version("fire-detector:3")
    with pytest.raises(VersionNotFound):
        reg.get_version("fire-detector:3")
    assert [v.number for v in reg.list_versions("fire-detector").items] == [5, 4, 2, 1]


def test_rollback_after_three_promotions_walks_back(reg: Service) -> None:
    for i in range(4):
        reg.register_version("m", files={"w.pt": bytes([i])}, metrics={"map50": 0.5 + i / 10})
    for n in (2, 3, 4):
        reg.promote("m", f"v{n}", "production")
    assert reg.get_version("m@production").number == 4
    walked = [reg.rollback("m").to_number for _ in range(3)]
    assert walked == [3, 2, 1]
    with pytest.raises(NothingToRollBack):
        reg.rollback("m")
    reg.activate("m:4")  # a new move after rollbacks is rolled back on its own
    assert reg.rollback("m").to_number == 1
    history = reg.alias_history("m", "production")
    assert history[0].kind == "rollback"
    assert len(history) == 9


def test_numbers_never_reused(reg: Service) -> None:
    for i in range(3):
        reg.register_version("m", files={"w": bytes([i])})
    reg.activate("m:1")
    reg.delete_version("m:3")
    assert reg.register_version("m", files={"w": b"x"}).number == 4


def test_pinned_version_cannot_be_deleted(reg: Service) -> None:
    reg.register_version("m", files={"w": b"1"})
    reg.register_version("m", files={"w": b"2"})
    reg.pin("m:2")
    with pytest.raises(VersionInUse) as err:
        reg.delete_version("m:2")
    assert "pinned" in err.value.message and "unpin" in (err.value.hint or "")
    reg.unpin("m:2")
    reg.delete_version("m:2")


def test_delete_keeps_shared_blobs_and_removes_the_rest(reg: Service) -> None:
    shared, own = b"shared weights" * 100, b"only in v2" * 100
    reg.register_version("a", files={"w.pt": shared})
    reg.register_version("a", files={"w.pt": shared, "x.bin": own})
    reg.register_version("b", files={"same.pt": shared})
    stored = dict(reg.ctx.blobs.iter_digests())
    assert len(stored) == 2  # identical content is stored once across versions and models
    reg.delete_version("a:2")
    remaining = dict(reg.ctx.blobs.iter_digests())
    assert len(remaining) == 1
    assert reg.pull("b:1", reg.ctx.settings.home / "out").joinpath("same.pt").read_bytes() == shared
    assert reg.fsck().ok


def test_register_folder_reads_metadata_metrics_and_config(reg: Service, tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "weights").mkdir(parents=True)
    (run / "weights" / "best.pt").write_bytes(b"best")
    (run / "metadata.json").write_text(json.dumps({
        "description": "night images", "epochs": 100, "training_time_hours": 1.5,
        "dataset": {"train_images": 150, "val_images": 30, "classes": ["fire", "smoke"]},
        "reviewed_by": "QA Team"}))
    (run / "metrics.json").write_text(json.dumps({"map50": 0.9, "val": {"loss": 0.2}}))
    (run / "config.yaml").write_text("epochs: 100\nbatch_size: 16\nmodels:\n  detector: yolov8-seg\n")
    v = reg.register_version("det", files=f"{run}/", metrics={"recall": 0.8})  # "/": the folder's contents
    assert v.metrics == {"map50": 0.9, "val.loss": 0.2, "recall": 0.8}
    assert v.params["batch_size"] == 16 and v.params["models"] == {"detector": "yolov8-seg"}
    assert v.dataset is not None and v.dataset.train_count == 150 and v.dataset.classes == ["fire", "smoke"]
    assert v.training is not None and v.training.duration_s == 5400
    assert v.extra["reviewed_by"] == "QA Team"
    assert {a.path for a in v.artifacts} == {"weights/best.pt", "metadata.json", "metrics.json", "config.yaml"}


@pytest.mark.parametrize("name", ["a/b", "..", "a..b", "with space", "x" * 300, "fіre", "", "-lead", "a\x00b",
                                  "../etc"])
def test_bad_names_are_refused(reg: Service, name: str) -> None:
    before = reg.list_projects()
    with pytest.raises(InvalidName) as err:
        reg.create_project(name)
    assert err.value.http_status == 422 and err.value.message
    with pytest.raises((InvalidName, InvalidReference)):
        reg.create_model(f"{name}:1" if name == "a/b" else name)
    with pytest.raises((InvalidName, InvalidReference, modelreg.InvalidInput)):
        reg.register_version(f"{name}/x/y" if name == "a/b" else name, files={"w": b"1"})
    assert reg.list_projects() == before
    assert list(reg.ctx.blobs.iter_digests()) == []


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "a/../../b", "C:/x", "a\\b", "a//b", "./a"])
def test_artifact_paths_cannot_escape(reg: Service, path: str) -> None:
    reg.register_version("m", files={"ok": b"1"})
    before = state(reg, "m"), dict(reg.ctx.blobs.iter_digests())
    with pytest.raises(InvalidArtifactPath):
        reg.register_version("m", files={path: b"evil"})
    assert (state(reg, "m"), dict(reg.ctx.blobs.iter_digests())) == before


@pytest.mark.parametrize("metrics", [{"map50": math.nan}, {"map50": math.inf}, {"map50": -math.inf},
                                     {"map50": "high"}, {"map50": True}])
def test_bad_metrics_are_refused(reg: Service, metrics: dict[str, object]) -> None:
    reg.register_version("m", files={"ok": b"1"})
    before = state(reg, "m")
    with pytest.raises(InvalidMetadata) as err:
        reg.register_version("m", files={"w": b"2"}, metrics=metrics)  # type: ignore[arg-type]
    assert "map50" in err.value.message
    with pytest.raises(InvalidMetadata):
        reg.update_version("m:1", metrics=metrics)  # type: ignore[arg-type]
    assert state(reg, "m") == before


@pytest.mark.parametrize("row", [{"class_name": "fire", "ap": 1.5}, {"class_name": "fire", "ap": -0.1},
                                 {"class_name": "fire", "recall": 2}, {"ap": 0.5},
                                 {"class_name": "fire", "ap": math.nan}])
def test_bad_class_metrics_are_refused(reg: Service, row: dict[str, object]) -> None:
    with pytest.raises(InvalidMetadata):
        reg.register_version("m", files={"w": b"2"}, class_metrics=[row])
    with pytest.raises(ModelNotFound):  # the model was created before the check? it must not be
        reg.get_model("m")


CANONICAL_ROW = {"class_name": None, "annotation_type": None, "ap": None, "precision": None, "recall": None,
                 "training_count": None, "validation_count": None, "metrics": {}}


def test_class_metrics_take_the_names_users_have(reg: Service) -> None:
    """Rows written with class / training_annotations_count / … are stored once, under the canonical fields."""
    rows: list[object] = [
        {"class": "car", "annotation_type": "box", "ap": 0.85, "training_annotations_count": 1500,
         "validation_annotations_count": 300},
        ClassMetric(class_name="truck", ap=0.78, training_annotations_count=800, validation_annotations_count=200),
        {"name": "bus", "average_precision": 0.5, "train_count": 10, "val_count": 0, "metrics": {"f1": 0.6}},
        {"class": "van", "class_name": "van", "training_count": 3},  # the same value twice is one value
    ]
    v = reg.register_version("m", files={"w": b"1"}, class_metrics=rows)
    assert [c.model_dump() for c in reg.get_version(v.ref).class_metrics] == [
        {**CANONICAL_ROW, "class_name": "car", "annotation_type": "box", "ap": 0.85, "training_count": 1500,
         "validation_count": 300},
        {**CANONICAL_ROW, "class_name": "truck", "ap": 0.78, "training_count": 800, "validation_count": 200},
        {**CANONICAL_ROW, "class_name": "bus", "ap": 0.5, "training_count": 10, "validation_count": 0,
         "metrics": {"f1": 0.6}},
        {**CANONICAL_ROW, "class_name": "van", "training_count": 3},
    ]
    updated = reg.update_version(v.ref, class_metrics=[{"class": "car", "validation_annotations_count": 7}])
    assert [(c.class_name, c.validation_count) for c in updated.class_metrics] == [("car", 7)]
    assert reg.compare([v.ref, v.ref]).class_ap[0].class_name == "car"


def test_an_unknown_class_metric_key_is_refused_with_the_names(reg: Service) -> None:
    rows = [{"class_name": "car", "ap": 0.5}, {"class_name": "bus", "f1_score": 0.5}]
    with pytest.raises(InvalidMetadata) as err:
        reg.register_version("m", files={"w": b"1"}, class_metrics=rows)
    assert "class_metrics[1]" in err.value.message and "'f1_score'" in err.value.message
    hint = err.value.hint or ""
    for names in ("class_name (or class, name)", "training_count (or training_annotations_count, train_count)",
                  "validation_count (or validation_annotations_count, val_count)", "metrics"):
        assert names in hint, hint
    with pytest.raises(ModelNotFound):  # nothing was created
        reg.get_model("m")
    with pytest.raises(InvalidMetadata) as err:
        reg.register_version("m", files={"w": b"1"}, class_metrics=[{"class": "car", "class_name": "truck"}])
    assert "'class'" in err.value.message and "'class_name'" in err.value.message
    with pytest.raises(InvalidMetadata) as err:
        reg.register_version("m", files={"w": b"1"}, class_metrics=[{"ap": 0.5}])
    assert "class_metrics[0]" in err.value.message and "class_name (or class, name)" in (err.value.hint or "")


def test_bad_metadata_files_are_refused(reg: Service, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "w.pt").write_bytes(b"w")
    (run / "metadata.json").write_text("{not json")
    with pytest.raises(InvalidMetadata) as err:
        reg.register_version("m", files=run)
    assert "metadata.json" in err.value.message and "line 1" in err.value.message
    (run / "metadata.json").write_text('{"pad": "' + "x" * (50 * 1024 * 1024) + '"}')
    with pytest.raises(InvalidMetadata) as err:
        reg.register_version("m", files=run)
    assert "MiB" in err.value.message
    assert reg.search_versions().total == 0
    assert list(reg.ctx.blobs.iter_digests()) == []


@pytest.mark.parametrize("ref", ["nope", "m:9", "m@staging", "m:best", "other/m:1"])
def test_missing_references(reg: Service, ref: str) -> None:
    reg.register_version("m", files={"w": b"1"})
    with pytest.raises((ModelNotFound, VersionNotFound, AliasNotFound, modelreg.ProjectNotFound)) as err:
        reg.get_version(ref)
    assert err.value.http_status == 404 and err.value.hint


@pytest.mark.parametrize("ref", ["a/b/c", "m:v0", "m:-1", "m:x y", "m@", "m:1@prod", ""])
def test_malformed_references(reg: Service, ref: str) -> None:
    with pytest.raises(InvalidReference):
        reg.get_version(ref)


def test_search_filter_language(reg: Service) -> None:
    for i in range(10):
        reg.register_version("det", files={"w": bytes([i])}, metrics={"map50": i / 10},
                             tags={"team": "red" if i % 2 else "blue"})
    reg.register_version("cls", files={"w": b"c"}, metrics={"accuracy": 0.9})
    reg.pin("det:10")
    hits = reg.search_versions("metrics.map50 >= 0.5 and not pinned", model="det")
    assert sorted(v.number for v in hits.items) == [6, 7, 8, 9]
    hits = reg.search_versions("(tags.team = 'red' or metrics.map50 < 0.2) and name contains 'de'")
    assert sorted(v.number for v in hits.items) == [1, 2, 4, 6, 8, 10]
    by_metric = reg.search_versions(model="det", sort="-metrics.map50", limit=3)
    assert [v.number for v in by_metric.items] == [10, 9, 8] and by_metric.total == 10
    walked = [v.ref for v in reg.iter_versions(sort="metrics.map50", limit=3)]
    assert len(walked) == len(set(walked)) == 11
    structured = reg.search_versions(filter={"must": {"name_contains": "det", "is_pinned": False},
                                             "not": {"tags": {"team": "blue"}}})
    assert sorted(v.number for v in structured.items) == [2, 4, 6, 8]
    models = reg.search_models("name contains 'DE'")
    assert [m.name for m in models.items] == ["det"]


@pytest.mark.parametrize("expr", ["metrics.map50 >=", "map50 > 1", "(pinned", "pinned = 'yes'",
                                  "name = 'x'; DROP TABLE versions; --", "status = 'running'",
                                  "metrics.map50 > 'a'", "1 = 1", "name contains 3"])
def test_bad_filters(reg: Service, expr: str) -> None:
    reg.register_version("m", files={"w": b"1"})
    with pytest.raises(InvalidFilter) as err:
        reg.search_versions(expr)
    assert err.value.http_status == 422
    assert reg.search_versions().total == 1


def test_sql_in_a_filter_value_is_only_a_value(reg: Service) -> None:
    reg.register_version("m", files={"w": b"1"})
    assert reg.search_versions("name = 'm\\' OR 1=1 --'").total == 0
    assert reg.search_versions("name contains '%'").total == 0
    assert reg.search_versions().total == 1


def test_runs_succeed_and_fail(reg: Service, tmp_path: Path) -> None:
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights")
    with reg.start_run("m", params={"epochs": 2}) as run:
        assert reg.get_version(f"m:{run.number}").status == "training"
        run.log_epoch(1, train_loss=0.9, val_loss=1.0, map50=0.3)
        run.log_epoch(2, train_loss=0.5, val_loss=0.6, map50=0.6)
        run.log_metrics(map50=0.6)
        run.log_file(weights, "weights/best.pt")
    v = reg.get_version("m:1")
    assert v.status == "ready" and v.metrics == {"map50": 0.6} and v.artifacts[0].path == "weights/best.pt"
    assert v.training is not None and v.training.duration_s is not None
    assert [e.epoch for e in reg.history("m:1")] == [1, 2]
    assert v.aliases == ["production"]
    with pytest.raises(RuntimeError), reg.start_run("m") as failing:
        failing.log_epoch(train_loss=1.0)
        raise RuntimeError("CUDA out of memory")
    failed = reg.get_version("m:2")
    assert failed.status == "failed" and failed.error and "CUDA out of memory" in failed.error
    assert failed.aliases == []
    with pytest.raises(modelreg.InvalidState):
        reg.activate("m:2")


def test_promote_with_gate(reg: Service) -> None:
    reg.create_model("m", best_metric="map50",
                     promotion_gate="metrics.map50 >= 0.8 and delta.class_ap.min >= -0.05")
    cm = [{"class_name": "fire", "ap": 0.9}, {"class_name": "smoke", "ap": 0.8}]
    reg.register_version("m", files={"w": b"1"}, metrics={"map50": 0.85}, class_metrics=cm)
    worse = [{"class_name": "fire", "ap": 0.95}, {"class_name": "smoke", "ap": 0.7}]
    reg.register_version("m", files={"w": b"2"}, metrics={"map50": 0.9}, class_metrics=worse)
    reg.set_alias("m:2", "staging")
    plan = reg.promote("m", "staging", "production", dry_run=True)
    assert (plan.from_number, plan.to_number, plan.archive_number) == (1, 2, 1)
    assert not plan.gate_passed and [t.term for t in plan.gate_terms if not t.passed] == [
        "delta.class_ap.min >= -0.05"]
    before = state(reg, "m")
    with pytest.raises(GateFailed) as err:
        reg.promote("m", "staging")
    assert "delta.class_ap.min" in err.value.message
    assert state(reg, "m") == before
    done = reg.promote("m", "staging", force=True)
    assert done.applied and done.forced
    assert reg.get_version("m@production").number == 2
    assert reg.get_version("m:1").archived
    event = reg.events(model="m", action="alias.promoted").items[0]
    assert event.after["forced"] is True and event.before == {"version": 1}
    assert reg.best_version("m").number == 2
    reg.mark_best("m:1")
    assert reg.best_version("m").number == 1


def test_compare_history_lineage_report(reg: Service) -> None:
    base = reg.register_version("m", files={"w": b"1"}, metrics={"map50": 0.8, "recall": 0.7},
                                class_metrics=[{"class_name": "fire", "ap": 0.8}], params={"lr": 0.01, "bs": 16},
                                epochs=[{"epoch": 1, "val_loss": 1.0}, {"epoch": 2, "val_loss": 0.5}])
    child = reg.register_version("m", files={"w": b"2"}, metrics={"map50": 0.9},
                                 class_metrics=[{"class_name": "fire", "ap": 0.85}], params={"lr": 0.001, "bs": 16},
                                 parent=base.ref)
    reg.register_version("n", files={"w": b"3"}, parent=child.ref)
    cmp = reg.compare(["m:1", "m:2"])
    map50 = next(d for d in cmp.metrics if d.name == "map50")
    assert map50.values == [0.8, 0.9] and map50.deltas[1] == pytest.approx(0.1)
    assert cmp.class_ap[0].deltas[1] == pytest.approx(0.05)
    assert {p.name: p.identical for p in cmp.params} == {"bs": True, "lr": False}
    assert cmp.curves[base.ref]["val_loss"] == [(1, 1.0), (2, 0.5)]
    lineage = reg.lineage("m:1")
    assert [str(d) for d in lineage.descendants] == ["default/m:v2", "default/n:v1"]
    assert [str(a) for a in reg.lineage("n:1").ancestors] == ["default/m:v2", "default/m:v1"]
    with pytest.raises(modelreg.InvalidInput):
        reg.update_version("m:1", parent="n:1")  # a cycle
    report = json.loads(reg.report("m:2"))
    assert report["version"]["metrics"]["map50"] == 0.9 and report["lineage"]["ancestors"]
    md = reg.report("m:2", "markdown")
    assert md.startswith("# default/m:v2") and "| map50 | 0.9000 |" in md


def test_lineage_says_whose_child_each_descendant_is(reg: Service) -> None:
    """m:1 has two children (m:2, other/n:1); m:2 has one (m:3): breadth first, one edge per descendant."""
    reg.create_project("other")
    reg.register_version("m", files={"w": b"1"})
    reg.register_version("m", files={"w": b"2"}, parent="m:1")
    reg.register_version("other/n", files={"w": b"3"}, parent="m:1")
    reg.register_version("m", files={"w": b"4"}, parent="m:2")
    lineage = reg.lineage("m:1")
    assert [str(d) for d in lineage.descendants] == ["default/m:v2", "other/n:v1", "default/m:v3"]
    assert [(str(e.parent), str(e.child)) for e in lineage.edges] == [
        ("default/m:v1", "default/m:v2"), ("default/m:v1", "other/n:v1"), ("default/m:v2", "default/m:v3")]
    assert [e.child for e in lineage.edges] == lineage.descendants
    leaf = reg.lineage("m:3")
    assert leaf.descendants == [] and leaf.edges == []
    assert [str(a) for a in leaf.ancestors] == ["default/m:v2", "default/m:v1"]
    # A reply of a server that predates edges still parses.
    old = {"version": "default/m:v1", "ancestors": [], "descendants": [{"project": "default", "model": "m",
                                                                        "number": 2}]}
    assert modelreg.Lineage.model_validate(old).edges == []


def test_pull_and_resolve(reg: Service, tmp_path: Path) -> None:
    reg.register_version("m", files={"model.pth": b"weights", "encoders.pkl": b"enc"}, metrics={"loss": 1.0})
    out = reg.pull("m@production", tmp_path / "prod")
    assert (out / "model.pth").read_bytes() == b"weights"
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["version"] == "v1" and meta["metrics"] == {"loss": 1.0}
    path = reg.resolve("m", "model.pth")
    assert path.read_bytes() == b"weights"
    assert reg.resolve("m") == path.parent
    reg.register_version("m", files={"model.pth": b"new"})
    reg.activate("m:2")
    assert reg.resolve("m", "model.pth").read_bytes() == b"new"  # follows the alias move
    with pytest.raises(modelreg.ArtifactNotFound):
        reg.resolve("m", "nope.bin")


def test_model_environment_picks_the_alias(reg: Service) -> None:
    reg.register_version("m", files={"w": b"1"})
    reg.register_version("m", files={"w": b"2"})
    reg.set_alias("m:2", "staging")
    staging = Service(reg.ctx.__class__(meta=reg.ctx.meta, blobs=reg.ctx.blobs,
                                        settings=reg.ctx.settings.with_overrides(model_environment="staging")))
    assert staging.get_version("m").number == 2
    assert reg.get_version("m").number == 1


def test_every_change_is_an_event(reg: Service) -> None:
    reg.register_version("m", files={"w": b"1"}, metrics={"map50": 0.5})
    reg.update_version("m:1", metrics={"map50": 0.6}, notes="re-evaluated")
    reg.pin("m:1")
    actions = [e.action for e in reg.events(model="m").items]
    assert actions == ["version.pinned", "version.updated", "alias.set", "version.registered", "model.created"]
    updated = reg.events(action="version.updated").items[0]
    assert updated.before["metrics"] == {"map50": 0.5} and updated.after["metrics"] == {"map50": 0.6}
    assert updated.actor == reg.ctx.actor
    page1 = reg.events(limit=2)
    page2 = reg.events(limit=2, cursor=page1.next_cursor)
    assert page1.total == page2.total >= 6 and page1.items[-1].id > page2.items[0].id


def test_project_labels_are_versioned_by_events(reg: Service) -> None:
    reg.create_project("widget_line_a", labels=["ok", "ng"])
    reg.update_project("widget_line_a", labels=["ok", "ng", "scratch", "dent"])
    assert reg.get_project("widget_line_a").labels == ["ok", "ng", "scratch", "dent"]
    change = reg.events(project="widget_line_a", action="project.updated").items[0]
    assert change.before["labels"] == ["ok", "ng"]
    with pytest.raises(InvalidMetadata):
        reg.update_project("widget_line_a", labels=["ok", "ok"])


def test_corrupt_blob_is_detected(reg: Service, tmp_path: Path) -> None:
    v = reg.register_version("m", files={"w.pt": b"good weights" * 1000})
    digest = v.artifacts[0].digest
    corrupt_blob(reg, digest)
    with pytest.raises(modelreg.IntegrityError):
        reg.pull("m:1", tmp_path / "out")
    assert not (tmp_path / "out" / "w.pt").exists()
    report = reg.fsck()
    assert not report.ok and report.problems[0].kind == "corrupt" and report.problems[0].digest == digest


def corrupt_blob(reg: Service, digest: str) -> None:
    local = reg.ctx.blobs.local_path(digest)
    if local is None:
        reg.ctx.blobs.corrupt(digest)  # type: ignore[attr-defined]
        return
    local.chmod(0o644)
    data = bytearray(local.read_bytes())
    data[len(data) // 2] ^= 0xFF
    local.write_bytes(bytes(data))


def test_gc_removes_only_unreferenced_blobs(reg: Service) -> None:
    reg.register_version("m", files={"w": b"kept"})
    orphan = reg.ctx.blobs.put(__import__("io").BytesIO(b"orphan from a crashed registration"))
    dry = reg.gc(dry_run=True, grace_s=0)
    assert dry.digests == [orphan.digest] and dry.bytes == orphan.size
    assert reg.ctx.blobs.exists(orphan.digest)
    done = reg.gc(dry_run=False, grace_s=0)
    assert done.blobs == 1 and not reg.ctx.blobs.exists(orphan.digest)
    assert reg.fsck().ok and reg.fsck().unreferenced == 0
    assert reg.pull("m:1", reg.ctx.settings.home / "o").joinpath("w").read_bytes() == b"kept"


def test_update_model_and_delete_model(reg: Service) -> None:
    reg.register_version("m", files={"w": b"1"})
    reg.update_model("m", rename="m2", description="renamed", tags={"team": "vision"})
    assert reg.get_version("m2:1").model == "m2"
    with pytest.raises(VersionInUse):
        reg.delete_model("m2")
    reg.delete_alias("m2", "production")
    reg.delete_model("m2")
    with pytest.raises(ModelNotFound):
        reg.get_model("m2")
    assert list(reg.ctx.blobs.iter_digests()) == []
