"""Lookups every part of the service needs: references to models and versions, best version."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from modelreg.errors import (
    AliasNotFound,
    AlreadyExists,
    InvalidReference,
    ModelNotFound,
    ProjectNotFound,
    VersionNotFound,
)
from modelreg.filters import Compare, Field, Sort
from modelreg.metadata.base import MetadataTx
from modelreg.refs import MAX_VERSION, Ref, parse_ref, validate_name, version_number
from modelreg.registry import DEFAULT_PROJECT
from modelreg.service.context import Context
from modelreg.service.permissions import operation
from modelreg.steps import next_step
from modelreg.types import EventAction, Model, Project, Version

READY = Compare(Field("column", "status", "status"), "=", "ready")
NOT_ARCHIVED = Compare(Field("column", "archived", "bool"), "=", False)
BY_NUMBER_DESC = Sort(Field("column", "number", "num"), descending=True)


def as_ref(ref: str | Ref) -> Ref:
    return ref if isinstance(ref, Ref) else parse_ref(ref)


class ServiceBase:
    """Shared state and lookups; the concern mixins build on it."""

    ctx: Context

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # ---- projects and models
    def _project(self, tx: MetadataTx, name: str | None) -> Project:
        name = validate_name(name or DEFAULT_PROJECT, kind="project name")
        self.ctx.check_project(name)
        project = tx.get_project(name=name)
        if project is None:
            raise ProjectNotFound(f"project {name!r} does not exist",
                                  step=next_step("create_project", project=name), project=name)
        return project

    def _project_or_create(self, tx: MetadataTx, name: str) -> Project:
        """The project, created (with its event) on first use; safe when two writers race to create it."""
        project = tx.get_project(name=name)
        if project is not None:
            return project
        try:
            project = tx.create_project(name=name, now=self.ctx.now())
        except AlreadyExists:  # committed by a concurrent writer meanwhile (PostgreSQL read committed)
            found = tx.get_project(name=name)
            if found is None:
                raise
            return found
        self._event(tx, "project.created", project=name, after={"labels": []})
        return project

    def _model(self, tx: MetadataTx, ref: str | Ref, *, lock: bool = False) -> Model:
        r = as_ref(ref)
        project = r.project or DEFAULT_PROJECT
        self.ctx.check_project(project)
        model = tx.get_model(project=project, name=r.model, lock=lock)
        if model is None:
            if r.project is not None and tx.get_project(name=project) is None:
                raise ProjectNotFound(f"project {project!r} does not exist",
                                      step=next_step("list_projects"), project=project)
            raise ModelNotFound(f"model {r.model!r} does not exist in project {project!r}",
                                step=next_step("list_models", project=project), project=project,
                                model=r.model)
        return model

    # ---- versions
    def _version_selector(self, r: Ref) -> Ref:
        """A reference that names no version gets the MODEL_ENVIRONMENT alias (or selector) of the settings."""
        if r.names_version:
            return r
        env = self.ctx.settings.model_environment.strip() or "production"
        if env in ("latest", "best"):
            return Ref(model=r.model, project=r.project, selector=env)  # type: ignore[arg-type]
        shown = env if len(env) <= 40 else env[:40] + "…"
        try:
            number = version_number(env)
        except InvalidReference as exc:
            raise InvalidReference(f"MODEL_ENVIRONMENT={shown!r} names a version number out of range",
                                   hint=f"set it to an alias such as production or staging, or to a version "
                                        f"from v1 to v{MAX_VERSION}", environment=shown) from exc
        if number is not None:
            return Ref(model=r.model, project=r.project, number=number)
        try:
            return Ref(model=r.model, project=r.project, alias=validate_name(env, kind="alias"))
        except Exception as exc:
            raise InvalidReference(f"MODEL_ENVIRONMENT={env!r} is neither an alias, a version label nor a version",
                                   hint="set it to an alias such as production or staging, a version label, "
                                        "or to v3") from exc

    def _version(self, tx: MetadataTx, ref: str | Ref, *, lock_model: bool = False) -> tuple[Model, Version]:
        given = as_ref(ref)
        r = self._version_selector(given)
        model = self._model(tx, r, lock=lock_model)
        if r.alias is not None and not given.names_version and tx.get_alias(model_id=model.id, alias=r.alias) is None:
            labelled = tx.get_version_by_label(model_id=model.id, label=r.alias)  # MODEL_ENVIRONMENT=v4_no_leakage
            if labelled is not None:
                return model, self._decorate(tx, model, labelled)
        version: Version | None
        if r.number is not None:
            version = tx.get_version(model_id=model.id, number=r.number)
            if version is None:
                raise VersionNotFound(
                    f"{model.project}/{model.name} has no version v{r.number}",
                    step=next_step("list_versions", model=model.name, lead=f"its newest is v{model.latest_number}")
                    if model.latest_number else next_step("register_version", model=model.name,
                                                          lead="it has no versions yet"),
                    project=model.project, model=model.name, version=r.number)
        elif r.alias is not None:
            info = tx.get_alias(model_id=model.id, alias=r.alias)
            if info is None:
                names = [a.alias for a in tx.list_aliases(model_id=model.id)]
                raise AliasNotFound(
                    f"{model.project}/{model.name} has no alias {r.alias!r}",
                    hint=("its aliases: " + ", ".join(names)) if names else
                    None, step=None if names else next_step("set_alias", model=model.name, alias=r.alias),
                    project=model.project, model=model.name, alias=r.alias)
            version = tx.get_version(model_id=model.id, number=info.number)
        elif r.label is not None:
            version = tx.get_version_by_label(model_id=model.id, label=r.label)
            if version is None:
                raise VersionNotFound(f"{model.project}/{model.name} has no version labelled {r.label!r}",
                                      step=next_step("list_versions", model=model.name),
                                      project=model.project, model=model.name, label=r.label)
        elif r.selector == "best":
            version = self._best(tx, model)
            if version is None:
                raise VersionNotFound(f"{model.project}/{model.name} has no best version",
                                      step=next_step("set_best_metric", model=model.name),
                                      project=model.project, model=model.name)
        else:
            version = tx.first_version(model_id=model.id, where=READY, sort=BY_NUMBER_DESC)
            if version is None:
                raise VersionNotFound(f"{model.project}/{model.name} has no ready version",
                                      step=next_step("register_version", model=model.name),
                                      project=model.project,
                                      model=model.name)
        assert version is not None
        return model, self._decorate(tx, model, version)

    @operation("viewer", "reading a version")
    def get_version(self, ref: str | Ref) -> Version:
        """The version a reference names (a bare model name means its MODEL_ENVIRONMENT alias)."""
        return self.ctx.read(lambda tx: self._version(tx, ref)[1])

    def _best(self, tx: MetadataTx, model: Model) -> Version | None:
        if model.marked_best is not None:
            marked = tx.get_version(model_id=model.id, number=model.marked_best)
            if marked is not None:
                return marked
        metric = model.policies.best_metric
        if not metric:
            return None
        return tx.best_version(model_id=model.id, metric=metric, descending=model.policies.best_mode == "max")

    def _best_numbers(self, tx: MetadataTx, page: Sequence[Model]) -> dict[int, int]:
        """The number ``_best`` would load the version of, for each model of ``page`` that has one (model id ->
        number): the numbers alone, read at once."""
        out = {m.id: m.marked_best for m in page
               if m.marked_best is not None and tx.get_version(model_id=m.id, number=m.marked_best) is not None}
        out.update(tx.best_numbers(by_metric={
            m.id: (m.policies.best_metric, m.policies.best_mode == "max") for m in page
            if m.id not in out and m.policies.best_metric}))
        return out

    def _best_number(self, tx: MetadataTx, model: Model) -> int | None:
        return self._best_numbers(tx, [model]).get(model.id)

    def _decorate(self, tx: MetadataTx, model: Model, version: Version,
                  best_number: int | bool | None = False) -> Version:
        """Fill the computed ``is_best`` flag (pass ``best_number`` when already known)."""
        best = self._best_number(tx, model) if best_number is False else best_number
        return version.model_copy(update={"is_best": best == version.number})

    def _visible_blobs(self, digests: Iterable[str]) -> set[str]:
        """The digests among ``digests`` the principal may read or register by digest: all of them, unless
        it is limited to a project; then those the project holds (artifacts, export files) or uploaded."""
        wanted = set(digests)
        scope = self.ctx.project_scope
        if scope is None or not wanted:
            return wanted
        return self.ctx.read(lambda tx: {d for d in wanted if tx.blob_in_project(digest=d, project=scope)})

    def _event(self, tx: MetadataTx, action: EventAction, *, model: Model | None = None, project: str | None = None,
               version: int | None = None, alias: str | None = None, before: Any = None,
               after: Any = None) -> None:
        tx.append_event(actor=self.ctx.actor, action=action, now=self.ctx.now(),
                        project=model.project if model else project, model=model.name if model else None,
                        version=version, alias=alias, before=before, after=after)
