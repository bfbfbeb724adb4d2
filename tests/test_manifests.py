"""Experiment manifests (the models/configs/*.yaml files: project, labels, models): the project they name, their labels
against the project's label set, in process and over HTTP; and version labels shown by the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import modelreg
from modelreg import AlreadyExists, Conflict, InvalidInput, InvalidMetadata
from modelreg.cli.main import app
from modelreg.local.metadata_files import version_fields_from_metadata
from modelreg.registry import Registry

MANIFEST = """\
project: widget_line_a
labels: [ok, ng, scratch, dent]
models:
  detector:
    name: yolov8-seg
    weights: pretrained/yolov8s-seg.pt
    hyperparameters: {epochs: 100, batch_size: 16}
  classifier:
    name: mobilenet_v3_small
    hyperparameters: {epochs: 50, batch_size: 64}
  business_rules: {max_ng_ratio: 0.1, allow_unknown: false}
"""
LABELS = ["ok", "ng", "scratch", "dent"]


def run_folder(tmp_path: Path, manifest: str | None = MANIFEST, name: str = "run") -> Path:
    folder = tmp_path / name
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "best.pt").write_bytes(b"detector weights")
    if manifest is not None:
        (folder / "config.yaml").write_text(manifest)
    return folder


@pytest.fixture
def reg(every_registry: Registry) -> Registry:
    """The service on the memory and SQLite stores, and the HTTP client of a real server (conftest)."""
    return every_registry


def nothing_registered(reg: Registry) -> None:
    assert reg.search_versions().total == 0
    assert reg.search_models().total == 0


# ---- the project


def test_the_manifest_names_the_project_and_gives_it_its_labels(reg: Registry, tmp_path: Path) -> None:
    v = reg.register_version("detector", files=run_folder(tmp_path))
    assert (v.project, v.model) == ("widget_line_a", "detector")
    assert reg.get_project("widget_line_a").labels == LABELS  # a new project takes the manifest's labels
    assert v.params["models"]["business_rules"] == {"max_ng_ratio": 0.1, "allow_unknown": False}
    assert v.params["labels"] == LABELS and v.extra["config_file"] == "config.yaml"
    assert [p.name for p in reg.list_projects()] == ["widget_line_a"]  # nothing landed in "default"
    changed = reg.events(project="widget_line_a", action="project.updated").items
    assert [(e.before["labels"], e.after["labels"]) for e in changed] == [([], LABELS)]


def test_the_same_project_named_by_the_caller_is_fine(reg: Registry, tmp_path: Path) -> None:
    v = reg.register_version("widget_line_a/detector", files=run_folder(tmp_path))
    assert v.project == "widget_line_a"


def test_another_project_named_by_the_caller_is_refused_naming_both(reg: Registry, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        reg.register_version("line_b/detector", files=run_folder(tmp_path))
    assert "line_b" in caught.value.message and "widget_line_a" in caught.value.message
    assert caught.value.details["manifest_project"] == "widget_line_a"
    nothing_registered(reg)
    assert reg.list_projects() == []


def test_a_project_with_no_label_set_takes_the_manifests(reg: Registry, tmp_path: Path) -> None:
    reg.create_project("widget_line_a")
    reg.register_version("detector", files=run_folder(tmp_path))
    assert reg.get_project("widget_line_a").labels == LABELS


def test_the_same_labels_register_without_an_event(reg: Registry, tmp_path: Path) -> None:
    reg.create_project("widget_line_a", labels=LABELS)
    reg.register_version("detector", files=run_folder(tmp_path))
    assert reg.events(project="widget_line_a", action="project.updated").items == []


# ---- the labels


def test_different_labels_are_refused_naming_what_differs_and_the_way_out(reg: Registry, tmp_path: Path) -> None:
    reg.create_project("widget_line_a", labels=["ok", "ng", "scratch", "rust"])
    with pytest.raises(Conflict) as caught:
        reg.register_version("detector", files=run_folder(tmp_path))
    message = caught.value.message
    assert "config.yaml" in message and "widget_line_a" in message
    assert "the project lacks dent" in message and "config.yaml lacks rust" in message
    assert "update_labels=True" in (caught.value.hint or "")  # the CLI says --update-labels (below)
    assert caught.value.details["missing"] == ["dent"] and caught.value.details["extra"] == ["rust"]
    nothing_registered(reg)
    assert reg.get_project("widget_line_a").labels == ["ok", "ng", "scratch", "rust"]


def test_the_same_labels_in_another_order_are_refused(reg: Registry, tmp_path: Path) -> None:
    reg.create_project("widget_line_a", labels=["ng", "ok", "scratch", "dent"])
    with pytest.raises(Conflict, match="another order"):
        reg.register_version("detector", files=run_folder(tmp_path))


def test_update_labels_replaces_the_label_set_with_an_event(reg: Registry, tmp_path: Path) -> None:
    reg.create_project("widget_line_a", labels=["ok", "ng"])
    v = reg.register_version("detector", files=run_folder(tmp_path), update_labels=True)
    assert v.project == "widget_line_a"
    assert reg.get_project("widget_line_a").labels == LABELS
    (event,) = reg.events(project="widget_line_a", action="project.updated").items
    assert event.before["labels"] == ["ok", "ng"] and event.after["labels"] == LABELS


def test_a_blob_is_not_stored_when_the_labels_are_refused(tmp_path: Path) -> None:
    with modelreg.connect("memory://", home=tmp_path / "registry", environ={}) as reg:
        reg.create_project("widget_line_a", labels=["a"])
        with pytest.raises(Conflict):
            reg.register_version("detector", files=run_folder(tmp_path))
        assert list(reg.ctx.blobs.iter_digests()) == []  # type: ignore[attr-defined]


def test_bad_labels_in_a_manifest_name_the_file(reg: Registry, tmp_path: Path) -> None:
    folder = run_folder(tmp_path, "project: widget_line_a\nlabels: [ok, ok]\n")
    with pytest.raises(InvalidMetadata, match=r"config\.yaml"):
        reg.register_version("detector", files=folder)
    nothing_registered(reg)


# ---- how a manifest is given


def test_config_given_as_a_path_or_as_content(reg: Registry, tmp_path: Path) -> None:
    manifest = tmp_path / "configs" / "widget.yaml"
    manifest.parent.mkdir()
    manifest.write_text(MANIFEST)
    v = reg.register_version("detector", files=run_folder(tmp_path, None), config=manifest)
    assert v.project == "widget_line_a" and v.extra["config_file"] == "widget.yaml"
    assert v.params["models"]["detector"]["name"] == "yolov8-seg"
    content: dict[str, Any] = {"project": "widget_line_a", "labels": ["ok", "ng"], "models": {}}
    with pytest.raises(Conflict, match="scratch"):
        reg.register_version("classifier", files={"w.pt": b"1"}, config=content)
    v2 = reg.register_version("classifier", files={"w.pt": b"1"}, config=content, update_labels=True)
    assert v2.project == "widget_line_a" and reg.get_project("widget_line_a").labels == ["ok", "ng"]


def test_an_explicit_config_takes_the_place_of_the_folders(reg: Registry, tmp_path: Path) -> None:
    v = reg.register_version("detector", files=run_folder(tmp_path),
                             config={"project": "line_c", "labels": ["x"], "models": {}})
    assert v.project == "line_c" and reg.get_project("line_c").labels == ["x"]


def test_a_training_tools_own_config_is_no_manifest(reg: Registry, tmp_path: Path) -> None:
    folder = run_folder(tmp_path, "task: detect\nmodel: yolov8n.pt\nproject: runs/detect\nname: train\nepochs: 3\n")
    (folder / "config.yaml").rename(folder / "args.yaml")
    v = reg.register_version("detector", files=folder)
    assert v.project == "default" and v.params["project"] == "runs/detect" and v.params["epochs"] == 3


def test_without_read_metadata_the_folder_manifest_is_not_read(reg: Registry, tmp_path: Path) -> None:
    v = reg.register_version("detector", files=run_folder(tmp_path), read_metadata=False)
    assert v.project == "default" and v.params == {}


# ---- metadata.json's version is the label


def test_metadata_version_becomes_the_label_when_it_is_one() -> None:
    assert version_fields_from_metadata({"version": "v4_no_leakage"})["label"] == "v4_no_leakage"
    for number_like in ("v3", "3", 3, "latest", "with space"):
        fields = version_fields_from_metadata({"version": number_like})
        assert "label" not in fields and fields["extra"]["original_version"] == number_like


def test_a_folders_metadata_version_is_its_label_and_a_taken_one_is_refused_first(reg: Registry,
                                                                                  tmp_path: Path) -> None:
    folder = run_folder(tmp_path, None)
    (folder / "metadata.json").write_text('{"version": "v4_no_leakage"}')
    v1 = reg.register_version("rec", files=folder)
    assert v1.label == "v4_no_leakage" and reg.get_version("rec:v4_no_leakage").number == 1
    (folder / "weights" / "best.pt").write_bytes(b"retrained")
    with pytest.raises(AlreadyExists) as caught:
        reg.register_version("rec", files=folder)
    assert "v1" in caught.value.message and "metadata.json" in (caught.value.hint or "")
    assert reg.search_versions().total == 1
    assert reg.register_version("rec", files=folder, label="").label is None


# ---- the CLI


def invoke(home: Path, *args: str) -> Result:
    env = {"MODELREG_HOME": str(home), "MODELREG_ACTOR": "tester", "COLUMNS": "200", "MODELREG_URL": None,
           "MODELREG_TOKEN": None, "MODELREG_DATABASE_URL": None, "MODELREG_ARTIFACTS": None,
           "MODEL_ENVIRONMENT": None}
    return CliRunner().invoke(app, list(args), env=env)


def test_cli_register_with_config_and_update_labels(tmp_path: Path) -> None:
    home = tmp_path / "home"
    manifest = tmp_path / "widget.yaml"
    manifest.write_text(MANIFEST)
    folder = run_folder(tmp_path, None)
    first = invoke(home, "register", "detector", f"{folder}/", "--config", str(manifest), "--label", "v4_no_leakage")
    assert first.exit_code == 0, first.output
    assert "widget_line_a/detector:v1" in first.output and "v1 (v4_no_leakage)" in first.output
    manifest.write_text(MANIFEST.replace("dent]", "dent, rust]"))
    refused = invoke(home, "register", "detector", f"{folder}/", "--config", str(manifest))
    assert refused.exit_code == 4, refused.output
    assert "lacks rust" in refused.output and "--update-labels" in refused.output
    again = invoke(home, "register", "detector", f"{folder}/", "--config", str(manifest), "--update-labels")
    assert again.exit_code == 0, again.output
    info = invoke(home, "info", "widget_line_a/detector:v4_no_leakage")
    assert info.exit_code == 0 and "widget_line_a/detector:v1 (v4_no_leakage)" in info.output
    listed = invoke(home, "versions", "widget_line_a/detector")
    assert listed.exit_code == 0 and "v1 (v4_no_leakage)" in listed.output and "v2 " in listed.output
