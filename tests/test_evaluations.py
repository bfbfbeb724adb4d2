"""Evaluations after training: ``log_evaluation`` / ``list_evaluations`` on every store, over REST, through the
remote SDK and the CLI; ``eval.<dataset>.<metric>`` in filters (memory, SQLite, PostgreSQL), compare and gates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.test_metadata_contract import T0, add_version, setup_model
from tests.test_tokens import as_principal
from typer.testing import CliRunner, Result

import modelreg
from modelreg.cli.errors import ExitCode
from modelreg.cli.main import app
from modelreg.client.http import HttpRegistry
from modelreg.config import Settings
from modelreg.errors import (
    GateFailed,
    InvalidFilter,
    InvalidMetadata,
    InvalidName,
    PermissionDenied,
    VersionNotFound,
)
from modelreg.filters import parse_filter, parse_sort, version_fields
from modelreg.metadata.base import MetadataStore
from modelreg.registry import Registry
from modelreg.service import Service
from modelreg.service.gate import evaluate_gate
from modelreg.service.insights import build_comparison
from modelreg.types import Evaluation

NIGHT = "night_images"


def two_versions(reg: Registry) -> None:
    for map50 in (0.5, 0.6):
        reg.register_version("vision/det", files={"w.pt": f"w {map50}".encode()}, metrics={"map50": map50})


def numbers(reg: Registry, expr: str) -> list[int]:
    return sorted(v.number for v in reg.search_versions(expr, model="vision/det", limit=50))


def check_rules(reg: Registry) -> None:
    """The service's rules, the same on every store and remotely."""
    two_versions(reg)
    first = reg.log_evaluation("vision/det:1", dataset=NIGHT, metrics={"map50": 0.7, "recall": 0.6},
                               class_metrics=[{"class": "fire", "ap": 0.65}], notes="night set v1",
                               digest="sha256:" + "ab" * 32)
    assert isinstance(first, Evaluation) and first.digest == "sha256:" + "ab" * 32
    assert (first.dataset, first.metrics, first.notes, first.created_by) == (NIGHT, {"map50": 0.7, "recall": 0.6},
                                                                            "night set v1", "tester")
    assert [c.class_name for c in first.class_metrics] == ["fire"] and first.class_metrics[0].ap == 0.65
    reg.log_evaluation("vision/det:1", dataset="coco_val", metrics={"map50": 0.4})
    # latest wins: the same dataset again replaces the evaluation, the event keeps the one before
    again = reg.log_evaluation("vision/det:1", dataset=NIGHT, metrics={"map50": 0.85})
    listed = reg.list_evaluations("vision/det:1")
    assert [e.dataset for e in listed] == ["coco_val", NIGHT]
    assert listed[1] == again and listed[1].metrics == {"map50": 0.85} and listed[1].class_metrics == []
    assert listed[1].digest == "" and listed[0].digest == ""
    event = reg.events(action="evaluation.logged", limit=1).items[0]
    assert (event.model, event.version) == ("det", 1)
    assert event.before["metrics"] == {"map50": 0.7, "recall": 0.6} and event.after["metrics"] == {"map50": 0.85}
    assert reg.events(action="evaluation.logged", limit=10).items[-1].before is None
    # the training metrics stay as they were
    assert reg.get_version("vision/det:1").metrics == {"map50": 0.5}
    assert reg.list_evaluations("vision/det:2") == []
    # filters: present values compare, a version without the evaluation matches nothing (not even its `not`)
    reg.log_evaluation("vision/det:2", dataset=NIGHT, metrics={"map50": 0.75})
    assert numbers(reg, "eval.night_images.map50 >= 0.8") == [1]
    assert numbers(reg, "eval.night_images.map50 < 0.8") == [2]
    assert numbers(reg, "eval.coco_val.map50 > 0") == [1]
    assert numbers(reg, "not eval.coco_val.map50 > 0") == [2]
    assert numbers(reg, "eval.coco_val.recall > 0 or eval.night_images.map50 = 0.75") == [2]
    assert numbers(reg, "eval.other.map50 >= 0") == []
    assert numbers(reg, "eval.night_images.recall > 0") == []  # replaced: the old numbers are gone
    assert numbers(reg, "eval.night_images.map50 >= 0.8 and metrics.map50 < 0.55") == [1]
    # the report holds them (JSON and Markdown, per-class rows included)
    report = json.loads(reg.report("vision/det:1", "json"))
    assert [e["dataset"] for e in report["evaluations"]] == ["coco_val", NIGHT]
    reg.log_evaluation("vision/det:2", dataset="coco_val", metrics={"map50": 0.3}, notes="a | b\nc",
                       class_metrics=[{"class_name": "smoke", "ap": 0.25}])
    markdown = reg.report("vision/det:2", "markdown")
    assert "## Evaluations" in markdown and "### Per class on coco_val" in markdown and "a \\| b c" in markdown
    # compare puts the evaluations side by side, with differences from the first version
    cmp = reg.compare(["vision/det:1", "vision/det:2"])
    rows = {m.name: (m.values, m.deltas) for m in cmp.evaluations}
    assert rows["eval.night_images.map50"][0] == [0.85, 0.75]
    assert rows["eval.night_images.map50"][1][1] == pytest.approx(-0.1)
    assert rows["eval.coco_val.map50"][0] == [0.4, 0.3]


def check_bad_input(reg: Registry) -> None:
    two_versions(reg)
    with pytest.raises(VersionNotFound):
        reg.log_evaluation("vision/det:9", dataset=NIGHT, metrics={"map50": 0.8})
    with pytest.raises(VersionNotFound):
        reg.list_evaluations("vision/det:9")
    for metrics in ({"map50": float("nan")}, {"map50": float("inf")}, {"map50": "high"}, {"map50": True},
                    {"map50": 10**400}, {"map50": None}, {"map50": {"x": 1}},
                    {"bad\x00name": 0.5}, {"m": "\ud800"}, {}):
        with pytest.raises(InvalidMetadata):
            reg.log_evaluation("vision/det:1", dataset=NIGHT, metrics=metrics)  # type: ignore[arg-type]
    for dataset in ("night.images", "../etc", "", "x" * 200, "nuit\u00e9", "a b"):
        with pytest.raises(InvalidName):
            reg.log_evaluation("vision/det:1", dataset=dataset, metrics={"map50": 0.8})
    with pytest.raises(InvalidMetadata):
        reg.log_evaluation("vision/det:1", dataset=NIGHT, metrics={"map50": 0.8}, notes="nul \x00 here")
    for digest in ("two words", "x" * 300, "line\nbreak", "\ud800", 5):
        with pytest.raises(InvalidMetadata):
            reg.log_evaluation("vision/det:1", dataset=NIGHT, metrics={"map50": 0.8},
                               digest=digest)  # type: ignore[arg-type]
    with pytest.raises(InvalidMetadata):
        reg.log_evaluation("vision/det:1", dataset=NIGHT, metrics={"map50": 0.8}, class_metrics=[{"ap": 0.5}])
    with pytest.raises(InvalidMetadata):
        reg.log_evaluation("vision/det:1", dataset=NIGHT, metrics={"map50": 0.8},
                           class_metrics=[{"class_name": "fire", "ap": 85}])
    with pytest.raises(InvalidMetadata):
        reg.log_evaluation("vision/det:1", dataset=NIGHT, metrics=[("map50", 0.8)])  # type: ignore[arg-type]
    with pytest.raises(InvalidFilter):
        reg.search_versions("eval.night_images > 0.5", model="vision/det")
    with pytest.raises(InvalidFilter):
        reg.search_versions("eval.night_images.map50 > 'x'", model="vision/det")
    with pytest.raises(InvalidFilter):
        reg.search_versions(sort="-eval.night_images.map50", model="vision/det")
    with pytest.raises(InvalidFilter):
        reg.search_models("eval.night_images.map50 > 0.5")
    assert reg.list_evaluations("vision/det:1") == []  # nothing refused was stored
    assert reg.events(action="evaluation.logged").items == []


def test_the_rules_on_every_store(reg: Service) -> None:
    check_rules(reg)


def test_bad_input_on_every_store(reg: Service) -> None:
    check_bad_input(reg)


def test_a_deleted_version_takes_its_evaluations_along(reg: Service) -> None:
    two_versions(reg)
    reg.log_evaluation("vision/det:2", dataset=NIGHT, metrics={"map50": 0.9})
    reg.delete_version("vision/det:2")
    assert numbers(reg, "eval.night_images.map50 > 0") == []
    reg.register_version("vision/det", files={"w.pt": b"w3"})
    assert reg.list_evaluations("vision/det:3") == []
    reg.log_evaluation("vision/det:3", dataset=NIGHT, metrics={"map50": 0.1})
    reg.delete_alias("vision/det", "production")
    reg.delete_model("vision/det")
    two_versions(reg)
    assert reg.list_evaluations("vision/det:1") == [] and numbers(reg, "eval.night_images.map50 > 0") == []


def test_a_version_holds_at_most_max_evaluations(reg: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelreg.service import evaluations

    monkeypatch.setattr(evaluations, "MAX_EVALUATIONS", 2)
    two_versions(reg)
    for dataset in ("a", "b"):
        reg.log_evaluation("vision/det:1", dataset=dataset, metrics={"map50": 0.5})
    with pytest.raises(InvalidMetadata) as err:
        reg.log_evaluation("vision/det:1", dataset="c", metrics={"map50": 0.5})
    assert err.value.details["limit"] == 2 and "replaces" in (err.value.hint or "")
    reg.log_evaluation("vision/det:1", dataset="b", metrics={"map50": 0.6})  # a replacement is not a new one
    reg.log_evaluation("vision/det:2", dataset="c", metrics={"map50": 0.5})  # the limit is per version
    assert [e.dataset for e in reg.list_evaluations("vision/det:1")] == ["a", "b"]


def test_a_viewer_lists_but_may_not_log(reg: Service) -> None:
    two_versions(reg)
    reg.log_evaluation("vision/det:1", dataset=NIGHT, metrics={"map50": 0.8})
    viewer = as_principal(reg, "ann", "viewer")
    with pytest.raises(PermissionDenied):
        viewer.log_evaluation("vision/det:1", dataset=NIGHT, metrics={"map50": 0.1})
    assert [e.metrics for e in viewer.list_evaluations("vision/det:1")] == [{"map50": 0.8}]
    other = as_principal(reg, "bob", "editor", project="other")
    with pytest.raises(PermissionDenied):
        other.log_evaluation("vision/det:1", dataset=NIGHT, metrics={"map50": 0.1})


def test_the_promotion_gate_reads_evaluations(reg: Service) -> None:
    two_versions(reg)  # v1 is production (the first version is activated)
    reg.update_model("vision/det", promotion_gate="eval.night_images.map50 >= 0.8 and "
                                                  "delta.eval.night_images.map50 >= -0.02")
    with pytest.raises(GateFailed) as err:  # v2 has no evaluation on night_images: the term fails
        reg.promote("vision/det", "v2")
    assert "eval.night_images.map50 >= 0.8" in err.value.details["failing"]
    reg.log_evaluation("vision/det:1", dataset=NIGHT, metrics={"map50": 0.9})
    reg.log_evaluation("vision/det:2", dataset=NIGHT, metrics={"map50": 0.85})
    plan = reg.promote("vision/det", "v2", dry_run=True)
    assert not plan.gate_passed
    assert [t.passed for t in plan.gate_terms] == [True, False]
    assert "0.85" in plan.gate_terms[0].detail
    reg.log_evaluation("vision/det:2", dataset=NIGHT, metrics={"map50": 0.89})
    plan = reg.promote("vision/det", "v2")
    assert plan.applied and plan.gate_passed and reg.get_version("vision/det@production").number == 2


def test_gate_values_without_a_current_version() -> None:
    reg = modelreg.connect("memory://", artifacts="memory://", settings=Settings(actor="t"))
    assert isinstance(reg, Service)
    reg.register_version("m", files={"w.pt": b"x"})
    v = reg.get_version("m:1")
    passed, terms = evaluate_gate("eval.d.acc >= 0.5 and delta.eval.d.acc >= 0", v, None, {v.id: {"d": {"acc": 0.6}}})
    assert passed and [t.detail for t in terms] == ["eval.d.acc is 0.6", "no current version to compare with"]
    passed, _ = evaluate_gate("eval.d.acc >= 0.5", v, None, {})
    assert not passed
    assert build_comparison([v, v], {}, None).evaluations == []


# ---- remote: the SDK over HTTP and the REST API


@pytest.fixture
def remote(http_registry: HttpRegistry) -> HttpRegistry:
    return http_registry


def test_the_rules_through_http(remote: HttpRegistry) -> None:
    check_rules(remote)


def test_bad_input_through_http(remote: HttpRegistry) -> None:
    check_bad_input(remote)


def test_a_viewer_token_is_refused_remotely(remote: HttpRegistry, remote_server: Any, tmp_path: Path) -> None:
    two_versions(remote)
    remote.log_evaluation("vision/det:1", dataset=NIGHT, metrics={"map50": 0.8})
    _, secret = remote.create_token("reader", "viewer")
    with modelreg.connect(remote_server.url, token=secret,
                          settings=Settings(home=tmp_path / "viewer", actor="x")) as viewer:
        assert [e.dataset for e in viewer.list_evaluations("vision/det:1")] == [NIGHT]
        with pytest.raises(PermissionDenied):
            viewer.log_evaluation("vision/det:1", dataset=NIGHT, metrics={"map50": 0.1})


def test_the_rest_api(backend_api: Any, backend_state: Any) -> None:
    path = "/projects/vision/models/det/versions/{}/evaluations"
    created = backend_api.post("/projects/vision/models", json={"name": "det"})
    assert created.status_code in (200, 201), created.text
    for i in (1, 2):
        r = backend_api.post("/projects/vision/models/det/versions", json={"metrics": {"map50": 0.5 + i / 10}})
        assert r.status_code == 201, r.text
    r = backend_api.post(path.format(1), json={"dataset": NIGHT, "metrics": {"map50": 0.81},
                                               "class_metrics": [{"class_name": "fire", "ap": 0.8}]})
    assert r.status_code == 201, r.text
    assert r.json()["dataset"] == NIGHT and r.json()["class_metrics"][0]["class_name"] == "fire"
    listed = backend_api.get(path.format(1))
    assert listed.status_code == 200 and [e["metrics"] for e in listed.json()] == [{"map50": 0.81}]
    assert backend_api.get(path.format("@production")).json() == listed.json()
    found = backend_api.get("/versions", params={"q": "eval.night_images.map50 >= 0.8"}).json()
    assert [v["number"] for v in found["items"]] == [1]
    # errors: the envelope and the status of each error class
    for body, status, code in (
            ({"dataset": NIGHT, "metrics": {"map50": "high"}}, 422, "invalid_metadata"),
            ({"dataset": "a.b", "metrics": {"map50": 0.5}}, 422, "invalid_name"),
            ({"dataset": NIGHT, "metrics": {"map50": 0.5}, "extra": 1}, 422, None)):
        r = backend_api.post(path.format(1), json=body)
        assert r.status_code == status, r.text
        if code:
            assert r.json()["error"]["code"] == code
    r = backend_api.post(path.format(1), content=b'{"dataset": "night_images", "metrics": {"map50": NaN}}',
                         headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_metadata", r.text
    r = backend_api.post(path.format(9), json={"dataset": NIGHT, "metrics": {"map50": 0.5}})
    assert r.status_code == 404 and r.json()["error"]["code"] == "version_not_found"
    assert backend_api.get(path.format(9)).status_code == 404


# ---- CLI


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for var in ("MODELREG_URL", "MODELREG_TOKEN", "MODELREG_DATABASE_URL", "MODELREG_ARTIFACTS", "MODEL_ENVIRONMENT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELREG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MODELREG_ACTOR", "tester")
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return invoke


def test_the_cli(cli: Any, tmp_path: Path) -> None:
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"weights")
    assert cli("register", "det", str(weights), "-m", "map50=0.5").exit_code == 0
    rows = tmp_path / "classes.json"
    rows.write_text(json.dumps([{"class_name": "fire", "ap": 0.7}, {"class_name": "smoke", "ap": 0.6}]))
    done = cli("evaluate", "det:1", "--dataset", NIGHT, "--metric", "map50=0.81", "-m", "recall=0.7",
               "--class-metrics", str(rows), "--notes", "night frames")
    assert done.exit_code == 0, done.output
    assert "night_images" in done.stdout and "2 classes" in done.stdout
    shown = cli("evaluations", "det:1")
    assert shown.exit_code == 0 and "night_images" in shown.stdout and "0.8100" in shown.stdout
    data = json.loads(cli("evaluations", "det:1", "--json").stdout)
    assert data[0]["metrics"] == {"map50": 0.81, "recall": 0.7} and data[0]["notes"] == "night frames"
    as_json = json.loads(cli("evaluate", "det", "--dataset", "day", "-m", "map50=0.9", "--json").stdout)
    assert as_json["dataset"] == "day"
    found = cli("search", "eval.night_images.map50 >= 0.8", "--json")
    assert found.exit_code == 0 and [v["number"] for v in json.loads(found.stdout)["items"]] == [1]
    assert cli("evaluate", "det:1", "--dataset", NIGHT, "-m", "map50=nan").exit_code == ExitCode.INVALID_INPUT
    assert cli("evaluate", "det:1", "--dataset", NIGHT, "-m", "map50=high").exit_code == ExitCode.INVALID_INPUT
    assert cli("evaluate", "det:1", "--dataset", "a.b", "-m", "map50=1").exit_code == ExitCode.INVALID_INPUT
    assert cli("evaluate", "det:1", "--dataset", NIGHT).exit_code == ExitCode.INVALID_INPUT
    missing = cli("evaluate", "det:7", "--dataset", NIGHT, "-m", "map50=1")
    assert missing.exit_code == ExitCode.NOT_FOUND and "Traceback" not in missing.output
    assert cli("evaluations", "det:7").exit_code == ExitCode.NOT_FOUND
    assert cli("evaluate", "det:1", "-m", "map50=1").exit_code == ExitCode.USAGE  # --dataset is required
    assert cli("register", "det", str(weights), "-m", "map50=0.6").exit_code == 0
    compared = cli("compare", "det:1", "det:2")
    assert compared.exit_code == 0 and "eval.night_images.map50" in compared.stdout
    empty = cli("evaluations", "det:2")
    assert empty.exit_code == 0 and "no evaluations" in empty.stdout


def test_the_dashboard_version_page_shows_evaluations(remote: HttpRegistry, remote_server: Any) -> None:
    import httpx

    two_versions(remote)
    remote.log_evaluation("vision/det:1", dataset=NIGHT, metrics={"map50": 0.81, "recall": 0.7},
                          notes="<b>night</b>")
    remote.log_evaluation("vision/det:1", dataset="coco_val", metrics={"map50": 0.4})
    with httpx.Client(base_url=remote_server.url, timeout=30) as ui:
        page = ui.get("/v/vision/det/1")
        assert page.status_code == 200
        table = page.text.split('id="evaluations"', 1)[1].split("</table>", 1)[0]
        assert NIGHT in table and "coco_val" in table and "0.8100" in table
        assert "&lt;b&gt;night&lt;/b&gt;" in table and "<b>night" not in table  # notes are escaped
        assert 'id="evaluations"' not in ui.get("/v/vision/det/2").text  # no evaluations, no table


# ---- the store contract (memory, SQLite, PostgreSQL)


def test_the_store_keeps_one_evaluation_per_dataset(metadata_store: MetadataStore) -> None:
    def evaluation(dataset: str, **metrics: float) -> Evaluation:
        return Evaluation(dataset=dataset, metrics=metrics, created_at=T0, created_by="a", digest="sha256:1")

    def found(tx: Any, expr: str) -> list[int]:
        page = tx.search_versions(model_id=None, project=None, where=parse_filter(expr, version_fields),
                                  sort=parse_sort("number", version_fields, "number"), cursor=None, limit=10)
        return [v.number for v in page.items]

    with metadata_store.transaction() as tx:
        model = setup_model(tx)
        v1, v2 = add_version(tx, model), add_version(tx, model)
        tx.save_evaluation(version_id=v1.id, evaluation=evaluation("night", map50=0.7, recall=0.5))
        tx.save_evaluation(version_id=v1.id, evaluation=evaluation("day", map50=0.9))
        tx.save_evaluation(version_id=v1.id, evaluation=evaluation("night", map50=0.8))  # replaces
        tx.save_evaluation(version_id=v2.id, evaluation=evaluation("night", map50=0.6))
        with pytest.raises(VersionNotFound):
            tx.save_evaluation(version_id=v2.id + 100, evaluation=evaluation("night", map50=0.1))
    with metadata_store.read() as tx:
        assert [(e.dataset, e.metrics) for e in tx.list_evaluations(version_id=v1.id)] == [
            ("day", {"map50": 0.9}), ("night", {"map50": 0.8})]
        got = tx.get_evaluation(version_id=v1.id, dataset="night")
        assert got == evaluation("night", map50=0.8)
        assert tx.get_evaluation(version_id=v2.id, dataset="day") is None
        assert found(tx, "eval.night.map50 >= 0.7") == [1]
        assert found(tx, "eval.night.recall >= 0") == []
        assert found(tx, "not eval.day.map50 > 0.5") == [2]
        assert found(tx, "eval.night.map50 < 0.7 or eval.day.map50 = 0.9") == [1, 2]
        with pytest.raises(InvalidFilter):
            tx.search_versions(model_id=None, project=None, where=None,
                               sort=parse_sort("eval.night.map50", version_fields, "number"), cursor=None,
                               limit=10)
        with pytest.raises(RuntimeError):
            tx.save_evaluation(version_id=v1.id, evaluation=evaluation("x", m=1.0))
    with pytest.raises(RuntimeError, match="boom"), metadata_store.transaction() as tx:
        tx.save_evaluation(version_id=v2.id, evaluation=evaluation("night", map50=0.99))
        raise RuntimeError("boom")
    with metadata_store.transaction() as tx:
        assert tx.list_evaluations(version_id=v2.id)[0].metrics == {"map50": 0.6}  # rolled back
        tx.delete_version(version_id=v2.id)
        assert found(tx, "eval.night.map50 >= 0") == [1]
        tx.delete_model(model_id=model.id)
        assert found(tx, "eval.night.map50 >= 0") == [] and tx.list_evaluations(version_id=v1.id) == []


# ---- the dashboard's compare page and the CLI's info


def test_the_dashboard_compare_page_and_per_class_rows(remote: HttpRegistry, remote_server: Any) -> None:
    import httpx

    two_versions(remote)
    remote.log_evaluation("vision/det:1", dataset=NIGHT, metrics={"map50": 0.81}, digest="sha256:feed",
                          class_metrics=[{"class_name": "<fire>", "ap": 0.7, "recall": 0.5}])
    remote.log_evaluation("vision/det:2", dataset=NIGHT, metrics={"map50": 0.71})
    with httpx.Client(base_url=remote_server.url, timeout=30) as ui:
        page = ui.get("/v/vision/det/1").text
        assert "sha256:feed" in page and 'id="eval-classes-night_images"' in page
        per_class = page.split('id="eval-classes-night_images"', 1)[1].split("</table>", 1)[0]
        assert "&lt;fire&gt;" in per_class and "0.7000" in per_class and "<fire>" not in per_class
        compared = ui.get("/compare", params=[("ref", "vision/det:1"), ("ref", "vision/det:2")])
        assert compared.status_code == 200, compared.text
        table = compared.text.split('id="compare-evaluations"', 1)[1].split("</table>", 1)[0]
        assert "night_images" in table and "0.8100" in table and "0.7100" in table and "worse" in table


def test_info_lists_the_evaluations(cli: Any, tmp_path: Path) -> None:
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"weights")
    assert cli("register", "det", str(weights), "-m", "map50=0.5").exit_code == 0
    assert "evaluations" not in cli("info", "det:1").stdout
    done = cli("evaluate", "det:1", "--dataset", NIGHT, "-m", "map50=0.81", "--digest", "[bold]tag")
    assert done.exit_code == 0 and "night_images ([bold]tag): map50=0.8100" in done.stdout, done.output
    shown = cli("info", "det:1")
    assert shown.exit_code == 0 and "evaluations" in shown.stdout and "0.8100" in shown.stdout
    assert "[bold]tag" in cli("evaluations", "det:1").stdout
    assert json.loads(cli("evaluations", "det:1", "--json").stdout)[0]["digest"] == "[bold]tag"
