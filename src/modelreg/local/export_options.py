"""The options of an export: as a caller gave them, checked with the format's defaults filled in, and
the stored export that has them.

The SDK takes options as keywords or ``options=``; two exports are the same when their checked options
are equal, so the same rules pick an export whether the registry is in process or behind a server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelreg.errors import InvalidInput, NotFound
from modelreg.export.job import FORMATS, ExportOptions
from modelreg.export.limits import check_input_shapes
from modelreg.steps import next_step
from modelreg.types import Export

# Formats that take any batch size by default (dynamic shapes, as ONNX exports usually have).
DYNAMIC_BY_DEFAULT = frozenset({"onnx", "torchscript"})


def given_options(options: Mapping[str, Any] | ExportOptions | None, more: Mapping[str, Any]) -> dict[str, Any]:
    """The options a caller passed, ``options=`` and keywords together, as a plain mapping."""
    base = options.model_dump(exclude_unset=True) if isinstance(options, ExportOptions) else dict(options or {})
    return {**base, **more}


def export_options(fmt: str, options: Mapping[str, Any] | ExportOptions | None) -> ExportOptions:
    """Validate the user's options and fill the format's defaults (dynamic batch for ONNX, TorchScript)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}", hint="use one of: " + ", ".join(FORMATS),
                           field="format", format=fmt)
    raw = {k: v for k, v in given_options(options, {}).items() if v is not None}
    unknown = sorted(set(raw) - set(ExportOptions.model_fields))
    if unknown:
        raise InvalidInput(f"unknown export option {unknown[0]!r}",
                           hint="options: " + ", ".join(ExportOptions.model_fields), field=unknown[0])
    raw.setdefault("dynamic_batch", fmt in DYNAMIC_BY_DEFAULT)
    try:
        opts = ExportOptions.model_validate(raw)
    except ValueError as exc:
        raise InvalidInput(f"bad export options: {_first_error(exc)}", field="options") from None
    if opts.half and opts.int8:
        raise InvalidInput("half and int8 exclude each other", hint="pick one precision", field="int8")
    if opts.opset is not None and fmt != "onnx":
        raise InvalidInput(f"opset is an ONNX option, not a {fmt} one", field="opset")
    if opts.int8 == "static" and fmt != "onnx":
        raise InvalidInput(f"static INT8 is offered for ONNX only; {fmt} takes dynamic INT8", field="int8")
    if opts.int8 and fmt in ("torchscript", "coreml"):
        raise InvalidInput(f"INT8 quantization is not offered for {fmt}", hint="use onnx or tflite", field="int8")
    for shape in opts.input_shapes or []:
        if not shape or any(isinstance(d, bool) or d == 0 or d < -1 for d in shape):
            raise InvalidInput(f"input shape {shape} is not a shape", hint="e.g. 1,3,640,640 (-1: dynamic)",
                               field="input_shapes")
    check_input_shapes(opts.input_shapes or [])
    return opts


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg')}"
    return str(exc)


def choose_export(exports: Sequence[Export], ref: str, fmt: str, options: Mapping[str, Any],
                  export_id: int | None = None) -> Export:
    """The export ``export_id`` of ``fmt`` among ``exports``, else the newest whose options are those given
    (``{"int8": "dynamic"}``: any export quantized so, whatever its other options)."""
    found = [e for e in exports if e.format == fmt]
    if export_id is not None:
        chosen = [e for e in found if e.id == export_id]
        if not chosen:
            raise NotFound(f"{ref} has no {fmt} export with id {export_id}",
                           step=next_step("export", ref=ref, format=fmt), format=fmt, export_id=export_id)
        return chosen[0]
    if options:  # the options given, each as an export of these options would have it; the others any
        wanted = export_options(fmt, options)
        found = [e for e in found if all(getattr(e.options, name) == getattr(wanted, name) for name in options
                                         if name in ExportOptions.model_fields)]
    if not found:
        raise NotFound(f"{ref} has no {fmt} export" + (" with these options" if options else ""),
                       step=next_step("export", ref=ref, format=fmt), format=fmt)
    return found[-1]
