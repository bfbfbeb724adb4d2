"""Exports as background jobs: the store's jobs on every backend, the service's start/get/list/wait, the rule
for jobs whose process stopped, REST (202 + Location), the HTTP client, the CLI and the dashboard's form.

One tiny TorchScript classifier (tests/export_models.py) goes through the registry; a conversion that must be
watched while it runs is held by a gate around ``_run_export``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from tests.export_models import KthValue, classifier
from tests.test_export import SIGNATURE, weights
from tests.test_metadata_contract import T0, add_version, setup_model
from tests.test_tokens import as_principal

import modelreg
from modelreg.config import Settings
from modelreg.errors import (
    InvalidInput,
    InvalidState,
    NotFound,
    PermissionDenied,
    ToolchainMissing,
    UntrustedSource,
)
from modelreg.export.job import ExportJob, ExportOutcome
from modelreg.metadata.base import MetadataStore
from modelreg.service import Service
from modelreg.service.exports import ExportsMixin
from modelreg.service.job_runner import STALE_AFTER_S
from modelreg.types import Job

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore::UserWarning")
ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 120.0


# ---------------------------------------------------------------- the store, on memory, SQLite and PostgreSQL


def _job(tx: Any, version_id: int, *, status: str = "queued", now: datetime = T0, **kw: Any) -> Job:
    args: dict[str, Any] = {"kind": "export", "format": "onnx", "options": {"half": True}, "trusted": False,
                            "force": False, "source": None, "entry_point": None, "progress": "waiting",
                            "created_by": "ci", "runner": "host:1", **kw}
    job: Job = tx.create_job(version_id=version_id, status=status, now=now, **args)
    return job


def test_jobs_are_stored_updated_and_listed_newest_first(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        model = setup_model(tx)
        v1, v2 = add_version(tx, model), add_version(tx, model)
        first = _job(tx, v1.id, source="weights/best.pt", entry_point="pkg.mod:make")
        second = _job(tx, v1.id, now=T0 + timedelta(seconds=1))
        other = _job(tx, v2.id, status="done", export_id=7)
    assert (first.project, first.model, first.version, first.kind) == ("default", "det", 1, "export")
    assert first.options.half and first.status == "queued" and first.progress == "waiting"
    assert (first.source, first.entry_point, first.created_by, first.runner) == ("weights/best.pt", "pkg.mod:make",
                                                                                  "ci", "host:1")
    assert first.created_at == T0 and first.heartbeat_at == T0 and first.started_at is None and not first.finished
    assert other.finished and other.export_id == 7 and other.started_at == other.finished_at == T0
    with metadata_store.read() as tx:
        assert tx.get_job(job_id=first.id) == first
        assert tx.get_job(job_id=other.id + 100) is None
        assert [j.id for j in tx.list_jobs(version_id=v1.id)] == [second.id, first.id]
        assert [j.id for j in tx.list_jobs(version_id=v1.id, limit=1)] == [second.id]
        for bad in (0, -1, 1001, True):
            with pytest.raises(InvalidInput, match="limit"):
                tx.list_jobs(version_id=v1.id, limit=bad)
    later = T0 + timedelta(minutes=2)
    with metadata_store.transaction() as tx:
        running = tx.update_job(job_id=first.id, changes={"status": "running", "started_at": T0,
                                                          "progress": "converting", "heartbeat_at": later})
        assert (running.status, running.progress, running.heartbeat_at) == ("running", "converting", later)
        failed = tx.update_job(job_id=second.id, changes={
            "status": "failed", "finished_at": later,
            "error": {"code": "unsupported_operator", "message": "no kthvalue", "hint": "try opset 18",
                      "details": {"operator": "aten.kthvalue", "format": "onnx"}}})
        with pytest.raises(NotFound):
            tx.update_job(job_id=other.id + 100, changes={"progress": "x"})
        with pytest.raises(ValueError, match="format"):
            tx.update_job(job_id=first.id, changes={"format": "tflite"})  # what was asked never changes
        with pytest.raises(ValueError, match="status"):
            tx.update_job(job_id=first.id, changes={"status": "sleeping"})
    assert failed.error is not None and failed.error.details["operator"] == "aten.kthvalue"
    with metadata_store.read() as tx:
        assert tx.get_job(job_id=second.id) == failed and tx.get_job(job_id=first.id) == running


def test_a_rolled_back_job_is_not_stored_and_a_deleted_version_takes_its_jobs(metadata_store: MetadataStore) -> None:
    with metadata_store.transaction() as tx:
        model = setup_model(tx)
        version = add_version(tx, model)
    with pytest.raises(RuntimeError), metadata_store.transaction() as tx:
        _job(tx, version.id)
        raise RuntimeError("roll back")
    with metadata_store.transaction() as tx:
        assert tx.list_jobs(version_id=version.id) == []
        job = _job(tx, version.id)
        tx.update_model(model_id=model.id, changes={"name": "renamed"}, now=T0)
    with metadata_store.read() as tx:
        found = tx.get_job(job_id=job.id)
        assert found is not None and found.model == "renamed"  # the name is read through the version, not copied
    with metadata_store.transaction() as tx:
        tx.delete_version(version_id=version.id)
    with metadata_store.read() as tx:
        assert tx.get_job(job_id=job.id) is None


# ---------------------------------------------------------------- the service


@pytest.fixture
def reg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    monkeypatch.chdir(ROOT)  # the export's children import tests.export_models
    registry = modelreg.connect(settings=Settings(home=tmp_path / "home", actor="tester"))
    assert isinstance(registry, Service)
    yield registry
    registry.close()


def register(reg: Any, tmp_path: Path, kind: str = "torchscript", model: torch.nn.Module | None = None) -> Any:
    reg.create_model("cls", task="classification", exist_ok=True)
    return reg.register_version("cls", files={"weights/best.pt": weights(tmp_path, kind, model)}, signature=SIGNATURE)


class Gate:
    """Holds every conversion until ``open()``: a job is seen running, then let go."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self._open = threading.Event()
        original: Callable[..., ExportOutcome] = ExportsMixin._run_export

        def held(service: Any, job: ExportJob, stage: Any = None) -> ExportOutcome:
            self.entered.set()
            assert self._open.wait(WAIT_S), "the test never opened the gate"
            return original(service, job, stage) if stage is not None else original(service, job)

        monkeypatch.setattr(ExportsMixin, "_run_export", held)

    def open(self) -> None:
        self._open.set()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    held = Gate(monkeypatch)
    try:
        yield held
    finally:
        held.open()  # never leave a worker of the process's runner waiting


def test_a_job_goes_queued_running_done_and_its_export_is_listed(reg: Service, tmp_path: Path,
                                                                  gate: Gate) -> None:
    register(reg, tmp_path)
    job = reg.start_export("cls:1", "torchscript")
    assert job.status in ("queued", "running") and job.ref == "default/cls:v1" and job.created_by == "tester"
    assert job.format == "torchscript" and job.options.dynamic_batch and job.runner
    assert gate.entered.wait(WAIT_S)
    running = reg.get_job(job.id)
    assert running.status == "running" and running.progress == "converting and checking parity"
    assert running.started_at is not None and running.finished_at is None
    assert reg.wait_job(job.id, timeout=0.05).status == "running"  # a timeout returns the job as it is
    assert reg.list_jobs("cls:1") == [running]
    gate.open()
    done = reg.wait_job(job.id, timeout=WAIT_S)
    assert done.status == "done" and done.progress == "done" and done.error is None and done.finished_at
    exported = reg.list_exports("cls:1")
    assert [e.id for e in exported] == [done.export_id] and exported[0].status == "ok"
    assert [e.action for e in reg.events(model="cls").items].count("version.exported") == 1
    # the same export again is served from the registry: a job that is done at once, naming it
    again = reg.start_export("cls@production", "torchscript")
    assert again.status == "done" and again.export_id == done.export_id and again.id != job.id
    assert [j.id for j in reg.list_jobs("cls:1")] == [again.id, job.id]
    with pytest.raises(NotFound, match="no job"):
        reg.get_job(again.id + 1)
    with pytest.raises(InvalidInput, match="job id"):
        reg.get_job(0)


def test_a_failing_export_ends_failed_with_the_errors_facts(reg: Service, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import modelreg.export.runner as runner

    register(reg, tmp_path)
    monkeypatch.setattr(runner, "missing_packages", lambda fmt: ["onnxruntime"])  # the toolchain probe fails
    with pytest.raises(ToolchainMissing) as raised:
        reg.export("cls:1", "onnx")  # what the synchronous call raises …
    job = reg.wait_job(reg.start_export("cls:1", "onnx").id, timeout=WAIT_S)
    assert job.status == "failed" and job.export_id is None and job.error is not None  # … the job carries
    assert (job.error.code, job.error.message, job.error.hint) == (raised.value.code, raised.value.message,
                                                                   raised.value.hint)
    assert job.error.details["missing"] == ["onnxruntime"] and job.error.details["format"] == "onnx"
    assert reg.list_exports("cls:1") == []
    failed = [e for e in reg.events(model="cls").items if e.action == "version.export_failed"]
    assert len(failed) == 2 and failed[0].after["code"] == "toolchain_missing"


@pytest.mark.slow
def test_an_operator_the_exporter_cannot_convert_fails_the_job(reg: Service, tmp_path: Path) -> None:
    register(reg, tmp_path, "pickled", model=KthValue().eval())
    job = reg.wait_job(reg.start_export("cls:1", "onnx", trusted=True).id, timeout=WAIT_S)
    assert job.status == "failed" and job.error is not None and job.error.code == "unsupported_operator"
    assert "kthvalue" in job.error.details["operator"] and job.trusted


def test_bad_requests_are_refused_at_once_and_store_no_job(reg: Service, tmp_path: Path) -> None:
    register(reg, tmp_path, "pickled")
    for args, error in (({"format": "keras"}, InvalidInput), ({"colour": "red"}, InvalidInput),
                        ({"half": True, "int8": "dynamic"}, InvalidInput),
                        ({"input_shapes": [[1, 3, 32, 32], [1]]}, InvalidInput), ({}, UntrustedSource)):
        kw = dict(args)
        fmt = kw.pop("format", "onnx")
        with pytest.raises(error):
            reg.start_export("cls:1", fmt, **kw)
    with reg.start_run("cls") as run:
        with pytest.raises(InvalidState, match="training"):
            reg.start_export(f"cls:{run.version.number}", "onnx", trusted=True)
        run.log_file(weights(tmp_path, "torchscript"), "weights/best.pt")
    assert reg.list_jobs("cls:1") == [] and reg.list_jobs("cls:2") == []


def test_viewers_read_jobs_but_cannot_start_one(reg: Service, tmp_path: Path) -> None:
    register(reg, tmp_path)
    viewer = as_principal(reg, "dashboard", "viewer")
    with pytest.raises(PermissionDenied, match="editor"):
        viewer.start_export("cls:1", "torchscript")
    assert reg.list_jobs("cls:1") == []
    done = reg.wait_job(reg.start_export("cls:1", "torchscript").id, timeout=WAIT_S)
    assert viewer.get_job(done.id) == done and viewer.list_jobs("cls:1") == [done]
    elsewhere = as_principal(reg, "other", "admin", project="vision")
    with pytest.raises(NotFound):
        elsewhere.get_job(done.id)  # a token of another project does not see it


# ---------------------------------------------------------------- jobs whose process stopped


def test_a_job_no_process_runs_any_more_is_reported_interrupted(metadata_url: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", actor="tester")
    reg = modelreg.connect(metadata_url, artifacts="memory://", settings=settings)
    assert isinstance(reg, Service)
    try:
        reg.register_version("cls", files={"weights/best.pt": b"not even weights"})
        version = reg.get_version("cls:1")
        now = datetime.now(UTC)
        gone = reg.ctx.write(lambda tx: _job(tx, version.id, status="running", runner="gone:1",
                                             now=now - timedelta(seconds=STALE_AFTER_S + 5)))
        alive = reg.ctx.write(lambda tx: _job(tx, version.id, status="running", runner="here:1", now=now))
        listed = {j.id: j for j in reg.list_jobs("cls:1")}
        assert listed[alive.id].status == "running"  # heard from within STALE_AFTER_S
        interrupted = listed[gone.id]
        assert interrupted.status == "failed" and interrupted.progress == "interrupted"
        assert interrupted.error is not None and interrupted.error.message.startswith("interrupted: the server "
                                                                                      "stopped before it finished")
        assert interrupted.error.hint == "start it again" and interrupted.finished_at is not None
        assert reg.get_job(gone.id) == interrupted  # recorded, not only shown
        later = as_principal(reg, "tester", "viewer")
        later.ctx.clock = lambda: now + timedelta(seconds=STALE_AFTER_S + 1)
        assert later.get_job(alive.id).status == "failed"  # silent too long: its process is gone
    finally:
        reg.close()


KILLED_MID_EXPORT = """
import os, signal, sys, threading, time
from pathlib import Path
import modelreg
from modelreg.config import Settings
from modelreg.service.exports import ExportsMixin

ExportsMixin._run_export = lambda self, job, stage=None: threading.Event().wait()  # a conversion that never ends
reg = modelreg.connect(settings=Settings(home=Path(sys.argv[1]), actor="tester"))
job = reg.start_export("cls:1", "torchscript")
while reg.get_job(job.id).status != "running":
    time.sleep(0.02)
print(job.id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_job_whose_process_was_killed_is_interrupted(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with modelreg.connect(settings=Settings(home=home, actor="tester")) as reg:
        register(reg, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    child = subprocess.run([sys.executable, "-c", KILLED_MID_EXPORT, str(home)], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=WAIT_S)
    assert child.returncode == -9, child.stderr
    job_id = int(child.stdout.split()[0])
    with modelreg.connect(settings=Settings(home=home, actor="tester")) as reg:
        assert isinstance(reg, Service)
        assert reg.get_job(job_id).status == "running"  # its last heartbeat is a moment ago
        reg.ctx.clock = lambda: datetime.now(UTC) + timedelta(seconds=STALE_AFTER_S + 1)
        job = reg.get_job(job_id)
        assert job.status == "failed" and job.error is not None and job.error.details == {"reason": "interrupted"}


# ---------------------------------------------------------------- REST, the HTTP client, the CLI


def _wait_http(api: httpx.Client, location: str) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + WAIT_S
    while True:
        body: dict[str, Any] = api.get(location).json()
        if body["status"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def test_rest_answers_202_with_the_job_and_its_location(remote_state: Any, remote_server: Any,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    register(remote_state.service(), tmp_path)
    exports = "/api/v1/projects/default/models/cls/versions/1/exports"
    with httpx.Client(base_url=remote_server.url, timeout=60) as api:
        started = api.post(exports, json={"format": "torchscript", "wait": False})
        assert started.status_code == 202, started.text
        job = started.json()
        assert started.headers["location"] == f"/api/v1/jobs/{job['id']}" and job["status"] in ("queued", "running")
        done = _wait_http(api, started.headers["location"])
        assert done["status"] == "done" and done["export_id"] == api.get(exports).json()[0]["id"]
        listed = api.get("/api/v1/projects/default/models/cls/versions/1/jobs").json()
        assert [j["id"] for j in listed] == [job["id"]]
        # the header asks the same; a stored export gives a job that is done at once
        again = api.post(exports, json={"format": "torchscript"}, headers={"Prefer": "respond-async, wait=10"})
        assert again.status_code == 202 and again.json()["status"] == "done"
        assert again.headers["preference-applied"] == "respond-async"
        assert api.post(exports, json={"format": "torchscript"}).status_code == 200  # synchronous as before
        bad_options = {"half": True, "int8": "dynamic"}
        refused = api.post(exports, json={"format": "onnx", "wait": False, "options": bad_options})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_input"
        assert api.get("/api/v1/jobs/999").status_code == 404
        assert len(api.get("/api/v1/projects/default/models/cls/versions/1/jobs").json()) == 2
        _, secret = remote_state.service().create_token("watcher", "viewer")
        as_viewer = {"Authorization": f"Bearer {secret}"}
        forbidden = api.post(exports, json={"format": "torchscript", "wait": False, "force": True}, headers=as_viewer)
        assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "permission_denied"
        assert api.get(f"/api/v1/jobs/{job['id']}", headers=as_viewer).json()["status"] == "done"


def test_the_http_client_starts_follows_and_waits(remote_state: Any, remote_server: Any, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    remote = modelreg.connect(remote_server.url, settings=Settings(home=tmp_path / "client", actor="tester"))
    try:
        register(remote, tmp_path, "pickled")
        with pytest.raises(UntrustedSource):
            remote.start_export("cls:1", "torchscript")
        job = remote.start_export("cls:1", "torchscript", trusted=True, options={"dynamic_batch": False})
        assert job.trusted and not job.options.dynamic_batch
        done = remote.wait_job(job.id, timeout=WAIT_S)
        assert done.status == "done" and remote.get_job(job.id) == done and remote.list_jobs("cls:1") == [done]
        assert remote.list_exports("cls:1")[0].id == done.export_id
        with pytest.raises(NotFound):
            remote.get_job(job.id + 50)
        with pytest.raises(InvalidInput, match="job id"):
            remote.get_job(-1)
    finally:
        remote.close()


def test_cli_export_no_wait_and_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from modelreg.cli.errors import ExitCode
    from modelreg.cli.main import app

    monkeypatch.chdir(ROOT)
    for var in ("MODELREG_URL", "MODELREG_TOKEN", "MODELREG_DATABASE_URL", "MODELREG_ARTIFACTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELREG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    folder = tmp_path / "run" / "weights"
    folder.mkdir(parents=True)
    torch.jit.save(torch.jit.trace(classifier(), torch.randn(2, 3, 32, 32)), str(folder / "best.pt"))
    cli = CliRunner()
    assert cli.invoke(app, ["register", "cls", str(folder.parent)]).exit_code == 0
    started = cli.invoke(app, ["export", "cls:1", "--format", "torchscript", "--imgsz", "32", "--no-wait"])
    assert started.exit_code == 0, started.stderr
    said = re.search(r"job (\d+) started; follow it: modelreg job \1", started.stdout)
    assert said, started.stdout
    job_id = int(said.group(1))
    waited = cli.invoke(app, ["job", str(job_id), "--wait"])
    assert waited.exit_code == 0 and "done" in waited.stdout and "pull it: modelreg pull cls:v1" in waited.stdout
    shown = json.loads(cli.invoke(app, ["job", str(job_id), "--json"]).stdout)
    assert shown["status"] == "done" and shown["export_id"]
    assert str(job_id) in cli.invoke(app, ["jobs", "cls:1"]).stdout
    stored = cli.invoke(app, ["export", "cls:1", "--format", "torchscript", "--imgsz", "32", "--no-wait"])
    assert "already exported" in stored.stdout
    assert cli.invoke(app, ["job", "999"]).exit_code == ExitCode.NOT_FOUND
    monkeypatch.setattr("modelreg.export.runner.missing_packages", lambda fmt: ["onnx"])
    failing = json.loads(cli.invoke(app, ["export", "cls:1", "--imgsz", "32", "--no-wait", "--json"]).stdout)
    failed = cli.invoke(app, ["job", str(failing["id"]), "--wait"])
    assert failed.exit_code == ExitCode.EXPORT_FAILED and "modelreg[onnx]" in failed.stderr


# ---------------------------------------------------------------- the dashboard


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no form"
    return found.group(1)


def test_the_dashboard_starts_an_export_and_follows_its_job(remote_state: Any, remote_server: Any, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch, gate: Gate) -> None:
    monkeypatch.chdir(ROOT)
    register(remote_state.service(), tmp_path)
    page_url, jobs_url = "/v/default/cls/1", "/v/default/cls/1/jobs"
    with httpx.Client(base_url=remote_server.url, timeout=60) as ui:
        page = ui.get(page_url).text
        assert "Export…" in page and 'action="/do/export"' in page and "runs code from the file" in page
        assert "No background exports yet." in page and "hx-get" not in page
        refused = ui.post("/do/export", data={"ref": "default/cls:1", "format": "torchscript"})
        assert refused.status_code == 403  # no CSRF token
        form = {"csrf": _csrf(page), "ref": "default/cls:1", "format": "torchscript", "input_shapes": "2,3,32,32",
                "dynamic_batch": "fixed", "int8": "", "force": "on"}
        bad = ui.post("/do/export", data={**form, "input_shapes": "2,three"})
        assert bad.status_code == 422 and "not a list of numbers" in bad.text
        posted = ui.post("/do/export", data=form)
        assert posted.status_code == 303 and posted.headers["location"] == f"{page_url}?done=export"
        assert gate.entered.wait(WAIT_S)
        job = remote_state.service().list_jobs("cls:1")[0]
        assert job.options.input_shapes == [[2, 3, 32, 32]] and not job.options.dynamic_batch and job.force
        running = ui.get(page_url).text
        assert f'hx-get="{jobs_url}"' in running and 'hx-trigger="every 2s"' in running
        assert '<noscript><meta http-equiv="refresh"' in running and "running" in running
        fragment = ui.get(jobs_url)
        assert fragment.status_code == 200 and "hx-refresh" not in fragment.headers
        assert "converting and checking parity" in fragment.text and "<html" not in fragment.text
        gate.open()
        assert remote_state.service().wait_job(job.id, timeout=WAIT_S).status == "done"
        finished = ui.get(jobs_url)
        assert finished.headers["hx-refresh"] == "true" and "hx-trigger" not in finished.text
        final = ui.get(page_url).text
        assert "hx-get" not in final and "http-equiv" not in final and "model.torchscript" in final
    _, secret = remote_state.service().create_token("watcher", "viewer")
    with httpx.Client(base_url=remote_server.url, timeout=60) as viewer:
        signin = viewer.get("/signin").text
        viewer.post("/signin", data={"csrf": _csrf(signin), "token": secret, "next": page_url})
        page = viewer.get(page_url).text
        assert "watcher" in page and 'action="/do/export"' not in page and f"#{job.id}" in page
        denied = viewer.post("/do/export", data={"csrf": _csrf(page), "ref": "default/cls:1", "format": "onnx"})
        assert denied.status_code == 403
