"""``modelreg models``: registered models and their policies."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer
from rich.table import Table
from rich.text import Text

from modelreg.cli.common import CursorOpt, JsonOpt, LimitOpt, ModelArg, confirm, parse_tags, registry, state
from modelreg.cli.output import emit_json, grid, short_ref, version_label, when
from modelreg.errors import VersionNotFound
from modelreg.types import Model

app = typer.Typer(help="Create, list, show, change and delete models.", no_args_is_help=True)

Task = Literal["detection", "segmentation", "classification", "regression", "other"]
Mode = Literal["max", "min"]

TaskOpt = Annotated[Task | None, typer.Option("--task", help="What the model does.")]
BaselineOpt = Annotated[str | None, typer.Option("--baseline", help="Baseline architecture, e.g. yolov8n.")]
BestMetricOpt = Annotated[str | None, typer.Option(
    "--best-metric", help="The metric that picks the best version, e.g. map50.")]
BestModeOpt = Annotated[Mode | None, typer.Option("--best-mode", help="Whether the best metric is max or min.")]
ProtectedOpt = Annotated[list[str] | None, typer.Option(
    "--protected-alias", help="An alias that needs the maintainer role to move (repeat; replaces the list).")]
GateOpt = Annotated[str | None, typer.Option(
    "--promotion-gate", help="A condition a promotion must meet, e.g. "
                             "'metrics.map50 >= 0.8 and delta.class_ap.min >= -0.05' ('' removes it).")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", "-t", help="KEY=VALUE (repeat).")]


@app.command("list")
def list_models(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only this project's models.")] = None,
    filter_: Annotated[str | None, typer.Option(
        "--filter", "-f", help="A filter expression, e.g. \"task = 'detection' and tags.team = 'vision'\".")] = None,
    sort: Annotated[str | None, typer.Option("--sort", help="A field, '-' first for descending: -updated_at.")] = None,
    limit: LimitOpt = 50,
    cursor: CursorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List models with their newest version and what is in production.

    \b
    Example: modelreg models list --project embereye --filter "task = 'detection'"
    """
    reg = registry(ctx)
    page = reg.search_models(filter_, project=project, sort=sort or "name", limit=limit, cursor=cursor)
    if as_json:
        emit_json(page)
        return
    st = state(ctx)
    if not page.items:
        st.out.print("no models" + (" match" if filter_ else " yet; register one: modelreg register MODEL PATH"))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("model", "task", "versions", "production", "updated", "description"):
        table.add_column(column)
    for m in page.items:
        production = next((a.number for a in reg.list_aliases(f"{m.project}/{m.name}") if a.alias == "production"),
                          None)
        table.add_row(short_ref(f"{m.project}/{m.name}"), m.task, str(m.latest_number),
                      f"✓ v{production}" if production else "-", when(m.updated_at), m.description)
    st.out.print(table)
    _more(st.err, page.total, len(page.items), page.next_cursor)


def _more(err: Any, total: int, shown: int, cursor: str | None) -> None:
    if cursor:
        err.print(Text(f"{shown} of {total}; next page: --cursor {cursor}", style="dim"), soft_wrap=True)


@app.command("create")
def create(
    ctx: typer.Context,
    name: ModelArg,
    project: Annotated[str | None, typer.Option("--project", "-p", help="The project (default: default).")] = None,
    description: Annotated[str, typer.Option("--description", "-d", help="What the model is.")] = "",
    task: TaskOpt = None,
    baseline: BaselineOpt = None,
    tag: TagOpt = None,
    best_metric: BestMetricOpt = None,
    best_mode: BestModeOpt = None,
    auto_activate: Annotated[bool, typer.Option(
        "--auto-activate/--no-auto-activate", help="Make the first ready version production.")] = True,
    protected_alias: ProtectedOpt = None,
    promotion_gate: GateOpt = None,
    exist_ok: Annotated[bool, typer.Option("--exist-ok", help="Succeed when the model exists.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a model.

    Registering a version creates one too, with the default policies.

    \b
    Example: modelreg models create embereye/fire-detector --task detection --baseline yolov8m --best-metric map50
    """
    model = registry(ctx).create_model(
        name, project=project, description=description, task=task or "other", baseline=baseline,
        tags=parse_tags(tag), best_metric=best_metric, best_mode=best_mode or "max",
        auto_activate_first=auto_activate, protected_aliases=protected_alias, promotion_gate=promotion_gate,
        exist_ok=exist_ok)
    if as_json:
        emit_json(model)
        return
    state(ctx).out.print(f"model {short_ref(f'{model.project}/{model.name}')} ({model.task})")


@app.command("show")
def show(ctx: typer.Context, name: ModelArg, as_json: JsonOpt = False) -> None:
    """Show a model, its policies and aliases.

    \b
    Example: modelreg models show fire-detector
    """
    reg = registry(ctx)
    model = reg.get_model(name)
    full = f"{model.project}/{model.name}"
    aliases = reg.list_aliases(full)
    try:
        best: int | None = reg.best_version(full).number
    except VersionNotFound:
        best = None
    total = reg.search_versions(model=full, limit=1).total
    if as_json:
        emit_json({"model": model, "aliases": aliases, "best": best, "versions": total})
        return
    _print_model(state(ctx).out, model, aliases_text=", ".join(
        f"{a.alias} -> v{a.number}" + (" (protected)" if a.protected else "") for a in aliases),
        best=best, total=total)


def _print_model(out: Any, model: Model, *, aliases_text: str, best: int | None, total: int) -> None:
    p = model.policies
    out.print(Text(short_ref(f"{model.project}/{model.name}"), style="bold"))
    out.print(grid([
        ("description", model.description),
        ("task", model.task),
        ("baseline", model.baseline),
        ("tags", ", ".join(f"{k}={v}" for k, v in sorted(model.tags.items()))),
        ("pinned", "yes" if model.pinned else None),
        ("versions", f"{total} (newest v{model.latest_number})" if model.latest_number else "none yet"),
        ("aliases", aliases_text or "-"),
        ("best", version_label(model.project, model.name, best) if best else "-"),
        ("best metric", f"{p.best_metric} ({p.best_mode})" if p.best_metric else None),
        ("auto-activate", "first ready version becomes production" if p.auto_activate_first else "off"),
        ("protected", ", ".join(p.protected_aliases)),
        ("promotion gate", p.promotion_gate),
        ("trusted sources", "yes: exports load its pickled weights without --trusted" if p.trusted_sources else None),
        ("created", when(model.created_at)),
        ("updated", when(model.updated_at)),
    ]))


@app.command("update")
def update(
    ctx: typer.Context,
    name: ModelArg,
    rename: Annotated[str | None, typer.Option("--rename", help="A new name (versions and aliases follow).")] = None,
    description: Annotated[str | None, typer.Option("--description", "-d", help="A new description.")] = None,
    task: TaskOpt = None,
    baseline: BaselineOpt = None,
    tag: TagOpt = None,
    untag: Annotated[list[str] | None, typer.Option("--untag", help="Remove a tag KEY (repeat).")] = None,
    pinned: Annotated[bool | None, typer.Option("--pin/--unpin", help="Pin or unpin the model.")] = None,
    best_metric: BestMetricOpt = None,
    best_mode: BestModeOpt = None,
    auto_activate: Annotated[bool | None, typer.Option(
        "--auto-activate/--no-auto-activate", help="Make the first ready version production.")] = None,
    protected_alias: ProtectedOpt = None,
    promotion_gate: GateOpt = None,
    trusted_sources: Annotated[bool | None, typer.Option(
        "--trusted-sources/--untrusted-sources",
        help="Let exports load this model's pickled weights (a YOLO best.pt) without --trusted: loading runs code "
             "the file names, wherever exports run (admin).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a model's description, tags or policies.

    Tags merge; --untag removes one.

    \b
    Example: modelreg models update fire-detector --best-metric map50 --promotion-gate "metrics.map50 >= 0.8"
    """
    tags: dict[str, Any] | None = None
    if tag or untag:
        tags = {**parse_tags(tag), **{key: None for key in untag or []}}
    model = registry(ctx).update_model(
        name, rename=rename, description=description, task=task, baseline=baseline, tags=tags, pinned=pinned,
        best_metric=best_metric, best_mode=best_mode, auto_activate_first=auto_activate,
        protected_aliases=protected_alias, promotion_gate=promotion_gate, trusted_sources=trusted_sources)
    if as_json:
        emit_json(model)
        return
    state(ctx).out.print(f"updated model {short_ref(f'{model.project}/{model.name}')}")


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: ModelArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a model and all its versions.

    Refused while an alias or a pin holds one of them.

    \b
    Example: modelreg models delete old-detector --yes
    """
    st = state(ctx)
    reg = st.registry()
    model = reg.get_model(name)
    full = f"{model.project}/{model.name}"
    count = reg.search_versions(model=full, limit=1).total
    if not reg.list_aliases(full):
        confirm(st, f"delete model {short_ref(full)} and its {count} version(s)", yes=yes,
                warning="This cannot be undone.", refuse_hint=f"pass --yes: modelreg models delete {name} --yes")
    reg.delete_model(full)
    st.out.print(f"deleted model {short_ref(full)} ({count} versions)")
