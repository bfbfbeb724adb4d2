"""Experiments: an experiment manifest's run (project, labels, several models, business rules; the pipelines'
``artifacts/experiments/<timestamp>/metrics.json``) registered as one version per model, linked by an id, all or
none; in process, against a real server, and through the CLI; hostile YAML and JSON refused cleanly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

import modelreg
from modelreg import AlreadyExists, BlobNotFound, Conflict, InvalidInput, InvalidMetadata, PermissionDenied
from modelreg.cli.main import app
from modelreg.config import Settings
from modelreg.local.experiment_files import (
    MAX_DEPTH,
    TextFile,
    checkpoint_files,
    experiment_id_of,
    load_manifest,
    load_metrics,
    manifest_models,
    read_text_file,
    weights_roots,
)
from modelreg.local.experiment_upload import experiment_request
from modelreg.registry import Registry
from modelreg.service import Service
from modelreg.service.experiments import experiment_id, version_metadata
from modelreg.service.manifests import Manifest, experiment_project

MANIFEST = """\
project: widget_line_a
labels:
  - ok
  - ng
  - scratch
  - dent
models:
  detector:
    name: yolov8-seg
    weights: pretrained/yolov8s-seg.pt
    hyperparameters:
      epochs: 100
      batch_size: 16
  classifier:
    name: mobilenet_v3_small
    weights: imagenet
    hyperparameters:
      epochs: 50
      batch_size: 64
  business_rules:
    max_ng_ratio: 0.1
    allow_unknown: false
"""
LABELS = ["ok", "ng", "scratch", "dent"]
STAMP = "2024-06-01_14-30"
METRICS = {
    "detector": {"map50": 0.91, "map50_95": 0.72, "box": {"loss": 0.4},
                 "class_metrics": [{"class_name": "scratch", "ap": 0.88}, {"class_name": "dent", "ap": 0.8}]},
    "classifier": {"accuracy": 0.95, "f1": {"macro": 0.9}, "confusion": "see report"},
    "duration_s": 3600, "dataset": "widgets-v3",
}


class Tree:
    """A repository as users keep it: models/configs/<manifest>.yaml, models/pretrained/, the run's
    artifacts/experiments/<timestamp>/metrics.json, and the trained weights under runs/."""

    def __init__(self, root: Path, manifest: str = MANIFEST) -> None:
        self.root = root
        self.manifest = root / "models" / "configs" / "widget_line_a.yaml"
        self.metrics = root / "artifacts" / "experiments" / STAMP / "metrics.json"
        self.detector = root / "runs" / "detector" / "best.pt"
        self.classifier = root / "runs" / "classifier" / "best.pt"
        self.pretrained = root / "models" / "pretrained" / "yolov8s-seg.pt"
        for path in (self.manifest, self.metrics, self.detector, self.classifier, self.pretrained):
            path.parent.mkdir(parents=True, exist_ok=True)
        self.manifest.write_text(manifest)
        self.metrics.write_text(json.dumps(METRICS))
        self.detector.write_bytes(b"trained detector")
        self.classifier.write_bytes(b"trained classifier")
        self.pretrained.write_bytes(b"pretrained detector")

    @property
    def checkpoints(self) -> dict[str, Any]:
        return {"detector": self.detector, "classifier": self.classifier}


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path / "repo")


@pytest.fixture
def reg(every_registry: Registry) -> Registry:
    """The service on the memory and SQLite stores, and the HTTP client of a real server (conftest)."""
    return every_registry


def nothing_registered(reg: Registry) -> None:
    assert reg.search_versions().total == 0
    assert reg.search_models().total == 0


# ---- the multi-model manifest


def test_each_model_of_the_manifest_becomes_a_version_linked_by_the_experiment(reg: Registry, tree: Tree) -> None:
    versions = reg.register_experiment(tree.manifest, metrics=tree.metrics, checkpoints=tree.checkpoints)
    detector, classifier = versions
    assert [v.ref for v in versions] == ["widget_line_a/detector:v1", "widget_line_a/classifier:v1"]
    assert reg.get_project("widget_line_a").labels == LABELS  # a new project takes the manifest's labels
    for v in versions:
        assert sorted(a.path for a in v.artifacts) == ["metrics.json", "weights/best.pt", "widget_line_a.yaml"]
        assert v.tags == {"experiment": STAMP} and v.extra["experiment"]["id"] == STAMP
        assert v.extra["experiment"]["versions"] == [x.ref for x in versions]
        assert v.params["business_rules"] == {"max_ng_ratio": 0.1, "allow_unknown": False}
        assert v.params["labels"] == LABELS and v.metrics["duration_s"] == 3600.0
        assert v.aliases == ["production"]  # each model's first version
        assert reg.resolve(v.ref, "widget_line_a.yaml").read_text() == MANIFEST  # the manifest as written
    assert detector.extra["experiment"]["model"] == "detector"
    assert reg.resolve(detector.ref, "weights/best.pt").read_bytes() == b"trained detector"
    assert reg.resolve(classifier.ref, "weights/best.pt").read_bytes() == b"trained classifier"
    assert json.loads(reg.resolve(classifier.ref, "metrics.json").read_text()) == METRICS
    assert detector.params == {"labels": LABELS, "business_rules": {"max_ng_ratio": 0.1, "allow_unknown": False},
                               "name": "yolov8-seg", "weights": "pretrained/yolov8s-seg.pt", "epochs": 100,
                               "batch_size": 16}
    assert classifier.params["name"] == "mobilenet_v3_small" and classifier.params["batch_size"] == 64
    assert detector.metrics == {"map50": 0.91, "map50_95": 0.72, "box.loss": 0.4, "duration_s": 3600.0}
    assert [(c.class_name, c.ap) for c in detector.class_metrics] == [("scratch", 0.88), ("dent", 0.8)]
    assert classifier.metrics == {"accuracy": 0.95, "f1.macro": 0.9, "duration_s": 3600.0}
    assert classifier.extra["metrics_other"] == {"dataset": "widgets-v3", "confusion": "see report"}
    found = reg.search_versions(f"tags.experiment = '{STAMP}'")
    assert sorted(v.ref for v in found.items) == sorted(v.ref for v in versions)


def test_an_experiment_id_is_registered_once(reg: Registry, tree: Tree) -> None:
    first = reg.register_experiment(tree.manifest, metrics=tree.metrics, checkpoints=tree.checkpoints)
    with pytest.raises(AlreadyExists) as caught:
        reg.register_experiment(tree.manifest, metrics=tree.metrics, checkpoints=tree.checkpoints)
    assert STAMP in caught.value.message and "widget_line_a/detector:v1" in caught.value.message
    assert reg.search_versions().total == 2
    again = reg.register_experiment(tree.manifest, metrics=tree.metrics, checkpoints=tree.checkpoints,
                                    experiment="rerun-1", alias="staging")
    assert [v.number for v in again] == [2, 2] and {v.tags["experiment"] for v in again} == {"rerun-1"}
    assert all(v.aliases == ["staging"] for v in again)
    assert all(reg.get_version(v.ref).aliases == ["production"] for v in first)


def test_metrics_given_as_content_and_an_id_made_of_the_time(reg: Registry, tree: Tree) -> None:
    versions = reg.register_experiment(tree.manifest, metrics={"detector": {"map50": 0.5}},
                                       checkpoints=tree.checkpoints)
    assert versions[0].metrics == {"map50": 0.5} and versions[1].metrics == {}
    assert "metrics.json" not in [a.path for a in versions[0].artifacts]
    made = versions[0].tags["experiment"]
    assert made[:8].isdigit() and versions[1].tags["experiment"] == made


def test_a_checkpoint_defaults_to_the_manifests_weights(reg: Registry, tree: Tree,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree.root)
    with pytest.raises(InvalidInput) as caught:  # the classifier's weights are "imagenet": not a file
        reg.register_experiment(tree.manifest, metrics=tree.metrics)
    assert caught.value.details["missing"] == ["classifier"] and "imagenet" in caught.value.message
    nothing_registered(reg)
    detector, _ = reg.register_experiment(tree.manifest, metrics=tree.metrics,
                                          checkpoints={"classifier": tree.classifier})
    assert reg.resolve(detector.ref, "weights/yolov8s-seg.pt").read_bytes() == b"pretrained detector"


def test_the_project_named_by_the_caller_must_be_the_manifests(reg: Registry, tree: Tree) -> None:
    with pytest.raises(InvalidInput) as caught:
        reg.register_experiment(tree.manifest, metrics=tree.metrics, checkpoints=tree.checkpoints, project="line_b")
    assert "line_b" in caught.value.message and "widget_line_a" in caught.value.message
    assert caught.value.details["manifest_project"] == "widget_line_a"
    nothing_registered(reg)
    assert reg.list_projects() == []
    versions = reg.register_experiment(tree.manifest, checkpoints=tree.checkpoints, project="widget_line_a",
                                       experiment="e1")
    assert {v.project for v in versions} == {"widget_line_a"}


def test_a_label_mismatch_registers_nothing_and_names_the_labels(reg: Registry, tree: Tree) -> None:
    reg.create_project("widget_line_a", labels=["ok", "ng", "scratch", "rust"])
    with pytest.raises(Conflict) as caught:
        reg.register_experiment(tree.manifest, metrics=tree.metrics, checkpoints=tree.checkpoints)
    message = caught.value.message
    assert "the project lacks dent" in message and "widget_line_a.yaml lacks rust" in message
    assert caught.value.details["missing"] == ["dent"] and caught.value.details["extra"] == ["rust"]
    nothing_registered(reg)
    assert reg.get_project("widget_line_a").labels == ["ok", "ng", "scratch", "rust"]
    versions = reg.register_experiment(tree.manifest, metrics=tree.metrics, checkpoints=tree.checkpoints,
                                       update_labels=True)
    assert len(versions) == 2 and reg.get_project("widget_line_a").labels == LABELS


@pytest.mark.parametrize("case", ["unknown model", "missing file", "not a manifest", "no models"])
def test_bad_checkpoints_and_manifests_register_nothing(reg: Registry, tree: Tree, case: str) -> None:
    checkpoints: dict[str, Any] = dict(tree.checkpoints)
    error: type[Exception] = InvalidInput
    if case == "unknown model":
        checkpoints["segmenter"] = tree.detector
        match = "segmenter.*its models: detector, classifier"
    elif case == "missing file":
        checkpoints["classifier"] = tree.root / "runs" / "nothing.pt"
        match = "classifier.*nothing.pt.*not a file"
    elif case == "not a manifest":
        tree.manifest.write_text("- just\n- a list\n")
        error, match = InvalidMetadata, "not a mapping"
    else:
        tree.manifest.write_text("project: p\nlabels: [a]\nmodels:\n  business_rules: {x: 1}\n")
        error, match = InvalidMetadata, "no model under models"
    with pytest.raises(error, match=match):
        reg.register_experiment(tree.manifest, metrics=tree.metrics, checkpoints=checkpoints)
    nothing_registered(reg)


# ---- hostile input


def nested(depth: int) -> str:
    return "a: " + "[" * depth + "]" * depth + "\n"


BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))
HOSTILE_YAML = {
    "python tag": ('a: !!python/object/apply:os.system ["touch /tmp/pwned"]\n', "tag !!python/object/apply"),
    "python name": ("a: !!python/name:os.system\n", "tag !!python/name"),
    "custom tag": ("a: !secret x\n", "tag !secret"),
    "deeply nested": (nested(5000), "nested more than"),
    "billion laughs": (BILLION_LAUGHS, "expands to more than"),
    "huge": ("a: '" + "x" * (1024 * 1024) + "'\n", "limit is"),
    "broken": ("project: [unclosed\n", "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_YAML))
def test_hostile_yaml_is_refused_cleanly(reg: Registry, tree: Tree, case: str) -> None:
    text, match = HOSTILE_YAML[case]
    tree.manifest.write_text(text)
    with pytest.raises(InvalidMetadata, match=match):
        reg.register_experiment(tree.manifest, metrics=tree.metrics, checkpoints=tree.checkpoints)
    nothing_registered(reg)
    assert not Path("/tmp/pwned").exists()


HOSTILE_JSON = {
    "deeply nested": ('{"detector": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested"),
    "nested past the limit": ('{"a": ' + '{"b": ' * MAX_DEPTH + "1" + "}" * MAX_DEPTH + "}", "nested more than"),
    "not an object": ("[1, 2]", "not an object"),
    "broken": ('{"detector": {"map50": 0.9', "not valid JSON"),
    "nan": ('{"detector": {"map50": NaN}}', "NaN"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
def test_bad_metrics_are_refused_cleanly(reg: Registry, tree: Tree, case: str) -> None:
    text, match = HOSTILE_JSON[case]
    tree.metrics.write_text(text)
    with pytest.raises(InvalidMetadata, match=match):
        reg.register_experiment(tree.manifest, metrics=tree.metrics, checkpoints=tree.checkpoints)
    nothing_registered(reg)


# ---- all or none


def test_a_failure_while_committing_leaves_no_version_and_no_model(tmp_path: Path, tree: Tree,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = Service._auto_activate

    def fail_on_the_second(self: Service, tx: Any, model: Any, number: int) -> None:
        calls.append(number)
        if len(calls) == 2:
            raise RuntimeError("the machine lost power")
        original(self, tx, model, number)

    with modelreg.connect(home=tmp_path / "registry", environ={}) as reg:
        monkeypatch.setattr(Service, "_auto_activate", fail_on_the_second)
        with pytest.raises(RuntimeError):
            reg.register_experiment(tree.manifest, metrics=tree.metrics, checkpoints=tree.checkpoints)
        nothing_registered(reg)
        assert reg.list_projects() == []
        monkeypatch.undo()
        assert len(reg.register_experiment(tree.manifest, metrics=tree.metrics, checkpoints=tree.checkpoints)) == 2


@pytest.mark.postgres
def test_an_experiment_on_postgresql(postgres_url: str, tmp_path: Path, tree: Tree) -> None:
    from conftest import _truncate_postgres

    _truncate_postgres(postgres_url)
    with modelreg.connect(postgres_url, artifacts=str(tmp_path / "blobs"), environ={}) as reg:
        versions = reg.register_experiment(tree.manifest, metrics=tree.metrics, checkpoints=tree.checkpoints)
        assert [v.number for v in versions] == [1, 1]
        assert reg.search_versions(f"tags.experiment = '{STAMP}'").total == 2
        with pytest.raises(AlreadyExists):
            reg.register_experiment(tree.manifest, metrics=tree.metrics, checkpoints=tree.checkpoints)


# ---- over HTTP


def test_the_server_uploads_nothing_before_the_checks_pass(remote_server: Any, remote_state: Any, tree: Tree,
                                                           tmp_path: Path) -> None:
    service = remote_state.service()
    service.create_project("widget_line_a", labels=["other"])
    with modelreg.connect(remote_server.url, settings=Settings(home=tmp_path / "c", actor="t")) as reg, \
            pytest.raises(Conflict):
        reg.register_experiment(tree.manifest, metrics=tree.metrics, checkpoints=tree.checkpoints)
    assert list(remote_state.blobs.iter_digests()) == []  # the checkpoints never left the client


def test_the_server_never_looks_for_a_checkpoint_on_its_own_disk(remote_server: Any, remote_state: Any,
                                                                 tree: Tree) -> None:
    manifest = MANIFEST.replace("pretrained/yolov8s-seg.pt", str(tree.pretrained))  # a file the server can see
    body = {"config": {"name": "m.yaml", "text": manifest}, "experiment": "e1"}
    with httpx.Client(base_url=remote_server.url + "/api/v1") as api:
        reply = api.post("/experiments", json=body)
        assert reply.status_code == 422 and reply.json()["error"]["details"]["missing"] == ["detector", "classifier"]
        body["checkpoints"] = {"detector": {"path": "best.pt", "digest": "sha256:" + "0" * 64, "size": 3},
                               "classifier": {"path": "best.pt", "digest": "sha256:" + "1" * 64, "size": 3}}
        reply = api.post("/experiments", json=body)
        assert reply.status_code == 404 and reply.json()["error"]["code"] == "blob_not_found"
        assert len(reply.json()["error"]["details"]["missing"]) == 2
        body["config"] = {"name": "../m.yaml", "text": manifest}
        assert api.post("/experiments", json=body).status_code == 422
    assert remote_state.service().search_versions().total == 0


def test_an_editor_cannot_point_production_at_the_experiment(remote_server: Any, remote_state: Any, tree: Tree,
                                                             tmp_path: Path) -> None:
    _, secret = remote_state.service().create_token("ed", "editor")
    settings = Settings(home=tmp_path / "c", actor="ed")
    with modelreg.connect(remote_server.url, token=secret, settings=settings) as reg:
        with pytest.raises(PermissionDenied, match="maintainer"):
            reg.register_experiment(tree.manifest, metrics=tree.metrics, checkpoints=tree.checkpoints,
                                    alias="production")
        nothing_registered(reg)
        assert len(reg.register_experiment(tree.manifest, metrics=tree.metrics, checkpoints=tree.checkpoints)) == 2


def test_a_missing_upload_is_asked_for_by_digest(remote_state: Any, tree: Tree) -> None:
    service: Service = remote_state.service()
    stored = {"path": "best.pt", "digest": "sha256:" + "a" * 64, "size": 1}
    with pytest.raises(BlobNotFound) as caught:
        service.register_experiment(TextFile("m.yaml", MANIFEST), checkpoints={"detector": stored,
                                                                             "classifier": tree.classifier})
    assert caught.value.details["missing"] == [stored["digest"]]


# ---- the parts


def test_manifest_models_and_shared_settings() -> None:
    models, shared = manifest_models(load_manifest(TextFile("m.yaml", MANIFEST)), "the manifest m.yaml")
    assert [m.key for m in models] == ["detector", "classifier"]
    assert models[0].weights == "pretrained/yolov8s-seg.pt" and models[1].hyperparameters["epochs"] == 50
    assert shared == {"labels": LABELS, "business_rules": {"max_ng_ratio": 0.1, "allow_unknown": False}}
    with pytest.raises(InvalidMetadata, match="cannot be a registered model's name"):
        manifest_models({"models": {"bad name": {"weights": "w.pt"}}}, "the manifest")
    with pytest.raises(InvalidMetadata, match="hyperparameters must be a mapping"):
        manifest_models({"models": {"d": {"hyperparameters": [1]}}}, "the manifest")


def test_yaml_aliases_within_the_limit_are_read() -> None:
    text = "base: &b {epochs: 3}\nmodels:\n  d:\n    hyperparameters:\n      <<: *b\n      lr: 0.1\n"
    assert load_manifest(TextFile("m.yaml", text))["models"]["d"]["hyperparameters"] == {"epochs": 3, "lr": 0.1}
    assert load_manifest(TextFile("m.yaml", "")) == {}


def test_metrics_sections_by_key_name_or_under_models() -> None:
    models, _ = manifest_models(load_manifest(TextFile("m.yaml", MANIFEST)), "m")
    by_name = version_metadata(models[0], {}, {"yolov8-seg": {"map50": 0.5}, "run": 2}, models)
    assert by_name["metrics"] == {"map50": 0.5, "run": 2.0}
    wrapped = version_metadata(models[1], {}, {"models": {"classifier": {"accuracy": 0.9}}, "n": 1}, models)
    assert wrapped["metrics"] == {"accuracy": 0.9, "n": 1.0}
    assert load_metrics(TextFile("metrics.json", '{"a": Infinity}'))["a"] == float("inf")


def test_experiment_ids_and_projects(tmp_path: Path) -> None:
    assert experiment_id_of(tmp_path / "2024-06-01_14-30" / "metrics.json") == "2024-06-01_14-30"
    assert experiment_id_of(tmp_path / "with space" / "metrics.json") is None
    assert experiment_id("given", None, None) == "given"
    with pytest.raises(InvalidInput):
        experiment_id("no/slash", None, None)
    manifest = Manifest(project="widget_line_a", source="the manifest m.yaml")
    assert experiment_project(None, manifest) == "widget_line_a"
    assert experiment_project(None, Manifest()) == "default" and experiment_project("x", Manifest()) == "x"
    with pytest.raises(InvalidInput, match=r"'line_b'.*'widget_line_a'"):
        experiment_project("line_b", manifest)


def test_files_roots_and_checkpoints(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree.root)
    roots = weights_roots(tree.manifest)
    assert roots[:3] == [tree.root.resolve(), tree.manifest.parent.resolve(), tree.manifest.parent.parent.resolve()]
    models, _ = manifest_models(load_manifest(read_text_file(tree.manifest, what="manifest", limit=10_000)), "m")
    files, stored = checkpoint_files(models, {"classifier": {"path": "c.pt", "digest": "d", "size": 1}}, roots, "m")
    assert files == {"detector": tree.root.resolve() / "models" / "pretrained" / "yolov8s-seg.pt"}
    assert list(stored) == ["classifier"]
    with pytest.raises(InvalidMetadata, match="limit"):
        read_text_file(tree.manifest, what="manifest", limit=10)
    with pytest.raises(InvalidInput, match="not a file"):
        read_text_file(tree.root, what="manifest", limit=10)


def test_what_the_http_client_sends(tree: Tree) -> None:
    request = experiment_request(tree.manifest, metrics=tree.metrics, checkpoints=tree.checkpoints,
                                 experiment=None, project=None, alias=None, update_labels=False)
    assert request.body["experiment"] == STAMP and request.body["config"]["text"] == MANIFEST
    assert json.loads(request.body["metrics_file"]["text"]) == METRICS
    assert request.keys == ["detector", "classifier"] and [s.path for s in request.sources] == ["best.pt"] * 2


# ---- the CLI


def invoke(home: Path, *args: str, url: str | None = None) -> Result:
    env = {"MODELREG_HOME": str(home), "MODELREG_ACTOR": "tester", "COLUMNS": "200", "MODELREG_URL": url,
           "MODELREG_TOKEN": None, "MODELREG_DATABASE_URL": None, "MODELREG_ARTIFACTS": None,
           "MODEL_ENVIRONMENT": None}
    return CliRunner().invoke(app, list(args), env=env)


def cli_args(tree: Tree, *more: str) -> list[str]:
    return ["experiment", "register", "--config", str(tree.manifest), "--metrics", str(tree.metrics),
            "--checkpoint", f"detector={tree.detector}", "--checkpoint", f"classifier={tree.classifier}", *more]


@pytest.mark.parametrize("where", ["local", "remote"])
def test_cli_experiment_register(tree: Tree, tmp_path: Path, where: str, request: pytest.FixtureRequest) -> None:
    url = None
    if where == "remote":
        url = request.getfixturevalue("remote_server").url
        request.getfixturevalue("remote_state")
    home = tmp_path / "home"
    done = invoke(home, *cli_args(tree), url=url)
    assert done.exit_code == 0, done.output
    assert f"experiment {STAMP}: 2 version(s) registered" in done.output
    assert "registered widget_line_a/detector:v1 (3 files" in done.output
    assert "registered widget_line_a/classifier:v1" in done.output
    again = invoke(home, *cli_args(tree, "--json", "--experiment", "rerun", "--alias", "staging"), url=url)
    assert again.exit_code == 0, again.output
    listed = json.loads(again.stdout)
    assert [(v["model"], v["number"], v["tags"]["experiment"]) for v in listed] == [
        ("detector", 2, "rerun"), ("classifier", 2, "rerun")]
    assert all("staging" in v["aliases"] for v in listed)
    found = invoke(home, "search", "tags.experiment = 'rerun'", "--json", url=url)
    assert found.exit_code == 0 and json.loads(found.stdout)["total"] == 2


@pytest.mark.parametrize(("change", "code", "words"), [
    ("labels", 4, "lacks rust"),
    ("project", 5, "'line_b'"),
    ("checkpoint", 5, "nothing.pt"),
    ("unknown", 5, "segmenter"),
    ("yaml", 5, "not valid YAML"),
    ("json", 5, "not valid JSON"),
    ("syntax", 5, "MODEL=PATH"),
])
def test_cli_errors_register_nothing(tree: Tree, tmp_path: Path, change: str, code: int, words: str) -> None:
    home = tmp_path / "home"
    args = cli_args(tree)
    if change == "labels":
        assert invoke(home, "projects", "create", "widget_line_a", "-l", "ok", "-l", "ng", "-l", "scratch",
                      "-l", "rust").exit_code == 0
    elif change == "project":
        args += ["--project", "line_b"]
    elif change == "checkpoint":
        args[args.index(f"classifier={tree.classifier}")] = f"classifier={tree.root / 'nothing.pt'}"
    elif change == "unknown":
        args += ["--checkpoint", f"segmenter={tree.detector}"]
    elif change == "yaml":
        tree.manifest.write_text("models: {detector: [\n")
    elif change == "json":
        tree.metrics.write_text("{")
    else:
        args += ["--checkpoint", "detector"]
    result = invoke(home, *args)
    assert result.exit_code == code, result.output
    assert words in result.output
    if change == "labels":
        assert "--update-labels" in result.output
        assert invoke(home, *args, "--update-labels").exit_code == 0
        return
    with modelreg.connect(home=home, environ={}) as reg:
        nothing_registered(reg)
