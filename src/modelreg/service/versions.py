"""Versions: register (files, folders, metadata files), read, search, amend, pin, archive, delete."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, Unpack

from modelreg.blobs.base import Progress, check_digest
from modelreg.errors import (
    AlreadyExists,
    BlobNotFound,
    InvalidInput,
    InvalidMetadata,
    VersionInUse,
)
from modelreg.filters import decode_cursor, parse_sort, version_fields, walk_pages
from modelreg.local.fields import jsonable_fields, metadata_changes
from modelreg.local.metadata_files import metadata_to_register
from modelreg.metadata.base import MetadataTx, VersionDraft
from modelreg.refs import Ref, parse_ref, validate_artifact_path
from modelreg.registry import DEFAULT_PROJECT
from modelreg.service.base import ServiceBase, as_ref
from modelreg.service.blobs import (
    BlobsBusy,
    FilesArg,
    Source,
    check_file_total,
    check_version_paths,
    claim,
    collect_blobs,
    collect_sources,
    media_type,
    register_with_retry,
    store_sources,
)
from modelreg.service.manifests import Manifest, labels_to_set, project_of, read_manifest
from modelreg.service.permissions import operation, permission_of
from modelreg.service.projects import check_limit, where_of
from modelreg.steps import next_step
from modelreg.types import (
    PRODUCTION,
    Artifact,
    Epoch,
    EventAction,
    MetricPoint,
    Model,
    Page,
    PageJson,
    Task,
    Version,
    VersionFields,
    check_metrics,
    given_fields,
    over_folder_fields,
)

P = TypeVar("P")
MAX_TREND = 10_000  # versions in one metric_trend


@dataclass(frozen=True)
class CheckedSearch:
    """A search the service checked: the store's arguments, and the best version of the model searched."""

    scope: dict[str, Any]  # model_id, project, where, sort, cursor, limit
    best: tuple[int, int] | None  # (model id, number)


def epochs_of(items: Any, now: Any) -> list[Epoch]:
    out = []
    for i, item in enumerate(items or []):
        if isinstance(item, Epoch):
            out.append(item)
            continue
        if not isinstance(item, Mapping):
            raise InvalidMetadata(f"epochs[{i}] must be an object with 'epoch' and metrics", field="epochs")
        row = dict(item)
        epoch = row.pop("epoch", i + 1)
        stamp = row.pop("timestamp", None) or now
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise InvalidMetadata(f"epochs[{i}].epoch must be a whole number >= 0", field="epochs")
        out.append(Epoch(epoch=epoch, metrics=check_metrics(row, where=f"epochs[{i}]"), timestamp=stamp))
    return out


class VersionsMixin(ServiceBase):
    @operation("editor", "registering a version")
    def register_version(self, model: str, files: FilesArg = None, *,
                         epochs: Sequence[Mapping[str, Any]] | None = None, read_metadata: bool = True,
                         progress: Progress | None = None,
                         artifacts: Sequence[Artifact | Mapping[str, Any]] | None = None,
                         config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
                         update_labels: bool = False,
                         **fields: Unpack[VersionFields]) -> Version:
        """Register a new ready version of ``model`` (``project/model``; both are created on first use).

        ``files``: a folder (every file in it; its metadata.json, metrics.json and YAML config are read
        unless ``read_metadata=False``), a list of paths, or {artifact path: path | bytes | stream}.
        Keywords override what the folder's metadata files say. Nothing is visible until every file
        is stored and verified and the version row is committed.

        ``artifacts`` (instead of ``files``): files already in the blob store, as {path, digest, size}
        (the server registers what a remote client uploaded). Every blob must be stored with that size,
        else BlobNotFound lists the ``missing`` digests and nothing changes.

        ``config``: an experiment manifest (a YAML file's path, or its content) instead of the folder's own
        YAML config. A manifest is kept in ``params``; its ``project`` is the project when ``model`` names
        none (another one is refused) and its ``labels`` must be the project's label set: a project without
        one takes them, a difference is refused unless ``update_labels=True`` makes them the project's.
        """
        ref = parse_ref(model)
        if ref.names_version:
            raise InvalidInput(f"register into a model, not a version: {model!r}", hint="e.g. fire-detector",
                               model=model)
        found, content = metadata_to_register(files, read_metadata=read_metadata, config=config)
        given = given_fields(fields)
        parent = given.pop("parent", None)
        merged = over_folder_fields(found, given)
        manifest: Manifest | None = None
        if content is not None:
            manifest = read_manifest(content, (merged.get("extra") or {}).get("config_file"))
            ref = project_of(ref, manifest)
            merged["params"] = {**content, **(merged.get("params") or {})}
        changes = metadata_changes(**merged)
        if artifacts is not None and files is not None:
            raise InvalidInput("pass files or artifacts, not both", field="artifacts")
        sources = collect_sources(files)
        now = self.ctx.now()
        history = epochs_of(epochs, now)
        if manifest is not None or changes.get("label") is not None:  # refused before anything is stored
            self.ctx.check_project(ref.project or DEFAULT_PROJECT)
            self.ctx.read(lambda tx: self._check_before_storing(tx, ref, manifest, update_labels, changes.get("label")))
        stored = self._stored_artifacts(artifacts) if artifacts is not None else None  # after every other check
        from modelreg.local.checkpoint_facts import task_of  # registration only: reads never load it

        self._ensure_model(ref, task=task_of(merged))
        arts = stored if stored is not None else store_sources(self.ctx, sources, progress)

        def commit(arts: list[Artifact]) -> Version:
            def run(tx: MetadataTx) -> Version:
                mdl = self._model(tx, ref, lock=True)
                if manifest is not None:
                    self._manifest_labels(tx, ref, manifest, update_labels, apply=True)
                parent_id = self._parent_id(tx, parent)
                claim(self.ctx, tx, arts)
                number = tx.allocate_number(model_id=mdl.id)
                version = tx.insert_version(draft=VersionDraft(
                    model_id=mdl.id, number=number, status="ready", created_at=now,
                    created_by=self.ctx.actor, parent_id=parent_id, **changes))
                tx.add_artifacts(version_id=version.id, artifacts=arts)
                if history:
                    tx.add_epochs(version_id=version.id, epochs=history)
                self._event(tx, "version.registered", model=mdl, version=number,
                            after={"artifacts": [a.model_dump() for a in arts], **jsonable_fields(changes)})
                self._auto_activate(tx, mdl, number)
                return self._reload(tx, mdl, number)

            return self.ctx.write(run)

        if stored is not None:
            try:
                return commit(stored)
            except BlobsBusy as busy:  # a gc took them between the check and the commit: send them again
                raise _missing(busy.digests) from None
        result: Version = register_with_retry(self.ctx, sources, arts, commit)
        return result

    def _check_before_storing(self, tx: MetadataTx, ref: Ref, manifest: Manifest | None, update_labels: bool,
                              label: str | None) -> None:
        """What would refuse the commit, checked before the files are stored (the commit checks both again):
        the manifest's labels against the project's, and a label another version has."""
        if manifest is not None:
            self._manifest_labels(tx, ref, manifest, update_labels, apply=False)
        if label is None:
            return
        model = tx.get_model(project=ref.project or DEFAULT_PROJECT, name=ref.model)
        other = tx.get_version_by_label(model_id=model.id, label=label) if model is not None else None
        if model is not None and other is not None:
            raise AlreadyExists(f"v{other.number} of {model.project}/{model.name} already has the label {label!r}",
                                hint="give this version another label, or an empty one for none (a folder's "
                                     "metadata.json 'version' is its label when it is a valid one)",
                                label=label, version=other.number)

    def _manifest_labels(self, tx: MetadataTx, ref: Ref, manifest: Manifest, update: bool, *, apply: bool) -> None:
        """Check a manifest's labels against its project's label set; with ``apply``, set what they decide."""
        name = ref.project or DEFAULT_PROJECT
        self.ctx.check_project(name)
        project = tx.get_project(name=name)
        labels = labels_to_set(project.labels if project is not None else [], manifest, project=name, update=update)
        if labels is None or not apply or project is None:
            return
        updated = tx.update_project(project_id=project.id, description=None, labels=labels)
        self._event(tx, "project.updated", project=name,
                    before={"labels": project.labels, "description": project.description},
                    after={"labels": updated.labels, "description": updated.description,
                           "reason": f"labels of {manifest.source}"})

    def _stored_artifacts(self, artifacts: Sequence[Artifact | Mapping[str, Any]]) -> list[Artifact]:
        """Check artifacts said to be in the blob store already: paths, digests, sizes, and that they are there."""
        check_file_total(len(artifacts))
        out: list[Artifact] = []
        for item in artifacts:
            raw = item.model_dump() if isinstance(item, Artifact) else dict(item)
            path = validate_artifact_path(raw.get("path"))
            size = raw.get("size")
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise InvalidInput(f"artifact {path!r}: size {size!r} must be a whole number >= 0", path=path)
            out.append(Artifact(path=path, digest=check_digest(raw.get("digest", "")), size=size,
                                media_type=media_type(path)))
        check_version_paths([a.path for a in out])
        visible = self._visible_blobs(a.digest for a in out)
        stored = {d: self.ctx.blobs.size(d) for d in visible}
        missing = sorted({a.digest for a in out if stored.get(a.digest) != a.size})
        if missing:
            raise _missing(missing)
        return sorted(out, key=lambda a: a.path)

    def _ensure_model(self, ref: Ref, *, task: Task | None = None) -> Model:
        """The model ``ref`` names, created on first use; ``task`` (what the files say the model does) is set
        on a model created now or still of task ``other``."""
        project = ref.project or DEFAULT_PROJECT
        self.ctx.check_project(project)

        def run(tx: MetadataTx) -> Model:
            model = tx.get_model(project=project, name=ref.model)
            if model is not None:
                if task is None or model.task != "other":
                    return model
                updated = tx.update_model(model_id=model.id, changes={"task": task}, now=self.ctx.now())
                self._event(tx, "model.updated", model=updated, before={"task": model.task}, after={"task": task})
                return updated
            proj = self._project_or_create(tx, project)
            try:
                model = tx.create_model(project_id=proj.id, name=ref.model, task=task or "other",
                                        now=self.ctx.now())
            except AlreadyExists:  # a concurrent first registration created it a moment ago
                found = tx.get_model(project=project, name=ref.model)
                if found is None:
                    raise
                return found
            self._event(tx, "model.created", model=model, after=model.model_dump(mode="json"))
            return model

        return self.ctx.write(run)

    def _parent_id(self, tx: MetadataTx, parent: str | None) -> int | None:
        if parent is None:
            return None
        r = as_ref(parent)
        if not r.names_version:
            raise InvalidInput(f"parent {parent!r} must name a version, e.g. {r}:3", field="parent")
        return self._version(tx, r)[1].id

    def _auto_activate(self, tx: MetadataTx, model: Model, number: int) -> None:
        """The first ready version becomes production when the model's policy says so (``auto_activate_first``)."""
        if not model.policies.auto_activate_first:
            return
        alias = PRODUCTION
        if tx.get_alias(model_id=model.id, alias=alias) is not None or tx.alias_moves(model_id=model.id,
                                                                                      alias=alias):
            return
        version = tx.get_version(model_id=model.id, number=number)
        assert version is not None
        tx.set_alias(model_id=model.id, alias=alias, version_id=version.id, now=self.ctx.now())
        tx.record_alias_move(model_id=model.id, alias=alias, from_number=None, to_number=number, kind="set",
                             actor=self.ctx.actor, now=self.ctx.now())
        self._event(tx, "alias.set", model=model, version=number, alias=alias,
                    before=None, after={"version": number, "reason": "auto_activate_first"})

    def _reload(self, tx: MetadataTx, model: Model, number: int) -> Version:
        version = tx.get_version(model_id=model.id, number=number)
        assert version is not None
        return self._decorate(tx, model, version)

    # ---- reading
    @operation("viewer", "listing versions")
    def list_versions(self, model: str, *, limit: int = 50, cursor: str | None = None,
                      include_archived: bool = True) -> Page[Version]:
        """A model's versions, newest first."""
        query = None if include_archived else "not archived"
        return self.search_versions(query, model=model, limit=limit, cursor=cursor)

    @operation("viewer", "searching versions")
    def search_versions(self, query: str | None = None, *, model: str | None = None, project: str | None = None,
                        filter: Mapping[str, Any] | None = None, sort: str | None = None, limit: int = 50,
                        cursor: str | None = None) -> Page[Version]:
        """Versions matching a filter expression (``metrics.map50 >= 0.8 and not pinned``), keyset paged.

        ``sort`` is a field, ``-`` for descending (``-metrics.map50``); default newest first.
        """
        def page(tx: MetadataTx, search: CheckedSearch) -> Page[Version]:
            found = tx.search_versions(**search.scope)
            if search.best is None:
                return found
            items = [v.model_copy(update={"is_best": True}) if v.number == search.best[1] else v
                     for v in found.items]
            return Page[Version].of(items, next_cursor=found.next_cursor, total=found.total)

        return self._search(query, model=model, project=project, filter=filter, sort=sort, limit=limit,
                            cursor=cursor, page=page)

    def _search(self, query: str | None, *, model: str | None, project: str | None,
                filter: Mapping[str, Any] | None, sort: str | None, limit: int, cursor: str | None,
                page: Callable[[MetadataTx, CheckedSearch], P]) -> P:
        where = where_of(query, filter, version_fields)
        order = parse_sort(sort, version_fields, "-number" if model else "-created_at")
        check_limit(limit)
        decoded = decode_cursor(cursor)
        if model is None:
            project = project or self.ctx.project_scope

        def run(tx: MetadataTx) -> P:
            model_id: int | None = None
            best: tuple[int, int] | None = None
            if model is not None:
                mdl = self._model(tx, model)
                model_id = mdl.id
                number = self._best_number(tx, mdl)
                best = None if number is None else (mdl.id, number)
            elif project is not None:
                self._project(tx, project)
            scope = {"model_id": model_id, "project": project, "where": where, "sort": order, "cursor": decoded,
                     "limit": limit}
            return page(tx, CheckedSearch(scope, best))

        return self.ctx.read(run)

    @operation("viewer", "reading a metric across versions")
    def metric_trend(self, model: str, metric: str, *, limit: int = 1000,
                     include_archived: bool = True) -> list[MetricPoint]:
        """A metric across the model's versions: the newest ``limit`` versions that have it, oldest first (up to
        10,000; a chart of a model's progress)."""
        check_metrics({metric: 0.0}, where="metric")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_TREND:
            raise InvalidInput(f"limit {limit!r} must be between 1 and {MAX_TREND}", field="limit")
        where = where_of(None if include_archived else "not archived", None, version_fields)
        return self.ctx.read(lambda tx: tx.metric_trend(model_id=self._model(tx, model).id, metric=metric,
                                                        limit=limit, where=where))

    @operation("viewer", "searching versions")
    def iter_versions(self, query: str | None = None, **kwargs: Any) -> Iterator[Version]:
        """Every version matching, walking all pages."""
        return walk_pages(lambda cursor: self.search_versions(query, cursor=cursor, **kwargs))

    # ---- amending
    @operation("editor", "changing a version")
    def update_version(self, ref: str, **fields: Unpack[VersionFields]) -> Version:
        """Amend a version's metadata (files never change). ``metrics`` and ``tags`` merge (a None tag
        value removes it); the other fields replace. Each call is one event with before and after."""
        given = given_fields(fields)
        parent = given.pop("parent", None)
        tags = given.pop("tags", None)
        raw_tags = dict(tags) if tags is not None else None
        changes = metadata_changes(**given,
                                   tags={k: v for k, v in raw_tags.items() if v is not None} if raw_tags else None)

        def run(tx: MetadataTx) -> Version:
            model, version = self._version(tx, as_ref(ref), lock_model=True)
            if "metrics" in changes:
                changes["metrics"] = {**version.metrics, **changes["metrics"]}
            if raw_tags is not None:
                merged = dict(version.tags)
                for key, value in raw_tags.items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = str(value)
                changes["tags"] = merged
            if parent is not None:
                parent_id = self._parent_id(tx, parent)
                if parent_id == version.id or self._is_descendant(tx, parent_id, version.id):
                    raise InvalidInput(f"{parent} cannot be the parent of {version.ref}: that makes a cycle",
                                       field="parent")
                changes["parent_id"] = parent_id
            before = version.model_dump(mode="json")
            updated = tx.update_version(version_id=version.id, changes=changes, now=self.ctx.now())
            after = updated.model_dump(mode="json")
            diff_keys = [k for k in after if before.get(k) != after[k] and k != "updated_at"]
            if diff_keys:
                self._event(tx, "version.updated", model=model, version=version.number,
                            before={k: before.get(k) for k in diff_keys}, after={k: after[k] for k in diff_keys})
            return self._decorate(tx, model, updated)

        return self.ctx.write(run)

    def _is_descendant(self, tx: MetadataTx, candidate_id: int | None, root_id: int) -> bool:
        seen: set[int] = set()
        current = candidate_id
        while current is not None and current not in seen:
            if current == root_id:
                return True
            seen.add(current)
            version = tx.get_version_by_id(version_id=current)
            if version is None or version.parent is None:
                return False
            pm = tx.get_model(project=version.parent.project, name=version.parent.model)
            pv = tx.get_version(model_id=pm.id, number=version.parent.number) if pm else None
            current = pv.id if pv else None
        return False

    def _set_flag(self, ref: str, flag: str, value: bool, action: EventAction) -> Version:

        def run(tx: MetadataTx) -> Version:
            model, version = self._version(tx, as_ref(ref), lock_model=True)
            if getattr(version, flag) == value:
                return version
            if flag == "archived" and value and version.aliases:
                raise VersionInUse(f"{version.ref} is {', '.join(version.aliases)}; it cannot be archived",
                                   hint="move the alias to another version first", aliases=version.aliases)
            updated = tx.update_version(version_id=version.id, changes={flag: value}, now=self.ctx.now())
            self._event(tx, action, model=model, version=version.number, before={flag: not value},
                        after={flag: value})
            return self._decorate(tx, model, updated)

        return self.ctx.write(run)

    @operation("editor", "pinning a version")
    def pin(self, ref: str) -> Version:
        """Pin a version: it cannot be deleted while pinned."""
        return self._set_flag(ref, "pinned", True, "version.pinned")

    @operation("editor", "unpinning a version")
    def unpin(self, ref: str) -> Version:
        return self._set_flag(ref, "pinned", False, "version.unpinned")

    @operation("editor", "archiving a version")
    def archive(self, ref: str) -> Version:
        """Archive a version: hidden from default listings, kept, still resolvable."""
        return self._set_flag(ref, "archived", True, "version.archived")

    @operation("editor", "unarchiving a version")
    def unarchive(self, ref: str) -> Version:
        return self._set_flag(ref, "archived", False, "version.unarchived")

    @operation("editor", "marking the best version")
    def mark_best(self, ref: str) -> Version:
        """Mark a version best, overriding the model's best_metric policy."""

        def run(tx: MetadataTx) -> Version:
            model, version = self._version(tx, as_ref(ref), lock_model=True)
            if version.status != "ready":
                raise InvalidInput(f"{version.ref} is {version.status}; only a ready version can be best")
            tx.update_model(model_id=model.id, changes={"marked_best": version.number}, now=self.ctx.now())
            self._event(tx, "version.marked_best", model=model, version=version.number,
                        before={"marked_best": model.marked_best}, after={"marked_best": version.number})
            return version.model_copy(update={"is_best": True})

        return self.ctx.write(run)

    @operation("viewer", "reading a version")
    def best_version(self, model: str) -> Version:
        """The version marked best, or the best by the model's best_metric policy."""
        r = as_ref(model)
        return self.get_version(Ref(model=r.model, project=r.project, selector="best"))

    # ---- deleting
    @operation("maintainer", "deleting a version")
    def delete_version(self, ref: str) -> None:
        """Delete a version and every blob nothing else references.

        Refused while an alias points to it or it is pinned; the error says which and what to do.
        """
        r = as_ref(ref)
        if not r.number:
            raise InvalidInput(f"delete needs an explicit version number, e.g. {r.model}:3",
                               hint="aliases and selectors move; a number does not", ref=str(ref))

        def run(tx: MetadataTx) -> list[str]:
            model, version = self._version(tx, r, lock_model=True)
            if version.aliases:
                names = ", ".join(version.aliases)
                raise VersionInUse(
                    f"{version.ref} is {names}; a version an alias points to cannot be deleted",
                    step=next_step("move_or_delete_alias", model=model.name, alias=version.aliases[0]),
                    model=model.name, version=version.number, aliases=version.aliases)
            if version.pinned:
                raise VersionInUse(f"{version.ref} is pinned; a pinned version cannot be deleted",
                                   step=next_step("unpin", ref=f"{model.name}:{version.number}"),
                                   model=model.name, version=version.number, pinned=True)
            if model.marked_best == version.number:
                tx.update_model(model_id=model.id, changes={"marked_best": None}, now=self.ctx.now())
            digests = tx.delete_version(version_id=version.id)
            self._event(tx, "version.deleted", model=model, version=version.number,
                        before=version.model_dump(mode="json", include={"number", "status", "artifacts",
                                                                        "metrics", "created_at"}))
            return digests

        collect_blobs(self.ctx, self.ctx.write(run))


def _missing(digests: list[str]) -> BlobNotFound:
    return BlobNotFound(f"{len(digests)} file(s) of the version are not in the blob store",
                        step=next_step("upload_blobs"), missing=digests)


__all__ = ["Source", "VersionsMixin"]


def search_versions_json(service: VersionsMixin, query: str | None = None, *, model: str | None = None,
                         project: str | None = None, filter: Mapping[str, Any] | None = None, sort: str | None = None,
                         limit: int = 50, cursor: str | None = None) -> PageJson:
    """``service.search_versions``'s page as the JSON its REST reply sends, written by the store without making
    ``Version`` objects (a listing of thousands of versions); the same rules, the same permission."""
    permission = permission_of(VersionsMixin.search_versions)
    assert permission is not None
    service.ctx.allow(permission)
    return service._search(query, model=model, project=project, filter=filter, sort=sort, limit=limit,
                           cursor=cursor, page=lambda tx, search: tx.search_versions_json(**search.scope,
                                                                                          best=search.best))


def list_versions_json(service: VersionsMixin, model: str, *, limit: int = 50, cursor: str | None = None,
                       include_archived: bool = True) -> PageJson:
    """``service.list_versions``'s page as JSON (see ``search_versions_json``)."""
    return search_versions_json(service, None if include_archived else "not archived", model=model, limit=limit,
                                cursor=cursor)
