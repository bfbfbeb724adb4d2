"""Domain types: what the service, the stores and every face exchange. Frozen pydantic models."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypedDict, TypeVar, get_args, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelreg.errors import InvalidInput, InvalidMetadata
from modelreg.export.job import (
    BenchOutcome,
    ExportFailure,
    ExportOptions,
    ExportStatus,
    Parity,
    SourceKind,
)
from modelreg.text import check_storable

Task = Literal["detection", "segmentation", "classification", "regression", "other"]
VersionStatus = Literal["pending", "training", "ready", "failed"]
BestMode = Literal["max", "min"]
STATUSES: tuple[str, ...] = ("pending", "training", "ready", "failed")
# Every kind of change the events log records: the one declaration (docs/concepts.md lists them, the
# events filter and the dashboard's activity page offer them).
EventAction = Literal[
    "project.created", "project.updated", "project.deleted",
    "model.created", "model.updated", "model.deleted",
    "version.registered", "version.updated", "version.deleted", "version.pinned", "version.unpinned",
    "version.archived", "version.unarchived", "version.marked_best",
    "run.started", "run.finished", "run.failed", "run.discarded",
    "alias.set", "alias.deleted", "alias.rollback", "alias.promoted",
    "version.exported", "version.export_failed", "export.benchmarked",
    "token.created", "token.revoked", "token.purged",
    "gc.deleted", "blobs.repaired",
    "evaluation.logged",
    "inference.feedback", "inference.retention_applied",
]
EVENT_ACTIONS: tuple[str, ...] = get_args(EventAction)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Open(BaseModel):
    """A frozen type that keeps fields it does not know (users' metadata is never dropped)."""

    model_config = ConfigDict(frozen=True, extra="allow", defer_build=True)


def check_metrics(metrics: dict[str, Any] | None, *, where: str = "metrics") -> dict[str, float]:
    """Return metrics as name -> finite float; raise InvalidMetadata naming the bad entry."""
    out: dict[str, float] = {}
    for name, value in (metrics or {}).items():
        if not isinstance(name, str) or not name or len(name) > 128:
            raise InvalidMetadata(f"{where}: metric name {name!r} must be a string of 1..128 characters",
                                  field=where)
        check_storable(name, f"{where} (a metric name)")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidMetadata(f"{where}.{name} is {value!r}; metrics are numbers",
                                  hint="put text under notes, tags or params instead", field=f"{where}.{name}")
        try:
            f = float(value)
        except OverflowError:  # an integer past the float range (JSON allows any number of digits)
            raise InvalidMetadata(f"{where}.{name} is an integer too large to be a number",
                                  hint="metrics are finite numbers", field=f"{where}.{name}") from None
        if not math.isfinite(f):
            raise InvalidMetadata(f"{where}.{name} is {value}; NaN and infinite values are not stored",
                                  hint="leave the metric out, or log the real value once training is fixed",
                                  field=f"{where}.{name}")
        out[name] = f
    return out


def _unit_interval(value: float | None, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidMetadata(f"{field} is {value!r}; it must be a finite number", field=field)
    if not 0.0 <= value <= 1.0:
        raise InvalidMetadata(f"{field} is {value}; it must be between 0 and 1",
                              hint="AP, precision and recall are fractions (0.85, not 85)", field=field)
    return float(value)


# The other names users give a per-class field, each with the field it is stored as: the one declaration
# (ClassMetric reads them, the error for an unknown key lists them, docs/concepts.md names them).
CLASS_METRIC_ALIASES: dict[str, str] = {
    "class": "class_name",
    "name": "class_name",
    "average_precision": "ap",
    "training_annotations_count": "training_count",
    "train_count": "training_count",
    "validation_annotations_count": "validation_count",
    "val_count": "validation_count",
}


def canonical_class_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A per-class row with every alias renamed to its field; a field given twice with two values is refused."""
    out: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, value in row.items():
        name = CLASS_METRIC_ALIASES.get(key, key)
        if name in out and out[name] != value:
            raise InvalidMetadata(f"{given[name]!r} and {key!r} name the same field ({name}) with different "
                                  f"values ({out[name]!r}, {value!r})", hint=f"give {name} once", field=name)
        out[name] = value
        given[name] = key
    return out


class ClassMetric(Open):
    """Per-class results: AP, precision, recall and annotation counts of one class.

    Rows may use the names of ``CLASS_METRIC_ALIASES`` (``class``, ``training_annotations_count``, …); they are
    stored under the canonical field. Other per-class numbers go under ``metrics``.
    """

    class_name: str
    annotation_type: str | None = None
    ap: float | None = None
    precision: float | None = None
    recall: float | None = None
    training_count: int | None = None
    validation_count: int | None = None
    metrics: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _canonical(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        row = canonical_class_row(data)
        if row.get("class_name") is None:
            raise InvalidMetadata("the row names no class", hint=f"per-class rows take {class_metric_names()}",
                                  field="class_name")
        return row

    @field_validator("ap", "precision", "recall", mode="before")
    @classmethod
    def _fraction(cls, v: Any, info: Any) -> float | None:
        return _unit_interval(v, info.field_name)

    @field_validator("training_count", "validation_count", mode="before")
    @classmethod
    def _count(cls, v: Any, info: Any) -> int | None:
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InvalidMetadata(f"{info.field_name} is {v!r}; it must be a count >= 0", field=info.field_name)
        return v

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics(cls, v: Any) -> dict[str, float]:
        if v is not None and not isinstance(v, Mapping):
            raise InvalidMetadata(f"metrics is {v!r}; it must be an object of name -> number",
                                  hint='e.g. "metrics": {"f1": 0.88}', field="metrics")
        return check_metrics(dict(v or {}))


def class_metric_names() -> str:
    """The names a per-class row takes, each field with its aliases: ``class_name (or class, name), …``."""
    parts = []
    for field in ClassMetric.model_fields:
        aliases = [a for a, f in CLASS_METRIC_ALIASES.items() if f == field]
        parts.append(f"{field} (or {', '.join(aliases)})" if aliases else field)
    return ", ".join(parts)


class DatasetRef(Open):
    name: str | None = None
    version: str | None = None
    uri: str | None = None
    digest: str | None = None
    train_count: int | None = None
    val_count: int | None = None
    test_count: int | None = None
    classes: list[str] | None = None


class TrainingInfo(Open):
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None
    hardware: str | dict[str, Any] | None = None


class SourceInfo(Open):
    git_commit: str | None = None
    code_version: str | None = None
    framework_versions: dict[str, str] | None = None


class TensorSpec(Frozen):
    name: str
    dtype: str = "float32"
    shape: list[int] = Field(default_factory=list)


class Signature(Frozen):
    inputs: list[TensorSpec] = Field(default_factory=list)
    outputs: list[TensorSpec] = Field(default_factory=list)


class Policies(Frozen):
    best_metric: str | None = None
    best_mode: BestMode = "max"
    auto_activate_first: bool = True
    protected_aliases: list[str] = Field(default_factory=lambda: ["production"])
    promotion_gate: str | None = None
    # exports may load this model's pickled weights (a YOLO checkpoint) without being told trusted each time;
    # set by an admin, as it lets editors run the code such files name wherever exports run
    trusted_sources: bool = False


class Project(Frozen):
    id: int
    name: str
    description: str = ""
    labels: list[str] = Field(default_factory=list)
    created_at: datetime
    inference_retention: InferenceRetention | None = None


class Model(Frozen):
    id: int
    project: str
    name: str
    description: str = ""
    task: Task = "other"
    baseline: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    pinned: bool = False
    policies: Policies = Field(default_factory=Policies)
    marked_best: int | None = None
    latest_number: int = 0
    created_at: datetime
    updated_at: datetime


class Artifact(Frozen):
    path: str
    digest: str
    size: int
    media_type: str = "application/octet-stream"


class VersionKey(Frozen):
    project: str
    model: str
    number: int

    def __str__(self) -> str:
        return f"{self.project}/{self.model}:v{self.number}"


class VersionMetadata(Frozen):
    """A version's state and metadata: what a stored version and a version being inserted share."""

    status: VersionStatus = "ready"
    archived: bool = False
    pinned: bool = False
    created_at: datetime
    created_by: str = ""
    label: str | None = None  # a name unique in the model, usable wherever a number is (model:LABEL)
    description: str = ""
    notes: str = ""
    changelog: list[str] = Field(default_factory=list)
    limitations: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    class_metrics: list[ClassMetric] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    dataset: DatasetRef | None = None
    training: TrainingInfo | None = None
    source: SourceInfo | None = None
    signature: Signature | None = None
    error: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class VersionFields(TypedDict, total=False):
    """A version's metadata as a user gives it: the one declaration of the settable fields.

    ``register_version`` and ``update_version`` take these as keywords (``**fields: Unpack[VersionFields]``);
    the REST bodies, the validation in the service and the CLI derive their field lists from it, and
    ``VersionMetadata`` holds each of them as stored (a test keeps the two in step). Adding a field: declare it
    here and in ``VersionMetadata``, then add its column and migration in the SQL store.
    None means "not given" everywhere.
    """

    metrics: Annotated[Mapping[str, float] | None, "Final numbers: map50, accuracy, val_loss…"]
    class_metrics: Annotated[Sequence[Any] | None, "One row per class: class_name, ap, precision, recall, counts."]
    params: Annotated[Mapping[str, Any] | None, "Hyperparameters and settings, any JSON."]
    dataset: Annotated[Mapping[str, Any] | DatasetRef | None, "What it was trained on: name, version, counts."]
    training: Annotated[Mapping[str, Any] | TrainingInfo | None, "When and how long it trained, on what."]
    source: Annotated[Mapping[str, Any] | SourceInfo | None, "Code that produced it: repository, commit."]
    signature: Annotated[Mapping[str, Any] | Signature | None, "Input and output tensors."]
    description: Annotated[str | None, "One line on what this version is."]
    notes: Annotated[str | None, "Free text: how it was made, what to watch."]
    changelog: Annotated[Sequence[str] | None, "What changed since the previous version, one entry per line."]
    limitations: Annotated[str | None, "Known weaknesses."]
    tags: Annotated[Mapping[str, str | None] | None, "Key/value labels; on update a null value removes one."]
    extra: Annotated[Mapping[str, Any] | None, "Any other fields, kept as given."]
    label: Annotated[str | None, "A name unique in the model (v4_no_leakage), usable in references "
                                "(model:v4_no_leakage); on update \"\" removes it."]
    parent: Annotated[str | None, "A reference to the version this one derives from."]


# The settable fields, in declaration order; ``parent`` is stored as a link, the others as ``VersionMetadata``.
VERSION_FIELDS: tuple[str, ...] = tuple(VersionFields.__annotations__)
# What the registry sets itself: a version's state and who made it.
VERSION_STATE_FIELDS: tuple[str, ...] = ("status", "archived", "pinned", "created_at", "created_by", "error")


def given_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The version fields given (None = not given); a keyword that is not one is refused, naming them all."""
    unknown = sorted(set(fields) - set(VERSION_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown version field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}",
                           hint=f"the fields are {', '.join(VERSION_FIELDS)}", field=unknown[0])
    return {key: value for key, value in fields.items() if value is not None}


def over_folder_fields(found: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """A folder's metadata files overridden by what the caller gave; the open mappings merge key by key."""
    merged = {**found, **given}
    for key in ("metrics", "params", "extra", "tags"):
        if key in found and key in given and isinstance(given[key], Mapping):
            merged[key] = {**found[key], **given[key]}
    return merged


def version_field_help(name: str) -> str:
    """The one-line help of a settable field (its declaration's annotation)."""
    hints = get_type_hints(VersionFields, include_extras=True)
    return str(hints[name].__metadata__[0])


class Version(VersionMetadata):
    id: int
    project: str
    model: str
    number: int
    updated_at: datetime
    parent: VersionKey | None = None
    artifacts: list[Artifact] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)
    is_best: bool = False

    @property
    def key(self) -> VersionKey:
        return VersionKey(project=self.project, model=self.model, number=self.number)

    @property
    def ref(self) -> str:
        return f"{self.project}/{self.model}:v{self.number}"

    @property
    def size(self) -> int:
        return sum(a.size for a in self.artifacts)


Role = Literal["viewer", "editor", "maintainer", "admin"]
ROLES: tuple[str, ...] = ("viewer", "editor", "maintainer", "admin")


class TokenInfo(Frozen):
    """An API token as the registry keeps it: never the secret, only its SHA-256."""

    id: int
    name: str
    role: Role
    project: str | None = None  # None: every project
    created_at: datetime
    created_by: str = ""
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def active_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class Evaluation(Frozen):
    """Metrics of a version measured on a named dataset after training (``eval.<dataset>.<metric>`` in filters
    and gates). One per version and dataset: logging the same dataset again replaces it (the events log keeps
    the value before). ``digest`` optionally says which copy of the dataset it was (``sha256:…``, a tag)."""

    dataset: str
    digest: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    class_metrics: list[ClassMetric] = Field(default_factory=list)
    notes: str = ""
    created_at: datetime
    created_by: str = ""


class MetricPoint(Frozen):
    """One version's value of a metric (``metric_trend``: a chart across versions)."""

    number: int
    value: float


class Epoch(Frozen):
    epoch: int
    metrics: dict[str, float] = Field(default_factory=dict)
    timestamp: datetime


class AliasInfo(Frozen):
    alias: str
    number: int
    protected: bool = False
    updated_at: datetime


class AliasMove(Frozen):
    id: int
    alias: str
    from_number: int | None
    to_number: int | None
    kind: Literal["set", "rollback", "delete"] = "set"
    reverted: bool = False
    at: datetime
    actor: str = ""


class Event(Frozen):
    id: int
    at: datetime
    actor: str
    action: str
    project: str | None = None
    model: str | None = None
    version: int | None = None
    alias: str | None = None
    before: Any = None
    after: Any = None


PRODUCTION = "production"  # the alias of the version in use: marked ✓, set by auto_activate_first, shown on tables


class ModelOverview(Frozen):
    """A model as a table of models shows it: its production version (with its metrics), the number of its best
    version, its latest number and how many versions it holds."""

    model: Model
    production: Version | None = None
    best: int | None = None
    latest: int = 0
    versions: int = 0


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a keyset-paginated listing: iterate it (or ``len`` it) like the list of its items;
    ``total`` counts every match, ``next_cursor`` fetches the next page (None on the last)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    items: list[T]
    next_cursor: str | None = None
    total: int

    @classmethod
    def of(cls, items: list[T], *, next_cursor: str | None = None, total: int | None = None) -> Page[T]:
        """A page of items that are already domain objects (a store's, the service's): built without checking
        them again, so a listing does not build a second validator for the items' type. ``total`` defaults to
        ``len(items)``."""
        return cls.model_construct(items=items, next_cursor=next_cursor,
                                   total=len(items) if total is None else total)

    def __iter__(self) -> Iterator[T]:  # type: ignore[override]  # the items, not pydantic's (field, value) pairs
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]


@dataclass(frozen=True)
class PageJson:
    """A page already in the form its reply sends: ``items`` is the JSON array of the items exactly as
    ``Page[T]`` writes them (a store that can writes it in the database; the reply wraps it as it is)."""

    items: bytes
    next_cursor: str | None
    total: int

    def to_json(self) -> bytes:
        """The page's JSON, as ``Page[T]`` writes it."""
        cursor = b"null" if self.next_cursor is None else json.dumps(self.next_cursor).encode()
        return b"".join((b'{"items":', self.items, b',"next_cursor":', cursor, b',"total":', str(self.total).encode(),
                         b"}"))


class MetricDiff(Frozen):
    name: str
    values: list[float | None]
    deltas: list[float | None]  # each value minus the first version's


class ClassApDiff(Frozen):
    class_name: str
    values: list[float | None]
    deltas: list[float | None]


class ParamDiff(Frozen):
    name: str
    values: list[Any]
    identical: bool


class Comparison(Frozen):
    versions: list[str]
    metrics: list[MetricDiff]
    class_ap: list[ClassApDiff]
    params: list[ParamDiff]
    curves: dict[str, dict[str, list[tuple[int, float]]]]  # version ref -> metric -> [(epoch, value)]
    cut: list[str] = Field(default_factory=list)  # what the comparison's limits left out, in words
    evaluations: list[MetricDiff] = Field(default_factory=list)  # named eval.<dataset>.<metric>


class GateTerm(Frozen):
    term: str
    passed: bool
    detail: str


class PromotionPlan(Frozen):
    model: str
    alias: str
    from_number: int | None
    to_number: int
    archive_number: int | None
    gate: str | None
    gate_passed: bool
    gate_terms: list[GateTerm] = Field(default_factory=list)
    forced: bool = False
    applied: bool = False


class LineageEdge(Frozen):
    """One link of a lineage: ``child`` was derived from ``parent`` (its ``parent`` field)."""

    parent: VersionKey
    child: VersionKey


class Lineage(Frozen):
    version: str
    ancestors: list[VersionKey]  # parent first, root last
    descendants: list[VersionKey]  # breadth first
    # Whose child each descendant is: one edge per descendant, in the order of ``descendants`` (a reply of a
    # server that predates the field has none).
    edges: list[LineageEdge] = Field(default_factory=list)


class GcReport(Frozen):
    dry_run: bool
    blobs: int
    bytes: int
    digests: list[str] = Field(default_factory=list)
    temp_files: int = 0
    inferences: int = 0  # inference records past their project's retention (removed, or to be)


class FsckProblem(Frozen):
    kind: Literal["missing", "corrupt", "dangling"]
    digest: str
    detail: str
    size: int | None = None  # the size the registry recorded for the blob


class FsckRepair(Frozen):
    """A missing or corrupt blob that ``fsck(repair_from=...)`` stored again from a file of that folder."""

    kind: Literal["missing", "corrupt"]
    digest: str
    size: int
    source: str  # the file it came from (on the machine that ran the repair)


class FsckReport(Frozen):
    checked: int
    bytes: int
    problems: list[FsckProblem] = Field(default_factory=list)  # what is still wrong (after any repair)
    unreferenced: int = 0
    repaired: list[FsckRepair] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class ExportSource(Frozen):
    """The version file an export was made from."""

    path: str
    digest: str
    kind: SourceKind
    entry_point: str | None = None


class Export(Frozen):
    """A derived artifact of a version in a deployment format, with its provenance and its checks.

    One per version + format + options (``key`` hashes them with the source's digest). ``files`` live at
    ``exports/<format>/<key>/…`` and are blobs like any artifact (verified, deduplicated, kept by gc while
    the export exists). ``status`` is the verdict of the parity check (see ``modelreg.export.job``).
    """

    id: int
    project: str
    model: str
    version: int
    format: str
    key: str
    status: ExportStatus
    options: ExportOptions = Field(default_factory=ExportOptions)
    files: list[Artifact] = Field(default_factory=list)
    source: ExportSource
    toolchain: dict[str, str] = Field(default_factory=dict)
    duration_s: float = 0.0
    parity: Parity | None = None
    bench: BenchOutcome | None = None
    error: ExportFailure | None = None
    notes: list[str] = Field(default_factory=list)  # what the exporter decided (an ignored option, a fallback)
    created_at: datetime
    created_by: str = ""

    @property
    def ref(self) -> str:
        return f"{self.project}/{self.model}:v{self.version}"

    @property
    def size(self) -> int:
        return sum(a.size for a in self.files)


JobKind = Literal["export"]
# queued: waiting for a worker; running: a worker has it; done: it made (or found) its export; failed: see error.
JobStatus = Literal["queued", "running", "done", "failed"]
JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)


class JobError(Frozen):
    """Why a job failed: the facts the same call would have raised (``code`` names the error class)."""

    code: str
    message: str
    hint: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class Job(Frozen):
    """Work the registry does in the background (an export), with its state and progress.

    ``start_export`` returns one; ``get_job`` / ``wait_job`` follow it. A job that is done names the export it
    made or found (``export_id``); a failed one carries the error the synchronous call would have raised. A job
    whose worker stopped (the server was stopped or crashed) is reported failed ("interrupted").
    """

    id: int
    kind: JobKind = "export"
    project: str
    model: str
    version: int
    format: str
    options: ExportOptions = Field(default_factory=ExportOptions)
    trusted: bool = False
    force: bool = False
    source: str | None = None
    entry_point: str | None = None
    status: JobStatus
    progress: str = ""  # what it is doing now, in a few words ("converting and checking parity")
    export_id: int | None = None
    error: JobError | None = None
    created_by: str = ""
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    runner: str | None = None  # the process that runs it (host:pid)
    heartbeat_at: datetime | None = None  # its runner's last sign of life

    @property
    def ref(self) -> str:
        return f"{self.project}/{self.model}:v{self.version}"

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


class ImportItem(Frozen):
    source: str
    version: str | None = None
    error: str | None = None


class ImportReport(Frozen):
    imported: list[ImportItem] = Field(default_factory=list)
    skipped: list[ImportItem] = Field(default_factory=list)  # already imported; version = the existing ref
    failed: list[ImportItem] = Field(default_factory=list)
    aliases: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)


# ---- inference: what served which request, and what people said of it afterwards
InferenceStatus = Literal["ok", "error"]
INFERENCE_STATUSES: tuple[str, ...] = get_args(InferenceStatus)
FeedbackSource = Literal["human", "auto"]
FEEDBACK_SOURCES: tuple[str, ...] = get_args(FeedbackSource)


class Feedback(Frozen):
    """A judgement of one inference record: a ``label`` (the right class), a ``corrected`` output (the right
    detections, value…), or both, with who said so. A record can hold several; the newest wins for exports.
    ``agrees``: whether the record's outputs matched it (None where that cannot be told)."""

    id: int
    request_id: str
    label: str | None = None
    corrected: Any = None
    source: FeedbackSource = "human"
    author: str = ""
    note: str = ""
    agrees: bool | None = None
    created_at: datetime


class InferenceRecord(Frozen):
    """One request a model version answered: the version that actually served it (a number, never an alias),
    when, how long it took, how it ended, what it was given (a reference, plus small inline data when wanted)
    and what it answered (``outputs``: detections with class, score and box; a class with its score; a value).
    ``sample_rate``: the share of requests logged (0.1: one in ten), so counts can be scaled back up."""

    seq: int  # the store's order of arrival (keyset pages walk it)
    request_id: str
    client_request_id: str | None = None
    project: str
    model: str
    version: int
    time: datetime
    latency_ms: float | None = None
    status: InferenceStatus = "ok"
    error: str = ""
    input_ref: str = ""
    input: Any = None
    outputs: Any = None
    sample_rate: float = 1.0
    feedback: list[Feedback] = Field(default_factory=list)  # oldest first; the last one wins


class InferencePage(Frozen):
    """A page of inference records, newest first; ``next_cursor`` fetches the next (None on the last). No total:
    counting millions of records for every page would cost more than the page."""

    items: list[InferenceRecord]
    next_cursor: str | None = None

    def __iter__(self) -> Iterator[InferenceRecord]:  # type: ignore[override]  # the items, as Page does
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> InferenceRecord:
        return self.items[index]


class InferenceBatch(Frozen):
    """What ``log_inferences`` stored: how many records, and each one's request id in the order given."""

    accepted: int
    request_ids: list[str]


class InferenceStats(Frozen):
    """Live figures of one version over a time window: volume, errors, latency, and agreement with feedback."""

    version: int
    records: int = 0
    errors: int = 0
    error_rate: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    with_feedback: int = 0
    compared: int = 0  # judged records whose agreement could be told (a label on detections cannot)
    agreement: float | None = None  # share of the compared records whose outputs matched their newest feedback
    since: datetime | None = None
    until: datetime | None = None


class InferenceRetention(Frozen):
    """How long a project keeps its inference records: at most ``days`` old and/or the newest ``count`` per
    model; None: no limit. ``gc`` applies it (its dry run counts what would go)."""

    days: int | None = Field(default=None, ge=1)
    count: int | None = Field(default=None, ge=1)


FeedbackFormat = Literal["jsonl", "yolo", "coco"]
FEEDBACK_FORMATS: tuple[str, ...] = get_args(FeedbackFormat)


class FeedbackExport(Frozen):
    """Corrected samples written to a folder in a training format, and the dataset reference that points at
    them (give it as ``dataset=`` to the version trained on it)."""

    path: str
    format: FeedbackFormat
    samples: int
    files: int
    skipped: int = 0  # judged records the format cannot hold (a label alone in yolo/coco, boxes without a size)
    dataset: DatasetRef
