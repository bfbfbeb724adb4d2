"""Importing the folder layouts of seed 000 (versions/vN) and seed 002 (production/staging/archive)."""

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

# ---- the seeds' folders, built in tmp_path with small random weights


def seed000_metadata(label: str, map50: float, hours: float, **more: Any) -> dict[str, Any]:
    """metadata.json exactly as seed 000 writes it."""
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


SEED000_EXTENDED = {  # seed 000's "Example Extended Metadata"
    "notes": "Trained on night-time images, improved low-light detection",
    "limitations": "May have false positives in reflective surfaces",
    "deployment_target": "Jetson Nano, TFLite format",
    "reviewed_by": "QA Team",
    "approved_for_production": True,
}

SEED002_PRODUCTION = {  # seed 002's metadata.json, as printed
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


def add_seed000_version(models: Path, label: str, metadata: dict[str, Any] | None) -> Path:
    folder = models / "versions" / label
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "best.pt").write_bytes(os.urandom(3000))
    (folder / "weights" / "last.pt").write_bytes(os.urandom(2000))
    if metadata is not None:
        write_json(folder / "metadata.json", metadata)
    return folder


@pytest.fixture
def seed000(tmp_path: Path) -> Path:
    """models/ with v1, v3, v5 (a gap on purpose), current_best.pt -> v3, and a train/ folder."""
    models = tmp_path / "embereye" / "models"
    add_seed000_version(models, "v1", seed000_metadata("v1", 0.7834, 0.98))
    add_seed000_version(models, "v3", seed000_metadata("v3", 0.8945, 1.25))
    add_seed000_version(models, "v5", {**seed000_metadata("v5", 0.9123, 2.15), **SEED000_EXTENDED})
    (models / "current_best.pt").symlink_to(Path("versions") / "v3" / "weights" / "best.pt")
    (models / "train" / "weights").mkdir(parents=True)
    return models


def add_seed002_version(folder: Path, metadata: dict[str, Any] | None) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.pth").write_bytes(os.urandom(4000))
    (folder / "encoders.pkl").write_bytes(os.urandom(500))
    if metadata is not None:
        write_json(folder / "metadata.json", metadata)
    return folder


def seed002_metadata(version: str, date: str, status: str) -> dict[str, Any]:
    return {
        **SEED002_PRODUCTION,
        "version": version,
        "created_date": date,
        "deployed_date": date,
        "status": status,
        "metrics": {**SEED002_PRODUCTION["metrics"], "final_val_loss": 100.0 - len(version)},
    }


ARCHIVE = ["v1_2024-10-15", "v2_2024-11-01", "v3_2024-11-10", "v4_2024-11-12"]


@pytest.fixture
def seed002(tmp_path: Path) -> Path:
    models = tmp_path / "recommender" / "models"
    for name in ARCHIVE:
        version, date = name.split("_")
        add_seed002_version(models / "archive" / name, seed002_metadata(version, date, "archived"))
    add_seed002_version(models / "staging", seed002_metadata("v5_candidate", "2024-11-20", "testing"))
    add_seed002_version(models / "production", SEED002_PRODUCTION)
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


# ---- seed 000


def test_seed000_every_field_lands_and_production_follows_current_best(
    reg: Service, seed000: Path, tmp_path: Path
) -> None:
    report = reg.import_folder(seed000, "fire-detector")

    assert failures(report) == [] and skipped(report) == []
    assert rel(seed000, mapping(report)) == {"versions/v1": 1, "versions/v3": 2, "versions/v5": 3}
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
    assert v5.notes == SEED000_EXTENDED["notes"]
    assert v5.limitations == SEED000_EXTENDED["limitations"]
    assert v5.extra["deployment_target"] == "Jetson Nano, TFLite format"
    assert v5.extra["reviewed_by"] == "QA Team"
    assert v5.extra["approved_for_production"] is True
    assert v5.metrics["map50"] == 0.9123
    assert v5.extra["original_version"] == "v5"

    for number, label in ((1, "v1"), (2, "v3"), (3, "v5")):
        out = reg.pull(f"fire-detector:{number}", tmp_path / "pulled" / label)
        for name in ("weights/best.pt", "weights/last.pt"):
            assert (out / name).read_bytes() == (seed000 / "versions" / label / name).read_bytes()
    assert (
        reg.resolve("fire-detector@production", "weights/best.pt").read_bytes()
        == (seed000 / "current_best.pt").read_bytes()
    )


def test_seed000_current_best_copy_is_recognised_by_content(mem: Service, seed000: Path) -> None:
    best = seed000 / "current_best.pt"
    best.unlink()
    shutil.copyfile(seed000 / "versions" / "v5" / "weights" / "best.pt", best)
    report = mem.import_folder(seed000, "fire-detector")
    assert report.aliases == {"production": 3}
    assert mem.get_version("fire-detector@production").extra["original_version"] == "v5"


def test_seed000_current_best_matching_no_version_is_imported_on_its_own(mem: Service, seed000: Path) -> None:
    best = seed000 / "current_best.pt"
    best.unlink()
    best.write_bytes(b"weights that no version folder holds")
    report = mem.import_folder(seed000, "fire-detector")
    assert rel(seed000, mapping(report))["current_best.pt"] == 4
    own = mem.get_version("fire-detector@production")
    assert own.number == 4 and report.aliases == {"production": 4}
    assert [a.path for a in own.artifacts] == ["weights/best.pt"]
    assert own.extra["original_folder"] == "current_best.pt"
    assert mem.resolve("fire-detector@production", "weights/best.pt").read_bytes() == best.read_bytes()


def test_seed000_without_current_best_leaves_no_production(mem: Service, seed000: Path) -> None:
    (seed000 / "current_best.pt").unlink()
    report = mem.import_folder(seed000, "fire-detector")
    assert len(report.imported) == 3 and report.aliases == {}
    assert mem.list_aliases("fire-detector") == []  # the automatic production of v1 is undone


def test_seed000_current_best_version_txt_names_production(mem: Service, seed000: Path) -> None:
    (seed000 / "current_best.pt").unlink()
    (seed000 / "current_best_version.txt").write_text("v5\n")
    report = mem.import_folder(seed000, "fire-detector")
    assert report.aliases == {"production": 3}


def test_seed000_broken_current_best_symlink_is_reported(mem: Service, seed000: Path) -> None:
    best = seed000 / "current_best.pt"
    best.unlink()
    best.symlink_to("versions/v9/weights/best.pt")
    report = mem.import_folder(seed000, "fire-detector")
    assert len(report.imported) == 3
    [problem] = failures(report)
    assert problem.source == str(best.absolute()) and "broken symlink" in (problem.error or "")
    assert mem.list_aliases("fire-detector") == []
    with pytest.raises(InvalidInput, match="broken symlink"):
        mem.import_folder(seed000, "other", strict=True)


def test_seed000_accepts_the_parent_and_the_versions_folder(mem: Service, seed000: Path) -> None:
    assert len(mem.import_folder(seed000.parent, "a", dry_run=True).imported) == 3
    assert len(mem.import_folder(seed000 / "versions", "a", dry_run=True).imported) == 3
    assert mem.import_folder(seed000 / "versions", "a", dry_run=True).aliases == {"production": 2}


def test_missing_metadata_imports_files_with_a_warning(
    mem: Service, seed000: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (seed000 / "versions" / "v1" / "metadata.json").unlink()
    with caplog.at_level(logging.WARNING, logger="modelreg.importers"):
        report = mem.import_folder(seed000, "fire-detector")
    assert len(report.imported) == 3 and failures(report) == []
    assert any("has no metadata.json" in r.getMessage() for r in caplog.records)
    v1 = mem.get_version("fire-detector:1")
    assert v1.metrics == {} and v1.extra["original_version"] == "v1"
    assert v1.extra["import_source"]["metadata_sha256"] is None


def test_an_empty_folder_and_a_stray_folder_fail(mem: Service, seed000: Path) -> None:
    (seed000 / "versions" / "v7").mkdir()
    (seed000 / "versions" / "old-run").mkdir()
    report = mem.import_folder(seed000, "fire-detector")
    assert len(report.imported) == 3
    errors = {Path(item.source).name: item.error or "" for item in failures(report)}
    assert set(errors) == {"v7", "old-run"}
    assert "holds no files" in errors["v7"] and "v<N>" in errors["old-run"]


# ---- seed 002


def test_seed002_environments_archive_and_fields(reg: Service, seed002: Path, tmp_path: Path) -> None:
    report = reg.import_folder(seed002, "recommender")

    assert failures(report) == []
    expected = {f"archive/{name}": i for i, name in enumerate(ARCHIVE, start=1)}
    assert rel(seed002, mapping(report)) == {**expected, "staging": 5, "production": 6}
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
    assert prod.params["model_architecture"] == SEED002_PRODUCTION["model_architecture"]
    for key, name in (
        ("version", "original_version"),
        ("model_name", "model_name"),
        ("encoder_name", "encoder_name"),
        ("created_date", "created_date"),
        ("deployed_date", "deployed_date"),
        ("status", "status"),
    ):
        assert prod.extra[name] == SEED002_PRODUCTION[key]
    assert prod.extra["original_folder"] == "production"
    assert sorted(a.path for a in prod.artifacts) == ["encoders.pkl", "model.pth"]

    out = reg.pull("recommender@production", tmp_path / "pulled")
    for name in ("model.pth", "encoders.pkl"):
        assert (out / name).read_bytes() == (seed002 / "production" / name).read_bytes()


def test_seed002_archive_without_dates_in_names_sorts_by_created_date(mem: Service, tmp_path: Path) -> None:
    models = tmp_path / "models"
    add_seed002_version(models / "archive" / "b", seed002_metadata("old", "2024-01-01", "archived"))
    add_seed002_version(models / "archive" / "a", seed002_metadata("newer", "2024-06-01", "archived"))
    report = mem.import_folder(models, "rec")
    assert rel(models, mapping(report)) == {"archive/b": 1, "archive/a": 2}
    assert report.aliases == {}
    assert mem.list_aliases("rec") == []  # no production folder: nothing is production
    assert all(v.archived for v in mem.iter_versions(model="rec"))


def test_seed002_reimport_after_a_promotion_moves_the_aliases(mem: Service, seed002: Path) -> None:
    mem.import_folder(seed002, "recommender")
    # seed 002's workflow: archive the current production, promote staging
    shutil.move(seed002 / "production", seed002 / "archive" / "v5_2024-11-15")
    shutil.move(seed002 / "staging", seed002 / "production")
    report = mem.import_folder(seed002, "recommender")
    assert report.imported == [] and len(skipped(report)) == 6
    assert report.aliases == {"production": 5}
    assert mem.get_version("recommender@production").number == 5
    assert mem.get_version("recommender:6").archived


def test_seed002_failed_production_leaves_production_unset(mem: Service, seed002: Path) -> None:
    (seed002 / "production" / "metadata.json").write_text('{"metrics": {"final_val_loss": NaN}}')
    report = mem.import_folder(seed002, "recommender")
    [problem] = failures(report)
    assert problem.source == str((seed002 / "production").absolute())
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
    mem: Service, seed000: Path, content: bytes
) -> None:
    path = seed000 / "versions" / "v1" / "metadata.json"
    path.write_bytes(content)
    report = mem.import_folder(seed000, "fire-detector")
    [problem] = failures(report)
    assert problem.source == str((seed000 / "versions" / "v1").absolute())
    assert str(path.absolute()) in (problem.error or "")
    assert rel(seed000, mapping(report)) == {"versions/v3": 1, "versions/v5": 2}
    assert report.aliases == {"production": 1}


def test_strict_stops_at_the_first_problem_before_writing(mem: Service, seed000: Path) -> None:
    path = seed000 / "versions" / "v3" / "metadata.json"
    path.write_text('{"metrics": {"map50": NaN}}')
    with pytest.raises(InvalidMetadata) as err:
        mem.import_folder(seed000, "fire-detector", strict=True)
    assert str(path.absolute()) in err.value.message
    with pytest.raises(ModelNotFound):
        mem.get_model("fire-detector")  # nothing was written
    report = mem.import_folder(seed000, "fire-detector")  # without strict the others go in
    assert len(report.imported) == 2 and len(failures(report)) == 2  # v3 and current_best.pt -> v3
    assert "which was not imported" in (failures(report)[1].error or "")
    assert mem.list_aliases("fire-detector") == []


def test_a_50_mb_metadata_json_is_refused_with_a_clear_message(mem: Service, seed000: Path) -> None:
    path = seed000 / "versions" / "v5" / "metadata.json"
    with open(path, "r+b") as f:
        f.truncate(50 * 1024 * 1024)
    report = mem.import_folder(seed000, "fire-detector")
    [problem] = failures(report)
    assert str(path.absolute()) in (problem.error or "")
    assert "50.0 MiB" in (problem.error or "") and "10 MiB" in (problem.error or "")
    assert len(report.imported) == 2


# ---- dry run and idempotency


def test_dry_run_writes_nothing_and_predicts_the_import(reg: Service, seed000: Path) -> None:
    before = (reg.list_projects(), reg.events(limit=1000).total, list(reg.ctx.blobs.iter_digests()))
    plan = reg.import_folder(seed000, "fire-detector", dry_run=True)
    with pytest.raises(ModelNotFound):
        reg.get_model("fire-detector")
    assert (reg.list_projects(), reg.events(limit=1000).total, list(reg.ctx.blobs.iter_digests())) == before
    report = reg.import_folder(seed000, "fire-detector")
    assert plan == report


def test_reimport_does_not_duplicate(reg: Service, seed000: Path) -> None:
    first = reg.import_folder(seed000, "fire-detector")
    before = state(reg, "fire-detector")
    again = reg.import_folder(seed000, "fire-detector")
    assert again.imported == [] and failures(again) == []
    assert sorted(item.version or "" for item in skipped(again)) == sorted(i.version or "" for i in first.imported)
    assert again.aliases == first.aliases
    assert state(reg, "fire-detector") == before  # no version, alias move, event or blob added
    assert reg.import_folder(seed000, "fire-detector", strict=True).imported == []  # skipping is no failure

    add_seed000_version(seed000, "v6", seed000_metadata("v6", 0.95, 3.0))
    third = reg.import_folder(seed000, "fire-detector")
    assert rel(seed000, mapping(third)) == {"versions/v6": 4}
    assert len(skipped(third)) == 3
    assert reg.get_version("fire-detector@production").number == 2


def test_changed_metadata_is_a_new_version(mem: Service, seed000: Path) -> None:
    mem.import_folder(seed000, "fire-detector")
    path = seed000 / "versions" / "v5" / "metadata.json"
    write_json(path, {**json.loads(path.read_text()), "reviewed_by": "Safety board"})
    report = mem.import_folder(seed000, "fire-detector")
    assert rel(seed000, mapping(report)) == {"versions/v5": 4}


# ---- layouts


def test_unknown_layout_describes_both(mem: Service, tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    with pytest.raises(InvalidInput) as err:
        mem.import_folder(tmp_path / "stuff", "m")
    assert err.value.hint and "versions/v<N>" in err.value.hint and "production/" in err.value.hint
    with pytest.raises(InvalidInput, match="is not a folder"):
        mem.import_folder(tmp_path / "missing", "m")


def test_a_layout_can_be_named_and_both_at_once_need_naming(mem: Service, seed000: Path) -> None:
    with pytest.raises(InvalidInput, match="does not hold the environments layout"):
        mem.import_folder(seed000, "m", layout="environments")
    add_seed002_version(seed000 / "production", None)
    with pytest.raises(InvalidInput, match="both"):
        mem.import_folder(seed000, "m")
    assert len(mem.import_folder(seed000, "m", layout="environments", dry_run=True).imported) == 1
    assert len(mem.import_folder(seed000, "m", layout="versions", dry_run=True).imported) == 3


def test_import_into_a_version_reference_is_refused(mem: Service, seed000: Path) -> None:
    with pytest.raises(InvalidInput, match="not a version"):
        import_folder(mem, seed000, "fire-detector:3")


# ---- version labels: metadata.json's version when it is a label, else the folder's name


def test_seed002_labels_come_from_metadata_else_the_archive_folder(reg: Service, seed002: Path) -> None:
    reg.import_folder(seed002, "recommender")
    labels = {v.number: v.label for v in reg.iter_versions(model="recommender")}
    # the archive's metadata says "v3" (a number, not a label): the folder's name is the label
    assert labels == {1: "v1_2024-10-15", 2: "v2_2024-11-01", 3: "v3_2024-11-10", 4: "v4_2024-11-12",
                      5: "v5_candidate", 6: "v4_no_leakage"}
    assert reg.get_version("recommender:v4_no_leakage").number == 6
    assert reg.get_version("recommender:v3_2024-11-10").extra["original_version"] == "v3"


def test_seed000_labels_from_named_version_folders(mem: Service, seed000: Path) -> None:
    add_seed000_version(seed000, "v7_no_leakage", seed000_metadata("v7", 0.93, 1.0))
    add_seed000_version(seed000, "v8", seed000_metadata("v8_night", 0.94, 1.0))
    report = mem.import_folder(seed000, "fire-detector")
    assert failures(report) == []
    got = {Path(v.extra["original_folder"]).name: v.label for v in mem.iter_versions(model="fire-detector")}
    assert got == {"v1": None, "v3": None, "v5": None, "v7_no_leakage": "v7_no_leakage", "v8": "v8_night"}
    assert mem.get_version("fire-detector:v7_no_leakage").extra["original_version"] == "v7"  # as metadata says


def test_a_label_another_version_has_is_left_off_with_a_warning(mem: Service, seed002: Path) -> None:
    mem.import_folder(seed002, "recommender")
    path = seed002 / "production" / "metadata.json"
    write_json(path, {**json.loads(path.read_text()), "description": "retrained"})  # a new version, same label
    report = mem.import_folder(seed002, "recommender")
    assert rel(seed002, mapping(report)) == {"production": 7}
    assert mem.get_version("recommender:7").label is None
    assert mem.get_version("recommender:v4_no_leakage").number == 6
    assert any("without the label 'v4_no_leakage'" in w and "v6" in w for w in report.warnings)


def test_two_folders_naming_one_label_import_both(mem: Service, tmp_path: Path) -> None:
    models = tmp_path / "models"
    add_seed002_version(models / "archive" / "v1_2024-01-01", seed002_metadata("v9_final", "2024-01-01", "archived"))
    add_seed002_version(models / "production", seed002_metadata("v9_final", "2024-02-01", "active"))
    report = mem.import_folder(models, "rec", dry_run=True)
    assert len(report.imported) == 2 and any("v9_final" in w for w in report.warnings)
    report = mem.import_folder(models, "rec")
    assert failures(report) == [] and len(report.imported) == 2
    assert [v.label for v in mem.iter_versions(model="rec")] == [None, "v9_final"]  # newest first
