"""``modelreg sync``: register the training runs that were spooled while the registry could not be reached.

A trainer integration whose registry is down keeps the run in ``$MODELREG_HOME/spool/<run id>/`` and trains
on. ``modelreg sync`` registers each of them in the registry this command talks to (``MODELREG_URL``, or the
embedded one) and removes the folders that are in; running it again registers nothing twice. A run that
cannot be registered stays in the spool and the command exits 8.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from modelreg.cli.common import DryRunOpt, JsonOpt, state
from modelreg.cli.errors import CliError, ExitCode
from modelreg.cli.output import emit_json, short_ref
from modelreg.integrations.spool import spool_dir, sync_spool

app = typer.Typer()


@app.command("sync")
def sync(
    ctx: typer.Context,
    spool: Annotated[Path | None, typer.Option(
        "--spool", file_okay=False, help="The spool folder (default: $MODELREG_HOME/spool).")] = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Register the training runs spooled while the registry was down.

    Each run becomes the version it would have been (files, history, metrics; or failed with its error) and
    its spool folder is removed; a run whose version was started live is finished in place. Files the
    registry has already are not sent again.

    \b
    Example: modelreg sync --dry-run   (lists what waits in the spool)
             MODELREG_URL=http://registry:8080 modelreg sync
    """
    st = state(ctx)
    folder = spool if spool is not None else spool_dir(st.settings.home)
    items = sync_spool(st.registry(), folder, dry_run=dry_run)
    if as_json:
        emit_json([dataclasses.asdict(item) for item in items])
    elif not items:
        st.out.print(f"nothing to sync in {folder}", soft_wrap=True)
    else:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("run", "model", "status", "version", "problem"):
            table.add_column(column)
        for item in items:
            table.add_row(Path(item.folder).name, short_ref(item.model), item.status,
                          short_ref(item.version or "") or "-", Text(item.error or "", style="red"))
        st.out.print(table)
        synced = sum(1 for item in items if item.version)
        verb = "would register" if dry_run else "registered"
        count = len(items) if dry_run else synced
        st.out.print(Text.assemble(("dry run: ", "bold yellow") if dry_run else "",
                                   f"{verb} {count} spooled run(s) from {folder}"), soft_wrap=True)
    failed = [item for item in items if item.error]
    if failed:
        raise CliError(f"{len(failed)} spooled run(s) could not be registered; they stay in {folder}",
                       hint="fix what the problem column says (or start the server) and run `modelreg sync` again",
                       exit_code=ExitCode.STORAGE)
