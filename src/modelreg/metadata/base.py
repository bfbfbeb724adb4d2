"""The metadata store interface: everything the registry knows except the bytes of files.

The service holds the rules; a store holds rows and makes a group of changes atomic. The service
opens ``store.transaction()`` (a write transaction: serialized with every other writer on the rows it
touches, committed on a clean exit, rolled back on an exception) or ``store.read()`` and calls the
keyword-only methods of the ``MetadataTx`` it gets. Stores return domain types only (``modelreg.types``);
their rows never leave them. Lookups that find nothing return ``None``; the service turns that into
the right ``NotFound`` error. Inserting a duplicate name raises ``AlreadyExists``.

Implementations: ``metadata.memory.MemoryMetadataStore`` (the in-package fake) and
``metadata.sql.SqlMetadataStore`` (SQLite and PostgreSQL). ``open_metadata_store(url)`` picks one.

Blob rows and gc. Artifacts reference blobs by digest. Each stored blob has a row with a ``state``:
``live`` or ``deleting``. A registration, inside its transaction, calls ``claim_blobs``: it creates or
locks each row and returns the digests whose row is ``deleting`` (then the service rolls back, waits
and stores the blob again). gc deletes a blob only after ``mark_blob_deleting`` committed (which
succeeds only while nothing references it), so a registration racing gc can never commit a reference
to a blob that gc is about to delete, and gc never deletes a blob a committed artifact references.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter

from modelreg.errors import AlreadyExists, InvalidInput
from modelreg.filters import And, Compare, Field, Node, Sort, decode_cursor
from modelreg.metadata.values import to_json_value
from modelreg.types import (
    JOB_STATUSES,
    AliasInfo,
    AliasMove,
    Artifact,
    Epoch,
    Evaluation,
    Event,
    Export,
    Feedback,
    InferenceRecord,
    InferenceRetention,
    InferenceStats,
    Job,
    MetricPoint,
    Model,
    Page,
    PageJson,
    Policies,
    Project,
    Task,
    TokenInfo,
    Version,
    VersionKey,
    VersionMetadata,
)

BlobState = Literal["live", "deleting"]


class VersionDraft(VersionMetadata):
    """What the service hands the store to insert a version (the store assigns ``id``)."""

    model_id: int
    number: int
    parent_id: int | None = None


def _structured(annotation: Any) -> bool:
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    kinds = {get_origin(a) or a for a in options}
    return bool(kinds & {list, dict}) or any(isinstance(k, type) and issubclass(k, BaseModel) for k in kinds)


# How a store keeps each field of ``VersionMetadata``, derived from that declaration: key/value maps it indexes
# for search, structured documents (JSON), and plain values (one column each).
VERSION_PAIR_FIELDS: tuple[str, ...] = ("metrics", "tags")
VERSION_DOCUMENT_FIELDS: tuple[str, ...] = tuple(
    name for name, info in VersionMetadata.model_fields.items()
    if name not in VERSION_PAIR_FIELDS and _structured(info.annotation))
VERSION_SCALAR_FIELDS: tuple[str, ...] = tuple(
    name for name in VersionMetadata.model_fields if name not in VERSION_PAIR_FIELDS + VERSION_DOCUMENT_FIELDS)
# Fields of a version that ``update_version`` may change: all but who made it and when, plus its parent link.
VERSION_UPDATABLE = frozenset(VersionMetadata.model_fields) - {"created_at", "created_by"} | {"parent_id"}
# Fields of a model that ``update_model`` may change.
MODEL_UPDATABLE = frozenset({
    "name", "description", "task", "baseline", "tags", "pinned", "policies", "marked_best",
})
# Fields of a job that ``update_job`` may change: its state, never what it was asked to do.
JOB_UPDATABLE = frozenset({
    "status", "progress", "export_id", "error", "started_at", "finished_at", "runner", "heartbeat_at",
})


def job_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The ``changes`` of ``update_job`` checked, ``error`` as plain JSON data (both stores call it)."""
    unknown = sorted(set(changes) - JOB_UPDATABLE)
    if unknown:
        raise ValueError(f"update_job cannot change {', '.join(unknown)}")
    out = dict(changes)
    if "status" in out and out["status"] not in JOB_STATUSES:
        raise ValueError(f"{out['status']!r} is not a job status")
    if out.get("error") is not None:
        out["error"] = to_json_value(out["error"], field_name="error")
    return out


MAX_JOBS_LISTED = 1000


def check_job_limit(limit: int) -> int:
    """``list_jobs``'s bound: a whole number from 1 to MAX_JOBS_LISTED (both stores call it)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_JOBS_LISTED:
        raise InvalidInput(f"limit is {limit!r}; it must be a whole number from 1 to {MAX_JOBS_LISTED}",
                           field="limit")
    return limit


# Ready versions: the ones a model's best is chosen among, with the metric it is chosen by.
READY_VERSION = Compare(Field("column", "status", "status"), "=", "ready")


_NEWEST_FIRST = Sort(Field("column", "number", "num"), descending=True)


def best_candidates(metric: str) -> Node:
    """The filter of the versions a model's best is chosen among: ready ones that have ``metric``."""
    return And((READY_VERSION, Compare(Field("metric", metric, "num"), ">=", -1e308)))


def requests_logged_already(request_ids: Sequence[str], taken: Collection[str]) -> AlreadyExists:
    """The error of a batch some of whose request ids (``taken``) are stored already, naming the first."""
    first = next(rid for rid in request_ids if rid in taken)
    return AlreadyExists(f"request id {first!r} is logged already ({len(taken)} of the batch are)",
                         hint="each request is logged once; leave request_id out to get a new one", request_id=first)


@dataclass(frozen=True, slots=True)
class NewInference:
    """An inference record the service checked, for the store to insert (the store assigns ``seq``)."""

    request_id: str
    client_request_id: str | None
    model_id: int
    version_id: int
    version: int
    time: datetime
    latency_ms: float | None
    status: str
    error: str
    input_ref: str
    input: Any
    outputs: Any
    sample_rate: float


@dataclass(frozen=True, slots=True)
class NewFeedback:
    label: str | None
    corrected: Any
    source: str
    author: str
    note: str
    agrees: bool | None
    created_at: datetime


@dataclass(frozen=True)
class InferenceQuery:
    """Which of a model's inference records a page holds: newest first by (time, seq), ``after`` the cursor's
    (time, seq) when given; ``where`` is a parsed filter over ``filters.inference_fields``."""

    model_id: int
    version: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None
    has_feedback: bool | None = None
    where: Node | None = None
    after: tuple[datetime, int] | None = None
    limit: int = 50


class MetadataTx(ABC):
    """One transaction. Every method is keyword-only so calls read as sentences."""

    # ---- projects
    @abstractmethod
    def create_project(self, *, name: str, description: str = "", labels: list[str] | None = None,
                       now: datetime) -> Project: ...

    @abstractmethod
    def get_project(self, *, name: str) -> Project | None: ...

    @abstractmethod
    def list_projects(self) -> list[Project]: ...

    @abstractmethod
    def update_project(self, *, project_id: int, description: str | None = None,
                       labels: list[str] | None = None) -> Project: ...

    @abstractmethod
    def delete_project(self, *, project_id: int) -> None:
        """Delete a project that has no models (the service checks)."""

    @abstractmethod
    def count_models(self, *, project_id: int) -> int: ...

    # ---- models
    @abstractmethod
    def create_model(self, *, project_id: int, name: str, description: str = "", task: Task = "other",
                     baseline: str | None = None, tags: Mapping[str, str] | None = None,
                     policies: Policies | None = None, now: datetime) -> Model: ...

    @abstractmethod
    def get_model(self, *, project: str, name: str, lock: bool = False) -> Model | None:
        """``lock=True`` takes the model's row lock until the transaction ends (PostgreSQL: FOR UPDATE)."""

    @abstractmethod
    def get_model_by_id(self, *, model_id: int) -> Model | None: ...

    @abstractmethod
    def update_model(self, *, model_id: int, changes: Mapping[str, Any], now: datetime) -> Model:
        """Apply ``changes`` (keys from MODEL_UPDATABLE). A rename to a taken name raises AlreadyExists."""

    @abstractmethod
    def delete_model(self, *, model_id: int) -> None:
        """Delete the model with its versions, artifacts rows, aliases, alias moves and epochs."""

    @abstractmethod
    def search_models(self, *, project: str | None, where: Node | None, sort: Sort, cursor: list[Any] | None,
                      limit: int) -> Page[Model]:
        """Keyset page of models; ``total`` counts every match; ``next_cursor`` encodes the last row."""

    @abstractmethod
    def allocate_number(self, *, model_id: int) -> int:
        """Atomically increment and return the model's ``latest_number``; numbers are never reused."""

    # ---- versions
    @abstractmethod
    def insert_version(self, *, draft: VersionDraft) -> Version: ...

    @abstractmethod
    def get_version(self, *, model_id: int, number: int) -> Version | None:
        """The version with its ``artifacts`` (sorted by path) and ``aliases`` (sorted) filled."""

    @abstractmethod
    def get_version_by_id(self, *, version_id: int) -> Version | None: ...

    @abstractmethod
    def get_version_by_label(self, *, model_id: int, label: str) -> Version | None:
        """The model's version with this label (labels are unique in a model)."""

    @abstractmethod
    def update_version(self, *, version_id: int, changes: Mapping[str, Any], now: datetime) -> Version:
        """Apply ``changes`` (keys from VERSION_UPDATABLE; ``parent_id`` sets the parent)."""

    @abstractmethod
    def delete_version(self, *, version_id: int) -> list[str]:
        """Delete the version, its artifact rows, exports, epochs, tags and metrics; return the digests it held."""

    @abstractmethod
    def search_versions(self, *, model_id: int | None, project: str | None, where: Node | None, sort: Sort,
                        cursor: list[Any] | None, limit: int) -> Page[Version]:
        """Keyset page of versions (model_id and project narrow the scope when given).

        Sorting by a metric puts versions without it last in either direction; ties break on id.
        ``next_cursor`` is ``None`` on the last page. Versions in the page carry artifacts and aliases.
        """

    def search_versions_json(self, *, model_id: int | None, project: str | None, where: Node | None, sort: Sort,
                             cursor: list[Any] | None, limit: int, best: tuple[int, int] | None) -> PageJson:
        """``search_versions``'s page with its items as the JSON ``Version`` writes; ``best``, given with
        ``model_id`` only, is (that model id, number) of the version whose ``is_best`` is true. The SQL store
        writes the JSON in the database."""
        page = self.search_versions(model_id=model_id, project=project, where=where, sort=sort, cursor=cursor,
                                    limit=limit)
        assert best is None or best[0] == model_id, "best is given with its model's scope"
        items = [v.model_copy(update={"is_best": True}) if best is not None and v.number == best[1] else v
                 for v in page.items]
        return PageJson(_versions_adapter().dump_json(items), page.next_cursor, page.total)

    def metric_trend(self, *, model_id: int, metric: str, limit: int, where: Node | None) -> list[MetricPoint]:
        """``metric`` of the model's newest ``limit`` versions that match ``where`` and have it, oldest first.
        The SQL store reads the numbers alone, newest first along its (model, number) index."""
        sort = Sort(Field("column", "number", "num"), descending=True)
        points: list[MetricPoint] = []
        cursor: list[Any] | None = None
        while len(points) < limit:
            page = self.search_versions(model_id=model_id, project=None, where=where, sort=sort, cursor=cursor,
                                        limit=1000)
            points += [MetricPoint(number=v.number, value=v.metrics[metric]) for v in page.items if metric in v.metrics]
            if page.next_cursor is None:
                break
            cursor = decode_cursor(page.next_cursor)
        return points[:limit][::-1]

    def first_version(self, *, model_id: int, where: Node | None, sort: Sort) -> Version | None:
        """The first of a model's versions matching ``where`` in ``sort`` order (ties on id as in
        ``search_versions``), or None. The SQL store answers it without counting the matches, which a
        search's ``total`` would (at 100,000 versions the count is most of the time)."""
        page = self.search_versions(model_id=model_id, project=None, where=where, sort=sort, cursor=None, limit=1)
        return page.items[0] if page.items else None

    def best_version(self, *, model_id: int, metric: str, descending: bool) -> Version | None:
        """The model's best version by ``metric``: the first of its ``best_candidates`` sorted by the metric
        (highest first when ``descending``), or None."""
        return self.first_version(model_id=model_id, where=best_candidates(metric),
                                  sort=Sort(Field("metric", metric, "num"), descending=descending))

    def best_numbers(self, *, by_metric: Mapping[int, tuple[str, bool]]) -> dict[int, int]:
        """The number of ``best_version`` of each model in ``by_metric`` (model id -> its metric and whether
        highest is best); models without a candidate are left out. The SQL store reads the numbers alone, one
        statement per metric and direction."""
        out: dict[int, int] = {}
        for model_id, (metric, descending) in by_metric.items():
            best = self.best_version(model_id=model_id, metric=metric, descending=descending)
            if best is not None:
                out[model_id] = best.number
        return out

    def version_counts(self, *, model_ids: Collection[int]) -> dict[int, int]:
        """How many versions each model holds (model id -> count; the SQL store reads its kept counts at once)."""
        return {model_id: self.search_versions(model_id=model_id, project=None, where=None, sort=_NEWEST_FIRST,
                                               cursor=None, limit=1).total for model_id in model_ids}

    def alias_targets(self, *, model_ids: Collection[int], alias: str) -> dict[int, Version]:
        """The version ``alias`` points to, for each of the models that has it (model id -> version): what a
        page of models shows, read at once (the SQL store: one query for the page)."""
        out: dict[int, Version] = {}
        for model_id in model_ids:
            target = self.get_alias(model_id=model_id, alias=alias)
            version = None if target is None else self.get_version(model_id=model_id, number=target.number)
            if version is not None:
                out[model_id] = version
        return out

    @abstractmethod
    def children(self, *, version_id: int) -> list[VersionKey]:
        """Versions whose parent is this one, ordered by id."""

    @abstractmethod
    def version_key(self, *, version_id: int) -> VersionKey | None: ...

    # ---- artifacts and blob rows
    @abstractmethod
    def add_artifacts(self, *, version_id: int, artifacts: list[Artifact]) -> None: ...

    @abstractmethod
    def claim_blobs(self, *, blobs: Mapping[str, int]) -> list[str]:
        """Create or lock the row of each digest (value: size) as ``live``; return digests found ``deleting``."""

    @abstractmethod
    def mark_blob_deleting(self, *, digest: str, size: int) -> bool:
        """Mark the blob ``deleting`` if nothing references it (inserting the row if it has none).

        Returns False, changing nothing, if an artifact or an export file references it or another gc marked it already.
        Must lock the row and count references in a later statement (PostgreSQL READ COMMITTED).
        """

    @abstractmethod
    def delete_blob_row(self, *, digest: str) -> None: ...

    @abstractmethod
    def blob_rows(self) -> dict[str, tuple[int, BlobState]]:
        """Every blob row: digest -> (size, state)."""

    @abstractmethod
    def unreferenced_blobs(self) -> dict[str, int]:
        """Digest -> size of blob rows that no artifact and no export file references."""

    @abstractmethod
    def referenced_digests(self) -> dict[str, int]:
        """Digest -> size of every blob an artifact or an export file references."""

    @abstractmethod
    def grant_blob(self, *, digest: str, project: str, now: datetime) -> None:
        """Record that a principal limited to ``project`` uploaded the blob (idempotent)."""

    @abstractmethod
    def blob_in_project(self, *, digest: str, project: str) -> bool:
        """Whether ``project`` holds the blob: a version's artifact or an export file of it, or its upload.

        ``delete_blob_row`` removes the blob's grants with its row.
        """

    # ---- aliases
    @abstractmethod
    def set_alias(self, *, model_id: int, alias: str, version_id: int, now: datetime) -> None: ...

    @abstractmethod
    def get_alias(self, *, model_id: int, alias: str) -> AliasInfo | None: ...

    @abstractmethod
    def delete_alias(self, *, model_id: int, alias: str) -> None: ...

    @abstractmethod
    def list_aliases(self, *, model_id: int) -> list[AliasInfo]: ...

    @abstractmethod
    def record_alias_move(self, *, model_id: int, alias: str, from_number: int | None, to_number: int | None,
                          kind: Literal["set", "rollback", "delete"], actor: str, now: datetime) -> AliasMove: ...

    @abstractmethod
    def alias_moves(self, *, model_id: int, alias: str) -> list[AliasMove]:
        """Every move of the alias, newest first."""

    @abstractmethod
    def mark_move_reverted(self, *, move_id: int) -> None: ...

    # ---- training history
    @abstractmethod
    def add_epochs(self, *, version_id: int, epochs: list[Epoch]) -> None:
        """Add epoch rows; an epoch number already present is replaced."""

    @abstractmethod
    def count_epochs(self, *, version_id: int) -> int: ...

    @abstractmethod
    def list_epochs(self, *, version_id: int, max_rows: int | None = None) -> list[Epoch]:
        """The version's epochs in order; with ``max_rows``, at most that many, evenly spaced (every
        ``ceil(n / max_rows)``-th row from the first), always with the last one (the store does the thinning)."""

    # ---- evaluations (metrics of a version on a named dataset; one per version and dataset)
    @abstractmethod
    def save_evaluation(self, *, version_id: int, evaluation: Evaluation) -> None:
        """Insert the evaluation, replacing the version's evaluation of the same dataset (numbers included)."""

    @abstractmethod
    def get_evaluation(self, *, version_id: int, dataset: str) -> Evaluation | None: ...

    @abstractmethod
    def list_evaluations(self, *, version_id: int) -> list[Evaluation]:
        """The version's evaluations, by dataset name."""

    # ---- exports (derived artifacts of a version; their files hold blobs exactly as artifacts do)
    @abstractmethod
    def save_export(self, *, version_id: int, format: str, key: str, record: Mapping[str, Any],
                    files: list[Artifact], now: datetime) -> Export:
        """Insert the export, replacing the one with the same version, format and key (files included).

        ``record`` is the rest of the ``Export`` (status, options, source, toolchain, parity, bench …).
        Every file's blob row must exist (``claim_blobs`` first). Deleting the version deletes its exports.
        """

    @abstractmethod
    def get_export(self, *, version_id: int, format: str, key: str) -> Export | None: ...

    @abstractmethod
    def list_exports(self, *, version_id: int) -> list[Export]:
        """The version's exports, oldest first."""

    @abstractmethod
    def update_export(self, *, export_id: int, record: Mapping[str, Any], now: datetime) -> Export:
        """Replace the export's record (its files stay); raises NotFound when it does not exist."""

    # ---- jobs (background work on a version: exports; deleting the version deletes its jobs)
    @abstractmethod
    def create_job(self, *, version_id: int, kind: str, format: str, options: Mapping[str, Any], trusted: bool,
                   force: bool, source: str | None, entry_point: str | None, status: str, progress: str,
                   created_by: str, now: datetime, runner: str | None = None, export_id: int | None = None) -> Job:
        """Insert a job (``created_at``, and ``heartbeat_at`` when it has a ``runner``, are ``now``; a job created
        ``done`` or ``failed`` is also started and finished ``now``)."""

    @abstractmethod
    def get_job(self, *, job_id: int) -> Job | None: ...

    @abstractmethod
    def update_job(self, *, job_id: int, changes: Mapping[str, Any]) -> Job:
        """Apply ``changes`` (keys from JOB_UPDATABLE; ``error`` a mapping or None); NotFound when it does not exist."""

    @abstractmethod
    def list_jobs(self, *, version_id: int, limit: int = 20) -> list[Job]:
        """The version's jobs, newest first, at most ``limit``."""

    # ---- API tokens (the server authenticates with them; secrets are never stored, only SHA-256 hex)
    @abstractmethod
    def insert_token(self, *, name: str, secret_hash: str, role: str, project: str | None,
                     expires_at: datetime | None, created_by: str, now: datetime) -> TokenInfo:
        """A duplicate name raises AlreadyExists (revoked tokens keep their name)."""

    @abstractmethod
    def get_token(self, *, name: str) -> TokenInfo | None: ...

    @abstractmethod
    def get_token_by_hash(self, *, secret_hash: str) -> TokenInfo | None: ...

    @abstractmethod
    def list_tokens(self) -> list[TokenInfo]:
        """Every token, revoked and expired ones included, ordered by id."""

    @abstractmethod
    def revoke_token(self, *, name: str, now: datetime) -> TokenInfo | None:
        """Set revoked_at (if not yet revoked); None when no such token."""

    @abstractmethod
    def delete_token(self, *, name: str) -> bool:
        """Remove the token's row (its name becomes free); False when no such token."""

    # ---- inference records (what a version answered) and their feedback
    @abstractmethod
    def insert_inferences(self, *, rows: Sequence[NewInference]) -> None:
        """Insert the records, all or none: a request id stored already raises ``requests_logged_already``'s
        ``AlreadyExists`` and inserts nothing (the unique index decides, so concurrent writers cannot both win)."""

    @abstractmethod
    def existing_request_ids(self, *, request_ids: Collection[str]) -> set[str]:
        """Which of these request ids are stored already."""

    @abstractmethod
    def get_inference(self, *, request_id: str) -> InferenceRecord | None:
        """One record with its feedback (oldest first)."""

    @abstractmethod
    def list_inferences(self, *, query: InferenceQuery) -> list[InferenceRecord]:
        """At most ``query.limit`` records, newest first by (time, seq), each with its feedback."""

    @abstractmethod
    def inference_stats(self, *, model_id: int, versions: Collection[int] | None, since: datetime,
                        until: datetime) -> list[InferenceStats]:
        """Per version with records in [since, until): volume, errors, latency p50/p95 (nearest rank), how many
        have feedback and the share whose newest feedback agreed; by version number."""

    @abstractmethod
    def add_feedback(self, *, request_id: str, feedback: NewFeedback) -> Feedback:
        """Append feedback to a record and make it the record's newest (label, agreement, count)."""

    @abstractmethod
    def set_inference_retention(self, *, project_id: int, retention: InferenceRetention | None) -> Project: ...

    @abstractmethod
    def prune_inferences(self, *, project_id: int, older_than: datetime | None, keep: int | None,
                         dry_run: bool) -> int:
        """Remove (or with ``dry_run`` count) the project's records older than ``older_than`` and, per model,
        all but the newest ``keep``; their feedback goes with them. Returns how many."""

    # ---- events
    @abstractmethod
    def append_event(self, *, actor: str, action: str, now: datetime, project: str | None = None,
                     model: str | None = None, version: int | None = None, alias: str | None = None,
                     before: Any = None, after: Any = None) -> Event: ...

    @abstractmethod
    def list_events(self, *, project: str | None = None, model: str | None = None, version: int | None = None,
                    action: str | None = None, actor: str | None = None, cursor: list[Any] | None = None,
                    limit: int = 50) -> Page[Event]:
        """Newest first, keyset on id."""


class MetadataStore(ABC):
    """A metadata backend. Safe to share between threads; each transaction is used by one thread."""

    url: str

    @abstractmethod
    def transaction(self) -> AbstractContextManager[MetadataTx]:
        """A write transaction, serialized against conflicting writers; retried by the caller on StorageError."""

    @abstractmethod
    def read(self) -> AbstractContextManager[MetadataTx]:
        """A read-only transaction (a consistent snapshot where the database offers one)."""

    @abstractmethod
    def close(self) -> None: ...

    def change_token(self) -> object | None:
        """A cheap value that changes whenever any writer (any process) commits; None if not offered.

        Lets ``resolve`` reuse an alias lookup in microseconds while nothing has changed.
        """
        return None


def open_metadata_store(url: str) -> MetadataStore:
    """Open the store a URL names: ``memory://``, ``sqlite:///path/to/db``, ``postgresql://...``."""
    from modelreg.errors import InvalidInput

    if url.startswith("memory:"):
        from modelreg.metadata.memory import MemoryMetadataStore

        return MemoryMetadataStore()
    if url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
        from modelreg.metadata.sql.store import SqlMetadataStore

        return SqlMetadataStore(url)
    raise InvalidInput(f"unsupported database URL {url.split(':', 1)[0]!r}",
                       hint="use sqlite:///path/registry.db or postgresql://user@host/db", url=url)


@functools.cache
def _versions_adapter() -> TypeAdapter[list[Version]]:
    return TypeAdapter(list[Version])
