"""The registry contract: ``Registry``, the one declaration of what every registry offers.

``modelreg.connect()`` returns a ``Registry``: the in-process service (the embedded default, or the stores
of a scale-out deployment) or the HTTP client of a server. Both implement every method here with the same
signature, return types and error classes, which mypy checks (``connect`` returns each as a ``Registry``)
and the contract test suite runs against each. The CLI, the importers and every other face are typed on
``Registry`` alone, so they work the same whichever registry they were given.

References are text (``fire-detector``, ``embereye/fire-detector:3``, ``fire-detector@production``,
``fire-detector:best``); a reference naming no version follows ``MODEL_ENVIRONMENT`` (default production).
Errors are the classes of ``modelreg.errors``; what each operation needs (its least role) is in
``docs/security.md``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol, Unpack, runtime_checkable

if TYPE_CHECKING:
    from modelreg.blobs.base import BlobInfo, Progress
    from modelreg.export.job import ExportOptions
    from modelreg.local.experiment_files import TextFile
    from modelreg.local.live import LiveModel
    from modelreg.local.runs import RunBase
    from modelreg.local.sources import FilesArg
    from modelreg.refs import Ref
    from modelreg.types import (
        AliasInfo,
        AliasMove,
        Artifact,
        BestMode,
        Comparison,
        Epoch,
        Evaluation,
        Event,
        Export,
        Feedback,
        FeedbackExport,
        FeedbackFormat,
        FeedbackSource,
        FsckReport,
        GcReport,
        ImportReport,
        InferenceBatch,
        InferencePage,
        InferenceRecord,
        InferenceStats,
        InferenceStatus,
        Job,
        Lineage,
        MetricPoint,
        Model,
        ModelOverview,
        Page,
        Project,
        PromotionPlan,
        Role,
        Task,
        TokenInfo,
        Version,
        VersionFields,
    )

DEFAULT_PROJECT = "default"  # the project of a reference that names none
# gc leaves a stored blob no version knows yet alone this long (a registration may be committing it), and
# removes temporary files of interrupted uploads after this long without a write
ORPHAN_GRACE_S = 3600.0
TEMP_GRACE_S = 3600.0
ReportFormat = Literal["json", "markdown"]  # what ``report`` writes
# how ``import_folder`` reads a folder (auto: detect it)
Layout = Literal["auto", "versions", "environments", "ultralytics"]


@runtime_checkable
class Registry(Protocol):
    """Every operation of a modelreg registry, local or remote (see the module docstring)."""

    # ---- the connection
    @property
    def url(self) -> str:
        """Where the registry is: its metadata store's URL, or the server's address."""
        ...

    def close(self) -> None:
        """Release the connection (stores or HTTP client)."""
        ...

    def __enter__(self) -> Registry: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    # ---- projects and models
    def create_project(self, name: str, *, description: str = "", labels: list[str] | None = None,
                       exist_ok: bool = False) -> Project:
        """Create a project (a namespace with its ordered label set)."""
        ...

    def get_project(self, name: str = DEFAULT_PROJECT) -> Project:
        """A project by name."""
        ...

    def list_projects(self) -> list[Project]:
        """Every project this principal may see."""
        ...

    def update_project(self, name: str, *, description: str | None = None,
                       labels: list[str] | None = None) -> Project:
        """Change a project's description or label set; the old label set is kept in the events log."""
        ...

    def delete_project(self, name: str) -> None:
        """Delete a project that has no models left."""
        ...

    def create_model(self, name: str, *, project: str | None = None, description: str = "",
                     task: Task = "other", baseline: str | None = None, tags: Mapping[str, str] | None = None,
                     best_metric: str | None = None, best_mode: BestMode = "max",
                     auto_activate_first: bool = True, protected_aliases: list[str] | None = None,
                     promotion_gate: str | None = None, exist_ok: bool = False) -> Model:
        """Create a model (``project/name`` or ``name`` in the default project, created on first use)."""
        ...

    def get_model(self, name: str | Ref) -> Model:
        """A model by name (``project/name``, or ``name`` in the default project)."""
        ...

    def update_model(self, name: str, *, rename: str | None = None, description: str | None = None,
                     task: Task | None = None, baseline: str | None = None, tags: Mapping[str, Any] | None = None,
                     pinned: bool | None = None, best_metric: str | None = None, best_mode: BestMode | None = None,
                     auto_activate_first: bool | None = None, protected_aliases: list[str] | None = None,
                     promotion_gate: str | None = None, trusted_sources: bool | None = None) -> Model:
        """Change a model; ``tags`` merge (a None value removes the key); ``promotion_gate=''`` clears it;
        ``trusted_sources``: exports load its pickled weights without ``trusted=True`` (admin)."""
        ...

    def delete_model(self, name: str) -> None:
        """Delete a model and all its versions; refused while an alias or a pin holds any of them."""
        ...

    def search_models(self, query: str | None = None, *, project: str | None = None,
                      filter: Mapping[str, Any] | None = None, sort: str = "name", limit: int = 50,
                      cursor: str | None = None) -> Page[Model]:
        """Models matching a filter expression (and/or must/not ``filter``), keyset paged."""
        ...

    def model_overview(self, query: str | None = None, *, project: str | None = None,
                       filter: Mapping[str, Any] | None = None, sort: str = "name", limit: int = 50,
                       cursor: str | None = None) -> Page[ModelOverview]:
        """``search_models`` with each model's production version, best and latest numbers and version count:
        what a table of models shows, in one call."""
        ...

    def iter_models(self, query: str | None = None, **kwargs: Any) -> Iterator[Model]:
        """Every model matching, walking all pages."""
        ...

    # ---- versions
    def register_version(self, model: str, files: FilesArg = None, *,
                         epochs: Sequence[Mapping[str, Any]] | None = None, read_metadata: bool = True,
                         progress: Progress | None = None,
                         artifacts: Sequence[Artifact | Mapping[str, Any]] | None = None,
                         config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
                         update_labels: bool = False,
                         **fields: Unpack[VersionFields]) -> Version:
        """Register a new ready version of ``model`` (``project/model``; both are created on first use).

        An experiment manifest (the folder's YAML config, or ``config``) decides the project when ``model``
        names none, and its labels must be the project's label set unless ``update_labels=True``.
        """
        ...

    def register_experiment(self, config: str | os.PathLike[str] | TextFile, *,
                            metrics: str | os.PathLike[str] | TextFile | Mapping[str, Any] | None = None,
                            checkpoints: Mapping[str, str | os.PathLike[str] | Artifact | Mapping[str, Any]]
                            | None = None,
                            experiment: str | None = None, project: str | None = None, alias: str | None = None,
                            update_labels: bool = False, progress: Progress | None = None) -> list[Version]:
        """Register one version per model of an experiment manifest (``config``), in its project, with the run's
        ``metrics`` (metrics.json) and each model's checkpoint, all tagged ``experiment=<id>``: all or none.
        See ``modelreg.service.experiments``."""
        ...

    def get_version(self, ref: str | Ref) -> Version:
        """The version a reference names (a bare model name means its MODEL_ENVIRONMENT alias)."""
        ...

    def list_versions(self, model: str, *, limit: int = 50, cursor: str | None = None,
                      include_archived: bool = True) -> Page[Version]:
        """A model's versions, newest first."""
        ...

    def search_versions(self, query: str | None = None, *, model: str | None = None, project: str | None = None,
                        filter: Mapping[str, Any] | None = None, sort: str | None = None, limit: int = 50,
                        cursor: str | None = None) -> Page[Version]:
        """Versions matching a filter expression (``metrics.map50 >= 0.8 and not pinned``), keyset paged."""
        ...

    def iter_versions(self, query: str | None = None, **kwargs: Any) -> Iterator[Version]:
        """Every version matching, walking all pages."""
        ...

    def metric_trend(self, model: str, metric: str, *, limit: int = 1000,
                     include_archived: bool = True) -> list[MetricPoint]:
        """A metric across the model's versions: the newest ``limit`` versions that have it, oldest first."""
        ...

    def update_version(self, ref: str, **fields: Unpack[VersionFields]) -> Version:
        """Amend a version's metadata (files never change): ``metrics`` and ``tags`` merge (a None tag value
        removes it), the other fields replace; each call is one event with before and after."""
        ...

    def pin(self, ref: str) -> Version:
        """Pin a version: it cannot be deleted while pinned."""
        ...

    def unpin(self, ref: str) -> Version:
        """Unpin a version: it can be deleted again."""
        ...

    def archive(self, ref: str) -> Version:
        """Archive a version: hidden from default listings, kept, still resolvable."""
        ...

    def unarchive(self, ref: str) -> Version:
        """Show an archived version in default listings again."""
        ...

    def mark_best(self, ref: str) -> Version:
        """Mark a version best, overriding the model's best_metric policy."""
        ...

    def best_version(self, model: str) -> Version:
        """The version marked best, or the best by the model's best_metric policy."""
        ...

    def delete_version(self, ref: str) -> None:
        """Delete a version and every blob nothing else references."""
        ...

    # ---- training runs
    def start_run(self, model: str, *, params: Mapping[str, Any] | None = None,
                  parent: str | None = None, description: str | None = None,
                  tags: Mapping[str, str] | None = None, dataset: Mapping[str, Any] | None = None,
                  source: Mapping[str, Any] | None = None) -> RunBase:
        """Start a training run: a new version with status ``training`` until the ``with`` block ends."""
        ...

    def resume_run(self, ref: str) -> RunBase:
        """The run of a version still in training, to log more epochs or end it (from another process, a
        trainer's hook, or another machine)."""
        ...

    # ---- aliases
    def set_alias(self, ref: str, alias: str, *, dry_run: bool = False) -> PromotionPlan:
        """Point ``alias`` of the model at the version ``ref`` names. ``dry_run`` shows the move only."""
        ...

    def activate(self, ref: str, *, dry_run: bool = False) -> PromotionPlan:
        """Make the version production ("Activate")."""
        ...

    def delete_alias(self, model: str, alias: str, *, dry_run: bool = False) -> PromotionPlan:
        """Remove an alias; its history keeps the move."""
        ...

    def list_aliases(self, model: str) -> list[AliasInfo]:
        """The model's aliases and the versions they point to."""
        ...

    def alias_history(self, model: str, alias: str = "production") -> list[AliasMove]:
        """Every move of the alias, newest first."""
        ...

    def rollback(self, model: str, alias: str = "production", *, dry_run: bool = False) -> PromotionPlan:
        """Move ``alias`` back to the version it pointed to before its latest move."""
        ...

    def promote(self, model: str, src: str, dst: str = "production", *, dry_run: bool = False,
                force: bool = False, archive_previous: bool = True) -> PromotionPlan:
        """Point ``dst`` at what ``src`` names (an alias such as staging, or a version such as v5)."""
        ...

    # ---- evaluations after training
    def log_evaluation(self, ref: str, *, dataset: str, metrics: Mapping[str, float],
                       class_metrics: Sequence[Any] | None = None, notes: str = "",
                       digest: str = "") -> Evaluation:
        """Record an evaluation of a version on a named dataset (``digest``: which copy of it, optional); the
        same dataset again replaces it."""
        ...

    def list_evaluations(self, ref: str) -> list[Evaluation]:
        """The evaluations of a version, one per dataset (by dataset name)."""
        ...

    # ---- inference: what served each request, what it answered, what people said of it
    def live(self, model: str, *, loader: Callable[[Path], Any], alias: str | None = None,
             path: str | None = None, log: bool = False, sample: float = 1.0,
             outputs: Callable[[Any], Any] | None = None, retry_s: float = 5.0) -> LiveModel:
        """A handle an application serves with: the version ``alias`` names (default ``MODEL_ENVIRONMENT``, else
        production), loaded by ``loader(local path)`` (the file ``path``, else the version's one weights file,
        else its folder), swapped for the new one when the alias moves (the old one serves until the new one has
        loaded; a failed load keeps the old one and is retried after ``retry_s`` seconds or on the next move).
        Calling it runs the model; ``log=True`` records each call (``sample``: the share logged; ``outputs``:
        the answer as JSON, default ``json_outputs``) without slowing it."""
        ...

    def watch_alias(self, model: str, alias: str = "production", *, known: int | None = None,
                    timeout: float = 30.0) -> int | None:
        """The version number ``alias`` points at (None: no version), waiting up to ``timeout`` seconds for it
        to differ from ``known`` (a long poll: the answer comes as soon as the alias moves)."""
        ...

    def log_inference(self, model: str, *, version: int, outputs: Any = None, latency_ms: float | None = None,
                      status: InferenceStatus | None = None, error: str = "", input_ref: str = "",
                      input: Any = None,
                      request_id: str | None = None, client_request_id: str | None = None,
                      time: datetime | None = None, sample_rate: float = 1.0) -> str:
        """Record one request the version numbered ``version`` answered; returns its request id (generated
        unless given). ``status``: ok, or error (the default when ``error`` holds a message)."""
        ...

    def log_inferences(self, records: Iterable[Mapping[str, Any]]) -> InferenceBatch:
        """Record many at once (each a mapping of ``log_inference``'s arguments plus ``model``): all or none."""
        ...

    def get_inference(self, request_id: str) -> InferenceRecord:
        """One inference record, with its feedback."""
        ...

    def list_inferences(self, model: str, *, version: int | None = None, since: datetime | None = None,
                        until: datetime | None = None, status: InferenceStatus | None = None,
                        has_feedback: bool | None = None, where: str | None = None, limit: int = 50,
                        cursor: str | None = None) -> InferencePage:
        """A model's inference records, newest first; ``where`` takes the filter language over the record
        (``outputs.class = "ng" and latency_ms > 50``, ``feedback.label != outputs.class``)."""
        ...

    def inference_stats(self, model: str, *, versions: Sequence[int] | None = None,
                        since: datetime | None = None, until: datetime | None = None) -> list[InferenceStats]:
        """Live figures per version (default: the last 24 hours, every version with records): volume, error
        rate, latency p50/p95, agreement with feedback."""
        ...

    def feedback(self, request_id: str, *, label: str | None = None, corrected: Any = None,
                 source: FeedbackSource = "human", author: str | None = None, note: str = "") -> Feedback:
        """Attach a judgement (``label``: the right class from the project's label set) or a corrected output
        to an inference record; the newest of a record's feedback wins for exports."""
        ...

    def export_feedback(self, model: str, to: str | os.PathLike[str], *, format: FeedbackFormat = "jsonl",
                        version: int | None = None, since: datetime | None = None, until: datetime | None = None,
                        dataset_name: str | None = None) -> FeedbackExport:
        """Write the corrected samples (input references and their newest feedback, labels from the project's
        label set) to ``to`` as ``jsonl``, ``yolo`` or ``coco``, with the dataset reference that points at them
        (``dataset.json``; give it to the version trained on them)."""
        ...

    def set_inference_retention(self, project: str, *, days: int | None = None,
                                count: int | None = None) -> Project:
        """Keep a project's inference records at most ``days`` old and/or the newest ``count`` per model (None
        for both: keep everything); ``gc`` applies it."""
        ...

    # ---- reading across versions
    def history(self, ref: str) -> list[Epoch]:
        """The version's training history, one row per epoch."""
        ...

    def lineage(self, ref: str) -> Lineage:
        """Ancestors (parent first) and descendants (breadth first) of a version, across models."""
        ...

    def compare(self, refs: Sequence[str]) -> Comparison:
        """Metrics with differences from the first version, per-class AP deltas, params diff, curves."""
        ...

    def report(self, ref: str, fmt: ReportFormat = "json") -> str:
        """A full report of a version: metadata, files, aliases, training history, lineage, exports, events."""
        ...

    def events(self, *, project: str | None = None, model: str | None = None, version: int | None = None,
               action: str | None = None, actor: str | None = None, limit: int = 50,
               cursor: str | None = None) -> Page[Event]:
        """The audit log, newest first: who did what, when, before -> after (``actor``: by whom)."""
        ...

    # ---- files
    def pull(self, ref: str, to: str | os.PathLike[str], *, progress: Progress | None = None,
             metadata: bool = True, format: str | None = None, export_id: int | None = None,
             export_options: Mapping[str, Any] | None = None) -> Path:
        """Write the version's files into ``to``; with ``format``, its export's files (and export.json) instead:
        the export ``export_id``, else the newest with ``export_options`` (any options when None)."""
        ...

    def resolve(self, ref: str, path: str | None = None) -> Path:
        """A local path to the version's folder (or one file in it) for an application to load."""
        ...

    def import_folder(self, path: str | os.PathLike[str], model: str, *, layout: Layout = "auto",
                      strict: bool = False, dry_run: bool = False) -> ImportReport:
        """Import a folder of existing versions: the ``versions/vN`` layout or the
        ``production/staging/archive`` layout; each version lands whole or not at all."""
        ...

    # ---- exports
    def export(self, ref: str, format: str = "onnx", *, force: bool = False, trusted: bool = False,
               source: str | None = None, entry_point: str | None = None,
               options: Mapping[str, Any] | ExportOptions | None = None, **more_options: Any) -> Export:
        """Export a version to ``format`` (onnx, torchscript, coreml, tflite), verified against the source."""
        ...

    def list_exports(self, ref: str) -> list[Export]:
        """The version's exports, oldest first: format, options, status, parity, speed, files."""
        ...

    def get_export(self, ref: str, format: str, *, export_id: int | None = None, **options: Any) -> Export:
        """The stored export of ``format``: the one ``export_id`` names, else the newest with ``options`` (any
        options when none are given)."""
        ...

    def bench(self, ref: str, format: str = "onnx", *, batches: Sequence[int] = (1, 16), runs: int = 30,
              trusted: bool = False, **options: Any) -> Export:
        """Measure the export's latency (p50/p90, throughput) per batch size next to PyTorch eager, and store it."""
        ...

    # ---- background jobs (an export that runs while the caller goes on)
    def start_export(self, ref: str, format: str = "onnx", *, force: bool = False, trusted: bool = False,
                     source: str | None = None, entry_point: str | None = None,
                     options: Mapping[str, Any] | ExportOptions | None = None, **more_options: Any) -> Job:
        """Start ``export`` in the background and return its job at once; a request ``export`` would refuse is
        refused here (no job). Follow the job with ``get_job`` or ``wait_job``."""
        ...

    def get_job(self, job_id: int) -> Job:
        """A background job: status (queued, running, done, failed), progress, ``export_id`` or ``error``."""
        ...

    def list_jobs(self, ref: str, *, limit: int = 20) -> list[Job]:
        """The version's background jobs, newest first (at most ``limit``, up to 1000)."""
        ...

    def wait_job(self, job_id: int, timeout: float | None = None) -> Job:
        """The job once it is done or failed; after ``timeout`` seconds, as it is then (check ``job.finished``)."""
        ...

    # ---- blobs by digest
    def upload_blob(self, source: BinaryIO, digest: str) -> BlobInfo:
        """Store a stream that must hash to ``digest`` (IntegrityError and nothing kept when it does not)."""
        ...

    def blob_size(self, digest: str) -> int:
        """The stored size of a blob the principal may read; BlobNotFound otherwise."""
        ...

    def open_blob(self, digest: str, *, offset: int = 0) -> BinaryIO:
        """A reader of the blob from ``offset``; read from the start to its end, it verifies the digest
        (IntegrityError instead of a clean end when the stored copy is damaged). The caller closes it."""
        ...

    # ---- maintenance
    def gc(self, *, dry_run: bool = True, grace_s: float = ORPHAN_GRACE_S,
           temp_grace_s: float = TEMP_GRACE_S) -> GcReport:
        """Remove blobs that no version references (``dry_run``: only report what and how many bytes)."""
        ...

    def fsck(self, *, verify: bool = True, repair_from: str | os.PathLike[str] | None = None) -> FsckReport:
        """Check every referenced blob exists, has its size and (``verify``) its SHA-256; report problems.
        ``repair_from``: a folder of original files, used to replace what is missing or damaged."""
        ...

    # ---- tokens
    def create_token(self, name: str, role: Role, *, project: str | None = None,
                     expires_in_s: float | None = None) -> tuple[TokenInfo, str]:
        """Create a token; returns it and its secret, which is shown this once and never stored."""
        ...

    def list_tokens(self) -> list[TokenInfo]:
        """Every token (never a secret); a token limited to a project sees that project's tokens only."""
        ...

    def revoke_token(self, name: str) -> TokenInfo:
        """Revoke a token at once; it keeps its name (and the server stays in token mode)."""
        ...

    def purge_tokens(self) -> list[str]:
        """Delete every token that can no longer be used (revoked or expired); return their names."""
        ...

    def has_tokens(self) -> bool:
        """Whether the registry is in token mode: some token exists, usable or not (see ``purge_tokens``)."""
        ...

    def authenticate(self, secret: str) -> TokenInfo:
        """The token a bearer secret belongs to; Unauthenticated when unknown, expired or revoked."""
        ...
