"""Deployment formats: ``export`` (convert + verify, stored once per options; ``--no-wait`` in the background),
``exports`` (list with parity and speed), ``bench`` (latency per batch size next to PyTorch eager), ``job`` and
``jobs`` (background exports: state, progress, export or error)."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import typer
from rich.table import Table
from rich.text import Text

from modelreg.cli.common import JsonOpt, RefArg, int8_choice, state
from modelreg.cli.errors import CliError, ExitCode
from modelreg.cli.output import emit_json, human_size, short_ref, staged, working
from modelreg.cli.steps import CLI_WORDS
from modelreg.errors import ModelregError, error_from_dict
from modelreg.service.exports import export_file_name
from modelreg.service.report_markdown import export_options_text, export_speed_text
from modelreg.steps import hint_for
from modelreg.types import Export, Job, JobError

app = typer.Typer()

FormatName = Literal["onnx", "torchscript", "coreml", "tflite"]
FormatOpt = Annotated[FormatName, typer.Option("--format", "-f", help="onnx, torchscript, coreml or tflite.")]
ShapeOpt = Annotated[list[str] | None, typer.Option(
    "--shape", help="An input shape, batch first, e.g. 1,3,640,640 (-1: dynamic); once per input. "
                    "Default: the version's signature, else params.imgsz.")]
ImgszOpt = Annotated[int | None, typer.Option(
    "--imgsz", min=1, help="Image size: the input becomes batch,3,IMGSZ,IMGSZ (one image input).")]
DynamicOpt = Annotated[bool | None, typer.Option(
    "--dynamic/--static", help="Any batch size (default: dynamic for onnx and torchscript, static otherwise).")]
OpsetOpt = Annotated[int | None, typer.Option("--opset", min=7, help="ONNX opset (default: the exporter's).")]
HalfOpt = Annotated[bool, typer.Option("--half", help="FP16 weights and activations.")]
Int8Opt = Annotated[str | None, typer.Option(
    "--int8", metavar="dynamic|static", help="INT8 quantization: dynamic (ONNX Runtime, LiteRT dynamic range) or "
                                             "static (ONNX QDQ, calibrated on the sample inputs).")]
SimplifyOpt = Annotated[bool, typer.Option("--simplify", help="Simplify the graph where the toolchain can.")]
STAGE_POLL_S = 0.25  # how often a waiting export asks its job what it is doing
TrustedOpt = Annotated[bool, typer.Option(
    "--trusted", help="Allow weights saved as a pickled module: loading them runs code in the file, so only "
                      "for weights you registered yourself.")]


def _options(shape: list[str] | None, imgsz: int | None, dynamic: bool | None, opset: int | None, half: bool,
             int8: str | None, simplify: bool) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if shape and imgsz:
        raise CliError("--shape and --imgsz exclude each other", hint="give one of them")
    if shape:
        options["input_shapes"] = [_shape(s) for s in shape]
    elif imgsz:
        options["input_shapes"] = [[-1 if dynamic or dynamic is None else 1, 3, imgsz, imgsz]]
    if dynamic is not None:
        options["dynamic_batch"] = dynamic
    if opset is not None:
        options["opset"] = opset
    if half:
        options["half"] = True
    if int8_choice(int8) is not None:
        options["int8"] = int8
    if simplify:
        options["simplify"] = True
    return options


def _shape(text: str) -> list[int]:
    try:
        dims = [int(d) for d in text.replace("x", ",").split(",") if d.strip()]
    except ValueError:
        raise CliError(f"--shape {text!r} is not a shape", hint="e.g. --shape 1,3,640,640",
                       exit_code=ExitCode.INVALID_INPUT) from None
    if not dims:
        raise CliError("--shape is empty", hint="e.g. --shape 1,3,640,640", exit_code=ExitCode.INVALID_INPUT)
    return dims


def job_failure(error: JobError) -> ModelregError:
    """The error a failed job recorded, raised again as the error it was (the same class and exit code)."""
    return error_from_dict({"code": error.code, "message": error.message,
                            "details": {**error.details, "hint": error.hint}})


def parity_text(e: Export) -> Text:
    """``✓ max 2.1e-06`` / ``✗ max 0.31 > 0.001`` / ``unverified`` — one cell."""
    p = e.parity
    if e.status == "unverified":
        return Text("unverified", style="yellow")
    if p is None or not p.outputs:
        return Text(e.status, style="red" if e.status != "ok" else "")
    d = p.detections
    if d is not None:  # a detector: what it detects decides, else its boxes and scores
        text = (f"{d.matched:.0%} of {d.source_detections} detections, IoU {d.mean_iou or 0:.3f}, "
                f"mAP50 {d.map50:.3f}" if d.source_detections else
                f"boxes ±{d.box_max_diff:.2g} px, scores ±{d.score_max_diff:.2g} (no detections)")
        return Text(f"✓ {text}", style="green") if e.status == "ok" else Text(f"✗ {text}", style="red")
    worst = max(o.max_abs_diff for o in p.outputs)
    text = f"max {worst:.2g}"
    agreement = [o.argmax_agreement for o in p.outputs if o.argmax_agreement is not None]
    if agreement:
        text += f", top-1 {min(agreement):.1%}"
    if e.status == "ok":
        return Text(f"✓ {text}", style="green")
    limit = f" > {p.thresholds.max_abs_diff:g}" if p.thresholds else ""
    return Text(f"✗ {text}{limit}", style="red")


def exports_table(exports: list[Export]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("format", "options", "status", "parity", "speed (p50)", "size", "exported"):
        table.add_column(column)
    for e in exports:
        table.add_row(e.format, export_options_text(e), e.status, parity_text(e), export_speed_text(e),
                      human_size(e.size),
                      f"{e.created_at:%Y-%m-%d %H:%M} in {e.duration_s:.1f}s")
    return table


@app.command("export")
def export(
    ctx: typer.Context,
    ref: RefArg,
    fmt: FormatOpt = "onnx",
    shape: ShapeOpt = None,
    imgsz: ImgszOpt = None,
    dynamic: DynamicOpt = None,
    opset: OpsetOpt = None,
    half: HalfOpt = False,
    int8: Int8Opt = None,
    simplify: SimplifyOpt = False,
    source: Annotated[str | None, typer.Option(
        "--source", help="The version's weights file (default: weights/best.pt or the one weights file).")] = None,
    entry_point: Annotated[str | None, typer.Option(
        "--entry-point", metavar="MODULE:FACTORY", help="For a state dict: the function that builds the module "
                                                         "(default: params.entry_point of the version).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Export again even if this export is stored.")] = False,
    trusted: TrustedOpt = False,
    wait: Annotated[bool, typer.Option(
        "--wait/--no-wait", help="Wait for the export (default), or start it in the background and print the job "
                                 "to follow (modelreg job ID).")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Export a version to ONNX, TorchScript, CoreML or TFLite, verified against the original.

    The exported model is run in its own runtime on the version's sample inputs (sample_inputs.npz among
    its files, else random inputs of its shape, seed 0) and compared with PyTorch: an export whose outputs
    differ beyond the precision's threshold is kept as failed-parity; Core ML runs only on macOS and is
    kept as unverified. The export is stored with the version (exports/FORMAT/KEY/...); the same version,
    format and options are exported once (--force exports again). Exit code 9 when no export could be made.

    With --no-wait the request is checked, then the export runs in the background (on the server, with
    MODELREG_URL): the command prints the job's id; follow it with modelreg job ID.

    \b
    Example: modelreg export fire-detector@production --format onnx --imgsz 640 --half
    Example: modelreg export fire-detector:5 --format tflite --no-wait
    """
    st = state(ctx)
    reg = st.registry()
    options = _options(shape, imgsz, dynamic, opset, half, int8, simplify)
    if not wait:
        started = reg.start_export(ref, fmt, force=force, trusted=trusted, source=source, entry_point=entry_point,
                                   options=options)
        if as_json:
            emit_json(started)
            return
        st.out.print(jobs_table([started]))
        if started.status == "done":
            st.out.print(f"already exported (the same export is stored); pull it: modelreg pull "
                         f"{short_ref(started.ref)} --format {started.format}", soft_wrap=True)
        else:
            st.out.print(f"job {started.id} started; follow it: modelreg job {started.id} "
                         f"(--wait to wait for it)", soft_wrap=True)
        return
    with staged(st.err, f"exporting {short_ref(ref)} to {fmt}", enabled=st.progress_enabled(as_json)) as show:
        job = reg.start_export(ref, fmt, force=force, trusted=trusted, source=source, entry_point=entry_point,
                               options=options)
        while not job.finished:  # the job's own stages: loading and converting, checking, storing
            show(job.progress)
            time.sleep(STAGE_POLL_S)
            job = reg.get_job(job.id)
    if job.error is not None:
        raise job_failure(job.error)
    exported = reg.get_export(job.ref, fmt, export_id=job.export_id)
    if as_json:
        emit_json(exported)
        return
    st.out.print(exports_table([exported]))
    files = ", ".join(export_file_name(f.path) for f in exported.files)
    st.out.print(f"{exported.format} export of {short_ref(exported.ref)}: {files} ({human_size(exported.size)}); "
                 f"pull it: modelreg pull {short_ref(exported.ref)} --format {exported.format}", soft_wrap=True)
    if exported.status == "failed-parity" and exported.parity and exported.parity.reason:
        st.err.print(Text.assemble(("parity failed: ", "bold red"), exported.parity.reason), soft_wrap=True)
    elif exported.status == "unverified" and exported.parity and exported.parity.reason:
        st.err.print(Text.assemble(("unverified: ", "bold yellow"), exported.parity.reason), soft_wrap=True)


@app.command("exports")
def exports(ctx: typer.Context, ref: RefArg, as_json: JsonOpt = False) -> None:
    """List a version's exports: format, options, parity verdict, speed and size.

    \b
    Example: modelreg exports fire-detector:3
    """
    st = state(ctx)
    found = st.registry().list_exports(ref)
    if as_json:
        emit_json(found)
        return
    if not found:
        st.out.print(f"{short_ref(ref)} has no exports; make one: modelreg export {ref} --format onnx",
                     soft_wrap=True)
        return
    st.out.print(exports_table(found))


def _job_when(job: Job) -> str:
    if job.finished_at and job.started_at:
        return f"{job.created_at:%Y-%m-%d %H:%M} in {(job.finished_at - job.started_at).total_seconds():.1f}s"
    return f"{job.created_at:%Y-%m-%d %H:%M}"


def jobs_table(jobs: list[Job]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("job", "version", "format", "options", "status", "progress", "started"):
        table.add_column(column)
    styles = {"done": "green", "failed": "red", "running": "yellow"}
    for j in jobs:
        options = ", ".join(f"{k}={v}" for k, v in j.options.model_dump(exclude_defaults=True).items()) or "-"
        table.add_row(str(j.id), short_ref(j.ref), j.format, options, Text(j.status, style=styles.get(j.status, "")),
                      j.progress, _job_when(j))
    return table


@app.command("job")
def job(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(metavar="ID", min=1, help="The job's id (modelreg export --no-wait "
                                                                    "printed it).")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait until it is done or failed (a failed job exits with "
                                                      "its error's code).")] = False,
    timeout: Annotated[float | None, typer.Option("--timeout", min=0, help="With --wait: give up waiting after "
                                                                           "this many seconds.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a background export: its state (queued, running, done, failed), progress, and its export or error.

    A job whose server stopped before it finished is shown failed (interrupted): start it again.

    \b
    Example: modelreg job 12 --wait
    """
    st = state(ctx)
    reg = st.registry()
    if wait:
        with working(st.err, f"waiting for job {job_id}", enabled=st.progress_enabled(as_json)):
            found = reg.wait_job(job_id, timeout)
    else:
        found = reg.get_job(job_id)
    if as_json:
        emit_json(found)
    else:
        st.out.print(jobs_table([found]))
        if found.status == "done":
            st.out.print(f"made export #{found.export_id}: modelreg exports {short_ref(found.ref)}; pull it: "
                         f"modelreg pull {short_ref(found.ref)} --format {found.format}", soft_wrap=True)
        elif not found.finished:
            st.out.print(f"not finished; wait for it: modelreg job {found.id} --wait", soft_wrap=True)
    if found.error is not None:
        error = found.error
        if wait:
            raise job_failure(error)
        if not as_json:
            st.err.print(Text.assemble(("failed: ", "bold red"), error.message), soft_wrap=True)
            hint = hint_for(error.details, CLI_WORDS, error.hint)
            if hint:
                st.err.print(Text.assemble(("hint: ", "bold"), hint), soft_wrap=True)


@app.command("jobs")
def jobs(ctx: typer.Context, ref: RefArg,
         limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many.")] = 20,
         as_json: JsonOpt = False) -> None:
    """List a version's background exports, newest first: state, progress, when.

    \b
    Example: modelreg jobs fire-detector:3
    """
    st = state(ctx)
    found = st.registry().list_jobs(ref, limit=limit)
    if as_json:
        emit_json(found)
        return
    if not found:
        st.out.print(f"{short_ref(ref)} has no background exports; start one: modelreg export {ref} --no-wait",
                     soft_wrap=True)
        return
    st.out.print(jobs_table(found))


@app.command("bench")
def bench(
    ctx: typer.Context,
    ref: RefArg,
    fmt: FormatOpt = "onnx",
    batch: Annotated[str, typer.Option("--batch", help="Batch sizes, comma separated.")] = "1,16",
    runs: Annotated[int, typer.Option("--runs", min=1, max=10_000, help="Timed runs per batch size.")] = 30,
    shape: ShapeOpt = None,
    imgsz: ImgszOpt = None,
    dynamic: DynamicOpt = None,
    half: HalfOpt = False,
    int8: Int8Opt = None,
    trusted: TrustedOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Measure an export's latency and throughput per batch size, next to PyTorch eager, and store them.

    Runs on this machine's CPU (the server's, with MODELREG_URL), and on its GPU where the runtime has one.
    Exports first when the version has no such export yet. A static export runs at its own batch only.

    \b
    Example: modelreg bench fire-detector@production --format onnx --batch 1,16
    """
    st = state(ctx)
    try:
        batches = [int(b) for b in batch.split(",") if b.strip()]
    except ValueError:
        raise CliError(f"--batch {batch!r} is not a list of numbers", hint="e.g. --batch 1,16",
                       exit_code=ExitCode.INVALID_INPUT) from None
    options = _options(shape, imgsz, dynamic, None, half, int8, False)
    with working(st.err, f"benchmarking the {fmt} export of {short_ref(ref)}", enabled=st.progress_enabled(as_json)):
        exported = st.registry().bench(ref, fmt, batches=batches, runs=runs, trusted=trusted, **options)
    if as_json:
        emit_json(exported)
        return
    result = exported.bench
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("runtime", "device", "batch", "p50", "p90", "throughput", "speed-up vs eager"):
        table.add_column(column, justify="left" if column in ("runtime", "device") else "right")
    eager = {(r.batch, r.device): r.p50_ms for r in (result.rows if result else []) if r.runtime == "pytorch-eager"}
    for r in result.rows if result else []:
        base = eager.get((r.batch, r.device))
        ratio = f"{base / r.p50_ms:.2f}x" if base and r.runtime != "pytorch-eager" and r.p50_ms > 0 else ""
        table.add_row(r.runtime, r.device, str(r.batch), f"{r.p50_ms:.3g} ms", f"{r.p90_ms:.3g} ms",
                      f"{r.throughput_per_s:,.0f}/s", ratio)
    st.out.print(table)
    if result and result.error:
        st.err.print(Text.assemble(("note: ", "bold yellow"), result.error.message), soft_wrap=True)
