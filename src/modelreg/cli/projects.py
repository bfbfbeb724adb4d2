"""``modelreg projects``: namespaces with their label sets."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from modelreg.cli.common import JsonOpt, confirm, registry, state
from modelreg.cli.output import emit_json, grid, when

app = typer.Typer(help="Projects and their label sets.", no_args_is_help=True)
labels_app = typer.Typer(help="A project's label set (the ordered class names).", no_args_is_help=True)
app.add_typer(labels_app, name="labels")

ProjectArg = Annotated[str, typer.Argument(metavar="PROJECT", help="The project's name.")]


@app.command("list")
def list_projects(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the projects.

    \b
    Example: modelreg projects list --json
    """
    items = registry(ctx).list_projects()
    if as_json:
        emit_json(items)
        return
    st = state(ctx)
    if not items:
        st.out.print("no projects yet; `modelreg register MODEL PATH` creates the default one")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("project", "labels", "created", "description"):
        table.add_column(column)
    for p in items:
        table.add_row(p.name, str(len(p.labels)), when(p.created_at), p.description)
    st.out.print(table)


@app.command("create")
def create(
    ctx: typer.Context,
    name: ProjectArg,
    description: Annotated[str, typer.Option("--description", "-d", help="What the project is for.")] = "",
    label: Annotated[list[str] | None, typer.Option(
        "--label", "-l", help="A class name, in order (repeat the option).")] = None,
    exist_ok: Annotated[bool, typer.Option("--exist-ok", help="Succeed when the project exists.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a project.

    \b
    Example: modelreg projects create embereye -d "fire and smoke" -l fire -l smoke -l person
    """
    project = registry(ctx).create_project(name, description=description, labels=label or [], exist_ok=exist_ok)
    if as_json:
        emit_json(project)
        return
    state(ctx).out.print(f"project {project.name} ({len(project.labels)} labels)")


@app.command("show")
def show(ctx: typer.Context, name: ProjectArg, as_json: JsonOpt = False) -> None:
    """Show a project: description, labels and its models.

    \b
    Example: modelreg projects show embereye
    """
    reg = registry(ctx)
    project = reg.get_project(name)
    models = reg.search_models(project=name, limit=1000)
    if as_json:
        emit_json({"project": project, "models": [m.name for m in models.items], "models_total": models.total})
        return
    out = state(ctx).out
    out.print(Text(project.name, style="bold"))
    out.print(grid([
        ("description", project.description),
        ("created", when(project.created_at)),
        ("labels", ", ".join(f"{i}:{label}" for i, label in enumerate(project.labels)) or "-"),
        ("models", ", ".join(m.name for m in models.items) or "-"),
    ]))


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: ProjectArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete an empty project (delete its models first).

    \b
    Example: modelreg projects delete old-experiments --yes
    """
    st = state(ctx)
    confirm(st, f"delete project {name}", yes=yes, refuse_hint=f"pass --yes: modelreg projects delete {name} --yes")
    st.registry().delete_project(name)
    st.out.print(f"deleted project {name}")


@app.command("retention")
def retention(
    ctx: typer.Context,
    name: ProjectArg,
    days: Annotated[int | None, typer.Option("--days", min=1, help="Keep inference records this many days.")]
    = None,
    count: Annotated[int | None, typer.Option(
        "--count", min=1, help="Keep at most this many inference records per model (the newest).")] = None,
    keep_all: Annotated[bool, typer.Option("--keep-all", help="Remove the limits: keep every record.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show or set how long the project keeps its inference records; modelreg gc applies it.

    \b
    Example: modelreg projects retention embereye --days 90 --count 1000000
             modelreg gc        (a dry run: how many records would go)
    """
    reg = registry(ctx)
    if keep_all and (days or count):
        raise typer.BadParameter("--keep-all removes the limits; give it alone", param_hint="--keep-all")
    project = reg.set_inference_retention(name, days=days, count=count) if (days or count or keep_all) \
        else reg.get_project(name)
    if as_json:
        emit_json(project.inference_retention)
        return
    keep = project.inference_retention
    if keep is None:
        state(ctx).out.print(f"project {project.name} keeps every inference record")
        return
    limits = [f"{keep.days} days" if keep.days else "", f"the newest {keep.count:,} per model" if keep.count else ""]
    state(ctx).out.print(f"project {project.name} keeps inference records for " + " and ".join(p for p in limits if p)
                         + "; modelreg gc removes older ones", soft_wrap=True)


@labels_app.command("show")
def labels_show(ctx: typer.Context, name: ProjectArg, as_json: JsonOpt = False) -> None:
    """Print the label set with indexes.

    \b
    Example: modelreg projects labels show embereye
    """
    project = registry(ctx).get_project(name)
    if as_json:
        emit_json(project.labels)
        return
    out = state(ctx).out
    if not project.labels:
        out.print(f"project {name} has no labels; set them: modelreg projects labels set {name} fire smoke")
    for i, label in enumerate(project.labels):
        typer.echo(f"{i}\t{label}")  # tab-separated for scripts (Rich would expand the tab)


@labels_app.command("set")
def labels_set(
    ctx: typer.Context,
    name: ProjectArg,
    labels: Annotated[list[str], typer.Argument(metavar="LABEL...", help="The class names, in order.")],
    as_json: JsonOpt = False,
) -> None:
    """Replace the label set.

    The old one stays in the events log.

    \b
    Example: modelreg projects labels set embereye fire smoke person
    """
    project = registry(ctx).update_project(name, labels=list(labels))
    if as_json:
        emit_json(project)
        return
    state(ctx).out.print(f"project {project.name}: {len(project.labels)} labels ({', '.join(project.labels)})",
                         soft_wrap=True)
