"""Why an export failed, as an ``ExportFailure`` with a stable code (no torch import).

The codes are those of ``modelreg.errors``, so the service raises the matching class:

    untrusted_source      a pickled module without ``trusted=True`` (unpickling runs code in the file)
    no_weights            the file holds no usable module or weights (or no entry point for a state dict)
    unsupported_operator  the exporter has no conversion for an operator (``operator`` names it)
    out_of_memory         MemoryError, "out of memory", or a child killed by SIGKILL
    toolchain_missing     the format's packages are not installed (``missing``, ``extra``, ``install`` say which
                          and how: ``modelreg.export.toolchains``)
    platform_unsupported  the format's runtime cannot run on this machine (benchmarks of Core ML off macOS)
    export_failed         anything else: the first line of the exception and a hint

Inside the worker a step raises ``ExportError(failure)`` for the cases it recognises; ``classify`` turns
any other exception into a failure by its type and by the exporter's message.
"""

from __future__ import annotations

import re

from modelreg.export.job import ExportFailure
from modelreg.export.toolchains import requirement_of_module, toolchain_missing, ultralytics_missing

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# What the exporters say when they meet an operator they cannot convert, and where its name is.
_OPERATOR_PATTERNS: tuple[re.Pattern[str], ...] = (
    # torch.onnx (dynamo): No ONNX function found for <OpOverload(op='aten.kthvalue', overload='default')>
    re.compile(r"No ONNX function found for <OpOverload\(op='(?P<op>[\w.:]+)'"),
    # torch.onnx (TorchScript-based): Exporting the operator 'aten::fft_rfft' to ONNX opset version 17 is not
    re.compile(r"Exporting the operator '?(?P<op>[\w.:]+)'? to ONNX opset version \d+ is not supported"),
    # litert-torch: Lowering not found: aten.kthvalue.default
    re.compile(r"Lowering not found: (?P<op>[\w.:]+)"),
    # coremltools (TorchScript frontend): PyTorch convert function for op 'kthvalue' not implemented.
    re.compile(r"PyTorch convert function for op '(?P<op>[\w.:]+)' not implemented"),
    # coremltools (torch.export frontend): Unsupported fx node gru, kind gru.input
    re.compile(r"Unsupported fx node \S+, kind (?P<op>[\w.:]+)"),
    # torch.jit.script: Unknown builtin op: aten::foo
    re.compile(r"Unknown builtin op: (?P<op>[\w.:]+)"),
)
_EXPORTERS = {"onnx": "torch.onnx", "torchscript": "torch.jit", "coreml": "coremltools", "tflite": "litert-torch"}
_OOM_WORDS = ("out of memory", "std::bad_alloc", "cannot allocate memory", "failed to allocate")


class ExportError(Exception):
    """A failure the worker recognised; ``failure`` is what the outcome reports."""

    def __init__(self, failure: ExportFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def failure(code: str, message: str, hint: str | None = None, operator: str | None = None) -> ExportError:
    """An ``ExportError`` to raise: ``raise failure("no_weights", "…", hint="…")``."""
    return ExportError(ExportFailure(code=code, message=message, hint=hint, operator=operator))


def clean(text: str) -> str:
    """The text without terminal colour codes."""
    return _ANSI.sub("", text)


def first_line(text: str) -> str:
    """The first non-empty line of ``text`` (colour codes removed), at most 500 characters."""
    for line in clean(text).splitlines():
        if line.strip():
            return line.strip()[:500]
    return ""


def summary(text: str) -> str:
    """The line that says what went wrong: torch.onnx puts it under "## Exception summary"."""
    text = clean(text)
    marker = "## Exception summary"
    if marker in text:
        found = first_line(text.split(marker, 1)[1])
        if found:
            return found
    return first_line(text)


def parse_operator(text: str) -> str | None:
    """The operator an exporter's message says it could not convert (``aten.kthvalue``), or None."""
    text = clean(text)
    for pattern in _OPERATOR_PATTERNS:
        found = pattern.search(text)
        if found:
            op = found.group("op").replace("::", ".")
            for suffix in (".default", ".input", ".Tensor"):
                op = op.removesuffix(suffix)
            return op if "." in op else f"aten.{op}"
    return None


def _chain_text(exc: BaseException) -> str:
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < 8:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def classify(exc: BaseException, fmt: str, stage: str | None = None) -> ExportFailure:
    """The failure an exception stands for, in ``fmt``'s words (``stage`` says what was being done:
    "loading the weights"; by default "the <fmt> export")."""
    if isinstance(exc, ExportError):
        return exc.failure
    stage = stage or f"the {fmt} export"
    text = _chain_text(exc)
    exporter = _EXPORTERS.get(fmt, fmt)
    if isinstance(exc, MemoryError) or any(w in text.lower() for w in _OOM_WORDS):
        return ExportFailure(code="out_of_memory", message=f"{exporter} ran out of memory during {stage}",
                             hint="free memory, use smaller input_shapes, or export on a larger machine")
    operator = parse_operator(text)
    if operator is not None:
        return ExportFailure(
            code="unsupported_operator", operator=operator,
            message=f"{exporter} cannot convert the operator {operator} to {fmt}",
            hint=f"rewrite that part of forward() with operators {fmt} supports, or export to another format"
                 + (" (or give torch.onnx a custom_translation_table)" if fmt == "onnx" else ""))
    if isinstance(exc, ImportError):
        return _missing_import(exc, fmt, stage)
    line = summary(str(exc)) or type(exc).__name__
    return ExportFailure(code="export_failed", message=f"{stage} failed: {type(exc).__name__}: {line}",
                         hint=_hint_for(text, fmt))


def _missing_import(exc: ImportError, fmt: str, stage: str) -> ExportFailure:
    """A module the export imported is missing: name its distribution when the toolchain table declares it."""
    name = exc.name or ""
    if name.split(".", 1)[0] == "ultralytics":  # unpickling a YOLO checkpoint imports its model classes
        return ultralytics_missing(fmt)
    declared = requirement_of_module(name) if name else None
    if declared is not None:
        return toolchain_missing(fmt, [declared.distribution])
    found = toolchain_missing(fmt, [name.split(".", 1)[0]] if name else [])
    return found.model_copy(update={"message": f"{stage} needs a package that is missing: {exc}"})


def _hint_for(text: str, fmt: str) -> str:
    if "torch.export" in text or "guard" in text.lower() or "Constraints violated" in text:
        return ("torch.export could not capture forward(); make it traceable (no data-dependent Python control "
                "flow), or export without dynamic_batch")
    if fmt == "coreml":
        return "coremltools does not convert every graph (some LSTM and transformer graphs); try onnx or tflite"
    return "run the export again with logging on; the exporter's output is in the message's log tail"
