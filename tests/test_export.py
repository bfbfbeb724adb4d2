"""Exports as users drive them: SDK, CLI and REST; stored once per options, verified, listed, pulled, gc'd.

The toolchains themselves (every format and precision, parity math, crashes) are tested in
test_export_toolchain.py; here one small classifier goes through the registry end to end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tests.export_models import KthValue, Noisy, classifier
from tests.test_tokens import as_principal

import modelreg
from modelreg.config import Settings
from modelreg.errors import (
    InvalidInput,
    NotFound,
    NoWeights,
    PermissionDenied,
    UnsupportedOperator,
    UntrustedSource,
    VersionInUse,
)
from modelreg.service import Service

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore::UserWarning")
SIGNATURE = {"inputs": [{"name": "images", "dtype": "float32", "shape": [-1, 3, 32, 32]}],
             "outputs": [{"name": "logits", "dtype": "float32", "shape": [-1, 5]}]}


@pytest.fixture
def reg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the worker imports tests.export_models
    registry = modelreg.connect(settings=Settings(home=tmp_path / "home", actor="tester"))
    yield registry
    registry.close()


def weights(tmp_path: Path, kind: str = "torchscript", model: torch.nn.Module | None = None) -> Path:
    net = model if model is not None else classifier()
    path = tmp_path / f"{kind}.pt"
    if kind == "torchscript":
        torch.jit.save(torch.jit.trace(net, torch.randn(2, 3, 32, 32)), str(path))
    elif kind == "pickled":
        torch.save(net, path)
    else:
        torch.save(net.state_dict(), path)
    return path


def register(reg: Any, tmp_path: Path, kind: str = "torchscript", **kw: Any) -> Any:
    reg.create_model("cls", task="classification", exist_ok=True)
    files = {"weights/best.pt": weights(tmp_path, kind, kw.pop("model", None)), "config.yaml": b"epochs: 3\n"}
    return reg.register_version("cls", files=files, signature=SIGNATURE, **kw)


def test_export_is_verified_stored_once_and_listed(reg: Service, tmp_path: Path) -> None:
    register(reg, tmp_path)
    exported = reg.export("cls:1", "onnx")
    assert exported.status == "ok" and exported.format == "onnx" and exported.options.dynamic_batch
    assert exported.source.path == "weights/best.pt" and exported.source.kind == "torchscript"
    assert exported.toolchain["torch"].startswith("2.13") and "onnxruntime" in exported.toolchain
    parity = exported.parity
    assert parity is not None and parity.status == "passed" and parity.batch_size not in (None, 2)
    assert parity.outputs[0].max_abs_diff < 1e-4 and parity.outputs[0].argmax_agreement == 1.0
    assert [f.path.rsplit("/", 1)[-1] for f in exported.files] == ["model.onnx"]
    assert all(f.path.startswith(f"exports/onnx/{exported.key}/") for f in exported.files)
    # the same version + format + options is served from the registry; --force exports again
    assert reg.export("cls:1", "onnx") == exported
    assert reg.export("cls@production", "onnx", dynamic_batch=True) == exported
    again = reg.export("cls:1", "onnx", force=True)
    assert again.id != exported.id and again.key == exported.key
    other = reg.export("cls:1", "torchscript")
    assert [e.id for e in reg.list_exports("cls:1")] == [again.id, other.id]
    assert reg.get_export("cls:1", "onnx").id == again.id
    actions = [e.action for e in reg.events(model="cls").items]
    assert actions.count("version.exported") == 3
    # the version's own files are unchanged
    assert [a.path for a in reg.get_version("cls:1").artifacts] == ["config.yaml", "weights/best.pt"]


@pytest.mark.slow
def test_one_version_to_all_four_formats(reg: Service, tmp_path: Path) -> None:
    """The issue's bar: all four formats from one version, three verified by running them, all listed."""
    program = torch.export.export(classifier(), (torch.randn(2, 3, 32, 32),),
                                  dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=64)},))
    torch.export.save(program, str(tmp_path / "model.pt2"))
    reg.create_model("cls", task="classification")
    reg.register_version("cls", files={"weights/model.pt2": tmp_path / "model.pt2"}, signature=SIGNATURE)
    statuses = {fmt: reg.export("cls:1", fmt).status for fmt in ("onnx", "torchscript", "tflite", "coreml")}
    assert statuses == {"onnx": "ok", "torchscript": "ok", "tflite": "ok", "coreml": "unverified"}
    listed = {e.format: e for e in reg.list_exports("cls:1")}
    assert set(listed) == set(statuses)
    assert listed["tflite"].parity is not None and listed["tflite"].parity.runtime.startswith("ai-edge-litert")
    coreml = listed["coreml"]
    assert coreml.parity is not None and "macOS" in (coreml.parity.reason or "") and coreml.files
    assert all(e.source.kind == "exported_program" for e in listed.values())


def test_pull_format_gives_a_runnable_verified_export(reg: Service, tmp_path: Path) -> None:
    import onnxruntime as ort

    register(reg, tmp_path)
    reg.export("cls:1", "onnx")
    folder = reg.pull("cls:1", tmp_path / "deploy", format="onnx")
    doc = json.loads((folder / "export.json").read_text())
    assert doc["status"] == "ok" and doc["format"] == "onnx"
    session = ort.InferenceSession(str(folder / "model.onnx"))
    x = np.random.default_rng(1).standard_normal((4, 3, 32, 32)).astype(np.float32)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    want = classifier()(torch.from_numpy(x)).detach().numpy()
    assert got.shape == (4, 5) and np.abs(got - want).max() < 1e-4
    with pytest.raises(NotFound, match="no tflite export"):
        reg.pull("cls:1", tmp_path / "x", format="tflite")


def test_pull_and_get_export_choose_among_a_formats_exports(reg: Service, tmp_path: Path) -> None:
    register(reg, tmp_path)
    plain = reg.export("cls:1", "onnx")
    half = reg.export("cls:1", "onnx", half=True)
    assert reg.get_export("cls:1", "onnx") == half  # the newest, when nothing says which
    assert reg.get_export("cls:1", "onnx", export_id=plain.id) == plain
    assert reg.get_export("cls:1", "onnx", half=True) == half
    folder = reg.pull("cls:1", tmp_path / "fp32", format="onnx", export_id=plain.id)
    assert json.loads((folder / "export.json").read_text())["id"] == plain.id
    folder = reg.pull("cls:1", tmp_path / "fp16", format="onnx", export_options={"half": True})
    assert json.loads((folder / "export.json").read_text())["options"]["half"] is True
    with pytest.raises(NotFound, match=f"no onnx export with id {half.id + 100}"):
        reg.pull("cls:1", tmp_path / "x", format="onnx", export_id=half.id + 100)
    with pytest.raises(NotFound, match="no onnx export with these options"):
        reg.get_export("cls:1", "onnx", int8="dynamic")
    assert reg.export("cls:1", "onnx", input_shapes=[[-1, 3, 32, 32]]) == plain  # the signature's own shape


def test_a_failing_parity_is_recorded_not_hidden(reg: Service, tmp_path: Path) -> None:
    register(reg, tmp_path, "pickled", model=Noisy().eval())
    exported = reg.export("cls:1", "torchscript", trusted=True)
    assert exported.status == "failed-parity" and exported.files
    assert exported.parity is not None and exported.parity.status == "failed"
    assert exported.parity.outputs[0].max_abs_diff > exported.parity.thresholds.max_abs_diff  # type: ignore[union-attr]
    assert reg.list_exports("cls:1")[0].status == "failed-parity"


def test_weights_sources_and_trust(reg: Service, tmp_path: Path) -> None:
    register(reg, tmp_path, "pickled")
    with pytest.raises(UntrustedSource, match="trusted"):
        reg.export("cls:1", "onnx")
    assert reg.list_exports("cls:1") == []
    assert reg.export("cls:1", "onnx", trusted=True).status == "ok"
    register(reg, tmp_path, "state_dict")
    with pytest.raises(NoWeights, match="entry_point="):
        reg.export("cls:2", "onnx")
    by_entry = reg.export("cls:2", "onnx", entry_point="tests.export_models:make_classifier")
    assert by_entry.status == "ok" and by_entry.source.kind == "state_dict"
    register(reg, tmp_path, "state_dict", params={"entry_point": "tests.export_models:make_classifier"})
    assert reg.export("cls:3", "onnx").source.entry_point == "tests.export_models:make_classifier"


def test_bad_requests_store_nothing(reg: Service, tmp_path: Path) -> None:
    reg.register_version("plain", files={"config.yaml": b"a: 1\n"})
    with pytest.raises(NoWeights, match="no weights to export"):
        reg.export("plain:1", "onnx")
    register(reg, tmp_path)
    for bad, match in (({"format": "keras"}, "unknown export format"), ({"opset": 17, "format": "tflite"}, "ONNX"),
                       ({"half": True, "int8": "dynamic"}, "exclude"), ({"int8": "static", "format": "tflite"},
                                                                       "ONNX only"),
                       ({"input_shapes": [[1, 0, 3]]}, "not a shape"), ({"colour": "red"}, "unknown export option"),
                       ({"input_shapes": [[1, 3, 32, 32], [1]]}, "signature has 1")):
        args = dict(bad)
        fmt = args.pop("format", "onnx")
        with pytest.raises(InvalidInput, match=match):
            reg.export("cls:1", fmt, **args)
    with pytest.raises(NoWeights, match="no file"):
        reg.export("cls:1", "onnx", source="weights/missing.pt")
    with pytest.raises(InvalidInput, match="batch sizes"):
        reg.bench("cls:1", "onnx", batches=[0])
    assert reg.list_exports("cls:1") == []


def test_an_operator_the_exporter_cannot_convert_stores_nothing(reg: Service, tmp_path: Path) -> None:
    register(reg, tmp_path, "pickled", model=KthValue().eval())
    with reg.ctx.meta.read() as tx:
        blobs_before = tx.blob_rows()
    with pytest.raises(UnsupportedOperator, match="kthvalue") as caught:
        reg.export("cls:1", "onnx", trusted=True)
    assert caught.value.details.get("format") == "onnx" and "kthvalue" in caught.value.details.get("operator", "")
    assert reg.list_exports("cls:1") == []
    with reg.ctx.meta.read() as tx:
        assert tx.blob_rows() == blobs_before  # nothing half-stored
    failed = [e for e in reg.events(model="cls").items if e.action == "version.export_failed"]
    assert failed and failed[0].after["code"] == "unsupported_operator"


def test_viewers_cannot_export(reg: Service, tmp_path: Path) -> None:
    register(reg, tmp_path)
    with pytest.raises(PermissionDenied, match="editor"):
        as_principal(reg, "dashboard", "viewer").export("cls:1", "onnx")


def test_bench_stores_latency_next_to_eager(reg: Service, tmp_path: Path) -> None:
    register(reg, tmp_path)
    benched = reg.bench("cls:1", "onnx", batches=[1, 4], runs=5)
    assert benched.bench is not None
    rows = {(r.runtime, r.batch) for r in benched.bench.rows}
    assert {("pytorch-eager", 1), ("pytorch-eager", 4), ("onnxruntime", 1), ("onnxruntime", 4)} <= rows
    assert all(r.p50_ms > 0 and r.p90_ms >= r.p50_ms and r.throughput_per_s > 0 for r in benched.bench.rows)
    assert reg.get_export("cls:1", "onnx").bench == benched.bench
    report = json.loads(reg.report("cls:1"))
    assert report["exports"][0]["bench"]["rows"]
    markdown = reg.report("cls:1", "markdown")
    assert "## Exports" in markdown and "onnx" in markdown
    again = reg.bench("cls:1", "onnx", batches=[1], runs=3)  # the newest shown, the earlier one kept
    assert again.id == benched.id and again.bench is not None and {r.batch for r in again.bench.rows} == {1}
    first, second = reg.events(action="export.benchmarked", limit=10).items[::-1]
    assert first.before is None and second.before["bench"] == benched.bench.model_dump(mode="json")
    assert second.after["export_id"] == benched.id and [r["batch"] for r in second.after["rows"]] == [1, 1]


def test_export_blobs_live_and_die_with_the_version(reg: Service, tmp_path: Path) -> None:
    register(reg, tmp_path)
    register(reg, tmp_path, "state_dict")  # v2 becomes the alias target below
    exported = reg.export("cls:1", "onnx")
    assert reg.gc(dry_run=False, grace_s=0).blobs == 0  # the export holds its blob
    assert reg.fsck().ok
    with pytest.raises(VersionInUse):
        reg.delete_version("cls:1")  # production: the export changes nothing about that rule
    reg.activate("cls:2")
    reg.delete_version("cls:1")
    assert reg.ctx.blobs.size(exported.files[0].digest) is None  # nothing else used it: deleted with the version


def test_remote_exports_behave_the_same(remote_state: Any, remote_server: Any, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    remote = modelreg.connect(remote_server.url, settings=Settings(home=tmp_path / "client", actor="tester"))
    try:
        register(remote, tmp_path, "pickled")
        with pytest.raises(UntrustedSource):
            remote.export("cls:1", "onnx")
        exported = remote.export("cls:1", "onnx", trusted=True, options={"opset": 18})
        assert exported.status == "ok" and exported.options.opset == 18
        assert remote.export("cls:1", "onnx", opset=18) == exported  # served from the registry
        assert remote.list_exports("cls:1") == [exported]
        folder = remote.pull("cls@production", tmp_path / "pulled", format="onnx")
        assert (folder / "model.onnx").stat().st_size == exported.files[0].size
        with pytest.raises(InvalidInput, match="colour"):
            remote.export("cls:1", "onnx", colour="red")
    finally:
        remote.close()


def test_cli_export_exports_info_pull_and_bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from modelreg.cli.errors import ExitCode
    from modelreg.cli.main import app

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    for var in ("MODELREG_URL", "MODELREG_TOKEN", "MODELREG_DATABASE_URL", "MODELREG_ARTIFACTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELREG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    cli = CliRunner()

    def run(*args: str) -> Any:
        return cli.invoke(app, list(args))

    folder = tmp_path / "run" / "weights"
    folder.mkdir(parents=True)
    torch.jit.save(torch.jit.trace(classifier(), torch.randn(2, 3, 32, 32)), str(folder / "best.pt"))
    assert run("register", "cls", str(folder.parent)).exit_code == 0
    missing_shape = run("export", "cls:1")
    assert missing_shape.exit_code == ExitCode.INVALID_INPUT and "--shape" in missing_shape.stderr
    made = run("export", "cls:1", "--format", "onnx", "--imgsz", "32")
    assert made.exit_code == 0, made.stderr
    assert "✓" in made.stdout and "pull it: modelreg pull cls:v1 --format onnx" in made.stdout
    as_json = json.loads(run("export", "cls:1", "--format", "onnx", "--imgsz", "32", "--json").stdout)
    assert as_json["status"] == "ok" and as_json["options"]["input_shapes"] == [[-1, 3, 32, 32]]
    listed = run("exports", "cls:1")
    assert listed.exit_code == 0 and "onnx" in listed.stdout and "dynamic" in listed.stdout
    assert "exports" in run("info", "cls:1").stdout
    pulled = run("pull", "cls:1", "--format", "onnx", "--to", str(tmp_path / "deploy"))
    assert pulled.exit_code == 0 and (tmp_path / "deploy" / "model.onnx").is_file()
    assert "pulled onnx export 1 of cls:v1 (dynamic, -1x3x32x32; ok)" in pulled.stdout  # says which one
    assert run("export", "cls:1", "--format", "onnx", "--imgsz", "32", "--half").exit_code == 0
    fp16 = run("pull", "cls:1", "--format", "onnx", "--half", "--to", str(tmp_path / "fp16"), "--json")
    assert fp16.exit_code == 0 and json.loads(fp16.stdout)["options"]["half"] is True
    first = run("pull", "cls:1", "--format", "onnx", "--export", "1", "--to", str(tmp_path / "first"), "--json")
    assert json.loads(first.stdout)["export"] == 1
    unknown = run("pull", "cls:1", "--format", "onnx", "--int8", "static", "--to", str(tmp_path / "none"))
    assert unknown.exit_code == ExitCode.NOT_FOUND and "with these options" in unknown.stderr
    no_format = run("pull", "cls:1", "--half")
    assert no_format.exit_code == ExitCode.USAGE and "give --format too" in no_format.stderr
    bench = run("bench", "cls:1", "--format", "onnx", "--imgsz", "32", "--batch", "1,2", "--runs", "3")
    assert bench.exit_code == 0, bench.stderr
    assert "pytorch-eager" in bench.stdout and "onnxruntime" in bench.stdout and "speed-up" in bench.stdout
    coreml_bench = run("bench", "cls:1", "--format", "coreml", "--imgsz", "32", "--static")
    assert coreml_bench.exit_code == ExitCode.EXPORT_FAILED and "macOS" in coreml_bench.stderr
