"""Versions: ``register``, ``versions``, ``search``, ``info``, ``update``/``tag``/``notes``, ``pin``, ``unpin``,
``archive``, ``unarchive``, ``delete``, ``mark-best``, ``best``."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from modelreg.cli.common import (
    CursorOpt,
    JsonOpt,
    LimitOpt,
    ModelArg,
    RefArg,
    State,
    VersionRefArg,
    confirm,
    parse_duration,
    parse_metrics,
    parse_params,
    parse_tags,
    read_class_metrics_file,
    read_history_file,
    read_json_object,
    read_metrics_file,
    split_pair,
    state,
)
from modelreg.cli.output import (
    MetricView,
    emit_json,
    flags_of,
    grid,
    human_size,
    plain,
    short_ref,
    titled,
    transfer,
    version_line,
    version_lines,
    versions_table,
    when,
)
from modelreg.errors import InvalidInput
from modelreg.metric_text import format_metric, listed_metric, metric_value
from modelreg.refs import parse_ref
from modelreg.registry import Registry
from modelreg.service.blobs import folder_keeps_name
from modelreg.types import ClassMetric, Page, Version

app = typer.Typer()

ListFormat = Literal["lines", "table"]
MetricOpt = Annotated[list[str] | None, typer.Option(
    "--metric", "-m", metavar="NAME=VALUE", help="A final metric, e.g. -m map50=0.91 (repeat).")]
MetricsJsonOpt = Annotated[Path | None, typer.Option(
    "--metrics-json", exists=True, dir_okay=False, help="A JSON file of metrics: {\"map50\": 0.91, ...}.")]
ParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", metavar="KEY=VALUE", help="A training parameter, e.g. --param epochs=100 (values read as JSON).")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", "-t", metavar="KEY=VALUE", help="A tag (repeat).")]
NotesOpt = Annotated[str | None, typer.Option("--notes", help="Free text: what changed, what to watch.")]
DescriptionOpt = Annotated[str | None, typer.Option("--description", "-d", help="One line on the version.")]
ParentOpt = Annotated[str | None, typer.Option(
    "--parent", metavar="REF", help="The version this one was fine-tuned from, e.g. fire-detector:3.")]
ClassMetricsOpt = Annotated[Path | None, typer.Option(
    "--class-metrics", exists=True, dir_okay=False,
    help="A JSON list of per-class rows: [{\"class_name\": \"fire\", \"ap\": 0.91, \"training_count\": 120, ...}] "
         "(class, training_annotations_count, validation_annotations_count … are read as those fields).")]
TrainingTimeOpt = Annotated[str | None, typer.Option(
    "--training-time", metavar="DURATION", help="How long training took: 2.15h, 90m, 3600s.")]
ShownMetricOpt = Annotated[str | None, typer.Option(
    "--metric", metavar="NAME",
    help="The metric each version shows, e.g. --metric accuracy (default: the model's best-metric policy, else "
         "the first metric of its newest listed version; map50 reads as mAP). Not used with --json.")]
ColumnsOpt = Annotated[str | None, typer.Option(
    "--columns", metavar="A,B,C",
    help="More metrics to show after it, comma-separated, e.g. --columns precision,recall. Not used with --json.")]
HistoryOpt = Annotated[Path | None, typer.Option(
    "--history", exists=True, dir_okay=False,
    help="Per-epoch metrics: a JSON list or a CSV with an epoch column (Ultralytics' results.csv).")]


def _sizes(paths: list[Path]) -> int:
    total = 0
    for p in paths:
        if p.is_dir():
            for dirpath, _, names in os.walk(p, followlinks=True):
                total += sum((Path(dirpath) / n).stat().st_size for n in names)
        elif p.is_file():
            total += p.stat().st_size
    return total


@app.command("register")
def register(
    ctx: typer.Context,
    model: ModelArg,
    paths: Annotated[list[str] | None, typer.Argument(
        metavar="PATH...",
        help="Files or folders to store. A folder keeps its name (runs/train/weights stores weights/best.pt); "
             "end it with / to store its contents at the top (runs/train/ stores weights/best.pt too). A "
             "folder's metadata.json, metrics.json and YAML config are read.")] = None,
    file: Annotated[list[str] | None, typer.Option(
        "--file", metavar="ARTIFACT=LOCAL", help="Store LOCAL under the artifact path ARTIFACT, e.g. "
                                                 "--file weights/best.pt=runs/train/best.pt (repeat; "
                                                 "instead of PATH).")] = None,
    metrics_json: MetricsJsonOpt = None,
    metric: MetricOpt = None,
    param: ParamOpt = None,
    tag: TagOpt = None,
    notes: NotesOpt = None,
    description: DescriptionOpt = None,
    parent: ParentOpt = None,
    class_metrics: ClassMetricsOpt = None,
    training_time: TrainingTimeOpt = None,
    history: HistoryOpt = None,
    no_metadata: Annotated[bool, typer.Option(
        "--no-metadata", help="Do not read metadata.json, metrics.json or a config from the folder.")] = False,
    label: Annotated[str | None, typer.Option(
        "--label", help="A name for the version, unique in the model (e.g. v4_no_leakage), usable as "
                        "MODEL:LABEL wherever a version number is.")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", exists=True, dir_okay=False, metavar="YAML",
        help="An experiment manifest (project, labels, models …) instead of the folder's own YAML config; "
             "kept in the version's params.")] = None,
    update_labels: Annotated[bool, typer.Option(
        "--update-labels", help="Make the manifest's labels the project's label set when they differ "
                                "(recorded as an event).")] = False,
    dataset: Annotated[Path | None, typer.Option(
        "--dataset", exists=True, dir_okay=False, metavar="JSON",
        help="The dataset it was trained on: a dataset reference as JSON (name, version, digest, counts, "
             "classes), e.g. the dataset.json of modelreg feedback export.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a new version of MODEL from files.

    PATH is a training folder or files; the model is created if needed.

    The first version of a model becomes production. Options override what the folder's
    metadata.json says; -m metrics override --metrics-json.

    An experiment manifest (the folder's YAML config with labels or models, or --config) names the
    project when MODEL names none, and its labels must be the project's label set (a project without
    one takes them; --update-labels replaces them).

    \b
    Example: modelreg register fire-detector runs/train/weights -m map50=0.91 --training-time 2.15h
    """
    st = state(ctx)
    files: Any = None
    given = list(paths or [])
    for path in given:
        if not Path(path).expanduser().exists():
            raise InvalidInput(f"{path!r} does not exist", hint="give a file or a folder", path=path)
    local: list[Path] = [Path(p).expanduser() for p in given]
    if file and local:
        raise InvalidInput("give files either as PATH arguments or as --file ARTIFACT=LOCAL, not both",
                           hint="--file names each artifact; PATH keeps the file and folder names")
    if file:
        mapping: dict[str, str] = {}
        for item in file:
            artifact, target = split_pair(item, "--file")
            mapping[artifact] = target
            local.append(Path(target))
        files = mapping
    elif len(given) == 1:
        files = given[0]  # as typed: a trailing "/" means the folder's contents
    elif given:
        files = given
    metrics: dict[str, float] = read_metrics_file(metrics_json) if metrics_json else {}
    metrics.update(parse_metrics(metric))
    duration = parse_duration(training_time)
    reg = st.registry()
    with transfer(st.err, total=_sizes(local), label="storing", enabled=st.progress_enabled(as_json)) as progress:
        version = reg.register_version(
            model, files, metrics=metrics or None, params=parse_params(param) or None, tags=parse_tags(tag) or None,
            notes=notes, description=description, parent=parent,
            class_metrics=read_class_metrics_file(class_metrics) if class_metrics else None,
            training={"duration_s": duration} if duration is not None else None,
            epochs=read_history_file(history) if history else None,
            read_metadata=not no_metadata, progress=progress, label=label, config=config,
            update_labels=update_labels, dataset=read_json_object(dataset, "--dataset") if dataset else None)
    if as_json:
        emit_json(version)
        return
    st.out.print(f"registered {short_ref(version.ref)} ({len(version.artifacts)} files, {human_size(version.size)})",
                 soft_wrap=True)
    if isinstance(files, str) and local[0].is_dir():
        where = (f"under {local[0].name}/ (the folder keeps its name; end the path with / to store its contents "
                 "at the top)" if folder_keeps_name(files) else "at the top (the path ends with /; without it "
                 "they would be stored under the folder's name)")
        st.out.print(f"files stored {where}", soft_wrap=True)
    print_version_line(st, version)


def _columns(columns: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.strip() for c in (columns or "").split(",") if c.strip()))


def _model_metric(reg: Registry, model: str, versions: Sequence[Version]) -> str | None:
    """A model's own metric: its best-metric policy, else the first metric of its newest version here."""
    newest_first = sorted(versions, key=lambda v: v.number, reverse=True)
    return listed_metric(reg.get_model(model).policies.best_metric, (v.metrics for v in newest_first))


def metric_views(reg: Registry, versions: Sequence[Version], *, metric: str | None = None,
                 columns: str | None = None) -> list[MetricView]:
    """What each version shows: --metric, else its model's own metric; then --columns."""
    extra = _columns(columns)
    by_model: dict[str, list[Version]] = {}
    for v in versions:
        by_model.setdefault(f"{v.project}/{v.model}", []).append(v)
    views = {model: MetricView(main=metric or _model_metric(reg, model, group), columns=extra)
             for model, group in by_model.items()}
    return [views[f"{v.project}/{v.model}"] for v in versions]


def _note_missing(st: State, versions: Sequence[Version], views: Sequence[MetricView]) -> None:
    """A metric asked for that no version shown has is most likely a typo: say which names they have."""
    asked = {name for view in views for name in view.names}
    missing = sorted(n for n in asked if all(metric_value(v.metrics, n) is None for v in versions))
    have = sorted({name for v in versions for name in v.metrics})
    if missing and versions:
        st.err.print(Text(f"no version shown has {', '.join(missing)}; their metrics: {', '.join(have) or 'none'}",
                          style="dim"), soft_wrap=True)


def print_version_line(st: State, version: Version) -> None:
    """One version's line, with its model's own metric."""
    st.out.print(version_line(version, metric_views(st.registry(), [version])[0]), soft_wrap=True)


def _all_pages(fetch: Any) -> Iterator[Version]:
    cursor: str | None = None
    while True:
        page: Page[Version] = fetch(cursor)
        yield from page.items
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def _show_versions(st: State, page: Page[Version], *, fmt: ListFormat, with_model: bool, empty: str,
                   as_json: bool, more: str, metric: str | None, columns: str | None) -> None:
    if as_json:
        emit_json(page)
        return
    if not page.items:
        st.out.print(empty, soft_wrap=True)
        return
    views = metric_views(st.registry(), page.items, metric=metric, columns=columns)
    if fmt == "table" or with_model:
        st.out.print(versions_table(page.items, views, with_model=with_model))
    else:
        for line in version_lines(page.items, views[0]):
            st.out.print(line, soft_wrap=True)
    _note_missing(st, page.items, views)
    if page.next_cursor:
        st.err.print(Text(f"{len(page.items)} of {page.total} shown; next page: {more} --cursor {page.next_cursor}"
                          " (or --all)", style="dim"), soft_wrap=True)


@app.command("versions")
def versions(
    ctx: typer.Context,
    model: ModelArg,
    filter_: Annotated[str | None, typer.Option(
        "--filter", "-f", help="A filter, e.g. \"metrics.map50 >= 0.8 and not pinned\" or \"tags.data = 'v2'\".")
    ] = None,
    sort: Annotated[str | None, typer.Option(
        "--sort", help="A field, '-' first for descending: -metrics.map50, created_at (default: newest first).")
    ] = None,
    limit: LimitOpt = 50,
    cursor: CursorOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Every matching version, not one page.")] = False,
    archived: Annotated[bool, typer.Option("--archived", help="Include archived versions.")] = False,
    fmt: Annotated[ListFormat, typer.Option(
        "--format", help="lines: the ✓ v5 | mAP | Time line per version; table: more columns.")] = "lines",
    metric: ShownMetricOpt = None,
    columns: ColumnsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a model's versions, newest first; ✓ marks production.

    \b
      ✓ v5 | mAP: 0.9123 | Time: 2.15h [ACTIVE]
        v4 | mAP: 0.8945 | Time: 1.80h [BEST]

    Each line shows the model's own metric: its best-metric policy, else the first metric of the newest
    version listed (a classifier shows accuracy: 0.9310, a recommender ndcg@10: 0.3120); map50 reads as mAP
    (best_accuracy where a version has no map50). --metric picks another, --columns adds more. Fractions
    such as mAP or accuracy show 4 decimals, counts show as integers, losses and errors plainly. Time is
    the training duration. Archived versions are hidden unless --archived.

    \b
    Example: modelreg versions fire-detector --filter "metrics.map50 >= 0.8" --sort -metrics.map50
    Example: modelreg versions fire-detector --columns precision,recall
    """
    st = state(ctx)
    reg = st.registry()
    structured = None if archived else {"not": {"is_archived": True}}

    def fetch(after: str | None, size: int = limit) -> Page[Version]:
        return reg.search_versions(filter_, model=model, filter=structured, sort=sort, limit=size, cursor=after)

    if all_:
        items = list(_all_pages(lambda after: fetch(after, 500)))
        page = Page[Version].of(items)
    else:
        page = fetch(cursor)
    name = short_ref(model)
    if filter_:
        empty = f"no versions of {name} match"
    elif archived:
        empty = f"{name} has no versions; register one: modelreg register {model} PATH"
    else:
        empty = f"{name} has no versions that are not archived (see them all: --archived)"
    _show_versions(st, page, fmt=fmt, with_model=False, empty=empty, as_json=as_json,
                   more=f"modelreg versions {model}", metric=metric, columns=columns)


@app.command("search")
def search(
    ctx: typer.Context,
    expr: Annotated[str, typer.Argument(
        metavar="EXPR", help="A filter, e.g. \"metrics.map50 >= 0.85 and status = 'ready'\".")],
    model: Annotated[str | None, typer.Option("--model", help="Only this model's versions.")] = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only this project's versions.")] = None,
    sort: Annotated[str | None, typer.Option(
        "--sort", help="A field, '-' first for descending (default: newest first).")] = None,
    limit: LimitOpt = 50,
    cursor: CursorOpt = None,
    metric: ShownMetricOpt = None,
    columns: ColumnsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find versions across models.

    Fields: number, status, pinned, archived, created_at, created_by, description, notes, model, project,
    metrics.NAME, tags.KEY, eval.DATASET.METRIC (a metric of an evaluation logged with modelreg evaluate);
    operators = != < <= > >= contains, and, or, not, parentheses.
    Archived versions are included: add "and not archived" to leave them out.

    Each version shows its model's own metric (see modelreg versions --help); when the models differ,
    the metric column names it per row. --metric and --columns choose for every row.

    \b
    Example: modelreg search "metrics.map50 >= 0.85 and not archived" --sort -metrics.map50
    """
    st = state(ctx)
    page = st.registry().search_versions(expr, model=model, project=project, sort=sort, limit=limit, cursor=cursor)
    _show_versions(st, page, fmt="table", with_model=True, empty="no versions match", as_json=as_json,
                   more=f"modelreg search {expr!r}", metric=metric, columns=columns)


@app.command("info")
def info(ctx: typer.Context, ref: RefArg, as_json: JsonOpt = False) -> None:
    """Show everything about a version.

    Flags, aliases, metrics, per-class results, params, dataset, training, files, exports, evaluations.

    \b
    Example: modelreg info fire-detector@production
    """
    st = state(ctx)
    reg = st.registry()
    version = reg.get_version(ref)
    if as_json:
        emit_json(version)
        return
    print_version(st.out, version)
    found = reg.list_exports(f"{version.project}/{version.model}:{version.number}")
    if found:
        from modelreg.cli.exports import exports_table

        st.out.print(Text("exports", style="bold"))
        st.out.print(exports_table(found))
    evaluated = reg.list_evaluations(f"{version.project}/{version.model}:{version.number}")
    if evaluated:
        from modelreg.cli.evaluations import evaluations_table

        st.out.print(Text("evaluations", style="bold"))
        st.out.print(evaluations_table(evaluated))


def print_version(out: Console, v: Version) -> None:
    header = Text(titled(v), style="bold")
    for label, style in flags_of(v):
        header.append(" ")
        header.append(label, style=style)
    out.print(header, soft_wrap=True)
    training = v.training
    trained = None
    if training is not None:
        parts = [f"{training.duration_s / 3600:.2f}h" if training.duration_s is not None else "",
                 f"from {when(training.started_at)}" if training.started_at else "",
                 f"to {when(training.finished_at)}" if training.finished_at else "",
                 f"on {plain(training.hardware)}" if training.hardware else ""]
        trained = " ".join(p for p in parts if p)
    dataset = None
    if v.dataset is not None:
        d = v.dataset
        counts = "/".join(str(c) if c is not None else "-" for c in (d.train_count, d.val_count, d.test_count))
        dataset = " ".join(p for p in (
            d.name or "", d.version or "", d.uri or "", f"train/val/test {counts}" if counts != "-/-/-" else "",
            f"classes {', '.join(d.classes)}" if d.classes else "") if p)
    source = None
    if v.source is not None:
        source = " ".join(p for p in (v.source.git_commit or "", v.source.code_version or "",
                                      ", ".join(f"{k} {x}" for k, x in (v.source.framework_versions or {}).items()))
                          if p)
    out.print(grid([
        ("status", v.status + (f" ({v.error})" if v.error else "")),
        ("aliases", ", ".join(v.aliases)),
        ("created", f"{when(v.created_at)} by {v.created_by or '-'}"),
        ("parent", short_ref(str(v.parent)) if v.parent else None),
        ("description", v.description),
        ("notes", v.notes),
        ("limitations", v.limitations),
        ("changelog", "\n".join(f"- {c}" for c in v.changelog)),
        ("tags", ", ".join(f"{k}={x}" for k, x in sorted(v.tags.items()))),
        ("training", trained),
        ("dataset", dataset),
        ("source", source),
        ("size", f"{human_size(v.size)} in {len(v.artifacts)} files"),
    ]))
    if v.metrics:
        table = Table(box=None, pad_edge=False, header_style="bold", title_justify="left")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for name, value in sorted(v.metrics.items()):
            table.add_row(name, format_metric(name, value))
        out.print(Text("\nmetrics", style="bold"))
        out.print(table)
    if v.class_metrics:
        out.print(Text("\nper class", style="bold"))
        out.print(class_metrics_table(v.class_metrics))
    if v.params:
        out.print(Text("\nparams", style="bold"))
        out.print(grid([(k, plain(x)) for k, x in sorted(v.params.items())]))
    if v.artifacts:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("file", "size", "digest"):
            table.add_column(column, justify="right" if column == "size" else "left")
        for a in v.artifacts:
            table.add_row(a.path, human_size(a.size), a.digest[:19] + "…")
        out.print(Text("\nfiles", style="bold"))
        out.print(table)


def class_metrics_table(rows: Sequence[ClassMetric]) -> Table:
    """The per-class rows under their canonical names, with each row's other metrics as more columns."""
    others = list(dict.fromkeys(name for c in rows for name in c.metrics))
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("class", "type", "AP", "precision", "recall", "train", "val", *others):
        table.add_column(column, justify="left" if column in ("class", "type") else "right")
    for c in rows:
        counts = [str(n) if n is not None else "-" for n in (c.training_count, c.validation_count)]
        table.add_row(c.class_name, c.annotation_type or "-", format_metric("ap", c.ap),
                      format_metric("precision", c.precision), format_metric("recall", c.recall), *counts,
                      *(format_metric(name, c.metrics.get(name)) for name in others))
    return table


@app.command("update")
def update(
    ctx: typer.Context,
    ref: VersionRefArg,
    metric: MetricOpt = None,
    metrics_json: MetricsJsonOpt = None,
    param: ParamOpt = None,
    tag: TagOpt = None,
    untag: Annotated[list[str] | None, typer.Option("--untag", metavar="KEY", help="Remove a tag (repeat).")] = None,
    notes: NotesOpt = None,
    description: DescriptionOpt = None,
    limitations: Annotated[str | None, typer.Option("--limitations", help="Known weaknesses.")] = None,
    changelog: Annotated[list[str] | None, typer.Option(
        "--changelog", help="Append a changelog entry (repeat).")] = None,
    parent: ParentOpt = None,
    class_metrics: ClassMetricsOpt = None,
    training_time: TrainingTimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Amend a version's metadata.

    Its files never change; each change is recorded as an event.

    Metrics, params and tags merge into what is there; --notes, --description and --class-metrics replace.

    \b
    Example: modelreg update fire-detector:5 -m map50_95=0.71 --notes "re-evaluated on the night set"
    """
    st = state(ctx)
    reg = st.registry()
    metrics: dict[str, float] = read_metrics_file(metrics_json) if metrics_json else {}
    metrics.update(parse_metrics(metric))
    params = parse_params(param)
    duration = parse_duration(training_time)
    tags: dict[str, Any] = {**parse_tags(tag), **{key: None for key in untag or []}}
    current = reg.get_version(ref) if params or changelog or duration is not None else None
    training: dict[str, Any] | None = None
    if current is not None and duration is not None:
        training = {**(current.training.model_dump() if current.training else {}), "duration_s": duration}
    version = reg.update_version(
        ref, metrics=metrics or None, params={**current.params, **params} if current and params else None,
        tags=tags or None, notes=notes, description=description, limitations=limitations,
        changelog=[*current.changelog, *changelog] if current and changelog else None, parent=parent,
        class_metrics=read_class_metrics_file(class_metrics) if class_metrics else None, training=training)
    _done(st, "updated", version, as_json)


def _done(st: State, verb: str, version: Version, as_json: bool) -> None:
    if as_json:
        emit_json(version)
        return
    st.out.print(f"{verb} {short_ref(version.ref)}", soft_wrap=True)
    print_version_line(st, version)


@app.command("tag")
def tag_cmd(
    ctx: typer.Context,
    ref: VersionRefArg,
    tags: Annotated[list[str] | None, typer.Argument(metavar="KEY=VALUE...", help="Tags to set.")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", "-r", metavar="KEY", help="Remove a tag.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set or remove a version's tags.

    \b
    Example: modelreg tag fire-detector:5 dataset=night-v2 reviewed=yes --remove wip
    """
    changes: dict[str, Any] = {**parse_tags(tags), **{key: None for key in remove or []}}
    if not changes:
        raise InvalidInput("nothing to tag", hint="e.g. modelreg tag fire-detector:5 dataset=night-v2")
    st = state(ctx)
    _done(st, "tagged", st.registry().update_version(ref, tags=changes), as_json)


@app.command("notes")
def notes_cmd(
    ctx: typer.Context,
    ref: VersionRefArg,
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The notes (replace the old ones; '' clears).")],
    as_json: JsonOpt = False,
) -> None:
    """Replace a version's notes.

    \b
    Example: modelreg notes fire-detector:5 "trained on night images; watch reflective surfaces"
    """
    st = state(ctx)
    _done(st, "noted", st.registry().update_version(ref, notes=text), as_json)


@app.command("pin")
def pin(ctx: typer.Context, ref: VersionRefArg, as_json: JsonOpt = False) -> None:
    """Pin a version: it cannot be deleted while pinned.

    \b
    Example: modelreg pin fire-detector:4
    """
    st = state(ctx)
    _done(st, "pinned", st.registry().pin(ref), as_json)


@app.command("unpin")
def unpin(ctx: typer.Context, ref: VersionRefArg, as_json: JsonOpt = False) -> None:
    """Unpin a version.

    \b
    Example: modelreg unpin fire-detector:4
    """
    st = state(ctx)
    _done(st, "unpinned", st.registry().unpin(ref), as_json)


@app.command("archive")
def archive(ctx: typer.Context, ref: VersionRefArg, as_json: JsonOpt = False) -> None:
    """Archive a version (hidden, kept).

    Hidden from `modelreg versions` unless --archived; kept and still resolvable.

    \b
    Example: modelreg archive fire-detector:2
    """
    st = state(ctx)
    _done(st, "archived", st.registry().archive(ref), as_json)


@app.command("unarchive")
def unarchive(ctx: typer.Context, ref: VersionRefArg, as_json: JsonOpt = False) -> None:
    """Unarchive a version.

    \b
    Example: modelreg unarchive fire-detector:2
    """
    st = state(ctx)
    _done(st, "unarchived", st.registry().unarchive(ref), as_json)


@app.command("mark-best")
def mark_best(ctx: typer.Context, ref: VersionRefArg, as_json: JsonOpt = False) -> None:
    """Mark a version as the model's best.

    Overrides the model's best-metric policy.

    \b
    Example: modelreg mark-best fire-detector:4
    """
    st = state(ctx)
    _done(st, "marked best:", st.registry().mark_best(ref), as_json)


@app.command("best")
def best(ctx: typer.Context, model: ModelArg, metric: ShownMetricOpt = None, columns: ColumnsOpt = None,
         as_json: JsonOpt = False) -> None:
    """Show the model's best version.

    The one marked best, else the best by the model's best-metric policy. The line shows that metric
    (or --metric NAME), then --columns.

    \b
    Example: modelreg best fire-detector
    """
    st = state(ctx)
    version = st.registry().best_version(model)
    if as_json:
        emit_json(version)
        return
    views = metric_views(st.registry(), [version], metric=metric, columns=columns)
    st.out.print(version_line(version, views[0]), soft_wrap=True)
    _note_missing(st, [version], views)


@app.command("delete")
def delete(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="REF", help="The version, by number: fire-detector:3.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a version (asks first).

    Deletes the version and the files nothing else uses. Refused while an alias points to it
    or it is pinned: the error names the alias.

    Asks for confirmation unless --yes; without a terminal it refuses unless --yes.

    \b
    Example: modelreg delete fire-detector:2 --yes
    """
    st = state(ctx)
    reg = st.registry()
    parsed = parse_ref(ref)
    if parsed.number is not None:
        version = reg.get_version(ref)
        if not version.aliases and not version.pinned:  # otherwise the SDK refuses, saying what holds it
            confirm(st, f"delete {short_ref(version.ref)} ({len(version.artifacts)} files, "
                        f"{human_size(version.size)})", yes=yes, warning="This cannot be undone.",
                    refuse_hint=f"pass --yes to delete without asking: modelreg delete {ref} --yes")
    reg.delete_version(ref)
    st.out.print(f"deleted {short_ref(str(parsed))}", soft_wrap=True)
