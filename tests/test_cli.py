"""The ``modelreg`` command line: the fire-detector workflow end to end, JSON output, exit codes and messages.

Most tests drive the Typer app in-process with ``CliRunner`` on an embedded registry (SQLite + local
files) in ``tmp_path``; a few run the installed console script in a subprocess.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner, Result

import modelreg
from modelreg.cli.common import Opener
from modelreg.cli.errors import HINTS, ExitCode, classify
from modelreg.cli.main import app
from modelreg.cli.output import transfer
from modelreg.config import Settings
from modelreg.service import Service

CLEARED = ("MODELREG_URL", "MODELREG_TOKEN", "MODELREG_DATABASE_URL", "MODELREG_ARTIFACTS", "MODELREG_CACHE",
           "MODEL_ENVIRONMENT", "MODELREG_DEBUG", "NO_COLOR", "FORCE_COLOR")

Invoke = Callable[..., Result]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in CLEARED:
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("MODELREG_HOME", str(home))
    monkeypatch.setenv("MODELREG_ACTOR", "tester")
    monkeypatch.setenv("COLUMNS", "200")
    return home


@pytest.fixture
def cli(home: Path) -> Invoke:
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, env: dict[str, str | None] | None = None,
               obj: object = None) -> Result:
        return runner.invoke(app, list(args), input=input, env=env, obj=obj)

    return invoke


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A training output folder: weights/best.pt and weights/last.pt (registered as ``runs/train/``, with the
    trailing slash that stores the folder's contents at the top)."""
    folder = tmp_path / "runs" / "train"
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "best.pt").write_bytes(b"best weights " * 1000)
    (folder / "weights" / "last.pt").write_bytes(b"last weights " * 500)
    return folder


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def fails(result: Result, code: int, *needles: str) -> Result:
    """The command failed with ``code``: one error line, maybe a hint, no traceback, nothing on stdout."""
    assert result.exit_code == code, (
        f"expected exit {code}, got {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    err = result.stderr
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: "), err
    assert len(lines) <= 2 and all(line.startswith(("error: ", "hint: ")) for line in lines), err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    return result


def register_fire_detector_versions(cli: Invoke, run_dir: Path) -> None:
    """The fire-detector workflow's five versions: v1 placeholder … v5 production candidate."""
    for map50, hours in (("0.0000", "0h"), ("0.7834", "0.98h"), ("0.8521", "1.25h"), ("0.8945", "1.80h"),
                         ("0.9123", "2.15h")):
        (run_dir / "weights" / "last.pt").write_bytes(f"last {map50}".encode())  # each version differs
        ok(cli("register", "fire-detector", f"{run_dir}/", "-m", f"map50={map50}", "--training-time", hours))


# ---- help and the command surface

DESIGN_COMMANDS = ("serve", "projects", "models", "register", "versions", "info", "activate", "alias", "rollback",
                   "promote", "pin", "unpin", "archive", "delete", "compare", "history", "lineage", "report",
                   "pull", "export", "import", "gc", "fsck", "tokens")


def test_help_lists_every_command_of_the_design(cli: Invoke) -> None:
    out = ok(cli("--help")).stdout
    for name in DESIGN_COMMANDS + ("search", "resolve", "events", "mark-best", "best"):
        assert f"  {name} " in out, name


def _leaf_commands() -> list[list[str]]:
    command = typer.main.get_command(app)
    leaves: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        sub = getattr(cmd, "commands", None)
        if sub:
            for name, child in sub.items():
                walk(child, [*path, name])
        else:
            leaves.append(path)

    walk(command, [])
    return leaves


@pytest.mark.parametrize("path", _leaf_commands(), ids=" ".join)
def test_every_command_has_help_with_an_example(cli: Invoke, path: list[str]) -> None:
    out = ok(cli(*path, "--help")).stdout
    assert "Example: modelreg" in out or "Example: yolo" in out, out


def test_alias_group_has_the_design_subcommands(cli: Invoke) -> None:
    out = ok(cli("alias", "--help")).stdout
    for name in ("set", "rm", "history", "list"):
        assert f"  {name} " in out


# ---- the fire-detector workflow end to end


def test_fire_detector_workflow_end_to_end(cli: Invoke, run_dir: Path) -> None:
    register_fire_detector_versions(cli, run_dir)
    lines = ok(cli("versions", "fire-detector")).stdout.splitlines()
    assert lines[0] == "  v5 | mAP: 0.9123 | Time: 2.15h"
    assert lines[-1] == "✓ v1 | mAP: 0.0000 | Time: 0.00h [ACTIVE]"  # the first version was auto-activated

    out = ok(cli("activate", "fire-detector:5")).stdout
    assert "v1 -> v5" in out
    lines = ok(cli("versions", "fire-detector")).stdout.splitlines()
    assert lines == [
        "✓ v5 | mAP: 0.9123 | Time: 2.15h [ACTIVE]",
        "  v4 | mAP: 0.8945 | Time: 1.80h",
        "  v3 | mAP: 0.8521 | Time: 1.25h",
        "  v2 | mAP: 0.7834 | Time: 0.98h",
        "  v1 | mAP: 0.0000 | Time: 0.00h",
    ]

    fails(cli("delete", "fire-detector:5", "--yes"), ExitCode.CONFLICT, "production", "alias")
    ok(cli("rollback", "fire-detector"))
    assert ok(cli("versions", "fire-detector")).stdout.splitlines()[-1].startswith("✓ v1")

    # the active version is refused with a hint naming the alias; an old one goes
    result = fails(cli("delete", "fire-detector:1", "--yes"), ExitCode.CONFLICT, "production")
    assert "hint: " in result.stderr and "alias rm fire-detector production" in result.stderr
    ok(cli("delete", "fire-detector:2", "--yes"))
    numbers = [v["number"] for v in json.loads(ok(cli("versions", "fire-detector", "--json")).stdout)["items"]]
    assert numbers == [5, 4, 3, 1]
    fails(cli("info", "fire-detector:2"), ExitCode.NOT_FOUND, "no version v2")


def test_versions_marks_best_pinned_archived_and_other_aliases(cli: Invoke, run_dir: Path) -> None:
    register_fire_detector_versions(cli, run_dir)
    ok(cli("mark-best", "fire-detector:4"))
    ok(cli("pin", "fire-detector:3"))
    ok(cli("alias", "set", "fire-detector:5", "staging"))
    ok(cli("archive", "fire-detector:2"))
    lines = ok(cli("versions", "fire-detector")).stdout.splitlines()
    assert lines[0] == "  v5 | mAP: 0.9123 | Time: 2.15h @staging"
    assert lines[1] == "  v4 | mAP: 0.8945 | Time: 1.80h [BEST]"
    assert lines[2] == "  v3 | mAP: 0.8521 | Time: 1.25h [PINNED]"
    assert not any(line.lstrip().startswith("v2 ") for line in lines)  # archived: hidden by default
    archived = ok(cli("versions", "fire-detector", "--archived")).stdout
    assert "  v2 | mAP: 0.7834 | Time: 0.98h [ARCHIVED]" in archived.splitlines()
    fails(cli("delete", "fire-detector:3", "--yes"), ExitCode.CONFLICT, "pinned", "unpin")
    ok(cli("unpin", "fire-detector:3"))
    table = ok(cli("versions", "fire-detector", "--format", "table")).stdout
    assert "[BEST]" in table and "@staging" in table and "0.9123" in table and "2.15h" in table
    assert ok(cli("best", "fire-detector")).stdout.strip().startswith("v4 | mAP: 0.8945")


def test_versions_filter_sort_and_pages(cli: Invoke, run_dir: Path) -> None:
    register_fire_detector_versions(cli, run_dir)
    out = ok(cli("versions", "fire-detector", "--filter", "metrics.map50 >= 0.85", "--sort", "-metrics.map50"))
    assert [line.split("|")[0].strip(" ✓") for line in out.stdout.splitlines()] == ["v5", "v4", "v3"]
    first = json.loads(ok(cli("versions", "fire-detector", "--limit", "2", "--json")).stdout)
    assert [v["number"] for v in first["items"]] == [5, 4] and first["total"] == 5 and first["next_cursor"]
    page = ok(cli("versions", "fire-detector", "--limit", "2"))
    assert "--cursor" in page.stderr and "--cursor" not in page.stdout
    second = json.loads(ok(cli("versions", "fire-detector", "--limit", "2", "--cursor", first["next_cursor"],
                               "--json")).stdout)
    assert [v["number"] for v in second["items"]] == [3, 2]
    every = json.loads(ok(cli("versions", "fire-detector", "--all", "--limit", "1", "--json")).stdout)
    assert [v["number"] for v in every["items"]] == [5, 4, 3, 2, 1] and every["next_cursor"] is None
    found = json.loads(ok(cli("search", "metrics.map50 > 0.89", "--json")).stdout)
    assert sorted(v["number"] for v in found["items"]) == [4, 5]
    assert "fire-detector:v5" in ok(cli("search", "metrics.map50 > 0.89")).stdout


# ---- --json everywhere


def test_json_output_parses_and_is_alone_on_stdout(cli: Invoke, run_dir: Path, tmp_path: Path) -> None:
    register_fire_detector_versions(cli, run_dir)
    registered = json.loads(ok(cli("register", "fire-detector", str(run_dir / "weights" / "best.pt"),
                                   "-m", "map50=0.93", "--json")).stdout)
    assert registered["number"] == 6 and registered["metrics"] == {"map50": 0.93}
    ok(cli("mark-best", "fire-detector:5"))
    for args in (("versions", "fire-detector"), ("info", "fire-detector:5"), ("info", "fire-detector"),
                 ("compare", "fire-detector:4", "fire-detector:5"), ("history", "fire-detector:5"),
                 ("lineage", "fire-detector:5"), ("alias", "list", "fire-detector"),
                 ("alias", "history", "fire-detector"), ("events", "--limit", "3"), ("gc",), ("fsck",),
                 ("models", "list"), ("models", "show", "fire-detector"), ("projects", "list"),
                 ("projects", "show", "default"), ("search", "status = 'ready'"), ("best", "fire-detector"),
                 ("activate", "fire-detector:5", "--dry-run"), ("promote", "fire-detector", "v4", "--dry-run"),
                 ("resolve", "fire-detector:5"), ("pull", "fire-detector:5", "--to", str(tmp_path / "p"))):
        result = ok(cli(*args, "--json"))
        json.loads(result.stdout)  # the whole of stdout is one JSON document
        assert result.stderr == "", args
    info = json.loads(ok(cli("info", "fire-detector", "--json")).stdout)
    assert info["number"] == 1 and info["aliases"] == ["production"]  # a bare name follows production


# ---- compare, history, lineage, report


def test_compare_shows_deltas_class_ap_and_params(cli: Invoke, run_dir: Path, tmp_path: Path) -> None:
    classes = tmp_path / "classes.json"
    classes.write_text(json.dumps([{"class_name": "fire", "ap": 0.9}, {"class_name": "smoke", "ap": 0.7}]))
    ok(cli("register", "fire-detector", f"{run_dir}/", "-m", "map50=0.80", "-m", "val_loss=1.5",
           "--param", "epochs=100", "--param", "optimizer=SGD", "--class-metrics", str(classes)))
    classes.write_text(json.dumps([{"class_name": "fire", "ap": 0.95}, {"class_name": "smoke", "ap": 0.6}]))
    (run_dir / "weights" / "last.pt").write_bytes(b"v2")
    ok(cli("register", "fire-detector", f"{run_dir}/", "-m", "map50=0.85", "-m", "val_loss=1.2",
           "--param", "epochs=150", "--param", "optimizer=SGD", "--class-metrics", str(classes)))
    out = ok(cli("compare", "fire-detector:1", "fire-detector:2")).stdout
    assert "map50" in out and "+0.0500" in out
    assert "val_loss" in out and "-0.3000" in out
    assert "fire" in out and "+0.0500" in out and "smoke" in out and "-0.1000" in out
    assert "epochs" in out and "150" in out and "optimizer" in out
    hidden = ok(cli("compare", "fire-detector:1", "fire-detector:2", "--hide-identical")).stdout
    assert "epochs" in hidden and "optimizer" not in hidden
    data = json.loads(ok(cli("compare", "fire-detector:1", "fire-detector:2", "--json")).stdout)
    assert data["versions"] == ["default/fire-detector:v1", "default/fire-detector:v2"]
    assert {m["name"] for m in data["metrics"]} == {"map50", "val_loss"}
    fails(cli("compare", "fire-detector:1"), ExitCode.INVALID_INPUT, "two or more")


def test_history_lineage_and_report(cli: Invoke, run_dir: Path, tmp_path: Path) -> None:
    results = tmp_path / "results.csv"
    results.write_text("                  epoch,      train/box_loss,   metrics/mAP50(B)\n"
                       "                      1,              1.5,              0.31\n"
                       "                      2,              1.2,              0.52\n")
    ok(cli("register", "fire-detector", f"{run_dir}/", "-m", "map50=0.52", "--history", str(results)))
    (run_dir / "weights" / "last.pt").write_bytes(b"child")
    ok(cli("register", "fire-detector", f"{run_dir}/", "--parent", "fire-detector:1", "--notes", "fine-tuned"))
    out = ok(cli("history", "fire-detector:1")).stdout
    assert "train/box_loss" in out and "0.5200" in out
    epochs = json.loads(ok(cli("history", "fire-detector:1", "--json")).stdout)
    assert [e["epoch"] for e in epochs] == [1, 2] and epochs[1]["metrics"]["metrics/mAP50(B)"] == 0.52
    lineage = json.loads(ok(cli("lineage", "fire-detector:1", "--json")).stdout)
    assert [d["number"] for d in lineage["descendants"]] == [2]
    assert "fire-detector:v2" in ok(cli("lineage", "fire-detector:1")).stdout
    markdown = ok(cli("report", "fire-detector:2")).stdout
    assert markdown.startswith("# default/fire-detector:v2") and "fine-tuned" in markdown
    target = tmp_path / "report.json"
    result = ok(cli("report", "fire-detector:2", "--format", "json", "-o", str(target)))
    assert result.stdout == ""
    assert json.loads(target.read_text())["version"]["number"] == 2


# ---- files out: pull and resolve


def test_pull_writes_files_and_metadata(cli: Invoke, run_dir: Path, tmp_path: Path) -> None:
    register_fire_detector_versions(cli, run_dir)
    dest = tmp_path / "pulled"
    out = ok(cli("pull", "fire-detector@production", "--to", str(dest))).stdout
    assert "fire-detector:v1" in out
    assert (dest / "weights" / "best.pt").read_bytes() == (run_dir / "weights" / "best.pt").read_bytes()
    assert (dest / "weights" / "last.pt").read_bytes() == b"last 0.0000"
    meta = json.loads((dest / "metadata.json").read_text())
    assert meta["version"] == "v1" and meta["metrics"]["map50"] == 0.0


def test_pull_defaults_to_a_folder_named_after_the_version(cli: Invoke, run_dir: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ok(cli("register", "fire-detector", f"{run_dir}/"))
    monkeypatch.chdir(tmp_path)
    ok(cli("pull", "fire-detector:1"))
    assert (tmp_path / "fire-detector-v1" / "weights" / "best.pt").is_file()


def test_resolve_prints_only_the_path(cli: Invoke, run_dir: Path) -> None:
    register_fire_detector_versions(cli, run_dir)
    ok(cli("activate", "fire-detector:5"))
    path = Path(ok(cli("resolve", "fire-detector", "weights/last.pt")).stdout.strip())
    assert path.read_bytes() == b"last 0.9123"
    staging = ok(cli("resolve", "fire-detector", env={"MODEL_ENVIRONMENT": "v3"})).stdout.strip()
    assert Path(staging, "weights", "last.pt").read_bytes() == b"last 0.8521"
    fails(cli("resolve", "fire-detector", "../../etc/passwd"), ExitCode.INVALID_INPUT, "escapes")
    fails(cli("resolve", "fire-detector", "weights/nope.pt"), ExitCode.NOT_FOUND, "no file")


def test_progress_bar_reports_bytes_when_enabled() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)
    with transfer(console, total=10, label="storing", enabled=True) as progress:
        assert progress is not None
        progress(4)
        progress(6)
    with transfer(console, total=10, label="storing", enabled=False) as off:
        assert off is None


# ---- aliases: set, rm, history, promote, dry runs


def test_promote_dry_run_changes_nothing(cli: Invoke, run_dir: Path) -> None:
    register_fire_detector_versions(cli, run_dir)
    ok(cli("alias", "set", "fire-detector:5", "staging"))
    before = ok(cli("versions", "fire-detector", "--json")).stdout
    events_before = json.loads(ok(cli("events", "--json")).stdout)["total"]
    out = ok(cli("promote", "fire-detector", "staging", "--dry-run")).stdout
    assert "dry run" in out and "v1 -> v5" in out and "nothing changed" in out
    assert ok(cli("versions", "fire-detector", "--json")).stdout == before
    assert json.loads(ok(cli("events", "--json")).stdout)["total"] == events_before

    out = ok(cli("promote", "fire-detector", "staging")).stdout
    assert "v1 -> v5" in out and "archived v1" in out
    lines = ok(cli("versions", "fire-detector", "--archived")).stdout.splitlines()
    assert lines[0] == "✓ v5 | mAP: 0.9123 | Time: 2.15h [ACTIVE] @staging"
    assert lines[-1].endswith("[ARCHIVED]")


def test_promotion_gate_refuses_and_force_overrides(cli: Invoke, run_dir: Path) -> None:
    register_fire_detector_versions(cli, run_dir)
    ok(cli("models", "update", "fire-detector", "--promotion-gate", "metrics.map50 >= 0.9"))
    dry = cli("promote", "fire-detector", "v4", "--dry-run")
    assert dry.exit_code == ExitCode.CONFLICT and "✗" in dry.stdout and "metrics.map50 >= 0.9" in dry.stderr
    fails(cli("promote", "fire-detector", "v4"), ExitCode.CONFLICT, "gate", "--force")
    assert "v1 -> v4" in ok(cli("promote", "fire-detector", "v4", "--force")).stdout
    ok(cli("promote", "fire-detector", "v5", "--no-archive"))
    assert "[ARCHIVED]" not in ok(cli("versions", "fire-detector")).stdout.splitlines()[1]


def test_alias_set_rm_list_history_and_rollback_dry_run(cli: Invoke, run_dir: Path) -> None:
    register_fire_detector_versions(cli, run_dir)
    assert "dry run" in ok(cli("alias", "set", "fire-detector:3", "staging", "--dry-run")).stdout
    assert json.loads(ok(cli("alias", "list", "fire-detector", "--json")).stdout)[0]["alias"] == "production"
    ok(cli("alias", "set", "fire-detector:3", "staging"))
    ok(cli("alias", "set", "fire-detector:4", "staging"))
    aliases = {a["alias"]: a["number"] for a in json.loads(ok(cli("alias", "list", "fire-detector",
                                                                  "--json")).stdout)}
    assert aliases == {"production": 1, "staging": 4}
    moves = json.loads(ok(cli("alias", "history", "fire-detector", "staging", "--json")).stdout)
    assert [(m["from_number"], m["to_number"]) for m in moves] == [(3, 4), (None, 3)]
    assert "staging" in ok(cli("alias", "history", "fire-detector")).stdout
    assert "dry run" in ok(cli("rollback", "fire-detector", "--alias", "staging", "--dry-run")).stdout
    assert json.loads(ok(cli("alias", "list", "fire-detector", "--json")).stdout)[1]["number"] == 4
    ok(cli("rollback", "fire-detector", "--alias", "staging"))
    fails(cli("rollback", "fire-detector", "--alias", "staging"), ExitCode.CONFLICT, "no earlier target")
    ok(cli("alias", "rm", "fire-detector", "staging"))
    fails(cli("alias", "rm", "fire-detector", "staging"), ExitCode.NOT_FOUND, "no alias 'staging'")
    fails(cli("alias", "set", "fire-detector:3", "v2"), ExitCode.INVALID_INPUT, "reserved")


# ---- models, projects, metadata amendments


def test_projects_and_models(cli: Invoke, run_dir: Path) -> None:
    ok(cli("projects", "create", "embereye", "-d", "fire and smoke", "-l", "fire", "-l", "smoke"))
    ok(cli("projects", "labels", "set", "embereye", "fire", "smoke", "person"))
    assert ok(cli("projects", "labels", "show", "embereye")).stdout.splitlines() == ["0\tfire", "1\tsmoke",
                                                                                      "2\tperson"]
    ok(cli("models", "create", "embereye/fire-detector", "--task", "detection", "--best-metric", "map50"))
    fails(cli("models", "create", "embereye/fire-detector"), ExitCode.CONFLICT, "already exists")
    ok(cli("register", "embereye/fire-detector", f"{run_dir}/", "-m", "map50=0.8"))
    listed = ok(cli("models", "list", "--project", "embereye")).stdout
    assert "embereye/fire-detector" in listed and "✓ v1" in listed
    shown = json.loads(ok(cli("models", "show", "embereye/fire-detector", "--json")).stdout)
    assert shown["model"]["task"] == "detection" and shown["best"] == 1 and shown["versions"] == 1
    ok(cli("models", "update", "embereye/fire-detector", "--tag", "team=vision", "--description", "flames"))
    model = json.loads(ok(cli("models", "show", "embereye/fire-detector", "--json")).stdout)["model"]
    assert model["tags"] == {"team": "vision"} and model["description"] == "flames"
    assert "fire-detector" in ok(cli("projects", "show", "embereye")).stdout
    fails(cli("models", "delete", "embereye/fire-detector", "--yes"), ExitCode.CONFLICT, "production")
    ok(cli("alias", "rm", "embereye/fire-detector", "production"))
    ok(cli("models", "delete", "embereye/fire-detector", "--yes"))
    ok(cli("projects", "delete", "embereye", "--yes"))
    fails(cli("projects", "show", "embereye"), ExitCode.NOT_FOUND, "embereye")


def test_update_tag_and_notes(cli: Invoke, run_dir: Path) -> None:
    ok(cli("register", "fire-detector", f"{run_dir}/", "-m", "map50=0.8", "--param", "epochs=100", "--tag", "a=1"))
    ok(cli("update", "fire-detector:1", "-m", "map50_95=0.6", "--param", "batch_size=16", "--training-time", "90m",
           "--changelog", "re-evaluated"))
    ok(cli("tag", "fire-detector:1", "data=night", "--remove", "a"))
    ok(cli("notes", "fire-detector:1", "watch reflections"))
    v = json.loads(ok(cli("info", "fire-detector:1", "--json")).stdout)
    assert v["metrics"] == {"map50": 0.8, "map50_95": 0.6}
    assert v["params"] == {"epochs": 100, "batch_size": 16}
    assert v["tags"] == {"data": "night"} and v["notes"] == "watch reflections"
    assert v["training"]["duration_s"] == 5400.0 and v["changelog"] == ["re-evaluated"]
    out = ok(cli("info", "fire-detector:1")).stdout
    assert "map50_95" in out and "weights/best.pt" in out and "watch reflections" in out and "[ACTIVE]" in out


def test_register_reads_metrics_json_and_named_files(cli: Invoke, run_dir: Path, tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"map50": 0.8, "precision": 0.9}))
    v = json.loads(ok(cli("register", "fire-detector", "--file", f"model/best.pt={run_dir / 'weights' / 'best.pt'}",
                          "--metrics-json", str(metrics), "-m", "map50=0.85", "--json")).stdout)
    assert [a["path"] for a in v["artifacts"]] == ["model/best.pt"]
    assert v["metrics"] == {"map50": 0.85, "precision": 0.9}


# ---- the model's own metric in lists; per-class rows under the names users have


def register_models_of_three_kinds(cli: Invoke, tmp_path: Path) -> None:
    """A classifier with a best-metric policy, a recommender without one, a detector on map50."""
    weights = tmp_path / "w.pt"
    ok(cli("models", "create", "classifier", "--task", "classification", "--best-metric", "accuracy"))
    for n, (loss, accuracy, epochs) in enumerate((("0.31234", "0.931", "43"), ("0.25", "0.95", "50")), start=1):
        weights.write_bytes(f"classifier {n}".encode())
        ok(cli("register", "classifier", str(weights), "-m", f"loss={loss}", "-m", f"accuracy={accuracy}",
               "-m", f"epochs={epochs}", "--training-time", f"{n}h"))
    weights.write_bytes(b"recommender")
    ok(cli("register", "recommender", str(weights), "-m", "ndcg@10=0.312", "-m", "users=12000", "-m", "rmse=0.42"))
    weights.write_bytes(b"detector")
    ok(cli("register", "fire-detector", str(weights), "-m", "map50=0.9123", "-m", "precision=0.9",
           "--training-time", "2.15h"))


def test_lists_show_the_models_own_metric(cli: Invoke, tmp_path: Path) -> None:
    register_models_of_three_kinds(cli, tmp_path)
    assert ok(cli("versions", "classifier")).stdout.splitlines() == [
        "  v2 | accuracy: 0.9500 | Time: 2.00h [BEST]",
        "✓ v1 | accuracy: 0.9310 | Time: 1.00h [ACTIVE]",
    ]
    assert ok(cli("versions", "recommender")).stdout.splitlines() == ["✓ v1 | ndcg@10: 0.3120 | Time: - [ACTIVE]"]
    assert ok(cli("versions", "fire-detector")).stdout.splitlines() == ["✓ v1 | mAP: 0.9123 | Time: 2.15h [ACTIVE]"]
    assert ok(cli("best", "classifier")).stdout.strip() == "v2 | accuracy: 0.9500 | Time: 2.00h [BEST]"
    found = ok(cli("search", "status = 'ready'")).stdout
    for row in ("accuracy 0.9500", "ndcg@10 0.3120", "mAP 0.9123"):
        assert row in found, found
    assert "mAP" not in ok(cli("search", "model = 'classifier'")).stdout
    registered = ok(cli("register", "recommender", str(tmp_path / "w.pt"), "-m", "ndcg@10=0.33")).stdout
    assert "  v2 | ndcg@10: 0.3300 | Time: -" in registered.splitlines()


def test_integer_metrics_print_as_integers_and_losses_plainly(cli: Invoke, tmp_path: Path) -> None:
    register_models_of_three_kinds(cli, tmp_path)
    assert ok(cli("versions", "recommender", "--metric", "users", "--columns", "rmse")).stdout.splitlines() == [
        "✓ v1 | users: 12000 | rmse: 0.42 | Time: - [ACTIVE]"]
    info = ok(cli("info", "classifier:1")).stdout
    assert " 43\n" in info and "43.0" not in info and "0.31234" in info and "0.9310" in info
    compared = ok(cli("compare", "classifier:1", "classifier:2")).stdout
    assert "+7" in compared and "+7.0" not in compared and "0.9500 +0.0190" in compared
    data = json.loads(ok(cli("versions", "classifier", "--metric", "epochs", "--json")).stdout)
    assert data["items"][0]["metrics"] == {"loss": 0.25, "accuracy": 0.95, "epochs": 50.0}  # machine data


def test_metric_and_columns_choose_what_lists_show(cli: Invoke, tmp_path: Path) -> None:
    register_models_of_three_kinds(cli, tmp_path)
    chosen = ok(cli("versions", "classifier", "--metric", "epochs", "--columns", "loss, accuracy")).stdout
    assert chosen.splitlines() == ["  v2 | epochs: 50 | loss: 0.25    | accuracy: 0.9500 | Time: 2.00h [BEST]",
                                   "✓ v1 | epochs: 43 | loss: 0.31234 | accuracy: 0.9310 | Time: 1.00h [ACTIVE]"]
    table = ok(cli("versions", "classifier", "--format", "table", "--columns", "epochs")).stdout.splitlines()
    assert table[0].split()[:4] == ["version", "accuracy", "epochs", "time"]
    assert table[1].split()[:3] == ["v2", "0.9500", "50"]
    found = ok(cli("search", "status = 'ready'", "--metric", "map50", "--columns", "precision")).stdout.splitlines()
    assert found[0].split()[:3] == ["version", "mAP", "precision"]
    assert any(line.split()[1:4] == ["fire-detector:v1", "0.9123", "0.9000"] for line in found), found
    assert ok(cli("best", "classifier", "--metric", "loss")).stdout.strip() == "v2 | loss: 0.25 | Time: 2.00h [BEST]"
    typo = ok(cli("versions", "classifier", "--metric", "acuracy"))
    assert "acuracy: -" in typo.stdout
    assert "no version shown has acuracy; their metrics: accuracy, epochs, loss" in typo.stderr
    help_text = ok(cli("versions", "--help")).stdout
    assert "--metric" in help_text and "--columns" in help_text and "best-metric policy" in help_text


def test_class_metrics_file_with_the_names_users_have(cli: Invoke, run_dir: Path, tmp_path: Path) -> None:
    classes = tmp_path / "classes.json"
    classes.write_text(json.dumps({"training_classes": [
        {"class": "car", "annotation_type": "box", "ap": 0.85, "training_annotations_count": 1500,
         "validation_annotations_count": 300},
        {"class_name": "truck", "ap": 0.78, "training_count": 800, "validation_count": 0}]}))
    ok(cli("register", "fire-detector", f"{run_dir}/", "-m", "map50=0.8", "--class-metrics", str(classes)))
    rows = json.loads(ok(cli("info", "fire-detector:1", "--json")).stdout)["class_metrics"]
    assert [(r["class_name"], r["training_count"], r["validation_count"]) for r in rows] == [
        ("car", 1500, 300), ("truck", 800, 0)]
    assert "training_annotations_count" not in json.dumps(rows)
    info = ok(cli("info", "fire-detector:1")).stdout
    car = next(line for line in info.splitlines() if line.startswith("car"))
    assert car.split() == ["car", "box", "0.8500", "-", "-", "1500", "300"]
    classes.write_text(json.dumps([{"class_name": "car", "AP": 0.85}]))
    result = fails(cli("register", "fire-detector", f"{run_dir}/", "--class-metrics", str(classes)),
                   ExitCode.INVALID_INPUT, "class_metrics[0]", "'AP'", "ap (or average_precision)",
                   "training_count (or training_annotations_count")
    assert "hint: " in result.stderr


def test_import_versions_layout(cli: Invoke, tmp_path: Path) -> None:
    models = tmp_path / "models"
    for n, map50 in ((1, 0.78), (2, 0.89)):
        folder = models / "versions" / f"v{n}"
        (folder / "weights").mkdir(parents=True)
        (folder / "weights" / "best.pt").write_bytes(f"weights {n}".encode())
        (folder / "metadata.json").write_text(json.dumps({"version": f"v{n}", "best_accuracy": map50,
                                                          "training_time_hours": n}))
    dry = ok(cli("import", str(models), "fire-detector", "--dry-run"))
    assert "dry run" in dry.stdout
    fails(cli("versions", "fire-detector"), ExitCode.NOT_FOUND)
    report = json.loads(ok(cli("import", str(models), "fire-detector", "--layout", "versions", "--json")).stdout)
    assert len(report["imported"]) == 2 and not report["failed"]
    lines = ok(cli("versions", "fire-detector")).stdout.splitlines()
    assert lines[0].startswith("  v2 | mAP: 0.8900 | Time: 2.00h")


def test_import_reports_unreadable_folders_with_exit_5(cli: Invoke, tmp_path: Path) -> None:
    models = tmp_path / "models"
    for n in (1, 2):
        (models / "versions" / f"v{n}" / "weights").mkdir(parents=True)
        (models / "versions" / f"v{n}" / "weights" / "best.pt").write_bytes(f"w{n}".encode())
    (models / "versions" / "v1" / "metadata.json").write_text("{not json")
    result = cli("import", str(models), "fire-detector")
    assert result.exit_code == ExitCode.INVALID_INPUT, result.stderr
    assert "could not be imported" in result.stderr and "Traceback" not in result.stderr


# ---- maintenance


def test_gc_is_a_dry_run_unless_yes(cli: Invoke, run_dir: Path, home: Path) -> None:
    ok(cli("register", "fire-detector", f"{run_dir}/"))
    settings = Settings(home=home)
    with modelreg.connect(settings=settings) as reg:  # a blob that no version references
        reg.ctx.blobs.put(io.BytesIO(b"orphan" * 100))
    dry = json.loads(ok(cli("gc", "--json")).stdout)
    assert dry["dry_run"] is True
    assert "dry run" in ok(cli("gc")).stdout
    fails(cli("gc", "--yes", "--dry-run"), ExitCode.USAGE, "contradict")
    done = json.loads(ok(cli("gc", "--yes", "--json")).stdout)
    assert done["dry_run"] is False
    assert json.loads(ok(cli("fsck", "--json")).stdout)["ok"] is True


def test_fsck_exits_7_on_a_corrupt_blob(cli: Invoke, run_dir: Path, home: Path) -> None:
    v = json.loads(ok(cli("register", "fire-detector", f"{run_dir}/", "--json")).stdout)
    digest = v["artifacts"][0]["digest"].split(":", 1)[1]
    blob = next(p for p in (home / "blobs").rglob(digest) if p.is_file())
    blob.chmod(0o644)
    blob.write_bytes(b"X" * blob.stat().st_size)
    assert ok(cli("fsck", "--quick")).stdout  # sizes still match
    result = cli("fsck")
    assert result.exit_code == ExitCode.INTEGRITY
    assert "corrupt" in result.stdout and "error: fsck found 1 problem" in result.stderr
    fails(cli("pull", "fire-detector:1", "--to", str(home.parent / "x")), ExitCode.INTEGRITY)


def test_events_lists_who_did_what(cli: Invoke, run_dir: Path) -> None:
    register_fire_detector_versions(cli, run_dir)
    ok(cli("activate", "fire-detector:5"))
    page = json.loads(ok(cli("events", "--model", "fire-detector", "--limit", "2", "--json")).stdout)
    assert page["items"][0]["action"] == "alias.set" and page["items"][0]["actor"] == "tester"
    out = ok(cli("events", "--model", "fire-detector", "--action", "alias.set")).stdout
    assert "fire-detector:v5@production" in out


# ---- errors: exit codes, one line, hints, --debug


@pytest.mark.parametrize(("args", "code", "needle"), [
    (("versions", "no-such-model"), ExitCode.NOT_FOUND, "model 'no-such-model' does not exist"),
    (("info", "a/b/c"), ExitCode.INVALID_INPUT, "more than one '/'"),
    (("register", "bad name", "{run}"), ExitCode.INVALID_INPUT, "not a valid name"),
    (("models", "create", "bad name"), ExitCode.INVALID_INPUT, "not a valid name"),
    (("register", "fire-detector", "{run}", "-m", "map50=nan"), ExitCode.INVALID_INPUT, "NaN"),
    (("register", "fire-detector", "{run}", "-m", "map50=high"), ExitCode.INVALID_INPUT, "metrics are numbers"),
    (("register", "fire-detector", "{run}", "-m", "map50"), ExitCode.INVALID_INPUT, "KEY=VALUE"),
    (("register", "fire-detector", "{run}", "--training-time", "soon"), ExitCode.INVALID_INPUT, "duration"),
    (("register", "fire-detector", "--file", "../../etc/passwd={run}/weights/best.pt"), ExitCode.INVALID_INPUT,
     "escapes"),
    (("search", "metrics.map50 >>= 1"), ExitCode.INVALID_INPUT, "position"),
    (("search", "nonsense_field = 1"), ExitCode.INVALID_INPUT, "unknown field"),
    (("info", "fire-detector:0"), ExitCode.INVALID_INPUT, "out of range"),
    (("info", "fire-detector:9"), ExitCode.NOT_FOUND, "no version v9"),
    (("info", "fire-detector@nope"), ExitCode.NOT_FOUND, "no alias 'nope'"),
    (("delete", "fire-detector@production", "--yes"), ExitCode.INVALID_INPUT, "explicit version number"),
    (("rollback", "fire-detector"), ExitCode.CONFLICT, "no earlier target"),
    (("activate", "fire-detector:1", "--dry-run"), ExitCode.OK, None),
    (("serve", "--host", "0.0.0.0", "--port", "1"), ExitCode.USAGE, "--insecure"),
    (("tokens", "create", "ci", "--role", "root"), ExitCode.INVALID_INPUT, "not one of"),
    (("export", "fire-detector:1", "--format", "onnx"), ExitCode.INVALID_INPUT, "not a PyTorch file"),
    (("export", "fire-detector:1", "--source", "nope.pt"), ExitCode.INVALID_INPUT, "has no file 'nope.pt'"),
    (("export", "fire-detector:1", "--shape", "1,a,3"), ExitCode.INVALID_INPUT, "not a shape"),
    (("export", "fire-detector:1", "--shape", "1,-3,4"), ExitCode.INVALID_INPUT, "is not a shape"),
    (("export", "fire-detector:1", "--int8", "fast"), ExitCode.INVALID_INPUT, "dynamic or static"),
    (("export", "fire-detector:1", "--half", "--int8", "dynamic"), ExitCode.INVALID_INPUT, "exclude each other"),
    (("bench", "fire-detector:1", "--batch", "1,a"), ExitCode.INVALID_INPUT, "not a list of numbers"),
    (("pull", "fire-detector:1", "--format", "onnx"), ExitCode.NOT_FOUND, "has no onnx export"),
])
def test_bad_inputs_exit_codes(cli: Invoke, run_dir: Path, args: tuple[str, ...], code: int,
                               needle: str | None) -> None:
    ok(cli("register", "fire-detector", f"{run_dir}/"))
    result = cli(*[a.replace("{run}", str(run_dir)) for a in args])
    if code == ExitCode.OK:
        ok(result)
        return
    fails(result, code, *([needle] if needle else []))


def test_usage_errors_exit_2(cli: Invoke) -> None:
    result = cli("versions")
    assert result.exit_code == ExitCode.USAGE and "Traceback" not in result.output
    assert cli("versions", "m", "--limit", "0").exit_code == ExitCode.USAGE
    assert cli("nonsense-command").exit_code == ExitCode.USAGE
    unknown_format = cli("export", "m:1", "--format", "keras")
    assert unknown_format.exit_code == ExitCode.USAGE and "keras" in unknown_format.output


def test_delete_asks_and_refuses_without_a_terminal(cli: Invoke, run_dir: Path) -> None:
    register_fire_detector_versions(cli, run_dir)
    fails(cli("delete", "fire-detector:2"), ExitCode.USAGE, "without confirmation", "--yes")
    assert json.loads(ok(cli("info", "fire-detector:2", "--json")).stdout)["number"] == 2


def test_delete_confirmation_prompt(cli: Invoke, run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_fire_detector_versions(cli, run_dir)
    monkeypatch.setattr("modelreg.cli.common.State.interactive", property(lambda self: True))
    declined = cli("delete", "fire-detector:2", input="n\n")
    assert declined.exit_code == ExitCode.UNEXPECTED and "cancelled" in declined.stderr
    ok(cli("delete", "fire-detector:2", input="y\n"))
    fails(cli("info", "fire-detector:2"), ExitCode.NOT_FOUND)


def test_server_settings_are_checked_clearly(cli: Invoke) -> None:
    fails(cli("versions", "m", env={"MODELREG_TOKEN": "secret"}), ExitCode.USAGE,
          "MODELREG_TOKEN is set but MODELREG_URL is not")
    assert "secret" not in cli("versions", "m", env={"MODELREG_TOKEN": "secret"}).stderr
    fails(cli("versions", "m", env={"MODELREG_URL": "http://127.0.0.1:9"}), ExitCode.STORAGE, "could not be reached")


def test_debug_shows_the_traceback(cli: Invoke) -> None:
    plain = cli("info", "a/b/c")
    assert "Traceback" not in plain.stderr
    for result in (cli("--debug", "info", "a/b/c"), cli("info", "a/b/c", env={"MODELREG_DEBUG": "1"})):
        assert result.exit_code == ExitCode.INVALID_INPUT
        assert "Traceback (most recent call last)" in result.stderr
        assert "InvalidReference" in result.stderr
        assert result.stderr.strip().splitlines()[-2].startswith("error: ")


def test_unexpected_errors_are_one_line_with_a_bug_hint(cli: Invoke) -> None:
    def broken(settings: Settings) -> Service:
        raise RuntimeError("the disk is on fire")

    result = cli("versions", "m", obj=Opener(open=broken))
    fails(result, ExitCode.UNEXPECTED, "unexpected RuntimeError: the disk is on fire", "--debug")
    debug = cli("--debug", "versions", "m", obj=Opener(open=broken))
    assert "Traceback" in debug.stderr and "RuntimeError" in debug.stderr


def test_home_option_overrides_the_environment(cli: Invoke, run_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-home"
    ok(cli("--home", str(other), "register", "fire-detector", f"{run_dir}/"))
    assert (other / "registry.db").exists()
    fails(cli("versions", "fire-detector"), ExitCode.NOT_FOUND)  # not in $MODELREG_HOME
    assert ok(cli("--home", str(other), "versions", "fire-detector")).stdout.startswith("✓ v1")


def test_an_injected_registry_is_shared_and_left_open(cli: Invoke, run_dir: Path) -> None:
    shared = modelreg.connect("memory://")
    opener = Opener(open=lambda settings: shared, close=False)
    ok(cli("register", "fire-detector", f"{run_dir}/", "-m", "map50=0.5", obj=opener))
    assert ok(cli("versions", "fire-detector", obj=opener)).stdout.startswith("✓ v1 | mAP: 0.5000")
    assert shared.get_version("fire-detector:1").metrics == {"map50": 0.5}
    shared.close()


def test_every_registry_error_has_a_family_exit_code() -> None:
    stack: list[type[BaseException]] = [modelreg.ModelregError]
    seen = []
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        seen.append(cls)
        code, _, _ = classify(cls("boom"))
        if cls is modelreg.ModelregError:
            assert code == ExitCode.UNEXPECTED
        else:
            assert code not in (ExitCode.UNEXPECTED, ExitCode.USAGE), cls
    assert len(seen) >= 20
    assert classify(modelreg.VersionInUse("x"))[0] == ExitCode.CONFLICT
    assert classify(modelreg.GateFailed("x"))[0] == ExitCode.CONFLICT
    assert classify(modelreg.IntegrityError("x"))[0] == ExitCode.INTEGRITY
    assert classify(modelreg.StorageError("x"))[0] == ExitCode.STORAGE
    assert classify(modelreg.PermissionDenied("x"))[0] == ExitCode.PERMISSION
    assert classify(PermissionError(13, "Permission denied", "/x"))[:2] == (ExitCode.PERMISSION,
                                                                          "Permission denied: /x")
    assert set(HINTS) >= {modelreg.NotFound, modelreg.Conflict, modelreg.InvalidInput}


# ---- the real console script


@pytest.fixture
def script_env(home: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(MODELREG_HOME=str(home), MODELREG_ACTOR="tester", COLUMNS="200")
    yield env


def _script() -> list[str]:
    found = shutil.which("modelreg")
    if found:
        return [found]
    return [sys.executable, "-c", "from modelreg.cli.main import run; run()"]


def test_console_script_help(script_env: dict[str, str]) -> None:
    result = subprocess.run([*_script(), "--help"], env=script_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Usage: modelreg" in result.stdout and "register" in result.stdout and "versions" in result.stdout


def test_console_script_register_and_versions(script_env: dict[str, str], run_dir: Path) -> None:
    for map50 in ("0.81", "0.87"):
        (run_dir / "weights" / "last.pt").write_bytes(map50.encode())
        done = subprocess.run([*_script(), "register", "fire-detector", f"{run_dir}/", "-m", f"map50={map50}",
                               "--training-time", "1.5h"], env=script_env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert "\x1b[" not in done.stdout and done.stderr == ""  # no colours or progress bars into a pipe
    listed = subprocess.run([*_script(), "versions", "fire-detector"], env=script_env, capture_output=True,
                            text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == ["  v2 | mAP: 0.8700 | Time: 1.50h",
                                          "✓ v1 | mAP: 0.8100 | Time: 1.50h [ACTIVE]"]


def _ending(code: str) -> subprocess.CompletedProcess[str]:
    program = "import atexit, sys, threading\nfrom modelreg.cli.main import _exit_now\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)


def test_the_console_script_ends_at_once_yet_runs_the_exit_functions_and_keeps_the_output() -> None:
    done = _ending("""
        atexit.register(lambda: print("exit function ran"))
        print("x" * 100000, end="")
        _exit_now(3)
        print("not reached")
    """)
    assert done.returncode == 3
    assert done.stdout == "x" * 100000 + "exit function ran\n"


def test_the_console_script_exits_as_usual_while_a_thread_runs_or_the_code_is_a_message() -> None:
    done = _ending("""
        worker = threading.Thread(target=lambda: (threading.Event().wait(0.2), print("thread finished")))
        worker.start()
        _exit_now(0)
        print("returned")
    """)
    assert done.returncode == 0 and done.stdout.splitlines() == ["returned", "thread finished"]
    done = _ending("""
        _exit_now("a message")
        print("returned")
    """)
    assert done.returncode == 0 and done.stdout == "returned\n"


def test_the_console_script_looks_for_no_pydantic_plugins_unless_told_to() -> None:
    program = ("import atexit, os, sys\nfrom modelreg.cli.main import run\nsys.argv = ['modelreg', '--version']\n"
               "atexit.register(lambda: print('plugins off:', repr(os.environ['PYDANTIC_DISABLE_PLUGINS'])))\n"
               "run()\n")
    environ = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    default = subprocess.run([sys.executable, "-c", program], env=environ, capture_output=True, text=True, timeout=60)
    assert "plugins off: '__all__'" in default.stdout, default.stderr
    asked = subprocess.run([sys.executable, "-c", program], env={**environ, "PYDANTIC_DISABLE_PLUGINS": ""},
                           capture_output=True, text=True, timeout=60)
    assert "plugins off: ''" in asked.stdout, asked.stderr


def test_console_script_error_exit_code(script_env: dict[str, str]) -> None:
    result = subprocess.run([*_script(), "delete", "ghost:1", "--yes"], env=script_env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == ExitCode.NOT_FOUND
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == "error: model 'ghost' does not exist in project 'default'"
    assert "Traceback" not in result.stderr
