"""The in-package fake metadata store: the whole interface over plain dicts, for tests and experiments.

It follows the same rules as the SQL store so that one contract test suite covers both:

* One ``threading.RLock``: a write transaction holds it from start to end, a read transaction too (a
  consistent snapshot). Rows are immutable; every change goes through an undo log, so an exception
  inside ``transaction()`` rolls back exactly what the transaction did, without copying the state.
* JSON-ish fields are stored as JSON text and parsed on every read, as a database would: callers get
  fresh objects and the same JSON round-trip (tuples become lists, NaN is refused).
* Search evaluates the filter with ``modelreg.filters.evaluate``; sorting and keyset cursors follow
  the SQL store exactly: sort value then id (same direction), rows lacking the value last.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal, Protocol, TypeVar

from modelreg.errors import (
    AlreadyExists,
    InvalidFilter,
    InvalidInput,
    InvalidState,
    ModelNotFound,
    NotFound,
    ProjectNotFound,
    VersionInUse,
    VersionNotFound,
)
from modelreg.filters import And, Compare, Field, Node, Not, Or, Sort, encode_cursor, eval_key, evaluate
from modelreg.metadata.base import (
    MODEL_UPDATABLE,
    VERSION_DOCUMENT_FIELDS,
    VERSION_PAIR_FIELDS,
    VERSION_SCALAR_FIELDS,
    VERSION_UPDATABLE,
    BlobState,
    MetadataStore,
    MetadataTx,
    VersionDraft,
    check_job_limit,
    job_changes,
)
from modelreg.metadata.memory_inferences import InferenceRow, InferencesMemory
from modelreg.metadata.values import check_cursor, cursor_value, dump_json, epoch_stride, parse_time_value
from modelreg.types import (
    AliasInfo,
    AliasMove,
    Artifact,
    Epoch,
    Evaluation,
    Event,
    Export,
    InferenceRetention,
    Job,
    Model,
    Page,
    Policies,
    Project,
    Task,
    TokenInfo,
    Version,
    VersionKey,
)

K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R", bound="_HasId")
_MISSING: Any = object()

def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _time_text(value: datetime) -> str:
    """A fixed-width UTC text whose string order is time order."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _normalize_times(node: Node | None) -> Node | None:
    """Rewrite time values in the filter to ``_time_text`` so plain string comparison is time comparison."""

    def norm(n: Node) -> Node:
        if isinstance(n, And):
            return And(tuple(norm(i) for i in n.items))
        if isinstance(n, Or):
            return Or(tuple(norm(i) for i in n.items))
        if isinstance(n, Not):
            return Not(norm(n.item))
        if n.field.type == "time" and n.op != "contains":
            return Compare(n.field, n.op, _time_text(parse_time_value(n.value)))
        return n

    return None if node is None else norm(node)


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"limit is {limit!r}; it must be a positive integer", field="limit")


# ---------------------------------------------------------------- undo log


class _Undo:
    """Records the inverse of every change; ``rollback`` replays them newest first."""

    def __init__(self) -> None:
        self._ops: list[Callable[[], None]] = []

    def put(self, table: dict[K, V], key: K, value: V) -> None:
        old = table.get(key, _MISSING)
        table[key] = value
        self._ops.append(lambda: self._restore(table, key, old))

    def pop(self, table: dict[K, V], key: K) -> V | None:
        old = table.pop(key, _MISSING)
        if old is _MISSING:
            return None
        self._ops.append(lambda: table.__setitem__(key, old))
        return old  # type: ignore[no-any-return]

    def add(self, items: set[K], item: K) -> None:
        if item not in items:
            items.add(item)
            self._ops.append(lambda: items.discard(item))

    def discard(self, items: set[K], item: K) -> None:
        if item in items:
            items.remove(item)
            self._ops.append(lambda: items.add(item))

    @staticmethod
    def _restore(table: dict[K, V], key: K, old: Any) -> None:
        if old is _MISSING:
            table.pop(key, None)
        else:
            table[key] = old

    def rollback(self) -> None:
        while self._ops:
            self._ops.pop()()


# ---------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class _ProjectRow:
    id: int
    name: str
    description: str
    labels: tuple[str, ...]
    created_at: datetime
    inference_retention: str | None = None  # JSON text


@dataclass(frozen=True, slots=True)
class _ModelRow:
    id: int
    project_id: int
    name: str
    description: str
    task: Task
    baseline: str | None
    tags: Mapping[str, str]
    pinned: bool
    policies: str  # JSON text
    marked_best: int | None
    latest_number: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class _VersionRow:
    id: int
    model_id: int
    number: int
    updated_at: datetime
    parent_id: int | None
    scalars: Mapping[str, Any]  # the fields in VERSION_SCALAR_FIELDS, by name
    tags: Mapping[str, str]
    metrics: Mapping[str, float]
    docs: Mapping[str, str | None]  # JSON text of the fields in VERSION_DOCUMENT_FIELDS

    def value(self, name: str) -> Any:
        """A field by name, whichever way it is kept."""
        return self.scalars[name] if name in self.scalars else getattr(self, name)


@dataclass(frozen=True, slots=True)
class _AliasRow:
    version_id: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class _ExportRow:
    id: int
    version_id: int
    format: str
    key: str
    record: str  # JSON text
    files: tuple[Artifact, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class _JobRow:
    id: int
    version_id: int
    kind: str
    format: str
    options: str  # JSON text
    trusted: bool
    force: bool
    source: str | None
    entry_point: str | None
    status: str
    progress: str
    export_id: int | None
    error: str | None  # JSON text
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    runner: str | None
    heartbeat_at: datetime | None


@dataclass(frozen=True, slots=True)
class _Blob:
    size: int
    state: BlobState


@dataclass
class _Data:
    next_id: dict[str, int] = field(default_factory=dict)
    projects: dict[int, _ProjectRow] = field(default_factory=dict)
    project_ids: dict[str, int] = field(default_factory=dict)
    models: dict[int, _ModelRow] = field(default_factory=dict)
    model_ids: dict[tuple[int, str], int] = field(default_factory=dict)
    versions: dict[int, _VersionRow] = field(default_factory=dict)
    version_ids: dict[tuple[int, int], int] = field(default_factory=dict)
    versions_of: dict[int, set[int]] = field(default_factory=dict)  # model id -> version ids
    artifacts: dict[int, tuple[Artifact, ...]] = field(default_factory=dict)  # version id -> artifacts
    refcount: dict[str, int] = field(default_factory=dict)  # digest -> artifacts and export files holding it
    exports: dict[int, _ExportRow] = field(default_factory=dict)
    jobs: dict[int, _JobRow] = field(default_factory=dict)
    blobs: dict[str, _Blob] = field(default_factory=dict)
    aliases: dict[tuple[int, str], _AliasRow] = field(default_factory=dict)
    moves: dict[int, tuple[int, AliasMove]] = field(default_factory=dict)  # id -> (model id, move)
    epochs: dict[int, Mapping[int, Epoch]] = field(default_factory=dict)
    evaluations: dict[int, Mapping[str, str]] = field(default_factory=dict)  # version id -> dataset -> JSON
    events: dict[int, Event] = field(default_factory=dict)
    tokens: dict[str, tuple[TokenInfo, str]] = field(default_factory=dict)  # name -> (token, secret hash)
    grants: set[tuple[str, str]] = field(default_factory=set)  # (digest, project) uploads
    inferences: dict[int, InferenceRow] = field(default_factory=dict)  # seq -> record and its feedback
    inference_seqs: dict[str, int] = field(default_factory=dict)  # request id -> seq


# ---------------------------------------------------------------- the store


class MemoryMetadataStore(MetadataStore):
    """Thread-safe fake: one lock, held by each transaction for its whole duration."""

    def __init__(self) -> None:
        self.url = "memory://"
        self._lock = threading.RLock()
        self._data = _Data()
        self._commits = 0

    @contextmanager
    def transaction(self) -> Iterator[MetadataTx]:
        with self._lock:
            tx = _MemoryTx(self._data, _Undo(), write=True)
            try:
                yield tx
            except BaseException:
                tx.undo.rollback()
                raise
            else:
                self._commits += 1
            finally:
                tx.closed = True

    @contextmanager
    def read(self) -> Iterator[MetadataTx]:
        with self._lock:
            tx = _MemoryTx(self._data, _Undo(), write=False)
            try:
                yield tx
            finally:
                tx.closed = True

    def close(self) -> None:
        """Nothing to release; the data lives as long as the object."""

    def change_token(self) -> object | None:
        return self._commits


class _MemoryTx(InferencesMemory, MetadataTx):
    def __init__(self, data: _Data, undo: _Undo, *, write: bool) -> None:
        self.db = data
        self.undo = undo
        self.write = write
        self.closed = False

    # ---- helpers

    def _r(self) -> _Data:
        if self.closed:
            raise RuntimeError("this transaction has ended; open a new one")
        return self.db

    def _w(self) -> _Data:
        if not self.write:
            raise RuntimeError("a read transaction cannot write; use store.transaction()")
        return self._r()

    def _new_id(self, table: str) -> int:
        db = self.db
        new = db.next_id.get(table, 0) + 1
        db.next_id[table] = new  # ids are never reused, even after a rollback (like a sequence)
        return new

    def _project_row(self, project_id: int) -> _ProjectRow:
        row = self._r().projects.get(project_id)
        if row is None:
            raise ProjectNotFound(f"project #{project_id} does not exist", project_id=project_id)
        return row

    def _model_row(self, model_id: int) -> _ModelRow:
        row = self._r().models.get(model_id)
        if row is None:
            raise ModelNotFound(f"model #{model_id} does not exist", model_id=model_id)
        return row

    def _version_row(self, version_id: int) -> _VersionRow:
        row = self._r().versions.get(version_id)
        if row is None:
            raise VersionNotFound(f"version #{version_id} does not exist", version_id=version_id)
        return row

    def _project(self, row: _ProjectRow) -> Project:
        return Project(id=row.id, name=row.name, description=row.description, labels=list(row.labels),
                       created_at=row.created_at, inference_retention=_load(row.inference_retention))

    def _model(self, row: _ModelRow) -> Model:
        return Model(id=row.id, project=self.db.projects[row.project_id].name, name=row.name,
                     description=row.description, task=row.task, baseline=row.baseline, tags=dict(row.tags),
                     pinned=row.pinned, policies=Policies.model_validate_json(row.policies),
                     marked_best=row.marked_best, latest_number=row.latest_number,
                     created_at=row.created_at, updated_at=row.updated_at)

    def _key(self, version_id: int) -> VersionKey:
        row = self.db.versions[version_id]
        model = self.db.models[row.model_id]
        project = self.db.projects[model.project_id].name
        return VersionKey(project=project, model=model.name, number=row.number)

    def _version(self, row: _VersionRow) -> Version:
        db = self.db
        model = db.models[row.model_id]
        docs = {name: _load(text) for name, text in row.docs.items() if text is not None}
        return Version(
            id=row.id, project=db.projects[model.project_id].name, model=model.name, number=row.number,
            updated_at=row.updated_at, **row.scalars, tags=dict(row.tags), metrics=dict(row.metrics),
            parent=self._key(row.parent_id) if row.parent_id is not None else None,
            artifacts=sorted(db.artifacts.get(row.id, ()), key=lambda a: a.path),
            aliases=sorted(name for (mid, name), a in db.aliases.items()
                           if mid == row.model_id and a.version_id == row.id),
            **docs,
        )

    def _alias_info(self, model_id: int, name: str, row: _AliasRow) -> AliasInfo:
        policies = Policies.model_validate_json(self.db.models[model_id].policies)
        return AliasInfo(alias=name, number=self.db.versions[row.version_id].number,
                         protected=name in policies.protected_aliases, updated_at=row.updated_at)

    # ---- projects

    def create_project(self, *, name: str, description: str = "", labels: list[str] | None = None,
                       now: datetime) -> Project:
        db = self._w()
        if name in db.project_ids:
            raise AlreadyExists(f"project {name!r} already exists", project=name)
        row = _ProjectRow(self._new_id("projects"), name, description, tuple(labels or ()), now)
        self.undo.put(db.projects, row.id, row)
        self.undo.put(db.project_ids, name, row.id)
        return self._project(row)

    def get_project(self, *, name: str) -> Project | None:
        db = self._r()
        pid = db.project_ids.get(name)
        return None if pid is None else self._project(db.projects[pid])

    def list_projects(self) -> list[Project]:
        return [self._project(r) for r in sorted(self._r().projects.values(), key=lambda r: r.name)]

    def update_project(self, *, project_id: int, description: str | None = None,
                       labels: list[str] | None = None) -> Project:
        db = self._w()
        row = self._project_row(project_id)
        row = replace(row, description=row.description if description is None else description,
                      labels=row.labels if labels is None else tuple(labels))
        self.undo.put(db.projects, project_id, row)
        return self._project(row)

    def set_inference_retention(self, *, project_id: int, retention: InferenceRetention | None) -> Project:
        db = self._w()
        row = replace(self._project_row(project_id),
                      inference_retention=None if retention is None else retention.model_dump_json())
        self.undo.put(db.projects, project_id, row)
        return self._project(row)

    def delete_project(self, *, project_id: int) -> None:
        db = self._w()
        row = self._project_row(project_id)
        if self.count_models(project_id=project_id):
            raise InvalidState(f"project {row.name!r} still has models", hint="delete its models first",
                               project=row.name)
        self.undo.pop(db.projects, project_id)
        self.undo.pop(db.project_ids, row.name)

    def count_models(self, *, project_id: int) -> int:
        return sum(1 for m in self._r().models.values() if m.project_id == project_id)

    # ---- models

    def create_model(self, *, project_id: int, name: str, description: str = "", task: Task = "other",
                     baseline: str | None = None, tags: Mapping[str, str] | None = None,
                     policies: Policies | None = None, now: datetime) -> Model:
        db = self._w()
        project = self._project_row(project_id)
        if (project_id, name) in db.model_ids:
            raise AlreadyExists(f"model {project.name}/{name} already exists", project=project.name,
                                model=name)
        row = _ModelRow(self._new_id("models"), project_id, name, description, task, baseline,
                        dict(tags or {}), False, (policies or Policies()).model_dump_json(), None, 0,
                        now, now)
        self.undo.put(db.models, row.id, row)
        self.undo.put(db.model_ids, (project_id, name), row.id)
        self.undo.put(db.versions_of, row.id, set())
        return self._model(row)

    def get_model(self, *, project: str, name: str, lock: bool = False) -> Model | None:
        db = self._r()
        pid = db.project_ids.get(project)
        mid = None if pid is None else db.model_ids.get((pid, name))
        return None if mid is None else self._model(db.models[mid])

    def get_model_by_id(self, *, model_id: int) -> Model | None:
        row = self._r().models.get(model_id)
        return None if row is None else self._model(row)

    def update_model(self, *, model_id: int, changes: Mapping[str, Any], now: datetime) -> Model:
        db = self._w()
        row = self._model_row(model_id)
        unknown = set(changes) - MODEL_UPDATABLE
        if unknown:
            raise InvalidInput(f"model fields {sorted(unknown)} cannot be updated", fields=sorted(unknown))
        values = dict(changes)
        if "tags" in values:
            values["tags"] = dict(values["tags"] or {})
        if "policies" in values:
            values["policies"] = Policies.model_validate(values["policies"] or {}).model_dump_json()
        new_name = values.get("name", row.name)
        if new_name != row.name:
            if (row.project_id, new_name) in db.model_ids:
                project = db.projects[row.project_id].name
                raise AlreadyExists(f"model {project}/{new_name} already exists", project=project,
                                    model=new_name)
            self.undo.pop(db.model_ids, (row.project_id, row.name))
            self.undo.put(db.model_ids, (row.project_id, new_name), model_id)
        row = replace(row, updated_at=now, **values)
        self.undo.put(db.models, model_id, row)
        return self._model(row)

    def delete_model(self, *, model_id: int) -> None:
        db = self._w()
        row = self._model_row(model_id)
        for key in [k for k in db.aliases if k[0] == model_id]:
            self.undo.pop(db.aliases, key)
        for move_id in [i for i, (mid, _) in db.moves.items() if mid == model_id]:
            self.undo.pop(db.moves, move_id)
        doomed = set(db.versions_of.get(model_id, ()))
        self._orphan_children(doomed)
        for version_id in sorted(doomed):
            self._drop_version(db.versions[version_id])
        self.undo.pop(db.versions_of, model_id)
        self.undo.pop(db.model_ids, (row.project_id, row.name))
        self.undo.pop(db.models, model_id)

    def search_models(self, *, project: str | None, where: Node | None, sort: Sort, cursor: list[Any] | None,
                      limit: int) -> Page[Model]:
        db = self._r()
        _check_limit(limit)
        _check_fields(where, sort, metrics=False)
        where = _normalize_times(where)

        def get(row: _ModelRow, f: Field, for_sort: bool = False) -> Any:
            if f.kind == "tag":
                return row.tags.get(f.name)
            if f.name == "project":
                return db.projects[row.project_id].name
            value = getattr(row, f.name)
            return _time_text(value) if f.type == "time" and not for_sort else value

        rows = [r for r in db.models.values()
                if (project is None or db.projects[r.project_id].name == project)
                and evaluate(where, partial(get, r))]
        page, next_cursor = _keyset(rows, lambda r: get(r, sort.field, True), sort, cursor, limit)
        return Page[Model].of([self._model(r) for r in page], next_cursor=next_cursor, total=len(rows))

    def allocate_number(self, *, model_id: int) -> int:
        db = self._w()
        row = self._model_row(model_id)
        row = replace(row, latest_number=row.latest_number + 1)
        self.undo.put(db.models, model_id, row)
        return row.latest_number

    # ---- versions

    def insert_version(self, *, draft: VersionDraft) -> Version:
        db = self._w()
        model = self._model_row(draft.model_id)
        if (draft.model_id, draft.number) in db.version_ids:
            raise AlreadyExists(f"version {model.name}:v{draft.number} already exists", model=model.name,
                                version=draft.number)
        if draft.parent_id is not None:
            self._version_row(draft.parent_id)
        self._check_label(draft.model_id, draft.label, None)
        row = _VersionRow(
            id=self._new_id("versions"), model_id=draft.model_id, number=draft.number,
            updated_at=draft.created_at, parent_id=draft.parent_id,
            scalars={name: getattr(draft, name) for name in VERSION_SCALAR_FIELDS},
            tags=dict(draft.tags), metrics=dict(draft.metrics),
            docs={name: dump_json(getattr(draft, name), field_name=name) for name in VERSION_DOCUMENT_FIELDS},
        )
        self.undo.put(db.versions, row.id, row)
        self.undo.put(db.version_ids, (row.model_id, row.number), row.id)
        self.undo.add(db.versions_of[row.model_id], row.id)
        if draft.number > model.latest_number:
            self.undo.put(db.models, model.id, replace(model, latest_number=draft.number))
        return self._version(row)

    def get_version(self, *, model_id: int, number: int) -> Version | None:
        vid = self._r().version_ids.get((model_id, number))
        return None if vid is None else self._version(self.db.versions[vid])

    def get_version_by_id(self, *, version_id: int) -> Version | None:
        row = self._r().versions.get(version_id)
        return None if row is None else self._version(row)

    def get_version_by_label(self, *, model_id: int, label: str) -> Version | None:
        db = self._r()
        rows = (db.versions[v] for v in db.versions_of.get(model_id, ()))
        row = next((r for r in rows if r.scalars["label"] == label), None)
        return None if row is None else self._version(row)

    def _check_label(self, model_id: int, label: str | None, version_id: int | None) -> None:
        """A label is unique in its model (the SQL store's unique index)."""
        if label is None:
            return
        other = self.get_version_by_label(model_id=model_id, label=label)
        if other is not None and other.id != version_id:
            raise AlreadyExists(f"v{other.number} already has the label {label!r}", label=label,
                                version=other.number)

    def update_version(self, *, version_id: int, changes: Mapping[str, Any], now: datetime) -> Version:
        db = self._w()
        row = self._version_row(version_id)
        unknown = set(changes) - VERSION_UPDATABLE
        if unknown:
            raise InvalidInput(f"version fields {sorted(unknown)} cannot be updated", fields=sorted(unknown))
        values: dict[str, Any] = {}
        docs, scalars = dict(row.docs), dict(row.scalars)
        for name, value in changes.items():
            if name in VERSION_DOCUMENT_FIELDS:
                docs[name] = dump_json(value, field_name=name)
            elif name in VERSION_PAIR_FIELDS:
                values[name] = dict(value or {})
            elif name in VERSION_SCALAR_FIELDS:
                scalars[name] = value
            else:
                values[name] = value
        if values.get("parent_id") is not None:
            self._version_row(values["parent_id"])
        if "label" in changes:
            self._check_label(row.model_id, scalars["label"], row.id)
        row = replace(row, updated_at=now, docs=docs, scalars=scalars, **values)
        self.undo.put(db.versions, version_id, row)
        return self._version(row)

    def delete_version(self, *, version_id: int) -> list[str]:
        db = self._w()
        row = self._version_row(version_id)
        held = sorted(name for (mid, name), a in db.aliases.items() if a.version_id == version_id)
        if held:
            raise VersionInUse(f"version v{row.number} is the target of alias(es) {', '.join(held)}",
                               hint="move or delete the alias first", version=row.number, aliases=held)
        self._orphan_children({version_id})
        return self._drop_version(row)

    def _orphan_children(self, parents: set[int]) -> None:
        """Versions derived from deleted ones lose their parent (ON DELETE SET NULL in SQL)."""
        db = self.db
        for child in [v for v in db.versions.values() if v.parent_id in parents and v.id not in parents]:
            self.undo.put(db.versions, child.id, replace(child, parent_id=None))

    def _release(self, files: Iterable[Artifact]) -> None:
        """Drop the references ``files`` held on their blobs."""
        db = self.db
        for art in files:
            count = db.refcount[art.digest] - 1
            if count:
                self.undo.put(db.refcount, art.digest, count)
            else:
                self.undo.pop(db.refcount, art.digest)

    def _hold(self, files: Iterable[Artifact]) -> None:
        db = self.db
        for art in files:
            self.undo.put(db.refcount, art.digest, db.refcount.get(art.digest, 0) + 1)

    def _drop_version(self, row: _VersionRow) -> list[str]:
        db, version_id = self.db, row.id
        artifacts = self.undo.pop(db.artifacts, version_id) or ()
        self._release(artifacts)
        export_files: list[Artifact] = []
        for export in [e for e in db.exports.values() if e.version_id == version_id]:
            self.undo.pop(db.exports, export.id)
            self._release(export.files)
            export_files.extend(export.files)
        for job_id in [j.id for j in db.jobs.values() if j.version_id == version_id]:
            self.undo.pop(db.jobs, job_id)
        self.undo.pop(db.epochs, version_id)
        self.undo.pop(db.evaluations, version_id)
        self.drop_inferences_of(version_id)
        self.undo.discard(db.versions_of[row.model_id], version_id)
        self.undo.pop(db.version_ids, (row.model_id, row.number))
        self.undo.pop(db.versions, version_id)
        return sorted({a.digest for a in (*artifacts, *export_files)})

    def search_versions(self, *, model_id: int | None, project: str | None, where: Node | None, sort: Sort,
                        cursor: list[Any] | None, limit: int) -> Page[Version]:
        db = self._r()
        _check_limit(limit)
        _check_fields(where, sort, metrics=True)
        where = _normalize_times(where)

        def get(row: _VersionRow, f: Field, for_sort: bool = False) -> Any:
            if f.kind == "metric":
                return row.metrics.get(f.name)
            if f.kind == "eval":
                return self._eval_value(row.id, f)
            if f.kind == "tag":
                return row.tags.get(f.name)
            if f.name in ("model", "project"):
                model = db.models[row.model_id]
                return model.name if f.name == "model" else db.projects[model.project_id].name
            value = row.value(f.name)
            return _time_text(value) if f.type == "time" and not for_sort else value

        ids: Iterable[int] = db.versions_of.get(model_id, ()) if model_id is not None else db.versions
        project_id = db.project_ids.get(project, -1) if project is not None else None
        rows = [r for r in (db.versions[i] for i in ids)
                if (project_id is None or db.models[r.model_id].project_id == project_id)
                and evaluate(where, partial(get, r))]
        page, next_cursor = _keyset(rows, lambda r: get(r, sort.field, True), sort, cursor, limit)
        return Page[Version].of([self._version(r) for r in page], next_cursor=next_cursor, total=len(rows))

    def children(self, *, version_id: int) -> list[VersionKey]:
        db = self._r()
        return [self._key(v.id) for v in sorted(db.versions.values(), key=lambda v: v.id)
                if v.parent_id == version_id]

    def version_key(self, *, version_id: int) -> VersionKey | None:
        return self._key(version_id) if version_id in self._r().versions else None

    # ---- artifacts and blob rows

    def add_artifacts(self, *, version_id: int, artifacts: list[Artifact]) -> None:
        db = self._w()
        row = self._version_row(version_id)
        current = db.artifacts.get(version_id, ())
        paths = {a.path for a in current}
        for art in artifacts:
            if art.path in paths:
                raise AlreadyExists(f"version v{row.number} already has a file at {art.path!r}",
                                    path=art.path, version=row.number)
            if art.digest not in db.blobs:
                raise InvalidState(f"blob {art.digest} has no row", hint="call claim_blobs first",
                                   digest=art.digest)
            paths.add(art.path)
        self._hold(artifacts)
        self.undo.put(db.artifacts, version_id, current + tuple(artifacts))

    def claim_blobs(self, *, blobs: Mapping[str, int]) -> list[str]:
        db = self._w()
        deleting = []
        for digest, size in sorted(blobs.items()):
            row = db.blobs.get(digest)
            if row is None:
                self.undo.put(db.blobs, digest, _Blob(size, "live"))
            elif row.state == "deleting":
                deleting.append(digest)
        return deleting

    def mark_blob_deleting(self, *, digest: str, size: int) -> bool:
        db = self._w()
        row = db.blobs.get(digest)
        if (row is not None and row.state == "deleting") or db.refcount.get(digest, 0) > 0:
            return False
        self.undo.put(db.blobs, digest, _Blob(size if row is None else row.size, "deleting"))
        return True

    def delete_blob_row(self, *, digest: str) -> None:
        db = self._w()
        if db.refcount.get(digest, 0) > 0:
            raise InvalidState(f"blob {digest} is still referenced", digest=digest)
        self.undo.pop(db.blobs, digest)
        for grant in [g for g in db.grants if g[0] == digest]:
            self.undo.discard(db.grants, grant)

    def blob_rows(self) -> dict[str, tuple[int, BlobState]]:
        return {d: (b.size, b.state) for d, b in self._r().blobs.items()}

    def unreferenced_blobs(self) -> dict[str, int]:
        db = self._r()
        return {d: b.size for d, b in db.blobs.items() if db.refcount.get(d, 0) == 0}

    def referenced_digests(self) -> dict[str, int]:
        db = self._r()
        found = {a.digest: a.size for arts in db.artifacts.values() for a in arts}
        found.update({a.digest: a.size for e in db.exports.values() for a in e.files})
        return found

    def grant_blob(self, *, digest: str, project: str, now: datetime) -> None:
        self.undo.add(self._w().grants, (digest, project))

    def blob_in_project(self, *, digest: str, project: str) -> bool:
        db = self._r()
        if (digest, project) in db.grants:
            return True
        project_id = db.project_ids.get(project)
        holders = [vid for vid, arts in db.artifacts.items() if any(a.digest == digest for a in arts)]
        holders += [e.version_id for e in db.exports.values() if any(a.digest == digest for a in e.files)]
        return any(self._project_of_version(vid) == project_id for vid in holders)

    def _project_of_version(self, version_id: int) -> int | None:
        db = self._r()
        version = db.versions.get(version_id)
        model = db.models.get(version.model_id) if version else None
        return model.project_id if model else None

    # ---- aliases

    def set_alias(self, *, model_id: int, alias: str, version_id: int, now: datetime) -> None:
        db = self._w()
        self._model_row(model_id)
        if self._version_row(version_id).model_id != model_id:
            raise InvalidState(f"version #{version_id} belongs to another model", version_id=version_id)
        self.undo.put(db.aliases, (model_id, alias), _AliasRow(version_id, now))

    def get_alias(self, *, model_id: int, alias: str) -> AliasInfo | None:
        row = self._r().aliases.get((model_id, alias))
        return None if row is None else self._alias_info(model_id, alias, row)

    def delete_alias(self, *, model_id: int, alias: str) -> None:
        self.undo.pop(self._w().aliases, (model_id, alias))

    def list_aliases(self, *, model_id: int) -> list[AliasInfo]:
        db = self._r()
        return [self._alias_info(mid, name, row) for (mid, name), row in sorted(db.aliases.items())
                if mid == model_id]

    def record_alias_move(self, *, model_id: int, alias: str, from_number: int | None, to_number: int | None,
                          kind: Literal["set", "rollback", "delete"], actor: str, now: datetime) -> AliasMove:
        db = self._w()
        self._model_row(model_id)
        move = AliasMove(id=self._new_id("moves"), alias=alias, from_number=from_number, to_number=to_number,
                         kind=kind, at=now, actor=actor)
        self.undo.put(db.moves, move.id, (model_id, move))
        return move

    def alias_moves(self, *, model_id: int, alias: str) -> list[AliasMove]:
        moves = [m for mid, m in self._r().moves.values() if mid == model_id and m.alias == alias]
        return sorted(moves, key=lambda m: m.id, reverse=True)

    def mark_move_reverted(self, *, move_id: int) -> None:
        db = self._w()
        found = db.moves.get(move_id)
        if found is not None:
            self.undo.put(db.moves, move_id, (found[0], found[1].model_copy(update={"reverted": True})))

    # ---- training history

    def add_epochs(self, *, version_id: int, epochs: list[Epoch]) -> None:
        db = self._w()
        self._version_row(version_id)
        current = dict(db.epochs.get(version_id, {}))
        for epoch in epochs:
            current[epoch.epoch] = Epoch.model_validate_json(epoch.model_dump_json())
        self.undo.put(db.epochs, version_id, current)

    def count_epochs(self, *, version_id: int) -> int:
        return len(self._r().epochs.get(version_id, {}))

    def list_epochs(self, *, version_id: int, max_rows: int | None = None) -> list[Epoch]:
        epochs = self._r().epochs.get(version_id, {})
        numbers = sorted(epochs)
        if max_rows is not None and len(numbers) > max_rows:
            stride = epoch_stride(len(numbers), max_rows)
            numbers = [n for i, n in enumerate(numbers) if i % stride == 0 or i == len(numbers) - 1]
        return [epochs[n].model_copy(deep=True) for n in numbers]

    # ---- evaluations

    def save_evaluation(self, *, version_id: int, evaluation: Evaluation) -> None:
        db = self._w()
        self._version_row(version_id)
        current = dict(db.evaluations.get(version_id, {}))
        current[evaluation.dataset] = evaluation.model_dump_json()
        self.undo.put(db.evaluations, version_id, current)

    def get_evaluation(self, *, version_id: int, dataset: str) -> Evaluation | None:
        text = self._r().evaluations.get(version_id, {}).get(dataset)
        return None if text is None else Evaluation.model_validate_json(text)

    def list_evaluations(self, *, version_id: int) -> list[Evaluation]:
        found = self._r().evaluations.get(version_id, {})
        return [Evaluation.model_validate_json(found[d]) for d in sorted(found)]

    def _eval_value(self, version_id: int, f: Field) -> float | None:
        dataset, metric = eval_key(f)
        found = self.get_evaluation(version_id=version_id, dataset=dataset)
        return None if found is None else found.metrics.get(metric)

    # ---- exports

    def _export(self, row: _ExportRow) -> Export:
        key = self._key(row.version_id)
        return Export(id=row.id, project=key.project, model=key.model, version=key.number, format=row.format,
                      key=row.key, files=sorted(row.files, key=lambda a: a.path), created_at=row.created_at,
                      **_load(row.record))

    def save_export(self, *, version_id: int, format: str, key: str, record: Mapping[str, Any],
                    files: list[Artifact], now: datetime) -> Export:
        db = self._w()
        self._version_row(version_id)
        for art in files:
            if art.digest not in db.blobs:
                raise InvalidState(f"blob {art.digest} has no row", hint="call claim_blobs first",
                                   digest=art.digest)
        text = dump_json(dict(record), field_name="export")
        assert text is not None
        for old in [e for e in db.exports.values() if (e.version_id, e.format, e.key) == (version_id, format, key)]:
            self.undo.pop(db.exports, old.id)
            self._release(old.files)
        row = _ExportRow(id=self._new_id("exports"), version_id=version_id, format=format, key=key, record=text,
                         files=tuple(files), created_at=now)
        self._hold(files)
        self.undo.put(db.exports, row.id, row)
        return self._export(row)

    def get_export(self, *, version_id: int, format: str, key: str) -> Export | None:
        for row in self._r().exports.values():
            if (row.version_id, row.format, row.key) == (version_id, format, key):
                return self._export(row)
        return None

    def list_exports(self, *, version_id: int) -> list[Export]:
        rows = sorted((e for e in self._r().exports.values() if e.version_id == version_id), key=lambda e: e.id)
        return [self._export(e) for e in rows]

    def update_export(self, *, export_id: int, record: Mapping[str, Any], now: datetime) -> Export:
        db = self._w()
        row = db.exports.get(export_id)
        if row is None:
            raise NotFound(f"export #{export_id} does not exist", export_id=export_id)
        text = dump_json(dict(record), field_name="export")
        assert text is not None
        row = replace(row, record=text)
        self.undo.put(db.exports, export_id, row)
        return self._export(row)

    # ---- jobs

    def _job(self, row: _JobRow) -> Job:
        key = self._key(row.version_id)
        fields = asdict(row)
        del fields["version_id"]
        return Job.model_validate({**fields, "project": key.project, "model": key.model, "version": key.number,
                                   "options": _load(row.options), "error": _load(row.error)})

    def create_job(self, *, version_id: int, kind: str, format: str, options: Mapping[str, Any], trusted: bool,
                   force: bool, source: str | None, entry_point: str | None, status: str, progress: str,
                   created_by: str, now: datetime, runner: str | None = None, export_id: int | None = None) -> Job:
        db = self._w()
        self._version_row(version_id)
        changes = job_changes({"status": status})
        ended = now if changes["status"] in ("done", "failed") else None
        text = dump_json(dict(options), field_name="options")
        assert text is not None
        row = _JobRow(id=self._new_id("jobs"), version_id=version_id, kind=kind, format=format, options=text,
                      trusted=trusted, force=force, source=source, entry_point=entry_point, status=status,
                      progress=progress, export_id=export_id, error=None, created_by=created_by, created_at=now,
                      started_at=ended, finished_at=ended, runner=runner, heartbeat_at=now if runner else None)
        self.undo.put(db.jobs, row.id, row)
        return self._job(row)

    def get_job(self, *, job_id: int) -> Job | None:
        row = self._r().jobs.get(job_id)
        return self._job(row) if row is not None else None

    def update_job(self, *, job_id: int, changes: Mapping[str, Any]) -> Job:
        db = self._w()
        row = db.jobs.get(job_id)
        if row is None:
            raise NotFound(f"job #{job_id} does not exist", job_id=job_id)
        values = job_changes(changes)
        if "error" in values:
            values["error"] = dump_json(values["error"], field_name="error")
        row = replace(row, **values)
        self.undo.put(db.jobs, job_id, row)
        return self._job(row)

    def list_jobs(self, *, version_id: int, limit: int = 20) -> list[Job]:
        check_job_limit(limit)
        rows = sorted((j for j in self._r().jobs.values() if j.version_id == version_id), key=lambda j: -j.id)
        return [self._job(j) for j in rows[:limit]]

    # ---- API tokens

    def insert_token(self, *, name: str, secret_hash: str, role: str, project: str | None,
                     expires_at: datetime | None, created_by: str, now: datetime) -> TokenInfo:
        db = self._w()
        if name in db.tokens or any(h == secret_hash for _, h in db.tokens.values()):
            raise AlreadyExists(f"a token named {name!r} already exists", token=name)
        info = TokenInfo(id=self._new_id("tokens"), name=name, role=role, project=project,
                         created_at=now, created_by=created_by, expires_at=expires_at)
        self.undo.put(db.tokens, name, (info, secret_hash))
        return info

    def get_token(self, *, name: str) -> TokenInfo | None:
        entry = self._r().tokens.get(name)
        return entry[0] if entry else None

    def get_token_by_hash(self, *, secret_hash: str) -> TokenInfo | None:
        return next((t for t, h in self._r().tokens.values() if h == secret_hash), None)

    def list_tokens(self) -> list[TokenInfo]:
        return sorted((t for t, _ in self._r().tokens.values()), key=lambda t: t.id)

    def revoke_token(self, *, name: str, now: datetime) -> TokenInfo | None:
        db = self._w()
        entry = db.tokens.get(name)
        if entry is None:
            return None
        info, secret_hash = entry
        if info.revoked_at is None:
            info = info.model_copy(update={"revoked_at": now})
            self.undo.put(db.tokens, name, (info, secret_hash))
        return info

    def delete_token(self, *, name: str) -> bool:
        return self.undo.pop(self._w().tokens, name) is not None

    # ---- events

    def append_event(self, *, actor: str, action: str, now: datetime, project: str | None = None,
                     model: str | None = None, version: int | None = None, alias: str | None = None,
                     before: Any = None, after: Any = None) -> Event:
        db = self._w()
        event = Event(id=self._new_id("events"), at=now, actor=actor, action=action, project=project,
                      model=model, version=version, alias=alias,
                      before=_load(dump_json(before, field_name="before")),
                      after=_load(dump_json(after, field_name="after")))
        self.undo.put(db.events, event.id, event)
        return event.model_copy(deep=True)

    def list_events(self, *, project: str | None = None, model: str | None = None,
                    version: int | None = None, action: str | None = None, actor: str | None = None,
                    cursor: list[Any] | None = None, limit: int = 50) -> Page[Event]:
        db = self._r()
        _check_limit(limit)
        after = check_cursor(cursor, None)
        wanted = [e for e in reversed(db.events.values())
                  if (project is None or e.project == project) and (model is None or e.model == model)
                  and (version is None or e.version == version) and (action is None or e.action == action)
                  and (actor is None or e.actor == actor)]
        rest = [e for e in wanted if after is None or e.id < after[1]]
        page = rest[:limit]
        next_cursor = encode_cursor([page[-1].id]) if len(rest) > limit else None
        return Page[Event].of([e.model_copy(deep=True) for e in page], next_cursor=next_cursor, total=len(wanted))


# ---------------------------------------------------------------- search helpers


def _check_fields(where: Node | None, sort: Sort, *, metrics: bool) -> None:
    """Refuse fields a search cannot use (a promotion gate's free paths; metrics on models)."""

    def check(f: Field, *, sorting: bool = False) -> None:
        kinds = ("column", "tag", "metric") if sorting else ("column", "tag", "metric", "eval")
        if f.kind not in kinds or (f.kind in ("metric", "eval") and not metrics):
            raise InvalidFilter(f"field {f} cannot be used here", field=str(f))

    def walk(node: Node | None) -> None:
        if isinstance(node, (And, Or)):
            for item in node.items:
                walk(item)
        elif isinstance(node, Not):
            walk(node.item)
        elif isinstance(node, Compare):
            check(node.field)

    walk(where)
    check(sort.field, sorting=True)


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


def _keyset(rows: list[R], key: Callable[[R], Any], sort: Sort, cursor: list[Any] | None,
            limit: int) -> tuple[list[R], str | None]:
    """Order rows as the SQL store does and return the page after ``cursor`` with the next cursor."""
    start = check_cursor(cursor, sort.field)
    desc = sort.descending
    present = [(k, r.id, r) for r in rows if (k := key(r)) is not None]
    present.sort(key=lambda t: (t[0], t[1]), reverse=desc)
    missing = sorted(((None, r.id, r) for r in rows if key(r) is None), key=lambda t: t[1], reverse=desc)
    ordered: list[tuple[Any, int, R]] = present + missing
    if start is not None:
        sv, sid = start

        def after(k: Any, i: int) -> bool:
            if sv is None:
                return k is None and (i < sid if desc else i > sid)
            if k is None:
                return True
            return bool((k, i) < (sv, sid)) if desc else bool((k, i) > (sv, sid))

        try:
            ordered = [t for t in ordered if after(t[0], t[1])]
        except TypeError as exc:
            raise InvalidFilter("the cursor is not valid",
                                hint="pass back next_cursor exactly as it was returned") from exc
    page = ordered[:limit]
    next_cursor = None
    if len(ordered) > limit:
        last = page[-1]
        next_cursor = encode_cursor([cursor_value(last[0]), last[1]])
    return [r for _, _, r in page], next_cursor
