"""Aliases: ``activate``, ``rollback``, ``promote`` and ``alias set|rm|history|list``.

Every command that moves an alias has ``--dry-run`` (show the move, change nothing) and ``--json``
(the SDK's PromotionPlan). ``promote --dry-run`` exits 4 when the promotion gate would refuse it.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from modelreg.cli.common import DryRunOpt, JsonOpt, ModelArg, RefArg, State, state
from modelreg.cli.errors import CliError, ExitCode
from modelreg.cli.output import emit_json, short_ref, when
from modelreg.types import AliasMove, PromotionPlan

app = typer.Typer()
alias_app = typer.Typer(help="Aliases: named pointers to versions (production, staging).",
                        no_args_is_help=True)

AliasArg = Annotated[str, typer.Argument(metavar="ALIAS", help="The alias: production, staging, ...")]


def _v(number: int | None) -> str:
    return f"v{number}" if number else "(unset)"


def show_plan(st: State, plan: PromotionPlan, *, dry_run: bool, as_json: bool, verb: str) -> None:
    """The move an alias command made (or, with ``dry_run``, would make), with the gate's terms."""
    if as_json:
        emit_json(plan)
        return
    model = short_ref(plan.model)
    if plan.gate_terms:
        table = Table(box=None, pad_edge=False, header_style="bold", title=f"gate: {plan.gate}",
                      title_justify="left")
        table.add_column("")
        table.add_column("term")
        table.add_column("detail")
        for t in plan.gate_terms:
            table.add_row(Text("✓", style="green") if t.passed else Text("✗", style="bold red"), t.term, t.detail)
        st.out.print(table)
    target = f"{model}@{plan.alias}"
    if plan.to_number == 0:  # a removal
        move = f"{_v(plan.from_number)} -> (removed)"
    elif plan.from_number == plan.to_number:
        move = f"stays at v{plan.to_number}"
    else:
        move = f"{_v(plan.from_number)} -> v{plan.to_number}"
    extras = []
    if plan.archive_number:
        extras.append(f"archives v{plan.archive_number}" if dry_run else f"archived v{plan.archive_number}")
    if plan.forced:
        extras.append("gate forced")
    tail = f" ({', '.join(extras)})" if extras else ""
    if dry_run:
        st.out.print(Text.assemble(("dry run: ", "bold yellow"), f"{target} would move: {move}{tail}; "
                                   "nothing changed"), soft_wrap=True)
    else:
        st.out.print(Text.assemble((verb, "bold"), f" {target}: {move}{tail}"), soft_wrap=True)


@app.command("activate")
def activate(ctx: typer.Context, ref: RefArg, dry_run: DryRunOpt = False, as_json: JsonOpt = False) -> None:
    """Make a version production (✓).

    The production alias and its ✓ move to the version; the version before it stays one rollback away.

    \b
    Example: modelreg activate fire-detector:5 --dry-run
    """
    st = state(ctx)
    plan = st.registry().activate(ref, dry_run=dry_run)
    show_plan(st, plan, dry_run=dry_run, as_json=as_json, verb="activated")


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    model: ModelArg,
    alias: Annotated[str, typer.Option("--alias", "-a", help="The alias to move back.")] = "production",
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Move an alias back to its previous version.

    Repeat to keep going back: after v1 -> v2 -> v3, two rollbacks reach v1.

    \b
    Example: modelreg rollback fire-detector --alias production
    """
    st = state(ctx)
    plan = st.registry().rollback(model, alias, dry_run=dry_run)
    show_plan(st, plan, dry_run=dry_run, as_json=as_json, verb="rolled back")


@app.command("promote")
def promote(
    ctx: typer.Context,
    model: ModelArg,
    src: Annotated[str, typer.Argument(
        metavar="SRC", help="What to promote: an alias (staging) or a version (5, v5, latest, best).")],
    dst: Annotated[str, typer.Argument(metavar="DST", help="The alias to move.")] = "production",
    dry_run: DryRunOpt = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Promote even when the model's promotion gate fails (recorded in the events).")] = False,
    no_archive: Annotated[bool, typer.Option(
        "--no-archive", help="Keep the version DST leaves unarchived.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Promote SRC to DST (default production).

    DST moves to what SRC names, if the model's promotion gate passes.

    The version DST leaves is archived unless --no-archive or another alias holds it.
    With --dry-run the plan and the gate's terms are shown; the exit code is 4 when the gate fails.

    \b
    Example: modelreg promote fire-detector staging production --dry-run
    """
    st = state(ctx)
    plan = st.registry().promote(model, src, dst, dry_run=dry_run, force=force, archive_previous=not no_archive)
    show_plan(st, plan, dry_run=dry_run, as_json=as_json, verb="promoted")
    if dry_run and not plan.gate_passed and not force:
        failing = ", ".join(t.term for t in plan.gate_terms if not t.passed)
        raise CliError(f"the promotion gate would refuse this: {failing}",
                       hint="improve the candidate, or pass --force (the force is recorded)",
                       exit_code=ExitCode.CONFLICT)


@alias_app.command("set")
def alias_set(ctx: typer.Context, ref: RefArg, alias: AliasArg, dry_run: DryRunOpt = False,
              as_json: JsonOpt = False) -> None:
    """Point ALIAS of the model at the version REF names.

    \b
    Example: modelreg alias set fire-detector:6 staging
    """
    st = state(ctx)
    plan = st.registry().set_alias(ref, alias, dry_run=dry_run)
    show_plan(st, plan, dry_run=dry_run, as_json=as_json, verb="set")


@alias_app.command("rm")
def alias_rm(ctx: typer.Context, model: ModelArg, alias: AliasArg, dry_run: DryRunOpt = False,
             as_json: JsonOpt = False) -> None:
    """Remove an alias from a model (its history is kept).

    \b
    Example: modelreg alias rm fire-detector staging
    """
    st = state(ctx)
    plan = st.registry().delete_alias(model, alias, dry_run=dry_run)
    show_plan(st, plan, dry_run=dry_run, as_json=as_json, verb="removed")


@alias_app.command("history")
def alias_history(
    ctx: typer.Context,
    model: ModelArg,
    alias: Annotated[str | None, typer.Argument(metavar="[ALIAS]", help="One alias (default: all).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the moves of an alias, newest first.

    Without ALIAS, the moves of all the model's aliases.

    \b
    Example: modelreg alias history fire-detector production
    """
    st = state(ctx)
    reg = st.registry()
    if alias is not None:
        moves = reg.alias_history(model, alias)
    else:
        names = sorted({a.alias for a in reg.list_aliases(model)} | {"production"})
        moves = sorted((m for name in names for m in reg.alias_history(model, name)),
                       key=lambda m: (m.at, m.id), reverse=True)
    if as_json:
        emit_json(moves)
        return
    if not moves:
        st.out.print(f"no alias moves for {short_ref(model)}" + (f"@{alias}" if alias else ""))
        return
    st.out.print(_moves_table(moves))


def _moves_table(moves: list[AliasMove]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("when", "alias", "move", "kind", "by"):
        table.add_column(column)
    for m in moves:
        kind = m.kind + (" (rolled back)" if m.reverted else "")
        table.add_row(when(m.at), m.alias, f"{_v(m.from_number)} -> {_v(m.to_number)}", kind, m.actor or "-",
                      style="dim" if m.reverted else None)
    return table


@alias_app.command("list")
def alias_list(ctx: typer.Context, model: ModelArg, as_json: JsonOpt = False) -> None:
    """List a model's aliases and the versions they point to.

    \b
    Example: modelreg alias list fire-detector
    """
    st = state(ctx)
    items = st.registry().list_aliases(model)
    if as_json:
        emit_json(items)
        return
    if not items:
        st.out.print(f"{short_ref(model)} has no aliases; set one: modelreg alias set {model}:VERSION staging")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("alias", "version", "protected", "since"):
        table.add_column(column)
    for a in items:
        table.add_row(a.alias, f"v{a.number}", "yes" if a.protected else "", when(a.updated_at))
    st.out.print(table)
