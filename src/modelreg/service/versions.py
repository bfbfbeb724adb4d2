"""Versions: register (files, folders, metadata files), read, search, amend, pin, archive, delete."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, Unpack

from pydantic import BaseModel, ValidationError

from modelreg.blobs.base import Progress, check_digest
from modelreg.errors import (
    AlreadyExists,
    BlobNotFound,
    InvalidInput,
    InvalidMetadata,
    VersionInUse,
)
from modelreg.filters import decode_cursor, parse_sort, version_fields, walk_pages
from modelreg.metadata.base import MetadataTx, VersionDraft
from modelreg.refs import Ref, parse_ref, validate_artifact_path, validate_label
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
from modelreg.service.metadata_files import fields_from_folder
from modelreg.service.permissions import operation
from modelreg.service.projects import check_limit, check_tags, where_of
from modelreg.text import check_storable
from modelreg.types import (
    Artifact,
    ClassMetric,
    DatasetRef,
    Epoch,
    EventAction,
    Model,
    Page,
    Signature,
    SourceInfo,
    TrainingInfo,
    Version,
    VersionFields,
    check_metrics,
    class_metric_names,
    given_fields,
    over_folder_fields,
)

M = TypeVar("M", bound=BaseModel)
MAX_TEXT = 100_000
MAX_FIELD_BYTES = 1024 * 1024  # one metadata field (params, extra, class_metrics, …) as JSON


def validated(cls: type[M], value: Any, field: str) -> M | None:
    """Build a metadata type from a dict (or keep an instance); InvalidMetadata names the bad field."""
    if value is None or isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise InvalidMetadata(f"{field} must be an object, not {type(value).__name__}", field=field)
    try:
        return cls.model_validate(dict(value))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidMetadata(f"{field}.{where}: {first['msg']}", field=f"{field}.{where}") from exc


def check_class_metrics(items: Any) -> list[ClassMetric]:
    """Per-class rows, each stored under the canonical names; an unknown key is refused with the names."""
    if items is None:
        return []
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)):
        raise InvalidMetadata("class_metrics must be a list of objects", field="class_metrics")
    out = [_class_row(c, f"class_metrics[{i}]") for i, c in enumerate(items)]
    names = [c.class_name for c in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidMetadata(f"class_metrics name {', '.join(map(repr, twice))} more than once",
                              hint="one row per class", field="class_metrics")
    return out


def _class_row(row: Any, where: str) -> ClassMetric:
    if row is None:
        raise InvalidMetadata(f"{where} is null; it must be an object", field=where)
    try:
        metric = validated(ClassMetric, row, where)
    except InvalidMetadata as exc:
        if exc.message.startswith(where):  # pydantic's own errors already say where
            raise
        raise InvalidMetadata(f"{where}: {exc.message}", hint=exc.hint,
                              field=f"{where}.{exc.details.get('field', '')}".rstrip(".")) from exc
    assert metric is not None
    unknown = sorted(metric.model_extra or {})
    if unknown:
        raise InvalidMetadata(f"{where} has unknown key{'s' if len(unknown) > 1 else ''} "
                              f"{', '.join(map(repr, unknown))}",
                              hint=f"per-class rows take {class_metric_names()}; put other per-class numbers "
                                   'under metrics, e.g. "metrics": {"f1": 0.88}',
                              field=f"{where}.{unknown[0]}")
    return metric


def check_text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidMetadata(f"{field} must be text", field=field)
    if len(value) > MAX_TEXT:
        raise InvalidMetadata(f"{field} is {len(value)} characters; the limit is {MAX_TEXT}", field=field)
    check_storable(value, field)
    return value


def check_json(value: Any, field: str) -> dict[str, Any]:
    import json
    import math

    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidMetadata(f"{field} must be an object", field=field)

    def finite(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            raise InvalidMetadata(f"{field} holds {x}; NaN and infinite values are not stored", field=field)
        if isinstance(x, Mapping):
            return {str(k): finite(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [finite(v) for v in x]
        return x

    try:
        json.dumps(value, default=str)
    except (TypeError, ValueError) as exc:
        raise InvalidMetadata(f"{field} cannot be stored as JSON: {exc}", field=field) from exc
    return dict(json.loads(json.dumps(finite(value), default=str)))


def _changelog(value: Any, field: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(c, str) for c in value):
        raise InvalidMetadata("changelog must be a list of text entries", field=field)
    return list(value)


def _label(value: Any, field: str) -> str | None:
    return validate_label(value) if value != "" else None  # "" removes a version's label


def _model_of(cls: type[BaseModel]) -> Callable[[Any, str], Any]:
    return lambda value, field: validated(cls, value, field)


# How each stored field of ``VersionFields`` is checked and turned into its store value (``parent`` is a link
# the service resolves itself). A test keeps this table's keys equal to the declaration's.
FIELD_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "metrics": lambda value, field: check_metrics(value),
    "class_metrics": lambda value, field: check_class_metrics(value),
    "params": check_json, "extra": check_json,
    "dataset": _model_of(DatasetRef), "training": _model_of(TrainingInfo), "source": _model_of(SourceInfo),
    "signature": _model_of(Signature),
    "description": check_text, "notes": check_text, "limitations": check_text,
    "changelog": _changelog,
    "tags": lambda value, field: check_tags(value),
    "label": _label,
}


def metadata_changes(**fields: Any) -> dict[str, Any]:
    """Validate whatever metadata is given (None = not given) and return it as store values."""
    given = given_fields(fields)
    if "parent" in given:  # a link: register_version and update_version resolve it themselves
        raise InvalidInput("a run's parent cannot be set here", field="parent",
                           hint="give the parent when the run starts, or change it on the version afterwards")
    for key, value in given.items():
        if not isinstance(value, str):
            check_storable(value, key)  # before anything walks it recursively: too deep, or unstorable text
    out: dict[str, Any] = {key: FIELD_CHECKS[key](value, key) for key, value in given.items()}
    for key, value in out.items():  # every string inside, keys included: no lone surrogate, no NUL
        data = _jsonable({key: value})[key]
        check_storable(data, key)
        size = len(json.dumps(data, separators=(",", ":")))
        if size > MAX_FIELD_BYTES:
            raise InvalidMetadata(f"{key} is {size:,} bytes of JSON; the limit is {MAX_FIELD_BYTES:,}",
                                  hint="store large data as a file of the version instead", field=key)
    return out


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
                         **fields: Unpack[VersionFields]) -> Version:
        """Register a new ready version of ``model`` (``project/model``; both are created on first use).

        ``files``: a folder (every file in it; its metadata.json, metrics.json and YAML config are read
        unless ``read_metadata=False``), a list of paths, or {artifact path: path | bytes | stream}.
        Keywords override what the folder's metadata files say. Nothing is visible until every file
        is stored and verified and the version row is committed.

        ``artifacts`` (instead of ``files``): files already in the blob store, as {path, digest, size}
        (the server registers what a remote client uploaded). Every blob must be stored with that size,
        else BlobNotFound lists the ``missing`` digests and nothing changes.
        """
        ref = parse_ref(model)
        if ref.names_version:
            raise InvalidInput(f"register into a model, not a version: {model!r}", hint="e.g. fire-detector",
                               model=model)
        found: dict[str, Any] = {}
        if read_metadata and isinstance(files, (str, Path)) and Path(files).is_dir():
            found = fields_from_folder(Path(files))
        given = given_fields(fields)
        parent = given.pop("parent", None)
        changes = metadata_changes(**over_folder_fields(found, given))
        if artifacts is not None and files is not None:
            raise InvalidInput("pass files or artifacts, not both", field="artifacts")
        sources = collect_sources(files)
        now = self.ctx.now()
        history = epochs_of(epochs, now)
        stored = self._stored_artifacts(artifacts) if artifacts is not None else None  # after every other check
        self._ensure_model(ref)
        arts = stored if stored is not None else store_sources(self.ctx, sources, progress)

        def commit(arts: list[Artifact]) -> Version:
            def run(tx: MetadataTx) -> Version:
                mdl = self._model(tx, ref, lock=True)
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
                            after={"artifacts": [a.model_dump() for a in arts], **_jsonable(changes)})
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

    def _ensure_model(self, ref: Ref) -> Model:
        project = ref.project or DEFAULT_PROJECT
        self.ctx.check_project(project)

        def run(tx: MetadataTx) -> Model:
            model = tx.get_model(project=project, name=ref.model)
            if model is not None:
                return model
            proj = self._project_or_create(tx, project)
            try:
                model = tx.create_model(project_id=proj.id, name=ref.model, now=self.ctx.now())
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
        alias = "production"
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
        where = where_of(query, filter, version_fields)
        order = parse_sort(sort, version_fields, "-number" if model else "-created_at")
        check_limit(limit)
        decoded = decode_cursor(cursor)
        if model is None:
            project = project or self.ctx.project_scope

        def run(tx: MetadataTx) -> Page[Version]:
            model_id: int | None = None
            mdl: Model | None = None
            if model is not None:
                mdl = self._model(tx, model)
                model_id = mdl.id
            elif project is not None:
                self._project(tx, project)
            page = tx.search_versions(model_id=model_id, project=project, where=where, sort=order,
                                      cursor=decoded, limit=limit)
            best = self._best_number(tx, mdl) if mdl else None
            if mdl is not None:
                items = [v.model_copy(update={"is_best": v.number == best}) for v in page.items]
                return Page[Version](items=items, next_cursor=page.next_cursor, total=page.total)
            return page

        return self.ctx.read(run)

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
                other = f"{model.name}:<another version>"
                raise VersionInUse(
                    f"{version.ref} is {names}; a version an alias points to cannot be deleted",
                    hint=f"move the alias first (modelreg activate {other}, or modelreg alias rm "
                         f"{model.name} {version.aliases[0]})",
                    model=model.name, version=version.number, aliases=version.aliases)
            if version.pinned:
                raise VersionInUse(f"{version.ref} is pinned; a pinned version cannot be deleted",
                                   hint=f"unpin it first: modelreg unpin {model.name}:{version.number}",
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
                        hint="upload them (PUT /api/v1/blobs/<digest>), then register again", missing=digests)


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.model_dump(mode="json") if isinstance(v, BaseModel) else
                [x.model_dump(mode="json") if isinstance(x, BaseModel) else x for x in v] if isinstance(v, list)
                else v) for k, v in fields.items()}


__all__ = ["Source", "VersionsMixin"]
