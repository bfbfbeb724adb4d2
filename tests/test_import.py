"""Importing the two folder layouts: the versions layout (versions/vN, current_best.pt) and the environments layout
(production/staging/archive)."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import modelreg
from modelreg import ImportReport, InvalidInput, InvalidMetadata, ModelNotFound
from modelreg.importers import import_folder
from modelreg.service import Service
from modelreg.types import ImportItem

# ---- both layouts' folders, built in tmp_path with small random weights


def versions_layout_metadata(label: str, map50: float, hours: float, **more: Any) -> dict[str, Any]:
    """metadata.json exactly as the versions layout's trainer writes it."""
    return {
        "version": label,
        "created_at": "2025-12-22T10:30:15.123456",
        "best_accuracy": map50,
        "training_time_hours": hours,
        "epochs": 100,
        "batch_size": 16,
        "image_size": 640,
        "pretrained_model": "yolov8m.pt",
        "dataset": {"train_images": 150, "val_images": 30, "test_images": 20, "classes": ["fire", "smoke", "person"]},
        "metrics": {"map50": map50, "map50_95": 0.7623, "precision": 0.9012, "recall": 0.8734},
        **more,
    }


VERSIONS_LAYOUT_EXTENDED = {  # the versions layout's documented extended metadata
    "notes": "Trained on night-time images, improved low-light detection",
    "limitations": "May have false positives in reflective surfaces",
    "deployment_target": "Jetson Nano, TFLite format",
    "reviewed_by": "QA Team",
    "approved_for_production": True,
}

ENVIRONMENTS_LAYOUT_PRODUCTION = {  # an environments-layout metadata.json, as documented
    "version": "v4_no_leakage",
    "model_name": "model.pth",
    "encoder_name": "encoders.pkl",
    "created_date": "2024-11-15",
    "deployed_date": "2024-11-15",
    "description": "Model description",
    "metrics": {"final_val_loss": 89.43, "final_val_mae": 5.74, "training_epochs": 59, "best_epoch": 43},
    "model_architecture": {
        "type": "HybridRecommender",
        "features": ["face_shape", "gender", "age", "skin_tone", "user_preferences"],
        "embedding_dim": 384,
        "sentence_transformer": "paraphrase-multilingual-MiniLM-L12-v2",
    },
    "changelog": ["Change 1", "Change 2"],
    "status": "active",
}


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def add_versions_layout_version(models: Path, label: str, metadata: dict[str, Any] | None) -> Path:
    folder = models / "versions" / label
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "best.pt").write_bytes(os.urandom(3000))
    (folder / "weights" / "last.pt").write_bytes(os.urandom(2000))
    if metadata is not None:
        write_json(folder / "metadata.json", metadata)
    return folder


@pytest.fixture
def versions_layout(tmp_path: Path) -> Path:
    """models/ with v1, v3, v5 (a gap on purpose), current_best.pt -> v3, and a train/ folder."""
    models = tmp_path / "embereye" / "models"
    add_versions_layout_version(models, "v1", versions_layout_metadata("v1", 0.7834, 0.98))
    add_versions_layout_version(models, "v3", versions_layout_metadata("v3", 0.8945, 1.25))
    add_versions_layout_version(
        models, "v5", {**versions_layout_metadata("v5", 0.9123, 2.15), **VERSIONS_LAYOUT_EXTENDED}
    )
    (models / "current_best.pt").symlink_to(Path("versions") / "v3" / "weights" / "best.pt")
    (models / "train" / "weights").mkdir(parents=True)
    return models


def add_environments_layout_version(folder: Path, metadata: dict[str, Any] | None) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.pth").write_bytes(os.urandom(4000))
    (folder / "encoders.pkl").write_bytes(os.urandom(500))
    if metadata is not None:
        write_json(folder / "metadata.json", metadata)
    return folder


def environments_layout_metadata(version: str, date: str, status: str) -> dict[str, Any]:
    return {
        **ENVIRONMENTS_LAYOUT_PRODUCTION,
        "version": version,
        "created_date": date,
        "deployed_date": date,
        "status": status,
        "metrics": {**ENVIRONMENTS_LAYOUT_PRODUCTION["metrics"], "final_val_loss": 100.0 - len(version)},
    }


ARCHIVE = ["v1_2024-10-15", "v2_2024-11-01", "v3_2024-11-10", "v4_2024-11-12"]


@pytest.fixture
def environments_layout(tmp_path: Path) -> Path:
    models = tmp_path / "recommender" / "models"
    for name in ARCHIVE:
        version, date = name.split("_")
        add_environments_layout_version(
            models / "archive" / name, environments_layout_metadata(version, date, "archived")
        )
    add_environments_layout_version(
        models / "staging", environments_layout_metadata("v5_candidate", "2024-11-20", "testing")
    )
    add_environments_layout_version(models / "production", ENVIRONMENTS_LAYOUT_PRODUCTION)
    (models / "README.md").write_text("# models\n")
    return models


# ---- registries


def _connect(kind: str, tmp_path: Path) -> Service:
    home = tmp_path / "registry"
    if kind == "memory":
        return modelreg.connect("memory://", home=home, environ={})
    return modelreg.connect(home=home, environ={})


@pytest.fixture(params=["memory", "sqlite"])
def reg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    registry = _connect(request.param, tmp_path)
    try:
        yield registry
    finally:
        registry.close()


@pytest.fixture
def mem(tmp_path: Path) -> Iterator[Service]:
    registry = _connect("memory", tmp_path)
    try:
        yield registry
    finally:
        registry.close()


# ---- report helpers (already-imported folders go to ImportReport.skipped once it exists; meanwhile to failed)

ALREADY = "already imported"


def skipped(report: ImportReport) -> list[ImportItem]:
    return list(report.skipped)


def failures(report: ImportReport) -> list[ImportItem]:
    return [item for item in report.failed if not (item.error or "").startswith(ALREADY)]


def mapping(report: ImportReport) -> dict[str, int]:
    """Folder (relative to models/) -> registry number."""
    out = {}
    for item in report.imported:
        assert item.version is not None
        out[item.source] = int(item.version.rsplit(":v", 1)[1])
    return out


def rel(models: Path, report_map: dict[str, int]) -> dict[str, int]:
    return {Path(src).relative_to(models.absolute()).as_posix(): n for src, n in report_map.items()}


def state(reg: Service, model: str) -> tuple[list[int], list[tuple[str, int]], int, list[str]]:
    numbers = [v.number for v in reg.iter_versions(model=model)]
    aliases = [(a.alias, a.number) for a in reg.list_aliases(model)]
    digests = sorted(d for d, _ in reg.ctx.blobs.iter_digests())
    return numbers, aliases, reg.events(limit=1000).total, digests


# ---- versions layout (versions/vN, current_best.pt)


def test_versions_layout_every_field_lands_and_production_follows_current_best(
    reg: Service, versions_layout: Path, tmp_path: Path
) -> None:
    report = reg.import_folder(versions_layout, "fire-detector")

    assert failures(report) == [] and skipped(report) == []
    assert rel(versions_layout, mapping(report)) == {"versions/v1": 1, "versions/v3": 2, "versions/v5": 3}
    assert all(item.version and item.version.startswith("default/fire-detector:v") for item in report.imported)
    assert report.aliases == {"production": 2}
    assert reg.get_version("fire-detector@production").number == 2  # current_best.pt -> v3, not the auto v1
    assert reg.get_model("fire-detector").baseline == "yolov8m"

    v3 = reg.get_version("fire-detector:2")
    assert v3.metrics == {
        "map50": 0.8945,
        "map50_95": 0.7623,
        "precision": 0.9012,
        "recall": 0.8734,
        "best_accuracy": 0.8945,
    }
    assert v3.params == {"epochs": 100, "batch_size": 16, "image_size": 640, "pretrained_model": "yolov8m.pt"}
    assert v3.dataset is not None
    assert (v3.dataset.train_count, v3.dataset.val_count, v3.dataset.test_count) == (150, 30, 20)
    assert v3.dataset.classes == ["fire", "smoke", "person"]
    assert v3.training is not None and v3.training.duration_s == pytest.approx(1.25 * 3600)
    assert v3.training.finished_at == datetime(2025, 12, 22, 10, 30, 15, 123456, tzinfo=UTC)
    assert v3.extra["created_at"] == "2025-12-22T10:30:15.123456"  # the original text, kept as written
    assert v3.extra["original_version"] == "v3"
    assert v3.extra["original_folder"] == "versions/v3"
    assert v3.extra["import_source"]["layout"] == "versions"
    assert v3.extra["import_source"]["metadata_sha256"].startswith("sha256:")
    assert [a.path for a in v3.artifacts] == ["weights/best.pt", "weights/last.pt"]  # metadata.json is parsed
    assert v3.aliases == ["production"]

    v5 = reg.get_version("fire-detector:3")
    assert v5.notes == VERSIONS_LAYOUT_EXTENDED["notes"]
    assert v5.limitations == VERSIONS_LAYOUT_EXTENDED["limitations"]
    assert v5.extra["deployment_target"] == "Jetson Nano, TFLite format"
    assert v5.extra["reviewed_by"] == "QA Team"
    assert v5.extra["approved_for_production"] is True
    assert v5.metrics["map50"] == 0.9123
    assert v5.extra["original_version"] == "v5"

    for number, label in ((1, "v1"), (2, "v3"), (3, "v5")):
        out = reg.pull(f"fire-detector:{number}", tmp_path / "pulled" / label)
        for name in ("weights/best.pt", "weights/last.pt"):
            assert (out / name).read_bytes() == (versions_layout / "versions" / label / name).read_bytes()
    assert (
        reg.resolve("fire-detector@production", "weights/best.pt").read_bytes()
        == (versions_layout / "current_best.pt").read_bytes()
    )


def test_versions_layout_current_best_copy_is_recognised_by_content(mem: Service, versions_layout: Path) -> None:
    best = versions_layout / "current_best.pt"
    best.unlink()
    shutil.copyfile(versions_layout / "versions" / "v5" / "weights" / "best.pt", best)
    report = mem.import_folder(versions_layout, "fire-detector")
    assert report.aliases == {"production": 3}
    assert mem.get_version("fire-detector@production").extra["original_version"] == "v5"


def test_versions_layout_current_best_matching_no_version_is_imported_on_its_own(
    mem: Service, versions_layout: Path
) -> None:
    best = versions_layout / "current_best.pt"
    best.unlink()
    best.write_bytes(b"weights that no version folder holds")
    report = mem.import_folder(versions_layout, "fire-detector")
    assert rel(versions_layout, mapping(report))["current_best.pt"] == 4
    own = mem.get_version("fire-detector@production")
    assert own.number == 4 and report.aliases == {"production": 4}
    assert [a.path for a in own.artifacts] == ["weights/best.pt"]
    assert own.extra["original_folder"] == "current_best.pt"
    assert mem.resolve("fire-detector@production", "weights/best.pt").read_bytes() == best.read_bytes()


def test_versions_layout_without_current_best_leaves_no_production(mem: Service, versions_layout: Path) -> None:
    (versions_layout / "current_best.pt").unlink()
    report = mem.import_folder(versions_layout, "fire-detector")
    assert len(report.imported) == 3 and report.aliases == {}
    assert mem.list_aliases("fire-detector") == []  # the automatic production of v1 is undone


def test_versions_layout_current_best_version_txt_names_production(mem: Service, versions_layout: Path) -> None:
    (versions_layout / "current_best.pt").unlink()
    (versions_layout / "current_best_version.txt").write_text("v5\n")
    report = mem.import_folder(versions_layout, "fire-detector")
    assert report.aliases == {"production": 3}


def test_versions_layout_broken_current_best_symlink_is_reported(mem: Service, versions_layout: Path) -> None:
    best = versions_layout / "current_best.pt"
    best.unlink()
    best.symlink_to("versions/v9/weights/best.pt")
    report = mem.import_folder(versions_layout, "fire-detector")
    assert len(report.imported) == 3
    [problem] = failures(report)
    assert problem.source == str(best.absolute()) and "broken symlink" in (problem.error or "")
    assert mem.list_aliases("fire-detector") == []
    with pytest.raises(InvalidInput, match="broken symlink"):
        mem.import_folder(versions_layout, "other", strict=True)


def test_versions_layout_accepts_the_parent_and_the_versions_folder(mem: Service, versions_layout: Path) -> None:
    assert len(mem.import_folder(versions_layout.parent, "a", dry_run=True).imported) == 3
    assert len(mem.import_folder(versions_layout / "versions", "a", dry_run=True).imported) == 3
    assert mem.import_folder(versions_layout / "versions", "a", dry_run=True).aliases == {"production": 2}


def test_missing_metadata_imports_files_with_a_warning(
    mem: Service, versions_layout: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (versions_layout / "versions" / "v1" / "metadata.json").unlink()
    with caplog.at_level(logging.WARNING, logger="modelreg.importers"):
        report = mem.import_folder(versions_layout, "fire-detector")
    assert len(report.imported) == 3 and failures(report) == []
    assert any("has no metadata.json" in r.getMessage() for r in caplog.records)
    v1 = mem.get_version("fire-detector:1")
    assert v1.metrics == {} and v1.extra["original_version"] == "v1"
    assert v1.extra["import_source"]["metadata_sha256"] is None


def test_an_empty_folder_and_a_stray_folder_fail(mem: Service, versions_layout: Path) -> None:
    (versions_layout / "versions" / "v7").mkdir()
    (versions_layout / "versions" / "old-run").mkdir()
    report = mem.import_folder(versions_layout, "fire-detector")
    assert len(report.imported) == 3
    errors = {Path(item.source).name: item.error or "" for item in failures(report)}
    assert set(errors) == {"v7", "old-run"}
    assert "holds no files" in errors["v7"] and "v<N>" in errors["old-run"]


# ---- environments layout (production/staging/archive)


def test_environments_layout_archive_and_fields(reg: Service, environments_layout: Path, tmp_path: Path) -> None:
    report = reg.import_folder(environments_layout, "recommender")

    assert failures(report) == []
    expected = {f"archive/{name}": i for i, name in enumerate(ARCHIVE, start=1)}
    assert rel(environments_layout, mapping(report)) == {**expected, "staging": 5, "production": 6}
    assert report.aliases == {"staging": 5, "production": 6}
    assert reg.get_version("recommender@production").number == 6  # production is the newest
    assert reg.get_version("recommender@staging").number == 5
    versions = {v.number: v for v in reg.iter_versions(model="recommender")}
    assert {n for n, v in versions.items() if v.archived} == {1, 2, 3, 4}
    assert versions[3].extra["original_folder"] == "archive/v3_2024-11-10"
    assert versions[3].extra["original_version"] == "v3"
    assert versions[3].tags == {"environment": "archive"}
    assert versions[5].tags == {"environment": "staging"}
    assert reg.get_model("recommender").baseline == "HybridRecommender"

    prod = versions[6]
    assert prod.tags == {"environment": "production"}
    assert prod.description == "Model description"
    assert prod.changelog == ["Change 1", "Change 2"]
    assert prod.metrics == {"final_val_loss": 89.43, "final_val_mae": 5.74, "training_epochs": 59.0, "best_epoch": 43.0}
    assert prod.params["model_architecture"] == ENVIRONMENTS_LAYOUT_PRODUCTION["model_architecture"]
    for key, name in (
        ("version", "original_version"),
        ("model_name", "model_name"),
        ("encoder_name", "encoder_name"),
        ("created_date", "created_date"),
        ("deployed_date", "deployed_date"),
        ("status", "status"),
    ):
        assert prod.extra[name] == ENVIRONMENTS_LAYOUT_PRODUCTION[key]
    assert prod.extra["original_folder"] == "production"
    assert sorted(a.path for a in prod.artifacts) == ["encoders.pkl", "model.pth"]

    out = reg.pull("recommender@production", tmp_path / "pulled")
    for name in ("model.pth", "encoders.pkl"):
        assert (out / name).read_bytes() == (environments_layout / "production" / name).read_bytes()


def test_environments_layout_archive_without_dates_in_names_sorts_by_created_date(mem: Service, tmp_path: Path) -> None:
    models = tmp_path / "models"
    add_environments_layout_version(
        models / "archive" / "b", environments_layout_metadata("old", "2024-01-01", "archived")
    )
    add_environments_layout_version(
        models / "archive" / "a", environments_layout_metadata("newer", "2024-06-01", "archived")
    )
    report = mem.import_folder(models, "rec")
    assert rel(models, mapping(report)) == {"archive/b": 1, "archive/a": 2}
    assert report.aliases == {}
    assert mem.list_aliases("rec") == []  # no production folder: nothing is production
    assert all(v.archived for v in mem.iter_versions(model="rec"))


def test_environments_layout_reimport_after_a_promotion_moves_the_aliases(
    mem: Service, environments_layout: Path
) -> None:
    mem.import_folder(environments_layout, "recommender")
    # the environments workflow: archive the current production, promote staging
    shutil.move(environments_layout / "production", environments_layout / "archive" / "v5_2024-11-15")
    shutil.move(environments_layout / "staging", environments_layout / "production")
    report = mem.import_folder(environments_layout, "recommender")
    assert report.imported == [] and len(skipped(report)) == 6
    assert report.aliases == {"production": 5}
    assert mem.get_version("recommender@production").number == 5
    assert mem.get_version("recommender:6").archived


def test_environments_layout_failed_production_leaves_production_unset(mem: Service, environments_layout: Path) -> None:
    (environments_layout / "production" / "metadata.json").write_text('{"metrics": {"final_val_loss": NaN}}')
    report = mem.import_folder(environments_layout, "recommender")
    [problem] = failures(report)
    assert problem.source == str((environments_layout / "production").absolute())
    assert report.aliases == {"staging": 5}
    assert [(a.alias, a.number) for a in mem.list_aliases("recommender")] == [("staging", 5)]
    assert {v.number for v in mem.iter_versions(model="recommender") if v.archived} == {1, 2, 3, 4}


# ---- broken metadata


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2, 3]", b'{"metrics": {"map50": NaN}}', b'{"best_accuracy": Infinity}', b"\xff\xfe{}"],
    ids=["not-json", "not-an-object", "nan-metric", "infinite", "not-utf8"],
)
def test_corrupt_metadata_is_reported_with_its_path_and_the_rest_imports(
    mem: Service, versions_layout: Path, content: bytes
) -> None:
    path = versions_layout / "versions" / "v1" / "metadata.json"
    path.write_bytes(content)
    report = mem.import_folder(versions_layout, "fire-detector")
    [problem] = failures(report)
    assert problem.source == str((versions_layout / "versions" / "v1").absolute())
    assert str(path.absolute()) in (problem.error or "")
    assert rel(versions_layout, mapping(report)) == {"versions/v3": 1, "versions/v5": 2}
    assert report.aliases == {"production": 1}


def test_strict_stops_at_the_first_problem_before_writing(mem: Service, versions_layout: Path) -> None:
    path = versions_layout / "versions" / "v3" / "metadata.json"
    path.write_text('{"metrics": {"map50": NaN}}')
    with pytest.raises(InvalidMetadata) as err:
        mem.import_folder(versions_layout, "fire-detector", strict=True)
    assert str(path.absolute()) in err.value.message
    with pytest.raises(ModelNotFound):
        mem.get_model("fire-detector")  # nothing was written
    report = mem.import_folder(versions_layout, "fire-detector")  # without strict the others go in
    assert len(report.imported) == 2 and len(failures(report)) == 2  # v3 and current_best.pt -> v3
    assert "which was not imported" in (failures(report)[1].error or "")
    assert mem.list_aliases("fire-detector") == []


def test_a_50_mb_metadata_json_is_refused_with_a_clear_message(mem: Service, versions_layout: Path) -> None:
    path = versions_layout / "versions" / "v5" / "metadata.json"
    with open(path, "r+b") as f:
        f.truncate(50 * 1024 * 1024)
    report = mem.import_folder(versions_layout, "fire-detector")
    [problem] = failures(report)
    assert str(path.absolute()) in (problem.error or "")
    assert "50.0 MiB" in (problem.error or "") and "10 MiB" in (problem.error or "")
    assert len(report.imported) == 2


# ---- dry run and idempotency


def test_dry_run_writes_nothing_and_predicts_the_import(reg: Service, versions_layout: Path) -> None:
    before = (reg.list_projects(), reg.events(limit=1000).total, list(reg.ctx.blobs.iter_digests()))
    plan = reg.import_folder(versions_layout, "fire-detector", dry_run=True)
    with pytest.raises(ModelNotFound):
        reg.get_model("fire-detector")
    assert (reg.list_projects(), reg.events(limit=1000).total, list(reg.ctx.blobs.iter_digests())) == before
    report = reg.import_folder(versions_layout, "fire-detector")
    assert plan == report


def test_reimport_does_not_duplicate(reg: Service, versions_layout: Path) -> None:
    first = reg.import_folder(versions_layout, "fire-detector")
    before = state(reg, "fire-detector")
    again = reg.import_folder(versions_layout, "fire-detector")
    assert again.imported == [] and failures(again) == []
    assert sorted(item.version or "" for item in skipped(again)) == sorted(i.version or "" for i in first.imported)
    assert again.aliases == first.aliases
    assert state(reg, "fire-detector") == before  # no version, alias move, event or blob added
    assert reg.import_folder(versions_layout, "fire-detector", strict=True).imported == []  # skipping is no failure

    add_versions_layout_version(versions_layout, "v6", versions_layout_metadata("v6", 0.95, 3.0))
    third = reg.import_folder(versions_layout, "fire-detector")
    assert rel(versions_layout, mapping(third)) == {"versions/v6": 4}
    assert len(skipped(third)) == 3
    assert reg.get_version("fire-detector@production").number == 2


def test_changed_metadata_is_a_new_version(mem: Service, versions_layout: Path) -> None:
    mem.import_folder(versions_layout, "fire-detector")
    path = versions_layout / "versions" / "v5" / "metadata.json"
    write_json(path, {**json.loads(path.read_text()), "reviewed_by": "Safety board"})
    report = mem.import_folder(versions_layout, "fire-detector")
    assert rel(versions_layout, mapping(report)) == {"versions/v5": 4}


# ---- layouts


def test_unknown_layout_describes_both(mem: Service, tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    with pytest.raises(InvalidInput) as err:
        mem.import_folder(tmp_path / "stuff", "m")
    assert err.value.hint and "versions/v<N>" in err.value.hint and "production/" in err.value.hint
    with pytest.raises(InvalidInput, match="is not a folder"):
        mem.import_folder(tmp_path / "missing", "m")


def test_a_layout_can_be_named_and_both_at_once_need_naming(mem: Service, versions_layout: Path) -> None:
    with pytest.raises(InvalidInput, match="does not hold the environments layout"):
        mem.import_folder(versions_layout, "m", layout="environments")
    add_environments_layout_version(versions_layout / "production", None)
    with pytest.raises(InvalidInput, match="both"):
        mem.import_folder(versions_layout, "m")
    assert len(mem.import_folder(versions_layout, "m", layout="environments", dry_run=True).imported) == 1
    assert len(mem.import_folder(versions_layout, "m", layout="versions", dry_run=True).imported) == 3


def test_import_into_a_version_reference_is_refused(mem: Service, versions_layout: Path) -> None:
    with pytest.raises(InvalidInput, match="not a version"):
        import_folder(mem, versions_layout, "fire-detector:3")


# ---- version labels: metadata.json's version when it is a label, else the folder's name


def test_environments_layout_labels_come_from_metadata_else_the_archive_folder(
    reg: Service, environments_layout: Path
) -> None:
    reg.import_folder(environments_layout, "recommender")
    labels = {v.number: v.label for v in reg.iter_versions(model="recommender")}
    # the archive's metadata says "v3" (a number, not a label): the folder's name is the label
    assert labels == {1: "v1_2024-10-15", 2: "v2_2024-11-01", 3: "v3_2024-11-10", 4: "v4_2024-11-12",
                      5: "v5_candidate", 6: "v4_no_leakage"}
    assert reg.get_version("recommender:v4_no_leakage").number == 6
    assert reg.get_version("recommender:v3_2024-11-10").extra["original_version"] == "v3"


def test_versions_layout_labels_from_named_version_folders(mem: Service, versions_layout: Path) -> None:
    add_versions_layout_version(versions_layout, "v7_no_leakage", versions_layout_metadata("v7", 0.93, 1.0))
    add_versions_layout_version(versions_layout, "v8", versions_layout_metadata("v8_night", 0.94, 1.0))
    report = mem.import_folder(versions_layout, "fire-detector")
    assert failures(report) == []
    got = {Path(v.extra["original_folder"]).name: v.label for v in mem.iter_versions(model="fire-detector")}
    assert got == {"v1": None, "v3": None, "v5": None, "v7_no_leakage": "v7_no_leakage", "v8": "v8_night"}
    assert mem.get_version("fire-detector:v7_no_leakage").extra["original_version"] == "v7"  # as metadata says


def test_a_label_another_version_has_is_left_off_with_a_warning(mem: Service, environments_layout: Path) -> None:
    mem.import_folder(environments_layout, "recommender")
    path = environments_layout / "production" / "metadata.json"
    write_json(path, {**json.loads(path.read_text()), "description": "retrained"})  # a new version, same label
    report = mem.import_folder(environments_layout, "recommender")
    assert rel(environments_layout, mapping(report)) == {"production": 7}
    assert mem.get_version("recommender:7").label is None
    assert mem.get_version("recommender:v4_no_leakage").number == 6
    assert any("without the label 'v4_no_leakage'" in w and "v6" in w for w in report.warnings)


def test_two_folders_naming_one_label_import_both(mem: Service, tmp_path: Path) -> None:
    models = tmp_path / "models"
    add_environments_layout_version(
        models / "archive" / "v1_2024-01-01", environments_layout_metadata("v9_final", "2024-01-01", "archived")
    )
    add_environments_layout_version(
        models / "production", environments_layout_metadata("v9_final", "2024-02-01", "active")
    )
    report = mem.import_folder(models, "rec", dry_run=True)
    assert len(report.imported) == 2 and any("v9_final" in w for w in report.warnings)
    report = mem.import_folder(models, "rec")
    assert failures(report) == [] and len(report.imported) == 2
    assert [v.label for v in mem.iter_versions(model="rec")] == [None, "v9_final"]  # newest first
