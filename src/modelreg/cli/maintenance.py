"""Keeping storage honest and seeing what happened: ``gc``, ``fsck``, ``events``.

``gc`` is a dry run unless ``--yes``: by default it only shows what it would remove and how many bytes;
``modelreg gc --yes`` removes it. ``fsck`` exits 7 when it finds a missing, corrupt or dangling blob;
``fsck --repair DIR`` stores again every missing or corrupt one whose content is in DIR.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from modelreg.cli.common import CursorOpt, JsonOpt, LimitOpt, state
from modelreg.cli.errors import CliError, ExitCode
from modelreg.cli.output import emit_json, human_size, short_ref, when
from modelreg.registry import ORPHAN_GRACE_S, TEMP_GRACE_S
from modelreg.types import Event, FsckReport

app = typer.Typer()


@app.command("gc")
def gc(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Really delete. Without it gc is a dry run that shows what and how many bytes.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would go (the default).")] = False,
    grace: Annotated[float, typer.Option(
        "--grace", min=0.0, help="Seconds a stored file no version knows yet is left alone (it may belong to a "
                                 "registration in progress).")] = ORPHAN_GRACE_S,
    temp_grace: Annotated[float, typer.Option(
        "--temp-grace", min=0.0, help="Seconds since its last write after which a temporary file of an "
                                      "interrupted upload is removed.")] = TEMP_GRACE_S,
    as_json: JsonOpt = False,
) -> None:
    """Remove unreferenced files and inference records past their retention (dry run unless --yes).

    Files stored in the last hour (--grace) that no version knows yet are left alone: they may belong to
    a registration still in progress. Temporary files of interrupted uploads go after an hour without a
    write (--temp-grace); pass --temp-grace 0 to see or remove them all now.

    \b
    Example: modelreg gc            (shows what would go)
             modelreg gc --yes      (deletes it)
    """
    if yes and dry_run:
        raise CliError("--yes and --dry-run contradict each other", hint="pass one of them",
                       exit_code=ExitCode.USAGE)
    st = state(ctx)
    result = st.registry().gc(dry_run=not yes, grace_s=grace, temp_grace_s=temp_grace)
    if as_json:
        emit_json(result)
        return
    temp = f" and {result.temp_files} leftover temporary file(s)" if result.temp_files else ""
    if result.inferences:
        temp += f"; {result.inferences:,} inference record(s) past their project's retention"
    if result.dry_run:
        st.out.print(Text.assemble(("dry run: ", "bold yellow"),
                                   f"would remove {result.blobs} unreferenced blob(s), {human_size(result.bytes)}"
                                   f"{temp}"), soft_wrap=True)
        for digest in result.digests[:20]:
            st.out.print(f"  {digest}", soft_wrap=True)
        if len(result.digests) > 20:
            st.out.print(f"  … and {len(result.digests) - 20} more (--json lists them all)")
        if result.blobs or result.temp_files or result.inferences:
            st.out.print("run `modelreg gc --yes` to delete them")
    else:
        st.out.print(f"removed {result.blobs} blob(s), freed {human_size(result.bytes)}{temp}", soft_wrap=True)


@app.command("fsck")
def fsck(
    ctx: typer.Context,
    quick: Annotated[bool, typer.Option(
        "--quick", help="Check presence and sizes only; do not re-hash the contents.")] = False,
    repair: Annotated[Path | None, typer.Option(
        "--repair", metavar="DIR", file_okay=False, dir_okay=True,
        help="Store again every missing or corrupt file whose content is in DIR (searched recursively, "
             "matched by content whatever the names); the verified copy replaces a damaged one atomically. "
             "With MODELREG_URL, DIR is on this machine and the files are uploaded.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the stored files (exit 7 on problems), and repair them from a folder.

    Every referenced file: present, right size, right SHA-256. With --repair DIR, every missing or
    corrupt one found in DIR is stored again.

    Exits 0 when all is well (after any repair) and 7 when problems remain (each listed with its digest).

    \b
    Example: modelreg fsck --quick
             modelreg fsck --repair runs/train     (the folder the files were registered from)
    """
    st = state(ctx)
    result = st.registry().fsck(verify=not quick, repair_from=repair)
    if as_json:
        emit_json({**result.model_dump(mode="json"), "ok": result.ok})
    else:
        _print_fsck(st.out, result, quick=quick)
    if result.problems:
        raise CliError(f"fsck found {len(result.problems)} problem(s) in the stored files",
                       hint=_fsck_hint(result, repair), exit_code=ExitCode.INTEGRITY)


def _print_fsck(out: Console, result: FsckReport, *, quick: bool) -> None:
    how = "sizes checked" if quick else "re-hashed"
    out.print(f"{result.checked} blob(s), {human_size(result.bytes)} {how}; "
              f"{len(result.problems)} problem(s); {result.unreferenced} unreferenced (modelreg gc)",
              soft_wrap=True)
    if result.repaired:
        out.print(Text(f"repaired {len(result.repaired)} blob(s):", style="green"))
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("was", "digest", "from"):
            table.add_column(column)
        for r in result.repaired:
            table.add_row(Text(r.kind, style="green"), r.digest, r.source)
        out.print(table)
    if result.problems:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("problem", "digest", "detail"):
            table.add_column(column)
        for p in result.problems:
            table.add_row(Text(p.kind, style="red"), p.digest, p.detail)
        out.print(table)


def _fsck_hint(result: FsckReport, repair: Path | None) -> str:
    """What fixes the problems that remain: storing the originals again, or, for dangling ones, re-registering."""
    steps = []
    if any(p.kind != "dangling" for p in result.problems):
        if repair is None:
            steps.append("repair missing and corrupt files from a folder holding the originals: "
                         "modelreg fsck --repair DIR (or upload the files again)")
        else:
            steps.append(f"{repair} holds no good copy of the rest: point --repair at the folder with the "
                         "original files, or restore them from a backup")
    if any(p.kind == "dangling" for p in result.problems):
        steps.append("re-register the versions that use dangling blobs from their original files")
    return "; ".join(steps)


def _change(before: Any, after: Any) -> str:
    def compact(x: Any) -> str:
        text = json.dumps(x, ensure_ascii=False, default=str, separators=(",", ":"))
        return text if len(text) <= 60 else text[:57] + "..."

    if before is None and after is None:
        return ""
    if before is None:
        return compact(after)
    return f"{compact(before)} -> {compact(after)}"


def _target(e: Event) -> str:
    text = short_ref(f"{e.project}/{e.model}") if e.model else (e.project or "")
    if e.version is not None:
        text += f":v{e.version}"
    if e.alias:
        text += f"@{e.alias}"
    return text


@app.command("events")
def events(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option("--model", help="Only this model's events.")] = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only this project's events.")] = None,
    version: Annotated[int | None, typer.Option("--version", min=1, help="Only this version's (with --model).")
                       ] = None,
    action: Annotated[str | None, typer.Option(
        "--action", help="Only this action, e.g. alias.set, version.deleted.")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only what this token (or local user) did.")] = None,
    limit: LimitOpt = 50,
    cursor: CursorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the audit log, newest first.

    Who did what, when, before -> after.

    \b
    Example: modelreg events --model fire-detector --limit 20
    """
    st = state(ctx)
    page = st.registry().events(project=project, model=model, version=version, action=action, actor=actor,
                                limit=limit, cursor=cursor)
    if as_json:
        emit_json(page)
        return
    if not page.items:
        st.out.print("no events")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("when", "by", "action", "what", "change"):
        table.add_column(column, overflow="fold")
    for e in page.items:
        table.add_row(when(e.at), e.actor, e.action, _target(e), _change(e.before, e.after))
    st.out.print(table)
    if page.next_cursor:
        st.err.print(Text(f"{len(page.items)} of {page.total}; next page: --cursor {page.next_cursor}", style="dim"),
                     soft_wrap=True)
