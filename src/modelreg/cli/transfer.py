"""Files in and out: ``pull`` (with a progress bar; ``--format`` for an export), ``resolve`` (a local path for
scripts), ``import``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from modelreg.cli.common import DryRunOpt, JsonOpt, ModelArg, RefArg, State, int8_choice, state
from modelreg.cli.errors import CliError, ExitCode
from modelreg.cli.output import emit_json, human_size, short_ref, transfer, working
from modelreg.registry import Layout
from modelreg.service.exports import export_file_name
from modelreg.service.report_markdown import export_options_text
from modelreg.types import Version

app = typer.Typer()


@app.command("pull")
def pull(
    ctx: typer.Context,
    ref: RefArg,
    to: Annotated[Path | None, typer.Option(
        "--to", file_okay=False, help="The folder to write into (default: ./MODEL-vN).")] = None,
    no_metadata: Annotated[bool, typer.Option("--no-metadata", help="Do not write metadata.json.")] = False,
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", help="Pull the version's export in this format (onnx, torchscript, coreml, tflite) "
                               "instead of its files, with export.json (parity, options, provenance).")] = None,
    export_id: Annotated[int | None, typer.Option(
        "--export", min=1, help="With --format: the export with this id (modelreg exports lists them).")] = None,
    half: Annotated[bool, typer.Option("--half", help="With --format: the FP16 export.")] = False,
    int8: Annotated[str | None, typer.Option(
        "--int8", metavar="dynamic|static", help="With --format: the INT8 export quantized so.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Download a version's files into a folder.

    Each file is verified against its SHA-256; metadata.json is written beside them. With --format, the
    files of one of the version's exports instead: the one --export names, else the newest of that format
    with --half or --int8 as given (the newest of any options without them); the output says which.

    \b
    Example: modelreg pull fire-detector@production --to models/production
    Example: modelreg pull fire-detector@production --format onnx --to deploy/
    Example: modelreg pull fire-detector@production --format tflite --int8 dynamic --to deploy/
    """
    st = state(ctx)
    chosen: dict[str, Any] = {"half": True} if half else {}
    if int8_choice(int8) is not None:
        chosen["int8"] = int8
    if fmt is None and (chosen or export_id is not None):
        raise CliError("--export, --half and --int8 choose among a format's exports: give --format too",
                       hint="e.g. modelreg pull MODEL --format onnx --int8 dynamic", exit_code=ExitCode.USAGE)
    reg = st.registry()
    version = reg.get_version(ref)
    if fmt is not None:
        _pull_export(st, version, fmt, to, no_metadata, as_json, export_id, chosen)
        return
    exact = f"{version.project}/{version.model}:{version.number}"  # the same version even if an alias moves
    dest = to if to is not None else Path(f"{version.model}-v{version.number}")
    with transfer(st.err, total=version.size, label=f"pulling {short_ref(version.ref)}",
                  enabled=st.progress_enabled(as_json)) as progress:
        folder = reg.pull(exact, dest, progress=progress, metadata=not no_metadata)
    if as_json:
        emit_json({"version": version.ref, "path": str(folder.resolve()),
                   "files": [a.path for a in version.artifacts], "bytes": version.size})
        return
    st.out.print(f"pulled {short_ref(version.ref)} into {folder} ({len(version.artifacts)} files, "
                 f"{human_size(version.size)})", soft_wrap=True)


def _pull_export(st: State, version: Version, fmt: str, to: Path | None, no_metadata: bool, as_json: bool,
                 export_id: int | None, options: dict[str, Any]) -> None:
    reg = st.registry()
    exact = f"{version.project}/{version.model}:{version.number}"
    exported = reg.get_export(exact, fmt, export_id=export_id, **options)
    dest = to if to is not None else Path(f"{version.model}-v{version.number}-{fmt}")
    with transfer(st.err, total=exported.size, label=f"pulling the {fmt} export of {short_ref(version.ref)}",
                  enabled=st.progress_enabled(as_json)) as progress:
        folder = reg.pull(exact, dest, progress=progress, metadata=not no_metadata, format=fmt,
                          export_id=exported.id)
    if as_json:
        emit_json({"version": version.ref, "format": fmt, "export": exported.id,
                   "options": exported.options.model_dump(mode="json"), "status": exported.status,
                   "path": str(folder.resolve()), "files": [export_file_name(f.path) for f in exported.files],
                   "bytes": exported.size})
        return
    st.out.print(f"pulled {fmt} export {exported.id} of {short_ref(version.ref)} ({export_options_text(exported)}; "
                 f"{exported.status}) into {folder} ({len(exported.files)} files, {human_size(exported.size)})",
                 soft_wrap=True)


@app.command("resolve")
def resolve(
    ctx: typer.Context,
    ref: RefArg,
    path: Annotated[str | None, typer.Argument(
        metavar="[PATH]", help="One file of the version, e.g. weights/best.pt (default: the folder).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a version's local path (for scripts).

    The folder, or one file in it, fetched once into the cache.

    Made for scripts: nothing but the path is printed. A bare model name follows MODEL_ENVIRONMENT.
    Cached files are read-only; copy them to change them.

    \b
    Example: yolo predict model=$(modelreg resolve fire-detector weights/best.pt) source=cam.mp4
    """
    result = state(ctx).registry().resolve(ref, path)
    if as_json:
        emit_json({"path": str(result)})
        return
    typer.echo(str(result))


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(
        metavar="PATH", exists=True, file_okay=False, help="The models/ folder (or run folder) to import.")],
    model: ModelArg,
    layout: Annotated[Layout, typer.Option(
        "--layout", help="versions: models/versions/vN/; environments: models/{production,staging,archive/*}/; "
                         "ultralytics: a yolo run folder (args.yaml, results.csv, weights/); auto: detect.")] = "auto",
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first folder that cannot be read.")] = False,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Import existing model folders as versions.

    A folder that cannot be read is reported and the others go on (exit code 5 at the end); each version
    lands whole or not at all. The active one (current_best.pt or production/) becomes production.

    \b
    Example: modelreg import models/ fire-detector --layout versions --dry-run
    """
    st = state(ctx)
    reg = st.registry()
    with working(st.err, f"importing {path}", enabled=st.progress_enabled(as_json)):
        result = reg.import_folder(path, model, layout=layout, strict=strict, dry_run=dry_run)
    if as_json:
        emit_json(result)
    else:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("folder", "version", "problem"):
            table.add_column(column)
        for item in result.imported:
            table.add_row(item.source, short_ref(item.version or "") or ("(dry run)" if dry_run else "-"), "")
        for item in result.failed:
            table.add_row(item.source, "-", Text(item.error or "failed", style="red"))
        if table.row_count:
            st.out.print(table)
        verb = "would import" if dry_run else "imported"
        summary = f"{verb} {len(result.imported)} version(s) into {short_ref(model)}"
        if result.aliases:
            summary += "; aliases " + ", ".join(f"{a} -> v{n}" for a, n in sorted(result.aliases.items()))
        st.out.print(Text.assemble(("dry run: ", "bold yellow") if dry_run else "", summary), soft_wrap=True)
    if result.failed:
        raise CliError(f"{len(result.failed)} folder(s) could not be imported",
                       hint="fix the files listed above and import again; --strict stops at the first problem",
                       exit_code=ExitCode.INVALID_INPUT)
