"""The export toolchain (``modelreg.export``) on real exporters and runtimes, with tiny models built here.

Each ``run_export`` runs the worker's convert and verify steps in child processes, as the service does.
The models live in a module written to a temporary folder (children import it to unpickle them and to
call the state dict's entry point), saved as every source kind the registry meets.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from modelreg.export.failures import parse_operator  # noqa: E402
from modelreg.export.inputs import plan_batches  # noqa: E402
from modelreg.export.job import ExportJob, ExportOptions, ExportOutcome, InputSpec  # noqa: E402
from modelreg.export.parity import THRESHOLDS, compare  # noqa: E402
from modelreg.export.runner import available_formats, run_bench, run_export  # noqa: E402
from modelreg.export.source import detect_source_kind  # noqa: E402

NETS = "modelreg_tinynets"
NETS_SOURCE = textwrap.dedent('''
    import torch
    from torch import nn


    class Detector(nn.Module):
        """A conv net with a YOLO-like head: (N, anchors * cells, 4 box + 1 objectness + classes)."""

        def __init__(self, classes: int = 4, anchors: int = 3) -> None:
            super().__init__()
            self.anchors, self.k = anchors, 5 + classes
            self.body = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.SiLU(),
                                      nn.Conv2d(8, 16, 3, 2, 1), nn.SiLU())
            self.head = nn.Conv2d(16, anchors * self.k, 1)

        def forward(self, x):
            y = self.head(self.body(x))
            n, _, h, w = y.shape
            y = y.view(n, self.anchors, self.k, h, w).permute(0, 1, 3, 4, 2).reshape(n, -1, self.k)
            return torch.cat([y[..., :4], y[..., 4:].sigmoid()], dim=-1)


    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                     nn.Linear(8, 10))

        def forward(self, x):
            return self.net(x)


    class Sequence(nn.Module):
        """Embedding + GRU: the kind of model whose batch the ONNX exporter can bake in."""

        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(50, 16)
            self.rnn = nn.GRU(16, 16, batch_first=True)
            self.out = nn.Linear(16, 5)

        def forward(self, tokens):
            h, _ = self.rnn(self.emb(tokens))
            return self.out(h[:, -1])


    class Noisy(nn.Module):
        """Different outputs on every call: no export can match it."""

        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(x) + torch.rand_like(self.fc(x))


    class KthValue(nn.Module):
        """aten.kthvalue has no ONNX conversion in torch 2.13."""

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return torch.kthvalue(self.conv(x).flatten(1), 2, dim=-1)[0]


    def make_detector():
        return Detector()


    def make_classifier():
        return Classifier()
''')
IMAGE = [-1, 3, 32, 32]
FORMATS = available_formats()


def needs(fmt: str) -> pytest.MarkDecorator:
    """Skip where the format's toolchain is not installed (``pip install 'modelreg[export]'``); never in CI,
    which installs every toolchain: there a missing one fails the tests that need it."""
    return pytest.mark.skipif(FORMATS[fmt] is not None and not os.environ.get("CI"), reason=FORMATS[fmt] or "")
TOKENS = [-1, 12]


class Zoo:
    """The saved models: ``path(name)`` is a weights file in ``folder``."""

    def __init__(self, folder: Path, nets: ModuleType) -> None:
        self.folder = folder
        self.nets = nets

    def path(self, name: str) -> str:
        return str(self.folder / name)

    def job(self, fmt: str, source: str, kind: str, inputs: list[InputSpec], out: str, *,
            task: str = "other", options: ExportOptions | None = None, **more: Any) -> ExportJob:
        return ExportJob(format=fmt, options=options or ExportOptions(), source_path=self.path(source),
                         source_kind=kind, inputs=inputs, task=task, out_dir=str(self.folder / "exports" / out),
                         timeout_s=300, **more)


def image(name: str = "images") -> list[InputSpec]:
    return [InputSpec(name=name, shape=IMAGE)]


def tokens() -> list[InputSpec]:
    return [InputSpec(name="tokens", dtype="int64", shape=TOKENS)]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zoo]:
    folder = tmp_path_factory.mktemp("export-zoo")
    (folder / f"{NETS}.py").write_text(NETS_SOURCE)
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(folder))
        mp.setenv("PYTHONPATH", os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]))
        nets = importlib.import_module(NETS)
        torch.manual_seed(0)
        detector, classifier, sequence = nets.Detector().eval(), nets.Classifier().eval(), nets.Sequence().eval()
        torch.save(detector, folder / "detector.pt")                                     # pickled module
        torch.save(detector.state_dict(), folder / "detector_sd.pt")                     # state dict
        torch.save({"model": classifier.state_dict(), "epoch": 3}, folder / "classifier_ckpt.pt")  # checkpoint
        torch.save(sequence, folder / "sequence.pt")
        torch.save({"model": sequence, "epoch": 3}, folder / "sequence_ultra.pt")       # Ultralytics-style
        x = torch.randn(2, 3, 32, 32)
        with warnings.catch_warnings():  # torch 2.13 deprecates torch.jit; users still have such files
            warnings.filterwarnings("ignore", message=r".*torch\.jit", category=DeprecationWarning)
            torch.jit.save(torch.jit.trace(detector, (x,)), str(folder / "detector.torchscript"))
        batch = torch.export.Dim("batch")
        program = torch.export.export(classifier, (x,), dynamic_shapes=({0: batch},))
        torch.export.save(program, str(folder / "classifier.pt2"))                       # exported program
        torch.save(nets.Noisy().eval(), folder / "noisy.pt")
        torch.save(nets.KthValue().eval(), folder / "kthvalue.pt")
        yield Zoo(folder, nets)
        sys.modules.pop(NETS, None)


def assert_ok(outcome: ExportOutcome, out_dir: str, files: list[str]) -> None:
    assert outcome.status == "ok", (outcome.error, outcome.parity)
    assert outcome.files == files
    for f in files:
        assert (Path(out_dir) / f).is_file()
    assert outcome.parity is not None and outcome.parity.status == "passed"
    assert outcome.parity.outputs and outcome.parity.thresholds is not None
    assert outcome.duration_s > 0
    assert "torch" in outcome.toolchain


# ---- fast checks of the pieces (no child processes)


def test_detect_source_kind(zoo: Zoo) -> None:
    assert detect_source_kind(zoo.path("detector.pt")) == "pickled_module"
    assert detect_source_kind(zoo.path("sequence_ultra.pt")) == "pickled_module"
    assert detect_source_kind(zoo.path("detector_sd.pt")) == "state_dict"
    assert detect_source_kind(zoo.path("classifier_ckpt.pt")) == "state_dict"
    assert detect_source_kind(zoo.path("detector.torchscript")) == "torchscript"
    assert detect_source_kind(zoo.path("classifier.pt2")) == "exported_program"
    assert detect_source_kind(zoo.path(f"{NETS}.py")) is None


def test_batch_plan_exports_dynamic_batches_at_two_and_verifies_at_another() -> None:
    def plan(fmt: str, shape: list[int], dynamic: bool) -> tuple[int, int, bool]:
        job = ExportJob(format=fmt, source_path="x", source_kind="state_dict", out_dir="o",
                        inputs=[InputSpec(name="x", shape=shape)], options=ExportOptions(dynamic_batch=dynamic))
        p = plan_batches(job)
        return p.export_batch, p.verify_batch, p.dynamic

    assert plan("onnx", [1, 3, 8, 8], True) == (2, 3, True)
    assert plan("onnx", [-1, 3, 8, 8], True) == (2, 3, True)
    assert plan("onnx", [4, 3, 8, 8], False) == (4, 4, False)
    assert plan("tflite", [-1, 3, 8, 8], True) == (1, 1, False)


def test_parity_thresholds_and_mismatches() -> None:
    ref = [("output", np.linspace(-1, 1, 30, dtype=np.float32).reshape(3, 10))]
    common: dict[str, Any] = {"task": "classification", "runtime": "test", "batch_size": 3, "inputs": "random"}
    passed = compare(ref, [ref[0][1] + 1e-5], precision="fp32", **common)
    assert passed.status == "passed" and passed.outputs[0].argmax_agreement == 1.0
    failed = compare(ref, [ref[0][1] + 0.05], precision="fp32", **common)
    assert failed.status == "failed" and "max |diff|" in (failed.reason or "")
    assert compare(ref, [ref[0][1] + 0.03], precision="int8", **common).status == "passed"
    baked = compare(ref, [ref[0][1][:1]], precision="fp32", **common)
    assert baked.status == "failed" and "batch is fixed" in (baked.reason or "")
    assert compare(ref, [], precision="fp32", **common).status == "failed"
    assert THRESHOLDS["fp32"].max_abs_diff < THRESHOLDS["fp16"].max_abs_diff < THRESHOLDS["int8"].max_abs_diff


def test_parse_operator_from_exporter_messages() -> None:
    assert parse_operator("No ONNX function found for <OpOverload(op='aten.kthvalue', overload='default')>. "
                          ) == "aten.kthvalue"
    assert parse_operator("RuntimeError: Lowering not found: aten.histc.default") == "aten.histc"
    assert parse_operator("PyTorch convert function for op 'kthvalue' not implemented.") == "aten.kthvalue"
    assert parse_operator("Unsupported fx node gru, kind gru.input") == "aten.gru"
    assert parse_operator("Exporting the operator 'aten::fft_rfft' to ONNX opset version 17 is not supported"
                          ) == "aten.fft_rfft"
    assert parse_operator("something else went wrong") is None


def test_runner_imports_no_torch_and_lists_formats() -> None:
    code = ("import sys, modelreg.export.runner as r; f = r.available_formats(); "
            "assert 'torch' not in sys.modules; print(f)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "onnx" in out.stdout
    assert set(FORMATS) == {"onnx", "torchscript", "coreml", "tflite"}
    assert FORMATS["torchscript"] is None
    for fmt, reason in FORMATS.items():
        assert reason is None or f'pip install "modelreg[{fmt}]"' in reason


# ---- ONNX


@pytest.fixture(scope="module")
def onnx_detector(zoo: Zoo) -> tuple[ExportJob, ExportOutcome]:
    job = zoo.job("onnx", "detector_sd.pt", "state_dict", image(), "onnx-fp32", task="detection",
                  entry_point=f"{NETS}:make_detector", options=ExportOptions(dynamic_batch=True))
    return job, run_export(job)


@needs("onnx")
def test_onnx_fp32_dynamic_batch_from_a_state_dict(onnx_detector: tuple[ExportJob, ExportOutcome]) -> None:
    job, outcome = onnx_detector
    assert_ok(outcome, job.out_dir, ["model.onnx"])
    assert {"onnx", "onnxruntime", "onnxscript"} <= set(outcome.toolchain)
    parity = outcome.parity
    assert parity is not None and parity.runtime and parity.runtime.startswith("onnxruntime ")
    assert parity.batch_size == 3                      # exported at 2, verified at 3
    assert parity.inputs == "random, seed 0"
    (out,) = parity.outputs
    assert out.max_abs_diff < 1e-4 and out.mean_abs_diff < 1e-5
    assert out.argmax_agreement is not None and out.argmax_agreement >= 0.99


@needs("onnx")
def test_onnx_sequence_model_keeps_its_batch_dynamic(zoo: Zoo) -> None:
    job = zoo.job("onnx", "sequence.pt", "pickled_module", tokens(), "onnx-seq", task="classification",
                  trusted=True, options=ExportOptions(dynamic_batch=True))
    outcome = run_export(job)
    assert_ok(outcome, job.out_dir, ["model.onnx"])
    assert outcome.parity is not None and outcome.parity.batch_size == 3
    assert outcome.parity.outputs[0].max_abs_diff < 1e-4


@needs("onnx")
def test_onnx_fp16_from_a_checkpoint_dict(zoo: Zoo) -> None:
    job = zoo.job("onnx", "classifier_ckpt.pt", "state_dict", image(), "onnx-fp16", task="classification",
                  entry_point=f"{NETS}:make_classifier", options=ExportOptions(half=True))
    outcome = run_export(job)
    assert_ok(outcome, job.out_dir, ["model.onnx"])
    assert outcome.parity is not None and outcome.parity.thresholds == THRESHOLDS["fp16"]
    (out,) = outcome.parity.outputs
    assert 0 < out.max_abs_diff < 5e-3 and out.argmax_agreement == 1.0


@needs("onnx")
def test_onnx_int8_dynamic_from_an_exported_program(zoo: Zoo) -> None:
    job = zoo.job("onnx", "classifier.pt2", "exported_program", image(), "onnx-int8d", task="classification",
                  options=ExportOptions(int8="dynamic", dynamic_batch=True))
    outcome = run_export(job)
    assert_ok(outcome, job.out_dir, ["model.onnx"])
    assert outcome.parity is not None and outcome.parity.thresholds == THRESHOLDS["int8"]
    assert outcome.parity.outputs[0].max_abs_diff < 0.05
    assert any("INT8 dynamic" in n for n in outcome.notes)


@needs("onnx")
@pytest.mark.slow
def test_onnx_int8_static_qdq(zoo: Zoo) -> None:
    job = zoo.job("onnx", "detector.pt", "pickled_module", image(), "onnx-int8s", task="detection", trusted=True,
                  options=ExportOptions(int8="static", simplify=True))
    outcome = run_export(job)
    assert_ok(outcome, job.out_dir, ["model.onnx"])
    (out,) = outcome.parity.outputs  # type: ignore[union-attr]
    assert out.max_abs_diff < 0.1 and out.mean_abs_diff < 0.01
    assert any("QDQ" in n for n in outcome.notes)
    assert any("simplif" in n for n in outcome.notes)


@needs("onnx")
def test_unsupported_operator_is_named(zoo: Zoo) -> None:
    job = zoo.job("onnx", "kthvalue.pt", "pickled_module", [InputSpec(name="x", shape=[-1, 3, 8, 8])], "onnx-kth",
                  trusted=True)
    outcome = run_export(job)
    assert outcome.status == "failed" and outcome.files == []
    assert outcome.error is not None and outcome.error.code == "unsupported_operator"
    assert outcome.error.operator == "aten.kthvalue"
    assert "aten.kthvalue" in outcome.error.message and outcome.error.hint


@needs("onnx")
def test_bench_rows_for_eager_and_onnxruntime(onnx_detector: tuple[ExportJob, ExportOutcome]) -> None:
    job, outcome = onnx_detector
    assert outcome.status == "ok"
    bench = run_bench(job, [1, 4], runs=3)
    assert bench.error is None
    assert sorted((r.runtime, r.batch) for r in bench.rows) == [
        ("onnxruntime", 1), ("onnxruntime", 4), ("pytorch-eager", 1), ("pytorch-eager", 4)]
    for row in bench.rows:
        assert 0 < row.p50_ms <= row.p90_ms and row.throughput_per_s > 0 and row.runs == 3
    assert bench.machine["cores"]


# ---- TorchScript and the failure paths (fast children)


def test_torchscript_from_a_torchscript_source(zoo: Zoo) -> None:
    job = zoo.job("torchscript", "detector.torchscript", "torchscript", image(), "ts", task="detection",
                  options=ExportOptions(dynamic_batch=True))
    outcome = run_export(job)
    assert_ok(outcome, job.out_dir, ["model.torchscript"])
    assert outcome.parity is not None and outcome.parity.batch_size == 3
    assert outcome.parity.outputs[0].max_abs_diff < 1e-5


def test_torchscript_traced_from_an_ultralytics_style_checkpoint(zoo: Zoo) -> None:
    job = zoo.job("torchscript", "sequence_ultra.pt", "pickled_module", tokens(), "ts-seq", trusted=True,
                  task="classification")
    outcome = run_export(job)
    assert_ok(outcome, job.out_dir, ["model.torchscript"])


def test_outputs_that_differ_fail_parity(zoo: Zoo) -> None:
    job = zoo.job("torchscript", "noisy.pt", "pickled_module", [InputSpec(name="x", shape=[-1, 8])], "noisy",
                  trusted=True)
    outcome = run_export(job)
    assert outcome.status == "failed-parity"
    assert outcome.files == ["model.torchscript"]
    assert outcome.parity is not None and outcome.parity.status == "failed"
    assert "max |diff|" in (outcome.parity.reason or "")
    assert outcome.parity.outputs[0].max_abs_diff > 0.01


def test_pickled_module_needs_trust(zoo: Zoo) -> None:
    job = zoo.job("torchscript", "detector.pt", "pickled_module", image(), "untrusted")
    outcome = run_export(job)
    assert outcome.status == "failed" and outcome.error is not None
    assert outcome.error.code == "untrusted_source"
    assert outcome.error.hint and "trusted" in outcome.error.hint


def test_state_dict_without_entry_point_has_no_weights(zoo: Zoo) -> None:
    outcome = run_export(zoo.job("torchscript", "detector_sd.pt", "state_dict", image(), "no-entry"))
    assert outcome.status == "failed" and outcome.error is not None and outcome.error.code == "no_weights"
    assert outcome.error.hint and "entry_point" in outcome.error.hint


def test_a_runtime_crash_while_verifying_is_failed_parity(zoo: Zoo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELREG_EXPORT_TEST_CRASH", "1")
    job = zoo.job("torchscript", "detector.torchscript", "torchscript", image(), "crash")
    outcome = run_export(job)
    assert outcome.status == "failed-parity"
    assert outcome.files == ["model.torchscript"]
    assert outcome.parity is not None
    assert outcome.parity.reason == "the runtime crashed (signal 11) while running the exported model"


# ---- Core ML and LiteRT (the slowest toolchains)


@needs("coreml")
@pytest.mark.slow
def test_coreml_converts_but_cannot_run_off_macos(zoo: Zoo) -> None:
    job = zoo.job("coreml", "detector.pt", "pickled_module", image(), "coreml", task="detection", trusted=True,
                  options=ExportOptions(dynamic_batch=True))
    outcome = run_export(job)
    if sys.platform == "darwin":
        assert outcome.status == "ok", outcome.parity
    else:
        assert outcome.status == "unverified", (outcome.error, outcome.parity)
        assert outcome.parity is not None and outcome.parity.reason is not None
        assert outcome.parity.reason.startswith("Core ML models can only be run on macOS; converted on Linux with "
                                                "coremltools ")
    assert outcome.files == ["model.mlpackage.zip"] and "coremltools" in outcome.toolchain
    with zipfile.ZipFile(Path(job.out_dir) / "model.mlpackage.zip") as archive:
        names = archive.namelist()
    assert "model.mlpackage/Manifest.json" in names
    assert any(n.endswith("model.mlmodel") for n in names)
    assert any("dynamic_batch ignored" in n for n in outcome.notes)


@needs("tflite")
@pytest.mark.slow
def test_tflite_fp32(zoo: Zoo) -> None:
    job = zoo.job("tflite", "detector_sd.pt", "state_dict", image(), "tflite", task="detection",
                  entry_point=f"{NETS}:make_detector", options=ExportOptions(dynamic_batch=True))
    outcome = run_export(job)
    assert_ok(outcome, job.out_dir, ["model.tflite"])
    assert {"litert-torch", "ai-edge-litert"} <= set(outcome.toolchain)
    assert outcome.parity is not None and outcome.parity.runtime and "ai-edge-litert" in outcome.parity.runtime
    assert outcome.parity.outputs[0].max_abs_diff < 1e-4
    assert any("dynamic_batch ignored" in n for n in outcome.notes)


@needs("tflite")
@pytest.mark.slow
def test_tflite_int8_dynamic_range_with_int64_inputs(zoo: Zoo) -> None:
    job = zoo.job("tflite", "sequence.pt", "pickled_module", tokens(), "tflite-int8", task="classification",
                  trusted=True, options=ExportOptions(int8="dynamic"))
    outcome = run_export(job)
    assert_ok(outcome, job.out_dir, ["model.tflite"])
    assert outcome.parity is not None and outcome.parity.thresholds == THRESHOLDS["int8"]
    assert 0 < outcome.parity.outputs[0].max_abs_diff < 0.05
    assert any("int32" in n for n in outcome.notes)


def test_a_module_neither_traced_nor_scripted_is_told_what_it_can_do() -> None:
    from modelreg.export.failures import ExportError
    from modelreg.export.torchscript import _trace_or_script

    class Odd(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return {"not a tensor", id(x)}  # a set of Python values: the tracer and the compiler both refuse it

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ExportError) as raised:
            _trace_or_script(Odd(), (torch.zeros(1),), [])
    hint = raised.value.failure.hint or ""
    assert "torch.jit.trace failed" in raised.value.failure.message
    assert "onnx or tflite" in hint and ".pt2" in hint and "entry_point" in hint
