"""Exports of a version: make one (verified), list them, benchmark one. Long work runs in a thread.

``POST …/exports`` answers when the export is made (200) or, with ``"wait": false`` or the header
``Prefer: respond-async``, at once: ``202`` with the job and ``Location: /api/v1/jobs/{id}`` (``routes.jobs``).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Header, Request
from pydantic import Field

from modelreg.export.job import ExportOptions, Format
from modelreg.server.auth import Registry
from modelreg.server.wire import Body, ModelPath, ProjectPath, VersionPath, ref_text, reply
from modelreg.types import Export, Job

router = APIRouter(tags=["exports"])
EXPORTS = "/projects/{project}/models/{model}/versions/{version}/exports"
FAILURES: dict[int | str, dict[str, Any]] = {
    422: {"description": "`no_weights`, `untrusted_source`, `unsupported_operator` (details: operator, format), "
                         "`platform_unsupported` or `export_failed`: nothing was stored"},
    501: {"description": "`toolchain_missing`: the server lacks the format's toolchain (modelreg[export])"},
    507: {"description": "`out_of_memory`: the exporter ran out of memory; nothing was stored"},
}


class ExportRequest(Body):
    format: Format = "onnx"
    options: ExportOptions = Field(default_factory=ExportOptions,
                                   description="input_shapes, dynamic_batch (default: on for onnx and torchscript), "
                                               "opset, half, int8 (dynamic|static), simplify")
    force: bool = Field(default=False, description="Export again even if this export is stored.")
    trusted: bool = Field(default=False, description="Allow weights saved as a pickled module (runs code in them).")
    source: str | None = Field(default=None, description="The weights file of the version (default: found).")
    entry_point: str | None = Field(default=None, description="package.module:factory for a state dict.")
    wait: bool = Field(default=True, description="false: answer 202 with a background job at once (as the header "
                                                 "Prefer: respond-async does) instead of the export when made.")


class BenchRequest(Body):
    format: Literal["onnx", "torchscript", "tflite", "coreml"] = "onnx"
    options: ExportOptions = Field(default_factory=ExportOptions)
    batches: list[int] = Field(default_factory=lambda: [1, 16], description="Batch sizes to measure.")
    runs: int = Field(default=30, description="Timed runs per batch size.")
    trusted: bool = False


@router.post(EXPORTS, response_model=Export, responses={
    **FAILURES, 202: {"model": Job, "description": "Started in the background (`\"wait\": false` or `Prefer: "
                                                     "respond-async`): the job; `Location` is its URL"}},
             summary="Export the version to a format, verified against the source (stored once per options); "
                     "with \"wait\": false a background job (202 + Location)")
def create_export(body: ExportRequest, reg: Registry, request: Request, project: str = ProjectPath,
                  model: str = ModelPath, version: str = VersionPath,
                  prefer: str | None = Header(default=None, description="respond-async: as \"wait\": false")) -> object:
    ref = ref_text(project, model, version)
    options = body.options.model_dump(exclude_unset=True)
    if not body.wait or _wants_async(prefer):
        job = reg.start_export(ref, body.format, force=body.force, trusted=body.trusted, source=body.source,
                               entry_point=body.entry_point, options=options)
        response = reply(job, 202)
        response.headers["Location"] = request.app.url_path_for("get_job", job_id=str(job.id))
        if _wants_async(prefer):
            response.headers["Preference-Applied"] = "respond-async"
        return response
    exported = reg.export(ref, body.format, force=body.force, trusted=body.trusted, source=body.source,
                          entry_point=body.entry_point, options=options)
    return reply(exported)


def _wants_async(prefer: str | None) -> bool:
    """Whether a ``Prefer`` header (RFC 7240) asks for ``respond-async``."""
    return prefer is not None and any(p.split(";")[0].strip().lower() == "respond-async" for p in prefer.split(","))


@router.get(EXPORTS, response_model=list[Export], summary="The version's exports with their parity and speed")
def list_exports(reg: Registry, project: str = ProjectPath, model: str = ModelPath,
                 version: str = VersionPath) -> object:
    return reply(reg.list_exports(ref_text(project, model, version)))


@router.post(EXPORTS + "/bench", response_model=Export, responses=FAILURES,
             summary="Benchmark an export (latency p50/p90 per batch size, next to PyTorch eager) and store it")
def bench_export(body: BenchRequest, reg: Registry, project: str = ProjectPath, model: str = ModelPath,
                 version: str = VersionPath) -> object:
    exported = reg.bench(ref_text(project, model, version), body.format, batches=body.batches, runs=body.runs,
                         trusted=body.trusted, options=body.options.model_dump(exclude_unset=True))
    return reply(exported)
