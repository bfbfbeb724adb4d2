"""The dashboard's pages (server-rendered, each at a stable URL; reads work with JavaScript off).

    /                                   models: search (the filter language), facets, sortable columns
    /m/{project}/{model}                a model: versions, chart of its metric, live figures per version
                                        (last 24 h of inference records), aliases and their newest moves, policies
    /m/{project}/{model}/aliases        every move of its aliases, newest first, paginated (``?before=MOVE_ID``)
    /v/{project}/{model}/{number}       a version: metadata, per-class table, curves, files, lineage (a graph), exports,
                                        background export jobs, events
    /v/{project}/{model}/{number}/jobs  its Jobs table alone (htmx refreshes it while a job runs)
    /compare?ref=…&ref=…                2..N versions side by side, across models and projects; ``&add=REF``
                                        adds a typed reference (one that does not resolve is shown inline)
    /activity                           the events log, filterable
    /projects                           projects, their label sets and their history

The inference pages (a model's inference history, one record and its correction form) are in ``inferences``.

Every read goes through the same ``Service`` as the REST API, acting as the signed-in token.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from modelreg.errors import ArtifactNotFound, InvalidInput, ModelregError, NotFound, PermissionDenied
from modelreg.metric_text import listed_metric, metric_value
from modelreg.refs import parse_ref
from modelreg.server.ui.context import Ui, UiRoute, ui_of
from modelreg.server.ui.lineage import lineage_graph
from modelreg.server.ui.words import UI_WORDS
from modelreg.service import Service
from modelreg.service.insights import MAX_COMPARE
from modelreg.steps import hint_for
from modelreg.types import (
    EVENT_ACTIONS,
    AliasInfo,
    AliasMove,
    Event,
    Job,
    MetricPoint,
    Model,
    ModelOverview,
    Version,
)

router = APIRouter(include_in_schema=False, route_class=UiRoute)
T = TypeVar("T")
PAGE = 50
MAX_METRIC_COLUMNS = 8
COLUMNS_COOKIE = "modelreg_columns"
JOBS_SHOWN = 10  # the newest jobs of a version its page lists
CHART_POINTS = 500  # the newest versions the model's chart draws (metric_trend), whatever page is shown
CHART_SERIES = 3  # metric columns drawn on it, the model's metric first
MOVES_SHOWN = 20  # the newest alias moves a model's page lists; its aliases page lists every one
# A job's state, shown with the colours of the version states that mean the same (done as ready …).
JOB_CLASS = {"done": "s-ready", "failed": "s-failed", "running": "s-training", "queued": "s-pending"}


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A blocking registry call, off the event loop."""
    return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))


def model_ref(project: str, model: str) -> str:
    return f"{project}/{model}"


def version_ref(project: str, model: str, number: int | str) -> str:
    return f"{project}/{model}:{number}"


# ---------------------------------------------------------------- models
def _model_row(row: ModelOverview) -> dict[str, Any]:
    """A row of the models page: the model, its production version with its primary metric, best, latest, count."""
    model, shown = row.model, row.production
    metric = model.policies.best_metric or (next(iter(shown.metrics), None) if shown else None)
    return {"model": model, "production": shown.number if shown else None, "shown": shown, "metric": metric,
            "value": metric_value(shown.metrics, metric) if shown and metric else None, "best": row.best,
            "latest": row.latest, "versions": row.versions}


@router.get("/")
async def models_page(request: Request, ui: Ui = Depends(ui_of), q: str | None = None,
                      project: str | None = None, task: str | None = None, pinned: str | None = None,
                      tag: str | None = None, sort: str = "name", cursor: str | None = None) -> Response:
    must: dict[str, Any] = {}
    if task:
        must["task"] = task
    if pinned in ("yes", "no"):
        must["is_pinned"] = pinned == "yes"
    if tag and "=" in tag:
        key, _, value = tag.partition("=")
        must["tags"] = {key.strip(): value.strip()}
    error: ModelregError | None = None
    rows: list[dict[str, Any]] = []
    next_cursor = None
    total = None
    try:
        page = await run(ui.reg.model_overview, q or None, project=project or None,
                         filter={"must": must} if must else None, sort=sort, limit=PAGE, cursor=cursor)
        rows = [_model_row(item) for item in page.items]
        next_cursor, total = page.next_cursor, page.total
    except InvalidInput as exc:  # a filter or sort the user typed: shown inline, with its position
        error = exc
    projects = await run(ui.reg.list_projects)
    return ui.render("models.html", rows=rows, next_cursor=next_cursor, total=total, error=error, q=q or "",
                     project=project or "", task=task or "", pinned=pinned or "", tag=tag or "", sort=sort,
                     projects=projects, tasks=("detection", "segmentation", "classification", "regression", "other"),
                     sorts=("name", "-updated_at", "updated_at", "project", "task", "-created_at"))


# ---------------------------------------------------------------- a model
def _chosen_columns(request: Request, model: Model, metrics: Sequence[str]) -> list[str]:
    """The metric columns the user picked for this model (remembered in a cookie), else the model's metric."""
    picked = request.query_params.getlist("col")
    if not picked:
        saved = request.cookies.get(f"{COLUMNS_COOKIE}_{model.id}")
        picked = [c for c in (saved or "").split(",") if c]
    known = [c for c in picked if c in metrics][:MAX_METRIC_COLUMNS]
    if known:
        return known
    first = listed_metric(model.policies.best_metric, [{m: 0.0} for m in metrics])
    return [first] if first else []


@router.get("/m/{project}/{model}")
async def model_page(request: Request, project: str, model: str, ui: Ui = Depends(ui_of),
                     archived: bool = False, cursor: str | None = None) -> Response:
    ref = model_ref(project, model)

    def load() -> dict[str, Any]:
        mdl = ui.reg.get_model(ref)
        page = ui.reg.list_versions(ref, limit=PAGE, cursor=cursor, include_archived=archived)
        aliases = ui.reg.list_aliases(ref)
        moves, latest_move = _alias_moves(ui.reg, ref, aliases)
        best: int | None = None
        with contextlib.suppress(NotFound):
            best = ui.reg.best_version(ref).number
        live = [s for s in ui.reg.inference_stats(ref) if s.records]  # one call: every version, last 24 h
        return {"mdl": mdl, "page": page, "aliases": aliases, "moves": moves[:MOVES_SHOWN],
                "all_moves": len(moves), "latest_move": latest_move, "best": best, "live": live}

    data = await run(load)
    mdl: Model = data["mdl"]
    versions: list[Version] = data["page"].items
    metrics = sorted({name for v in versions for name in v.metrics})
    columns = _chosen_columns(request, mdl, metrics)
    primary = columns[0] if columns else None
    charted = columns[:CHART_SERIES]
    trends = await run(lambda: {c: ui.reg.metric_trend(ref, c, limit=CHART_POINTS, include_archived=archived)
                                for c in charted})
    chart = trend_chart(trends)
    response = ui.render("model.html", mdl=mdl, versions=versions, page=data["page"], aliases=data["aliases"],
                         moves=data["moves"], all_moves=data["all_moves"], latest_move=data["latest_move"],
                         best=data["best"], columns=columns,
                         metrics=metrics, primary=primary, chart=chart, chart_points=CHART_POINTS, archived=archived,
                         ref=ref,
                         protected=set(mdl.policies.protected_aliases), live=data["live"])
    if request.query_params.getlist("col"):
        response.set_cookie(f"{COLUMNS_COOKIE}_{mdl.id}", ",".join(columns), max_age=365 * 86400,
                            samesite="strict", httponly=True, path="/")
    return response


def trend_chart(trends: dict[str, list[MetricPoint]]) -> dict[str, Any]:
    """The model chart's data: the version numbers any series has (ascending) and, per metric, its value at
    each (None where that version lacks it)."""
    numbers = sorted({p.number for points in trends.values() for p in points})
    series = {}
    for name, points in trends.items():
        values = {p.number: p.value for p in points}
        series[name] = [values.get(n) for n in numbers]
    return {"x": numbers, "series": series}


def _alias_moves(reg: Service, ref: str, aliases: list[AliasInfo],
                 removed: Sequence[str] = ()) -> tuple[list[AliasMove], dict[str, AliasMove]]:
    """The moves of the model's aliases (those it has, production, and ``removed``), newest first (in the order
    they were made), and each alias's latest move (the one a rollback undoes)."""
    moves: list[AliasMove] = []
    latest: dict[str, AliasMove] = {}
    for name in sorted({a.alias for a in aliases} | {"production"} | set(removed)):
        history = reg.alias_history(ref, name)
        moves += history
        if history:
            latest[name] = history[0]
    moves.sort(key=lambda m: m.id, reverse=True)
    return moves, latest


def _removed_aliases(reg: Service, ref: str) -> list[str]:
    """The aliases the model had and no longer has, named by the events log (their moves outlive them)."""
    names: list[str] = []
    cursor: str | None = None
    while True:
        page = reg.events(model=ref, action="alias.deleted", limit=200, cursor=cursor)
        names += [e.alias for e in page.items if e.alias]
        cursor = page.next_cursor
        if cursor is None:
            return names


def _move_id(text: str | None) -> int | None:
    """The ``before`` of an aliases page: the id of a move (None: the first page)."""
    if text is None:
        return None
    try:
        return int(text.strip(), 10)
    except ValueError:
        raise InvalidInput(f"before={text[:20]!r} is not a move of the timeline", field="before",
                           hint="open the timeline from its first page") from None


@router.get("/m/{project}/{model}/aliases")
async def aliases_page(project: str, model: str, ui: Ui = Depends(ui_of), before: str | None = None) -> Response:
    """Every move of the model's aliases, ``PAGE`` a page, newest first; ``before``: the id of the last move of
    the page before (a move made since does not shift the pages)."""
    cursor = _move_id(before)
    ref = model_ref(project, model)

    def load() -> dict[str, Any]:
        mdl = ui.reg.get_model(ref)
        aliases = ui.reg.list_aliases(ref)
        removed = sorted(set(_removed_aliases(ui.reg, ref)) - {a.alias for a in aliases})
        moves, latest = _alias_moves(ui.reg, ref, aliases, removed)
        return {"mdl": mdl, "aliases": aliases, "removed": removed, "moves": moves, "latest": latest}

    data = await run(load)
    moves: list[AliasMove] = data["moves"]
    start = sum(1 for m in moves if m.id >= cursor) if cursor is not None else 0
    shown = moves[start:start + PAGE]
    newer = None  # the cursor of the page before this one ("" for the first page)
    if start > 0:
        newer = str(moves[start - PAGE - 1].id) if start > PAGE else ""
    older = str(shown[-1].id) if shown and start + PAGE < len(moves) else None
    current = {a.alias: a for a in data["aliases"]}
    mdl: Model = data["mdl"]
    return ui.render("aliases.html", mdl=mdl, moves=shown, total=len(moves), start=start, newer=newer, older=older,
                     removed=data["removed"], latest=data["latest"], current=current,
                     protected=set(mdl.policies.protected_aliases))


# ---------------------------------------------------------------- a version
@router.get("/v/{project}/{model}/{number}")
async def version_page(project: str, model: str, number: str, ui: Ui = Depends(ui_of)) -> Response:
    ref = version_ref(project, model, number)

    def load() -> dict[str, Any]:
        version = ui.reg.get_version(ref)
        exact = version_ref(version.project, version.model, version.number)
        mdl = ui.reg.get_model(model_ref(version.project, version.model))
        events = ui.reg.events(project=version.project, model=version.model, version=version.number, limit=50)
        return {"v": version, "mdl": mdl, "history": ui.reg.history(exact), "lineage": ui.reg.lineage(exact),
                "exports": ui.reg.list_exports(exact), "events": events.items,
                "jobs": ui.reg.list_jobs(exact, limit=JOBS_SHOWN), "evaluations": ui.reg.list_evaluations(exact)}

    data = await run(load)
    v: Version = data["v"]
    curves: dict[str, list[tuple[int, float]]] = {}
    for epoch in data["history"]:
        for name, value in epoch.metrics.items():
            curves.setdefault(name, []).append((epoch.epoch, value))
    classes = sorted(v.class_metrics, key=lambda c: c.class_name)
    return ui.render("version.html", v=v, mdl=data["mdl"], curves=curves, classes=classes,
                     graph=lineage_graph(data["lineage"]), exports=data["exports"], events=data["events"],
                     protected=set(data["mdl"].policies.protected_aliases),
                     deletable=not v.aliases and not v.pinned, formats=("onnx", "torchscript", "coreml", "tflite"),
                     evaluations=data["evaluations"],
                     eval_metrics=list(dict.fromkeys(n for e in data["evaluations"] for n in e.metrics)),
                     **_jobs_view(data["jobs"]))


def _jobs_view(jobs: list[Job]) -> dict[str, Any]:
    """What the Jobs table shows: the jobs, whether one is unfinished (the table then follows them), and each
    failed job's next step in the dashboard's words."""
    hints = {j.id: hint_for(j.error.details, UI_WORDS, j.error.hint) for j in jobs if j.error is not None}
    return {"jobs": jobs, "jobs_active": any(not j.finished for j in jobs), "job_hints": hints,
            "job_class": JOB_CLASS}


@router.get("/v/{project}/{model}/{number}/jobs")
async def version_jobs(project: str, model: str, number: str, ui: Ui = Depends(ui_of)) -> Response:
    """The version page's Jobs table alone: htmx asks for it every 2 s while a job is unfinished. Once none is,
    the page reloads (``HX-Refresh``) so that the Exports table shows what the jobs made."""
    def load() -> tuple[Version, list[Job]]:
        version = ui.reg.get_version(version_ref(project, model, number))
        exact = version_ref(version.project, version.model, version.number)
        return version, ui.reg.list_jobs(exact, limit=JOBS_SHOWN)

    v, jobs = await run(load)
    view = _jobs_view(jobs)
    response = ui.render("jobs.html", v=v, **view)
    if not view["jobs_active"]:
        response.headers["HX-Refresh"] = "true"
    return response


# ---------------------------------------------------------------- compare
def _oldest_first(refs: list[str]) -> list[str]:
    """Versions of one model in the order they were made, so deltas read as "what changed since"; versions of
    several models stay in the order given (the first is the reference)."""
    try:
        parsed = [parse_ref(r) for r in refs]
    except ModelregError:
        return refs  # the service names what is wrong with them
    same_model = len({(p.project, p.model) for p in parsed}) == 1
    if not same_model or any(p.number is None for p in parsed):
        return refs
    return [r for _, r in sorted(zip(parsed, refs, strict=True), key=lambda pair: pair[0].number or 0)]


def column_labels(versions: Sequence[Version]) -> list[str]:
    """A compare column's short heading: ``v5`` when every version is of one model, else with the model (and
    its project when they differ)."""
    if len({(v.project, v.model) for v in versions}) == 1:
        return [f"v{v.number}" for v in versions]
    if len({v.project for v in versions}) == 1:
        return [f"{v.model} v{v.number}" for v in versions]
    return [f"{v.project}/{v.model} v{v.number}" for v in versions]


def compare_url(refs: Sequence[str], hide_identical: bool = True) -> str:
    return "/compare?" + urlencode([("ref", r) for r in refs] + ([] if hide_identical else [("hide_identical",
                                                                                              "false")]))


def _exact(ui: Ui, typed: str) -> str:
    """The version a reference typed in the compare page's form names, as ``project/model:N``."""
    version = ui.reg.get_version(typed)
    return version_ref(version.project, version.model, version.number)


@router.get("/compare")
async def compare_page(ui: Ui = Depends(ui_of), ref: list[str] = Query(default=[]),
                       hide_identical: bool = True, add: str = "") -> Response:
    given = [r for r in ref if r][:MAX_COMPARE]
    refs = _oldest_first(given)
    add_error: ModelregError | None = None
    if add.strip():  # the form "Add a version": the comparison with it, at its own URL
        try:
            exact = await run(_exact, ui, add.strip())
            if exact not in given and len(given) >= MAX_COMPARE:
                raise InvalidInput(f"a comparison holds at most {MAX_COMPARE} versions", field="add",
                                   hint="leave one out first (the × by its name)")
        except (InvalidInput, NotFound, PermissionDenied) as exc:  # shown by the form, with what was typed
            if len(refs) < 2:
                raise
            add_error = exc
        else:
            return ui.redirect(compare_url(given if exact in given else [*given, exact], hide_identical))
    if len(refs) < 2:
        raise InvalidInput("pick two or more versions to compare", hint="tick them on a model's page")

    def load() -> dict[str, Any]:
        comparison = ui.reg.compare(refs)
        versions = [ui.reg.get_version(r) for r in comparison.versions]
        modes = {}
        for name in dict.fromkeys(model_ref(v.project, v.model) for v in versions):
            mdl = ui.reg.get_model(name)
            if mdl.policies.best_metric:
                modes[mdl.policies.best_metric] = mdl.policies.best_mode
        return {"c": comparison, "versions": versions, "modes": modes}

    data = await run(load)
    c = data["c"]
    params = [p for p in c.params if not (hide_identical and p.identical)]
    removals = [compare_url([r for r in refs if r != gone], hide_identical) for gone in refs]
    return ui.render("compare.html", c=c, versions=data["versions"], modes=data["modes"], params=params,
                     hide_identical=hide_identical, refs=refs, curves=c.curves, removals=removals,
                     labels=column_labels(data["versions"]),
                     add=add if add_error else "", add_error=add_error,
                     add_hint=hint_for(add_error.details, UI_WORDS, add_error.hint) if add_error else None)


# ---------------------------------------------------------------- activity
@router.get("/activity")
async def activity_page(ui: Ui = Depends(ui_of), project: str | None = None, model: str | None = None,
                        action: str | None = None, actor: str | None = None, cursor: str | None = None) -> Response:
    page = await run(ui.reg.events, project=project or None, model=model or None, action=action or None,
                     actor=actor or None, limit=PAGE, cursor=cursor)
    events: list[Event] = page.items
    return ui.render("activity.html", events=events, next_cursor=page.next_cursor, project=project or "",
                     model=model or "", action=action or "", actor=actor or "", actions=EVENT_ACTIONS)


# ---------------------------------------------------------------- projects
@router.get("/projects")
async def projects_page(ui: Ui = Depends(ui_of)) -> Response:
    def load() -> dict[str, Any]:
        projects = ui.reg.list_projects()
        history = {p.name: [e for e in ui.reg.events(project=p.name, limit=20).items
                            if e.action.startswith("project.")] for p in projects}
        return {"projects": projects, "history": history}

    data = await run(load)
    return ui.render("projects.html", **data)


# ---------------------------------------------------------------- files
@router.get("/file/{project}/{model}/{number}/{path:path}")
async def file_download(project: str, model: str, number: str, path: str, ui: Ui = Depends(ui_of)) -> Response:
    """A file of a version (or of one of its exports), streamed and verified as it goes."""
    def load() -> tuple[Any, Any]:
        version = ui.reg.get_version(version_ref(project, model, number))
        exact = version_ref(version.project, version.model, version.number)
        files = {a.path: a for a in version.artifacts}
        files.update({a.path: a for e in ui.reg.list_exports(exact) for a in e.files})
        artifact = files.get(path)
        if artifact is None:
            raise ArtifactNotFound(f"{version.ref} has no file {path!r}", path=path)
        return artifact, ui.reg.open_blob(artifact.digest)

    artifact, stream = await run(load)

    def chunks() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(1024 * 1024):
                yield chunk

    name = artifact.path.rsplit("/", 1)[-1]
    return ui.finish(StreamingResponse(iterate_in_threadpool(chunks()), media_type=artifact.media_type, headers={
        "Content-Length": str(artifact.size), "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
        "X-Content-Type-Options": "nosniff"}))
