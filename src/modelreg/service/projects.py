"""Projects (namespaces with a label set) and models (with their policies)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from modelreg.errors import (
    AlreadyExists,
    Conflict,
    InvalidFilter,
    InvalidInput,
    InvalidMetadata,
    InvalidName,
    VersionInUse,
)
from modelreg.filters import (
    And,
    Compare,
    Node,
    Sort,
    decode_cursor,
    gate_fields,
    model_fields,
    parse_filter,
    parse_sort,
    structured_filter,
    version_fields,
    walk_pages,
)
from modelreg.local.fields import check_tags
from modelreg.metadata.base import MetadataTx
from modelreg.refs import Ref, parse_ref, validate_alias, validate_name
from modelreg.registry import DEFAULT_PROJECT
from modelreg.service.base import BY_NUMBER_DESC, ServiceBase
from modelreg.service.blobs import collect_blobs
from modelreg.service.permissions import operation
from modelreg.steps import next_step
from modelreg.text import check_storable
from modelreg.types import PRODUCTION, BestMode, Model, ModelOverview, Page, Policies, Project, Task

_TASKS = ("detection", "segmentation", "classification", "regression", "other")
MAX_PAGE = 1000


def check_labels(labels: object) -> list[str]:
    if not isinstance(labels, list) or not all(isinstance(x, str) and x.strip() for x in labels):
        raise InvalidMetadata("labels must be a list of non-empty class names", field="labels")
    check_storable(labels, "labels")
    if len(set(labels)) != len(labels):
        dup = sorted({x for x in labels if labels.count(x) > 1})
        raise InvalidMetadata(f"labels repeat {dup}", hint="each class name appears once", field="labels")
    return list(labels)


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit {limit!r} must be between 1 and {MAX_PAGE}", field="limit")
    return limit


def build_policies(base: Policies, changes: Mapping[str, Any]) -> Policies:
    values = base.model_dump()
    for key, value in changes.items():
        if value is not None:
            values[key] = value
    if values["best_mode"] not in ("max", "min"):
        raise InvalidInput(f"best_mode {values['best_mode']!r} must be 'max' or 'min'", field="best_mode")
    if values["best_metric"]:
        validate_name(values["best_metric"], kind="metric name")
    values["protected_aliases"] = [validate_alias(a) for a in values["protected_aliases"]]
    check_storable(values, "policies")
    if values["promotion_gate"]:
        parse_filter(values["promotion_gate"], gate_fields)
    else:
        values["promotion_gate"] = None
    return Policies(**values)


def where_of(query: str | None, structured: Mapping[str, Any] | None, resolve: Any) -> Node | None:
    check_storable([query, structured], "filter", error=InvalidFilter)
    nodes = [n for n in (parse_filter(query, resolve), structured_filter(structured, resolve)
                         if structured else None) if n is not None]
    if not nodes:
        return None
    return nodes[0] if len(nodes) == 1 else And(tuple(nodes))


class ProjectsMixin(ServiceBase):
    # ---- projects
    @operation("editor", "creating a project")
    def create_project(self, name: str, *, description: str = "", labels: list[str] | None = None,
                       exist_ok: bool = False) -> Project:
        validate_name(name, kind="project name")
        self.ctx.check_project(name)
        labels = check_labels(labels or [])
        check_storable(description, "description")

        def run(tx: MetadataTx) -> Project:
            existing = tx.get_project(name=name)
            if existing is not None:
                if exist_ok:
                    return existing
                raise AlreadyExists(f"project {name!r} already exists", project=name)
            project = tx.create_project(name=name, description=description, labels=labels, now=self.ctx.now())
            self._event(tx, "project.created", project=name, after={"labels": labels})
            return project

        return self.ctx.write(run)

    @operation("viewer", "reading a project")
    def get_project(self, name: str = DEFAULT_PROJECT) -> Project:
        return self.ctx.read(lambda tx: self._project(tx, name))

    @operation("viewer", "listing projects")
    def list_projects(self) -> list[Project]:
        scope = self.ctx.project_scope
        return [p for p in self.ctx.read(lambda tx: tx.list_projects()) if scope is None or p.name == scope]

    @operation("editor", "changing a project")
    def update_project(self, name: str, *, description: str | None = None,
                       labels: list[str] | None = None) -> Project:
        """Change a project's description or label set; the old label set is kept in the events log."""
        if labels is not None:
            labels = check_labels(labels)
        check_storable(description, "description")

        def run(tx: MetadataTx) -> Project:
            project = self._project(tx, name)
            updated = tx.update_project(project_id=project.id, description=description, labels=labels)
            self._event(tx, "project.updated", project=name,
                        before={"labels": project.labels, "description": project.description},
                        after={"labels": updated.labels, "description": updated.description})
            return updated

        return self.ctx.write(run)

    @operation("maintainer", "deleting a project")
    def delete_project(self, name: str) -> None:

        def run(tx: MetadataTx) -> None:
            project = self._project(tx, name)
            count = tx.count_models(project_id=project.id)
            if count:
                raise Conflict(f"project {name!r} still has {count} model(s)",
                               hint="delete its models first", project=name)
            tx.delete_project(project_id=project.id)
            self._event(tx, "project.deleted", project=name)

        self.ctx.write(run)

    # ---- models
    @operation("editor", "creating a model")
    def create_model(self, name: str, *, project: str | None = None, description: str = "",
                     task: Task = "other", baseline: str | None = None, tags: Mapping[str, str] | None = None,
                     best_metric: str | None = None, best_mode: BestMode = "max",
                     auto_activate_first: bool = True, protected_aliases: list[str] | None = None,
                     promotion_gate: str | None = None, exist_ok: bool = False) -> Model:
        """Create a model (``project/name`` or ``name`` in the default project, created on first use)."""
        ref = parse_ref(name)
        if ref.names_version:
            raise InvalidName(f"{name!r} names a version; a model name has no ':' or '@'", name=name)
        project_name = project or ref.project or DEFAULT_PROJECT
        validate_name(project_name, kind="project name")
        self.ctx.check_project(project_name)
        if task not in _TASKS:
            raise InvalidInput(f"task {task!r} is not one of {', '.join(_TASKS)}", field="task")
        policies = build_policies(Policies(), {
            "best_metric": best_metric, "best_mode": best_mode, "auto_activate_first": auto_activate_first,
            "protected_aliases": protected_aliases, "promotion_gate": promotion_gate})
        clean_tags = check_tags(tags)
        check_storable({"description": description, "baseline": baseline}, "model")

        def run(tx: MetadataTx) -> Model:
            proj = self._project_or_create(tx, project_name)
            existing = tx.get_model(project=project_name, name=ref.model)
            if existing is not None:
                if exist_ok:
                    return existing
                raise AlreadyExists(f"model {project_name}/{ref.model} already exists",
                                    hint="pick another name, or register a new version into it",
                                    project=project_name, model=ref.model)
            model = tx.create_model(project_id=proj.id, name=ref.model, description=description, task=task,
                                    baseline=baseline, tags=clean_tags, policies=policies, now=self.ctx.now())
            self._event(tx, "model.created", model=model, after=model.model_dump(mode="json"))
            return model

        return self.ctx.write(run)

    @operation("viewer", "reading a model")
    def get_model(self, name: str | Ref) -> Model:
        return self.ctx.read(lambda tx: self._model(tx, name))

    @operation("editor", "changing a model",
               extra="its policies (protected aliases, promotion gate, trusted sources): admin")
    def update_model(self, name: str, *, rename: str | None = None, description: str | None = None,
                     task: Task | None = None, baseline: str | None = None, tags: Mapping[str, Any] | None = None,
                     pinned: bool | None = None, best_metric: str | None = None, best_mode: BestMode | None = None,
                     auto_activate_first: bool | None = None, protected_aliases: list[str] | None = None,
                     promotion_gate: str | None = None, trusted_sources: bool | None = None) -> Model:
        """Change a model; ``tags`` merge (a None value removes the key); ``promotion_gate=''`` clears it;
        ``trusted_sources``: exports load its pickled weights without ``trusted=True`` (admin)."""
        if rename is not None:
            validate_name(rename, kind="model name")
        if task is not None and task not in _TASKS:
            raise InvalidInput(f"task {task!r} is not one of {', '.join(_TASKS)}", field="task")
        if protected_aliases is not None or promotion_gate is not None or trusted_sources is not None:
            self.ctx.require("admin", "changing a model's policies")
        check_storable({"description": description, "baseline": baseline}, "model")

        def run(tx: MetadataTx) -> Model:
            model = self._model(tx, name, lock=True)
            changes: dict[str, Any] = {k: v for k, v in {
                "name": rename, "description": description, "task": task, "baseline": baseline,
                "pinned": pinned}.items() if v is not None}
            if tags is not None:
                merged = dict(model.tags)
                for key, value in tags.items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                changes["tags"] = check_tags(merged)
            policy_changes = {"best_metric": best_metric, "best_mode": best_mode,
                              "auto_activate_first": auto_activate_first,
                              "protected_aliases": protected_aliases, "promotion_gate": promotion_gate,
                              "trusted_sources": trusted_sources}
            if any(v is not None for v in policy_changes.values()):
                changes["policies"] = build_policies(model.policies, policy_changes)
            if not changes:
                return model
            updated = tx.update_model(model_id=model.id, changes=changes, now=self.ctx.now())
            before = model.model_dump(mode="json")
            after = updated.model_dump(mode="json")
            self._event(tx, "model.updated", model=updated,
                        before={k: before[k] for k in after if before[k] != after[k]},
                        after={k: after[k] for k in after if before[k] != after[k]})
            return updated

        return self.ctx.write(run)

    @operation("maintainer", "deleting a model")
    def delete_model(self, name: str) -> None:
        """Delete a model and all its versions; refused while an alias or a pin holds any of them."""

        def run(tx: MetadataTx) -> list[str]:
            model = self._model(tx, name, lock=True)
            aliases = tx.list_aliases(model_id=model.id)
            if aliases:
                held = ", ".join(f"{a.alias} -> v{a.number}" for a in aliases)
                raise VersionInUse(f"{model.project}/{model.name} still has aliases ({held})",
                                   step=next_step("delete_aliases", model=model.name),
                                   model=model.name, aliases=[a.alias for a in aliases])
            pinned = tx.search_versions(model_id=model.id, project=None,
                                        where=Compare(version_fields("pinned"), "=", True),
                                        sort=BY_NUMBER_DESC, cursor=None, limit=10)
            if pinned.items:
                nums = ", ".join(f"v{v.number}" for v in pinned.items)
                raise VersionInUse(f"{model.project}/{model.name} has pinned versions ({nums})",
                                   step=next_step("unpin", ref=f"{model.name}:VERSION"), model=model.name)
            digests = _model_digests(tx, model)
            tx.delete_model(model_id=model.id)
            self._event(tx, "model.deleted", model=model, before=model.model_dump(mode="json"))
            return digests

        collect_blobs(self.ctx, self.ctx.write(run))

    @operation("viewer", "searching models")
    def search_models(self, query: str | None = None, *, project: str | None = None,
                      filter: Mapping[str, Any] | None = None, sort: str = "name", limit: int = 50,
                      cursor: str | None = None) -> Page[Model]:
        """Models matching a filter expression (and/or the structured must/not ``filter``), keyset paged."""
        where, order, project = self._model_search(query, filter, sort, limit, project)
        return self.ctx.read(lambda tx: tx.search_models(project=project, where=where, sort=order,
                                                         cursor=decode_cursor(cursor), limit=limit))

    def _model_search(self, query: str | None, filter: Mapping[str, Any] | None, sort: str, limit: int,
                      project: str | None) -> tuple[Node | None, Sort, str | None]:
        """A search of models checked: its filter, its order, and the project it is limited to."""
        where = where_of(query, filter, model_fields)
        order = parse_sort(sort, model_fields, "name")
        check_limit(limit)
        project = project or self.ctx.project_scope
        if project is not None:
            validate_name(project, kind="project name")
            self.ctx.check_project(project)
        return where, order, project

    @operation("viewer", "searching models")
    def model_overview(self, query: str | None = None, *, project: str | None = None,
                       filter: Mapping[str, Any] | None = None, sort: str = "name", limit: int = 50,
                       cursor: str | None = None) -> Page[ModelOverview]:
        """``search_models`` with what a table of models shows beside each: its production version, its best
        version's number, its latest number and its version count, read in one transaction."""
        where, order, project = self._model_search(query, filter, sort, limit, project)

        def run(tx: MetadataTx) -> Page[ModelOverview]:
            page = tx.search_models(project=project, where=where, sort=order, cursor=decode_cursor(cursor),
                                    limit=limit)
            ids = [m.id for m in page.items]
            production = tx.alias_targets(model_ids=ids, alias=PRODUCTION)
            counts = tx.version_counts(model_ids=ids)
            bests = self._best_numbers(tx, page.items)
            rows = []
            for m in page.items:
                best = bests.get(m.id)
                shown = production.get(m.id)
                if shown is not None:
                    shown = shown.model_copy(update={"is_best": shown.number == best})
                rows.append(ModelOverview(model=m, production=shown, best=best, latest=m.latest_number,
                                          versions=counts.get(m.id, 0)))
            return Page[ModelOverview].of(rows, next_cursor=page.next_cursor, total=page.total)

        return self.ctx.read(run)

    @operation("viewer", "searching models")
    def iter_models(self, query: str | None = None, **kwargs: Any) -> Iterator[Model]:
        """Every model matching, walking all pages."""
        return walk_pages(lambda cursor: self.search_models(query, cursor=cursor, **kwargs))



def _model_digests(tx: MetadataTx, model: Model) -> list[str]:
    digests: set[str] = set()
    cursor = None
    while True:
        page = tx.search_versions(model_id=model.id, project=None, where=None, sort=BY_NUMBER_DESC, cursor=cursor,
                                  limit=500)
        for v in page.items:
            digests.update(a.digest for a in v.artifacts)
        if not page.next_cursor:
            return sorted(digests)
        cursor = decode_cursor(page.next_cursor)
