"""Inference records, feedback, live figures, corrections exported as data, retention: the same rules on every store
(memory, SQLite, PostgreSQL) and through a real server, and the bad inputs each refused whole."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.test_tokens import as_principal

import modelreg
from modelreg.errors import (
    AlreadyExists,
    InferenceNotFound,
    InvalidFilter,
    InvalidInput,
    InvalidMetadata,
    ModelregError,
    PermissionDenied,
    VersionNotFound,
)
from modelreg.filters import inference_fields, parse_filter
from modelreg.inference_outputs import agrees, box_xywhn, summary
from modelreg.registry import Registry
from modelreg.service import Service

MODEL = "vision/fire-detector"
LABELS = ["fire", "smoke", "ok"]
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "remote"])
def every_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """The service on each store (memory, SQLite, PostgreSQL) and the HTTP client of a real server: the filter
    language compiles differently on each database, so every rule runs on all of them."""
    if request.param == "remote":
        yield request.getfixturevalue("http_registry")
        return
    url = {"memory": "memory://", "sqlite": None}.get(request.param, "")
    if request.param == "postgres":
        from tests.conftest import _truncate_postgres

        url = request.getfixturevalue("postgres_url")
        _truncate_postgres(url)
    registry = modelreg.connect(url, home=tmp_path / "registry", environ={})
    try:
        yield registry
    finally:
        registry.close()


def setup(reg: Registry, versions: int = 2) -> None:
    reg.create_project("vision", labels=LABELS)
    for n in range(versions):
        reg.register_version(MODEL, files={"best.pt": f"weights {n}".encode()}, metrics={"map50": 0.5 + n / 10})


def det(cls: str, score: float, box: list[float] | None = None) -> dict[str, Any]:
    return {"class": cls, "score": score, "box": box or [10, 20, 110, 220]}


def records(n: int, *, version: int = 1, start: datetime = T0, **extra: Any) -> list[dict[str, Any]]:
    return [{"model": MODEL, "version": version, "time": start + timedelta(seconds=i), "latency_ms": float(i),
             "outputs": {"class": "fire" if i % 2 else "ok", "score": 0.9}, **extra} for i in range(n)]


def walk(reg: Registry, **kw: Any) -> list[str]:
    ids, cursor = [], None
    while True:
        page = reg.list_inferences(MODEL, cursor=cursor, **kw)
        ids.extend(r.request_id for r in page)
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


# ---------------------------------------------------------------- the rules, on every registry


def test_records_round_trip_newest_first(every_registry: Registry) -> None:
    reg = every_registry
    setup(reg)
    rid = reg.log_inference(MODEL, version=2, outputs={"detections": [det("fire", 0.91)], "width": 640,
                                                        "height": 480},
                            latency_ms=12.5, input_ref="s3://cams/7/000123.jpg", input={"camera": 7},
                            client_request_id="cam7-123", time=T0 + timedelta(hours=1))
    batch = reg.log_inferences(records(5))
    assert batch.accepted == 5 and len(set(batch.request_ids)) == 5 and rid not in batch.request_ids
    got = reg.get_inference(rid)
    assert (got.project, got.model, got.version, got.latency_ms, got.input_ref, got.client_request_id) == \
        ("vision", "fire-detector", 2, 12.5, "s3://cams/7/000123.jpg", "cam7-123")
    assert got.outputs["detections"][0]["class"] == "fire" and got.input == {"camera": 7}
    assert got.status == "ok" and got.sample_rate == 1.0 and got.feedback == []
    page = reg.list_inferences(MODEL, limit=3)
    assert page[0].request_id == rid  # newest by time first
    assert len(page) == 3 and page.next_cursor is not None
    everything = walk(reg, limit=2)
    assert len(everything) == 6 and len(set(everything)) == 6
    assert walk(reg, version=1) == list(reversed(batch.request_ids))
    failed = reg.log_inference(MODEL, version=1, error="CUDA out of memory", time=T0)
    assert reg.get_inference(failed).status == "error"  # an error without a status is an error
    assert walk(reg, status="error") == [failed]


def test_a_batch_is_stored_whole_or_not_at_all(every_registry: Registry) -> None:
    reg = every_registry
    setup(reg)
    bad = records(4)
    bad[2]["latency_ms"] = -3
    with pytest.raises(InvalidMetadata, match="record 2: latency_ms"):
        reg.log_inferences(bad)
    unknown = records(3)
    unknown[1]["version"] = 9
    with pytest.raises(VersionNotFound, match="no version v9"):
        reg.log_inferences(unknown)
    assert walk(reg) == []
    taken = reg.log_inference(MODEL, version=1, request_id="req-1")
    assert taken == "req-1"
    with pytest.raises(AlreadyExists, match="req-1"):
        reg.log_inferences([*records(2), {"model": MODEL, "version": 1, "request_id": "req-1"}])
    with pytest.raises(AlreadyExists, match="twice"):
        reg.log_inferences([{"model": MODEL, "version": 1, "request_id": "x"}] * 2)
    assert walk(reg) == ["req-1"]


@pytest.mark.parametrize("record, error, words", [
    ({"version": "production"}, InvalidMetadata, "not an alias"),
    ({"version": 0}, InvalidMetadata, "version"),
    ({"outputs": {"class": "x\ud800y"}}, InvalidMetadata, "surrogate"),
    ({"outputs": {"class": "a\x00b"}}, InvalidMetadata, "NUL"),
    ({"latency_ms": float("nan")}, InvalidMetadata, "latency_ms"),
    ({"sample_rate": 0}, InvalidMetadata, "sample_rate"),
    ({"status": "meh"}, InvalidMetadata, "status"),
    ({"surprise": 1}, InvalidMetadata, "unknown field"),
    ({"time": "yesterday"}, InvalidMetadata, "not a time"),
    ({"request_id": "has space"}, InvalidMetadata, "request_id"),
    ({"input": "x" * (70 << 10)}, InvalidMetadata, "input is"),
])
def test_bad_records_are_refused_by_name(every_registry: Registry, record: dict[str, Any], error: type[Exception],
                                         words: str) -> None:
    reg = every_registry
    setup(reg, versions=1)
    with pytest.raises(error, match=words):
        reg.log_inferences([*records(1), {"model": MODEL, "version": 1, **record}])
    assert walk(reg) == []


def test_a_50_mb_output_is_refused_and_nothing_is_stored(every_registry: Registry) -> None:
    reg = every_registry
    setup(reg, versions=1)
    huge = {"class": "fire", "blob": "x" * (50 << 20)}
    with pytest.raises(ModelregError) as caught:
        reg.log_inference(MODEL, version=1, outputs=huge)
    # locally the service names the field; a server refuses the body before reading 50 MB of it
    assert "outputs is 52,428,8" in str(caught.value) or "limit is" in str(caught.value)
    assert walk(reg) == []


def test_filters_over_outputs_and_feedback(every_registry: Registry) -> None:
    reg = every_registry
    setup(reg)
    ids = reg.log_inferences([
        {"model": MODEL, "version": 1, "time": T0, "latency_ms": 80.0, "outputs": {"class": "fire", "score": 0.7}},
        {"model": MODEL, "version": 1, "time": T0 + timedelta(seconds=1), "latency_ms": 20.0,
         "outputs": {"class": "fire", "score": 0.95}},
        {"model": MODEL, "version": 2, "time": T0 + timedelta(seconds=2), "latency_ms": 90.0,
         "outputs": {"class": "ok", "score": "high"}},
        {"model": MODEL, "version": 2, "time": T0 + timedelta(seconds=3), "outputs": {"detections": []}},
    ]).request_ids

    def where(expr: str, **kw: Any) -> list[str]:
        return sorted(walk(reg, where=expr, **kw))

    assert where('outputs.class = "fire" and latency_ms > 50') == [ids[0]]
    assert where("outputs.score >= 0.9") == [ids[1]]  # a number never matches the text "high"
    assert where('outputs.score = "high"') == [ids[2]]
    assert where("not latency_ms > 50") == sorted([ids[1], ids[3]])  # absent latency: the comparison is false
    assert where("version = 2") == sorted(ids[2:])
    assert where('outputs.class contains "FI"') == sorted(ids[:2])
    reg.feedback(ids[0], label="smoke")
    reg.feedback(ids[1], label="fire")
    reg.feedback(ids[2], label="fire")
    assert where("feedback.label != outputs.class") == sorted([ids[0], ids[2]])
    assert where("feedback.label = outputs.class") == [ids[1]]
    assert where("feedback") == sorted(ids[:3])
    assert where("not feedback") == [ids[3]]
    assert where("feedback.agrees = false") == sorted([ids[0], ids[2]])
    assert sorted(walk(reg, has_feedback=False)) == [ids[3]]
    assert sorted(walk(reg, since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=3))) == sorted(ids[1:3])
    assert where('time >= "2026-12-01T12:00:02Z"') == sorted(ids[2:])
    with pytest.raises(InvalidFilter, match="position"):
        reg.list_inferences(MODEL, where="outputs.class = = 3")
    with pytest.raises(InvalidFilter, match="unknown field"):
        reg.list_inferences(MODEL, where="metrics.map50 > 1")
    with pytest.raises(InvalidInput, match="cursor"):
        reg.list_inferences(MODEL, cursor="bm90LWEtY3Vyc29y")


def test_feedback_rules(every_registry: Registry) -> None:
    reg = every_registry
    setup(reg)
    rid = reg.log_inference(MODEL, version=1, outputs={"class": "ok", "score": 0.6})
    with pytest.raises(InvalidMetadata, match="'flood' is not in project 'vision'"):
        reg.feedback(rid, label="flood")
    with pytest.raises(InvalidMetadata, match="'lava'"):
        reg.feedback(rid, corrected={"detections": [det("lava", 1.0)]})
    with pytest.raises(InvalidMetadata, match="a label or a corrected"):
        reg.feedback(rid)
    with pytest.raises(InferenceNotFound):
        reg.feedback("no-such-request", label="fire")
    assert reg.get_inference(rid).feedback == []
    first = reg.feedback(rid, label="fire", note="flames at the left edge", author="ana")
    assert (first.label, first.agrees, first.author, first.source) == ("fire", False, "ana", "human")
    second = reg.feedback(rid, label="ok", source="auto")
    assert second.agrees is True
    got = reg.get_inference(rid)
    assert [f.label for f in got.feedback] == ["fire", "ok"]
    events = reg.events(model=None, action="inference.feedback")
    assert len(events) == 2 and events.items[0].after["request_id"] == rid


def test_live_figures_per_version(every_registry: Registry) -> None:
    reg = every_registry
    setup(reg)
    now = datetime.now(UTC)
    one = [{"model": MODEL, "version": 1, "time": now - timedelta(minutes=i + 1), "latency_ms": float(i + 1),
            "outputs": {"class": "fire"}} for i in range(20)]  # latencies 1..20
    one[0]["status"] = "error"
    two = [{"model": MODEL, "version": 2, "time": now - timedelta(minutes=1), "latency_ms": 5.0,
            "outputs": {"class": "ok"}}]
    old = [{"model": MODEL, "version": 2, "time": now - timedelta(days=3), "latency_ms": 500.0}]
    ids = reg.log_inferences(one + two + old).request_ids
    reg.feedback(ids[1], label="fire")  # agrees
    reg.feedback(ids[2], label="smoke")  # disagrees
    reg.feedback(ids[3], label="ok")
    reg.feedback(ids[3], label="fire")  # the newest counts: agrees
    stats = {s.version: s for s in reg.inference_stats(MODEL)}
    assert sorted(stats) == [1, 2]
    v1 = stats[1]
    assert (v1.records, v1.errors, v1.error_rate, v1.with_feedback) == (20, 1, 0.05, 3)
    assert (v1.latency_p50_ms, v1.latency_p95_ms) == (10.0, 19.0)  # nearest rank
    assert v1.agreement == pytest.approx(2 / 3) and v1.compared == 3
    assert (stats[2].records, stats[2].latency_p50_ms, stats[2].agreement) == (1, 5.0, None)
    week = {s.version: s for s in reg.inference_stats(MODEL, since=now - timedelta(days=7), versions=[2, 5])}
    assert (week[2].records, week[2].latency_p95_ms, week[5].records) == (2, 500.0, 0)
    with pytest.raises(InvalidInput, match="since"):
        reg.inference_stats(MODEL, since=now, until=now - timedelta(hours=1))


def test_corrections_export_as_yolo_with_the_label_set(every_registry: Registry, tmp_path: Path) -> None:
    reg = every_registry
    setup(reg)
    out = {"detections": [det("smoke", 0.8, [0, 0, 320, 240])], "width": 640, "height": 480}
    ids = reg.log_inferences([{"model": MODEL, "version": 1, "time": T0 + timedelta(seconds=i), "outputs": out,
                               "input_ref": f"s3://cams/{i}.jpg"} for i in range(4)]).request_ids
    reg.feedback(ids[0], corrected={"detections": [det("fire", 1.0, [0, 0, 320, 240]),
                                                   det("smoke", 1.0, [320, 240, 640, 480])]})
    reg.feedback(ids[1], corrected={"detections": []})  # nothing there: an empty label file
    reg.feedback(ids[2], label="fire")  # a label alone has no box: skipped for yolo, counted
    done = reg.export_feedback(MODEL, tmp_path / "yolo", format="yolo", dataset_name="fire-corrections")
    assert (done.samples, done.skipped) == (2, 1)
    folder = tmp_path / "yolo"
    assert (folder / "images.txt").read_text().splitlines() == ["s3://cams/1.jpg", "s3://cams/0.jpg"]
    labels = {p.name: p.read_text() for p in (folder / "labels").iterdir()}
    assert labels == {"000000.txt": "", "000001.txt": "0 0.250000 0.250000 0.500000 0.500000\n"
                                                      "1 0.750000 0.750000 0.500000 0.500000\n"}
    assert '0: "fire"' in (folder / "data.yaml").read_text() and "nc: 3" in (folder / "data.yaml").read_text()
    dataset = json.loads((folder / "dataset.json").read_text())
    assert dataset["name"] == "fire-corrections" and dataset["classes"] == LABELS
    assert dataset["digest"].startswith("sha256:") and dataset["train_count"] == 2
    assert dataset["derived_from"]["versions"] == [1] and dataset["derived_from"]["model"] == "fire-detector"
    # the next version points at it: lineage of data reads "trained on the corrections of v1's traffic"
    v3 = reg.register_version(MODEL, files={"best.pt": b"retrained"}, dataset=done.dataset)
    assert v3.dataset is not None and v3.dataset.digest == dataset["digest"]
    assert reg.get_version(f"{MODEL}:3").dataset.derived_from["versions"] == [1]  # type: ignore[union-attr]
    again = reg.export_feedback(MODEL, tmp_path / "yolo2", format="yolo", dataset_name="fire-corrections")
    assert again.dataset.digest == done.dataset.digest  # the same corrections, the same digest
    coco = reg.export_feedback(MODEL, tmp_path / "coco", format="coco")
    doc = json.loads((tmp_path / "coco" / "annotations.json").read_text())
    assert [c["name"] for c in doc["categories"]] == LABELS and coco.samples == 2
    assert sorted(a["bbox"] for a in doc["annotations"]) == [[0, 0, 320, 240], [320, 240, 320, 240]]
    lines = reg.export_feedback(MODEL, tmp_path / "jsonl", format="jsonl")
    rows = [json.loads(x) for x in (tmp_path / "jsonl" / "samples.jsonl").read_text().splitlines()]
    assert lines.samples == 3 and {r.get("class") for r in rows} == {None, "fire"}
    with pytest.raises(InvalidInput, match="not an empty folder"):
        reg.export_feedback(MODEL, tmp_path / "coco", format="yolo")
    with pytest.raises(InvalidInput, match="format"):
        reg.export_feedback(MODEL, tmp_path / "new", format="voc")  # type: ignore[arg-type]
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no half-written folder


def test_retention_and_deleted_versions(every_registry: Registry) -> None:
    reg = every_registry
    setup(reg, versions=3)
    now = datetime.now(UTC)
    reg.log_inferences([{"model": MODEL, "version": 1, "time": now - timedelta(days=d)} for d in range(10)])
    reg.log_inferences([{"model": MODEL, "version": 3, "time": now}] * 1)
    with pytest.raises(InvalidInput, match="days"):
        reg.set_inference_retention("vision", days=0)
    project = reg.set_inference_retention("vision", days=5)
    assert project.inference_retention is not None and project.inference_retention.days == 5
    dry = reg.gc(dry_run=True)
    assert dry.inferences == 5 and len(walk(reg)) == 11
    assert reg.gc(dry_run=False).inferences == 5
    assert len(walk(reg)) == 6
    reg.set_inference_retention("vision", count=2)
    assert reg.gc(dry_run=False).inferences == 4 and len(walk(reg)) == 2
    assert reg.get_project("vision").inference_retention.count == 2  # type: ignore[union-attr]
    reg.delete_version(f"{MODEL}:3")
    assert [r.version for r in reg.list_inferences(MODEL)] == [1]


# ---------------------------------------------------------------- roles and stores


def test_roles(reg: Service) -> None:
    setup(reg, versions=1)
    rid = reg.log_inference(MODEL, version=1, outputs={"class": "ok"})
    viewer = as_principal(reg, "dash", "viewer")
    assert viewer.get_inference(rid).request_id == rid and len(viewer.list_inferences(MODEL)) == 1
    with pytest.raises(PermissionDenied):
        viewer.log_inference(MODEL, version=1)
    with pytest.raises(PermissionDenied):
        viewer.feedback(rid, label="fire")
    editor = as_principal(reg, "labeller", "editor")
    assert editor.feedback(rid, label="fire").author == "labeller"
    with pytest.raises(PermissionDenied):
        editor.set_inference_retention("vision", days=3)
    reg.create_project("other")
    reg.register_version("other/m", files={"w": b"w"})
    elsewhere = as_principal(reg, "scoped", "editor", project="other")
    with pytest.raises(PermissionDenied):
        elsewhere.get_inference(rid)
    with pytest.raises(PermissionDenied):
        elsewhere.log_inference(MODEL, version=1)


def test_the_filter_language_over_records() -> None:
    node = parse_filter('feedback.label != outputs.class and outputs.box.score > 0.5', inference_fields,
                        field_values=True)
    assert node is not None
    with pytest.raises(InvalidFilter, match="known fields"):
        parse_filter("params.lr > 1", inference_fields, field_values=True)
    with pytest.raises(InvalidFilter, match="cannot be compared"):
        parse_filter("feedback = outputs.ok", inference_fields, field_values=True)
    with pytest.raises(InvalidFilter):  # fields on the right only where the caller allows it
        parse_filter("metrics.a > metrics.b")


def test_output_shapes() -> None:
    assert agrees({"class": "ng"}, label="ng", corrected=None) is True
    assert agrees({"detections": [det("fire", 0.9)]}, label="fire", corrected=None) is None
    assert agrees([det("fire", 0.9), det("smoke", 0.3)], label=None,
                  corrected={"detections": [det("smoke", 1), det("fire", 1)]}) is True
    assert agrees({"value": 3.0}, label=None, corrected={"value": 2.5}) is False
    assert box_xywhn([0, 0, 320, 240], 640, 480) == (0.25, 0.25, 0.5, 0.5)
    assert box_xywhn([0, 0, 320, 240], None, None) is None
    assert box_xywhn([0.1, 0.1, 0.3, 0.5], None, None) == pytest.approx((0.2, 0.3, 0.2, 0.4))
    assert summary({"detections": [det("fire", 0.91), det("smoke", 0.5)]}) == "2 detections: fire 0.91, smoke 0.50"
    assert summary({"class": "ng", "score": 0.97}) == "ng 0.97" and summary(3.25) == "3.25"


# ---------------------------------------------------------------- REST and the command line


def test_rest_takes_json_lines_and_refuses_bad_bodies(backend_api: Any) -> None:
    api = backend_api
    assert api.post("/projects", json={"name": "vision", "labels": LABELS}).status_code == 201
    from tests.test_server import assert_error, register  # the raw-API helpers

    register(api, "vision/fire-detector", b"w1")
    lines = "\n".join(json.dumps({"model": MODEL, "version": 1, "outputs": {"class": c}, "latency_ms": 3.5})
                      for c in ("fire", "ok", "fire")) + "\n\n"
    ok = api.post("/inferences", content=lines, headers={"Content-Type": "application/x-ndjson"})
    assert ok.status_code == 201 and ok.json()["accepted"] == 3
    as_array = api.post("/inferences", json=[{"model": MODEL, "version": 1, "request_id": "arr-1"}])
    assert as_array.status_code == 201 and as_array.json()["request_ids"] == ["arr-1"]
    broken = lines.replace('"ok"', '"ok",,', 1)
    bad = api.post("/inferences", content=broken, headers={"Content-Type": "application/x-ndjson"})
    assert "line 2" in assert_error(bad, 422, "invalid_metadata")["message"]
    alias = api.post("/inferences", json=[{"model": MODEL, "version": "@production"}])
    assert "record 0" in assert_error(alias, 422, "invalid_metadata")["message"]
    big = api.post("/inferences", content=b'{"model": "x", "outputs": "' + b"x" * (17 << 20) + b'"}',
                   headers={"Content-Type": "application/x-ndjson"})
    assert big.status_code == 413, big.text
    missing = api.post("/inferences/nope/feedback", json={"label": "fire"})
    assert_error(missing, 404, "inference_not_found")
    outside = api.post("/inferences/arr-1/feedback", json={"label": "lava"})
    assert "label set" in assert_error(outside, 422, "invalid_metadata")["message"]
    page = api.get("/projects/vision/models/fire-detector/inferences",
                   params={"where": 'outputs.class = "fire"', "limit": 1}).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    bad_filter = api.get("/projects/vision/models/fire-detector/inferences", params={"where": "x ="})
    assert_error(bad_filter, 422, "invalid_filter")
    stats = api.get("/projects/vision/models/fire-detector/inferences/stats",
                    params={"since": "2000-01-01T00:00:00Z"}).json()
    assert stats[0]["records"] == 4
    after = api.get("/projects/vision/models/fire-detector/inferences", params={"limit": 50}).json()
    assert len(after["items"]) == 4  # the refused bodies stored nothing


def test_the_cli_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_evaluations import cli as make_cli

    cli = make_cli.__wrapped__(tmp_path, monkeypatch)  # type: ignore[attr-defined]
    assert cli("projects", "create", "vision", "-l", "fire", "-l", "smoke", "-l", "ok").exit_code == 0
    (tmp_path / "w.pt").write_bytes(b"w")
    assert cli("register", MODEL, str(tmp_path / "w.pt")).exit_code == 0
    served = tmp_path / "served.jsonl"
    served.write_text("".join(json.dumps({"version": 1, "request_id": f"r{i}", "latency_ms": 10.0 * i,
                                          "outputs": {"detections": [det("smoke", 0.6, [0, 0, 0.5, 0.5])]}}) + "\n"
                              for i in range(3)))
    logged = cli("log-inferences", str(served), "--model", MODEL)
    assert logged.exit_code == 0 and "logged 3" in logged.output
    listed = cli("inferences", MODEL, "--where", "latency_ms >= 10")
    assert listed.exit_code == 0 and "r2" in listed.output and "r0" not in listed.output
    assert "1 detection: smoke 0.60" in listed.output
    fixed = cli("feedback", "add", "r1", "--corrected",
                json.dumps({"detections": [det("fire", 1.0, [0, 0, 0.5, 0.5])]}))
    assert fixed.exit_code == 0 and "answered otherwise" in fixed.output
    refused = cli("feedback", "add", "r2", "--label", "flood")
    assert refused.exit_code == 5 and "label set" in refused.output
    shown = cli("inference", "r1", "--json")
    assert json.loads(shown.output)["feedback"][0]["agrees"] is False
    figures = cli("inference-stats", MODEL, "--since", "1h", "--json")
    assert json.loads(figures.output)[0]["with_feedback"] == 1
    exported = cli("feedback", "export", MODEL, "--to", str(tmp_path / "fb"), "--format", "yolo")
    assert exported.exit_code == 0 and "wrote 1 sample" in exported.output
    assert (tmp_path / "fb" / "labels" / "000000.txt").read_text().startswith("0 0.250000 0.250000")
    second = cli("register", MODEL, str(tmp_path / "w.pt"), "--dataset", str(tmp_path / "fb" / "dataset.json"),
                 "--json")
    assert second.exit_code == 0 and json.loads(second.output)["dataset"]["derived_from"]["versions"] == [1]
    assert cli("projects", "retention", "vision", "--count", "1").exit_code == 0
    dry = cli("gc")
    assert "2 inference record(s)" in dry.output
    assert cli("gc", "--yes").exit_code == 0
    assert len(json.loads(cli("inferences", MODEL, "--json").output)["items"]) == 1
    missing = cli("inference", "nope")
    assert missing.exit_code == 3 and "modelreg inferences MODEL" in missing.output


def test_generated_request_ids_are_unique_and_ordered_by_time() -> None:
    from modelreg.request_ids import new_request_id

    first = [new_request_id() for _ in range(20_000)]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in first)
    assert len(set(first)) == len(first)
    time.sleep(0.002)
    later = new_request_id()
    assert later[:12] > max(first)[:12], "a later millisecond sorts after every earlier id"
    assert abs(int(later[:12], 16) - time.time_ns() // 1_000_000) < 5_000
