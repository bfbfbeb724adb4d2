"""``HttpRegistry``: a registry on a modelreg server, with the very interface of the embedded one.

    reg = modelreg.connect("http://registry:8080", token="mr_…")
    reg.register_version("fire-detector", files="runs/train/weights", metrics={"map50": 0.91})
    path = reg.resolve("fire-detector@production", "weights/best.pt")

Every public method of ``Service`` is here with the same signature and return type; errors come back as
the same classes (``raise_for_error`` rebuilds them from the server's envelope). Reads, ``HEAD`` and blob
uploads retry with exponential backoff on connection errors and 502/503/504; other writes are sent once
(a write whose connection could not even be opened is retried: nothing reached the server).

Files. A registration hashes the files here and posts the version with ``{path, digest, size}`` of each;
the server validates everything first and answers ``blob_not_found`` with the digests it lacks, which
are then uploaded (streamed, verified by the server against the digest) before the version is posted
again. So bad input leaves nothing on the server, and content it already has is never sent. Downloads
are streamed to a temporary file beside the target while hashed, verified, fsynced and renamed;
``resolve`` caches version folders under the local cache dir, per server, project, model and version.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, BinaryIO, TypeVar, Unpack, cast
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_jsonable_python

from modelreg import __version__, collector
from modelreg.blobs.base import BlobInfo, Progress, check_digest
from modelreg.blobs.local import copy_verified_to_path, pump, reader_of, size_hint, verifying_stream
from modelreg.client.pages import on_written, pages_ahead
from modelreg.config import Settings
from modelreg.errors import (
    BlobNotFound,
    Conflict,
    InvalidInput,
    ModelregError,
    NotFound,
    PermissionDenied,
    StorageError,
    Unauthenticated,
    error_from_dict,
)
from modelreg.export.job import ExportOptions
from modelreg.filters import walk_pages
from modelreg.local.cache import cached_folder, path_in_folder, server_cache_root
from modelreg.local.export_names import export_file_name
from modelreg.local.export_options import choose_export, given_options
from modelreg.local.feedback_export import write_feedback_export
from modelreg.local.inference_lines import ndjson
from modelreg.local.job_wait import check_job_id, wait_for_job
from modelreg.local.live import LiveModel, check_wait
from modelreg.local.metadata_files import metadata_to_register
from modelreg.local.pulls import check_ready, metadata_document, pull_into
from modelreg.local.repair import blobs_to_repair, find_by_content, repair_folder, with_repairs
from modelreg.local.runs import RunBase, check_in_training
from modelreg.local.sources import FilesArg, Source, collect_sources
from modelreg.refs import Ref, parse_ref, validate_alias, validate_artifact_path, validate_name
from modelreg.registry import DEFAULT_PROJECT
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
    FsckRepair,
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
    given_fields,
    over_folder_fields,
)

if TYPE_CHECKING:
    from modelreg.local.experiment_files import TextFile
    from modelreg.registry import Layout, ReportFormat

API = "/api/v1"
CHUNK = 1024 * 1024
OCTETS = "application/octet-stream"
ENVIRONMENT_HEADER = "X-Modelreg-Environment"
RETRY_STATUSES = frozenset({502, 503, 504})
_SPOOL_MAX = 64 * 1024 * 1024
_STATUS_ERRORS: dict[int, type[ModelregError]] = {
    400: InvalidInput, 401: Unauthenticated, 403: PermissionDenied, 404: NotFound, 409: Conflict, 413: InvalidInput,
    416: InvalidInput, 422: InvalidInput, 502: StorageError, 503: StorageError, 504: StorageError}
M = TypeVar("M", bound=BaseModel)
_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def raise_for_error(response: httpx.Response) -> None:
    """Raise the registry error a failed reply carries (the class the server raised), or return."""
    if response.is_success or response.status_code == 304:
        return
    try:
        body = json.loads(response.read() or b"null")
    except (ValueError, httpx.StreamError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        raise _on_the_server(error_from_dict(body["error"]), response.request)
    cls = _STATUS_ERRORS.get(response.status_code, ModelregError)
    request = response.request
    raise cls(f"the server answered {response.status_code} {response.reason_phrase} to {request.method} "
              f"{request.url.path}", hint="is MODELREG_URL the address of a modelreg server?",
              status=response.status_code)


def _on_the_server(error: ModelregError, request: httpx.Request) -> ModelregError:
    """The server's error in a client's words where the fix is the server's: an export toolchain that is missing
    there (``toolchain_missing``) is installed where the server runs, not here."""
    if error.code != "toolchain_missing":
        return error
    details = dict(error.details)
    details.pop("step", None)  # the next step is written here, in the words of a client of that server
    server = str(request.url.copy_with(path=request.url.path.split(API, 1)[0] or "/", query=None, fragment=None))
    fmt = details.get("format") or "this format"
    missing = [str(m) for m in details.get("missing") or []]
    extra = details.get("extra") or "export"
    if len(missing) > 1:
        lacks = f"{', '.join(missing[:-1])} and {missing[-1]} are"
    else:
        lacks = f"{missing[0]} is" if missing else "its toolchain is"
    how = error.hint or details.get("install") or f'pip install "modelreg[{extra}]"'
    return type(error)(f"the registry server at {server.rstrip('/')} cannot export to {fmt}: {lacks} not "
                       "installed where the server runs", hint=f"install modelreg[{extra}] where the server runs: "
                       f"{how}", **details)


def _validate(kind: Any, data: bytes) -> Any:
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    if len(data) < LARGE_REPLY:
        return adapter.validate_json(data)
    with collector.paused():  # a page of thousands of objects: see modelreg.collector
        return adapter.validate_json(data)


LARGE_REPLY = 64 * 1024


def _jsonable(value: Any) -> Any:
    return to_jsonable_python(value, serialize_unknown=True)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat() if isinstance(value, datetime) else str(value)


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@dataclass
class _Upload:
    """One file of a version to be: where it goes, what it hashes to, and how to read it (again)."""

    path: str
    digest: str
    size: int
    open: Callable[[], IO[bytes]]


class _ResponseReader:
    """A ``readinto`` view of a streamed reply's body, for the blob helpers' verified copy."""

    def __init__(self, response: httpx.Response) -> None:
        self._chunks = response.iter_bytes(chunk_size=CHUNK)
        self._rest = memoryview(b"")

    def readinto(self, view: memoryview, /) -> int:
        while not self._rest:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._rest = memoryview(chunk)
        n = min(len(view), len(self._rest))
        view[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n

    def close(self) -> None:
        pass


class _RawBody(io.RawIOBase):
    """A ``_StreamedBody`` as a raw stream (a range of a blob: it cannot be verified)."""

    def __init__(self, body: _ResponseReader) -> None:
        super().__init__()
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any, /) -> int:
        return self._body.readinto(memoryview(buffer).cast("B"))

    def close(self) -> None:
        if not self.closed:
            self._body.close()
            super().close()


class _StreamedBody(_ResponseReader):
    """A streamed reply's body that closes the reply with it (``open_blob``)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response)
        self._response = response

    def readinto(self, view: memoryview, /) -> int:
        try:
            return super().readinto(view)
        except httpx.TransportError as exc:
            raise StorageError(f"reading {self._response.url} was cut off before its end: {exc}",
                               hint="the server cuts a download off when its stored copy fails verification "
                                    "(fsck finds it), or the connection dropped: read it again",
                               url=str(self._response.url)) from exc

    def close(self) -> None:
        self._response.close()


WATCH_MAX_S = 60.0  # the server cuts a watch to this; longer waits are several polls
WATCH_GRACE_S = 15.0  # a watch's read timeout is its wait plus this


class _AliasWatched(BaseModel):
    """The answer of GET …/aliases/{alias}/watch."""

    alias: str
    version: int | None
    changed: bool


EXPORT_TIMEOUT_S = 3600.0  # an export or a benchmark runs on the server, possibly for minutes


class HttpRegistry:
    """The registry on a modelreg server (``modelreg.connect("http://host:8080", token=...)``)."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 60.0, retries: int = 4,
                 settings: Settings | None = None, transport: httpx.BaseTransport | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput(f"{url!r} is not the address of a modelreg server",
                               hint="e.g. http://registry:8080", url=url)
        self._base = url.rstrip("/").removesuffix(API)
        self.settings = settings or Settings()
        self._retries = max(0, retries)
        headers = {"User-Agent": f"modelreg/{__version__}", ENVIRONMENT_HEADER: self.settings.model_environment}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self._base + API, headers=headers, transport=transport,
                                  timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))

    # ---- the connection
    @property
    def url(self) -> str:
        return self._base

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HttpRegistry:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<modelreg registry {self._base}>"

    def _request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
                 content: Callable[[], Iterable[bytes]] | None = None, headers: Mapping[str, str] | None = None,
                 idempotent: bool | None = None, timeout: float | None = None,
                 sent: Callable[[], None] | None = None) -> httpx.Response:
        """Send one request (retried when that is safe) and raise the registry error a failure carries;
        ``sent()`` is called once the request is written."""
        safe = method in ("GET", "HEAD") if idempotent is None else idempotent
        data: bytes | None = None
        sent_headers = dict(headers or {})
        if body is not None:
            data = json.dumps(_jsonable(body), allow_nan=True).encode()
            sent_headers["Content-Type"] = "application/json"
        for attempt in range(self._retries + 1):
            last = attempt == self._retries
            try:
                response = self._http.request(method, path, params=_drop_none(params or {}) or None,
                                              content=content() if content is not None else data,
                                              headers=sent_headers,
                                              timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
                                              extensions={"trace": on_written(sent)} if sent else None)
            except httpx.TransportError as exc:
                if last or not (safe or isinstance(exc, httpx.ConnectError)):
                    raise StorageError(f"the modelreg server at {self._base} could not be reached: {exc}",
                                       hint="check MODELREG_URL and that `modelreg serve` is running",
                                       url=self._base) from exc
            else:
                if not (safe and response.status_code in RETRY_STATUSES and not last):
                    raise_for_error(response)
                    return response
            time.sleep(min(2.0, 0.05 * 2 ** attempt))
        raise AssertionError("unreachable")

    def _get(self, kind: Any, path: str, **params: Any) -> Any:
        return _validate(kind, self._request("GET", path, params=params).content)

    def _send(self, kind: Any, method: str, path: str, body: Any = None, *, idempotent: bool | None = None,
              params: Mapping[str, Any] | None = None, timeout: float | None = None) -> Any:
        response = self._request(method, path, body=body, idempotent=idempotent, params=params, timeout=timeout)
        return _validate(kind, response.content) if kind is not None else None

    # ---- references to paths (validated here by the same parser the server uses)
    @staticmethod
    def _model_path(model: str | Ref) -> str:
        r = model if isinstance(model, Ref) else parse_ref(model)
        return f"/projects/{r.project or '-'}/models/{r.model}"

    def _version_path(self, ref: str | Ref) -> str:
        r = ref if isinstance(ref, Ref) else parse_ref(ref)
        if r.number is not None:
            segment = str(r.number)
        elif r.selector is not None:
            segment = r.selector
        elif r.alias is not None:
            segment = f"@{r.alias}"
        elif r.label is not None:
            segment = r.label
        else:
            segment = "-"
        return f"{self._model_path(r)}/versions/{segment}"

    @staticmethod
    def _project_path(name: str) -> str:
        return f"/projects/{validate_name(name, kind='project name')}"

    # ---- projects
    def create_project(self, name: str, *, description: str = "", labels: list[str] | None = None,
                       exist_ok: bool = False) -> Project:
        body = {"name": name, "description": description, "labels": labels, "exist_ok": exist_ok}
        return cast(Project, self._send(Project, "POST", "/projects", body))

    def get_project(self, name: str = DEFAULT_PROJECT) -> Project:
        return cast(Project, self._get(Project, self._project_path(name)))

    def list_projects(self) -> list[Project]:
        return cast(Page[Project], self._get(Page[Project], "/projects")).items

    def update_project(self, name: str, *, description: str | None = None,
                       labels: list[str] | None = None) -> Project:
        body = _drop_none({"description": description, "labels": labels})
        return cast(Project, self._send(Project, "PATCH", self._project_path(name), body))

    def delete_project(self, name: str) -> None:
        self._send(None, "DELETE", self._project_path(name))

    # ---- models
    def create_model(self, name: str, *, project: str | None = None, description: str = "",
                     task: Task = "other", baseline: str | None = None, tags: Mapping[str, str] | None = None,
                     best_metric: str | None = None, best_mode: BestMode = "max",
                     auto_activate_first: bool = True, protected_aliases: list[str] | None = None,
                     promotion_gate: str | None = None, exist_ok: bool = False) -> Model:
        body = {"name": name, "project": project, "description": description, "task": task, "baseline": baseline,
                "tags": tags, "best_metric": best_metric, "best_mode": best_mode,
                "auto_activate_first": auto_activate_first, "protected_aliases": protected_aliases,
                "promotion_gate": promotion_gate, "exist_ok": exist_ok}
        return cast(Model, self._send(Model, "POST", "/models", body))

    def get_model(self, name: str | Ref) -> Model:
        return cast(Model, self._get(Model, self._model_path(name)))

    def update_model(self, name: str, *, rename: str | None = None, description: str | None = None,
                     task: Task | None = None, baseline: str | None = None, tags: Mapping[str, Any] | None = None,
                     pinned: bool | None = None, best_metric: str | None = None, best_mode: BestMode | None = None,
                     auto_activate_first: bool | None = None, protected_aliases: list[str] | None = None,
                     promotion_gate: str | None = None, trusted_sources: bool | None = None) -> Model:
        body = _drop_none({"rename": rename, "description": description, "task": task, "baseline": baseline,
                           "pinned": pinned, "best_metric": best_metric, "best_mode": best_mode,
                           "auto_activate_first": auto_activate_first, "protected_aliases": protected_aliases,
                           "promotion_gate": promotion_gate, "trusted_sources": trusted_sources})
        if tags is not None:
            body["tags"] = dict(tags)  # None values remove tags: keep them
        return cast(Model, self._send(Model, "PATCH", self._model_path(name), body))

    def delete_model(self, name: str) -> None:
        self._send(None, "DELETE", self._model_path(name))

    def search_models(self, query: str | None = None, *, project: str | None = None,
                      filter: Mapping[str, Any] | None = None, sort: str = "name", limit: int = 50,
                      cursor: str | None = None) -> Page[Model]:
        body = {"query": query, "project": project, "filter": filter, "sort": sort, "limit": limit, "cursor": cursor}
        return cast(Page[Model], self._send(Page[Model], "POST", "/models/search", body, idempotent=True))

    def model_overview(self, query: str | None = None, *, project: str | None = None,
                       filter: Mapping[str, Any] | None = None, sort: str = "name", limit: int = 50,
                       cursor: str | None = None) -> Page[ModelOverview]:
        body = {"query": query, "project": project, "filter": filter, "sort": sort, "limit": limit, "cursor": cursor}
        return cast(Page[ModelOverview], self._send(Page[ModelOverview], "POST", "/models/overview", body,
                                                    idempotent=True))

    def iter_models(self, query: str | None = None, **kwargs: Any) -> Iterator[Model]:
        """Every model matching, walking all pages."""
        return walk_pages(lambda cursor: self.search_models(query, cursor=cursor, **kwargs))

    # ---- registering
    def register_version(self, model: str, files: FilesArg = None, *,
                         epochs: Sequence[Mapping[str, Any]] | None = None, read_metadata: bool = True,
                         progress: Progress | None = None,
                         artifacts: Sequence[Artifact | Mapping[str, Any]] | None = None,
                         config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
                         update_labels: bool = False,
                         **fields: Unpack[VersionFields]) -> Version:
        """Register a new ready version of ``model`` on the server (see ``Service.register_version``).

        The folder's metadata files and the manifest are read here; the server checks the manifest's project
        and labels. The files are uploaded only if the server lacks them.
        ``artifacts``: files already on the server, as {path, digest, size}.
        """
        found, manifest = metadata_to_register(files, read_metadata=read_metadata, config=config)
        given = over_folder_fields(found, given_fields(fields))
        if artifacts is not None and files is not None:
            raise InvalidInput("pass files or artifacts, not both", field="artifacts")
        uploads = self._hash_sources(collect_sources(files))
        listed = [_jsonable(a) for a in artifacts] if artifacts is not None else [
            {"path": u.path, "digest": u.digest, "size": u.size} for u in uploads]
        body = {"model": model, **given, "config": manifest, "update_labels": update_labels or None,
                "epochs": list(epochs) if epochs is not None else None, "artifacts": listed}
        response = self._post_with_blobs("/versions", _drop_none(body), uploads, progress)
        return Version.model_validate_json(response.content)

    def register_experiment(self, config: str | os.PathLike[str] | TextFile, *,
                            metrics: str | os.PathLike[str] | TextFile | Mapping[str, Any] | None = None,
                            checkpoints: Mapping[str, str | os.PathLike[str] | Artifact | Mapping[str, Any]]
                            | None = None,
                            experiment: str | None = None, project: str | None = None, alias: str | None = None,
                            update_labels: bool = False, progress: Progress | None = None) -> list[Version]:
        """Register an experiment on the server (see ``Service.register_experiment``): the manifest and metrics
        are read here and sent as text, each checkpoint is found and hashed here and uploaded only if the
        server lacks it, after the server has checked everything else."""
        from modelreg.local.experiment_upload import experiment_request

        request = experiment_request(config, metrics=metrics, checkpoints=checkpoints, experiment=experiment,
                                     project=project, alias=alias, update_labels=update_labels)
        uploads = self._hash_sources(request.sources)
        body = {**request.body, "checkpoints": {
            **request.body["checkpoints"],
            **{key: {"path": u.path, "digest": u.digest, "size": u.size} for key, u in zip(request.keys, uploads,
                                                                                         strict=True)}}}
        response = self._post_with_blobs("/experiments", body, uploads, progress)
        versions: list[Version] = _validate(list[Version], response.content)
        return versions

    def _hash_sources(self, sources: Sequence[Source]) -> list[_Upload]:
        """Hash each file here (streams are spooled to a temporary file, to be read again for the upload)."""
        uploads = []
        for s in sources:
            if s.origin == "<stream>":  # read once: keep a copy to upload from (and again on a retry)
                spool = tempfile.TemporaryFile()  # noqa: SIM115 -- closed when the upload list goes

                def keep(data: memoryview, spool: IO[bytes] = spool) -> None:
                    spool.write(data)

                with s.open() as stream:
                    hexdigest, size = pump(reader_of(cast(BinaryIO, stream)), keep,
                                           expected_size=size_hint(stream))

                def reopen(spool: IO[bytes] = spool) -> IO[bytes]:
                    copy = open(os.dup(spool.fileno()), "rb")  # noqa: SIM115 -- the caller closes it
                    copy.seek(0)
                    return copy

                uploads.append(_Upload(s.path, f"sha256:{hexdigest}", size, reopen))
                continue
            with s.open() as stream:
                hexdigest, size = pump(reader_of(cast(BinaryIO, stream)), None, expected_size=size_hint(stream))
            uploads.append(_Upload(s.path, f"sha256:{hexdigest}", size, s.open))
        return uploads

    def _post_with_blobs(self, path: str, body: dict[str, Any], uploads: Sequence[_Upload],
                         progress: Progress | None) -> httpx.Response:
        """POST a version; upload what the server says it lacks (``blob_not_found`` + missing) and POST again."""
        by_digest = {u.digest: u for u in uploads}
        reported: set[str] = set()
        for attempt in range(4):
            try:
                response = self._request("POST", path, body=body)
            except BlobNotFound as exc:
                missing = [str(d) for d in exc.details.get("missing") or []]
                if not missing or attempt == 3 or any(d not in by_digest for d in missing):
                    raise
                if progress is not None:  # what the server has already counts as moved
                    for u in uploads:
                        if u.digest not in missing and u.path not in reported:
                            reported.add(u.path)
                            progress(u.size)
                for digest in missing:
                    self._upload(by_digest[digest], progress)
                reported.update(u.path for u in uploads if u.digest in missing)
                continue
            if progress is not None:
                for u in uploads:
                    if u.path not in reported:
                        progress(u.size)
            return response
        raise AssertionError("unreachable")

    def _upload(self, upload: _Upload, progress: Progress | None) -> None:
        def chunks() -> Iterator[bytes]:
            with upload.open() as stream:
                while data := stream.read(CHUNK):
                    if progress is not None:
                        progress(len(data))
                    yield data

        self._request("PUT", f"/blobs/{upload.digest}", content=chunks, idempotent=True,
                      headers={"Content-Length": str(upload.size), "Content-Type": OCTETS})

    # ---- blobs by digest
    def upload_blob(self, source: BinaryIO, digest: str) -> BlobInfo:
        """Store a stream that must hash to ``digest`` on the server (IntegrityError and nothing kept if not)."""
        check_digest(digest)

        def chunks() -> Iterator[bytes]:
            while data := source.read(CHUNK):
                yield data

        response = self._request("PUT", f"/blobs/{digest}", content=chunks, idempotent=False,
                                 headers={"Content-Type": OCTETS})
        return BlobInfo.model_validate_json(response.content)

    def blob_size(self, digest: str) -> int:
        """The stored size of a blob this principal may read; BlobNotFound otherwise."""
        check_digest(digest)
        response = self._http.head(f"/blobs/{digest}")
        if response.status_code == 404:
            raise BlobNotFound(f"blob {digest} is not stored", hint="upload it first", digest=digest)
        raise_for_error(response)
        return int(response.headers["content-length"])

    def open_blob(self, digest: str, *, offset: int = 0) -> BinaryIO:
        """A reader of the blob from ``offset``; read from the start to its end, it verifies the digest."""
        size = self.blob_size(digest)
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = self._http.send(self._http.build_request("GET", f"/blobs/{digest}", headers=headers),
                                   stream=True)
        try:
            raise_for_error(response)
        except BaseException:
            response.close()
            raise
        body = _StreamedBody(response)
        if offset == 0:
            return verifying_stream(body, digest, size)
        return io.BufferedReader(_RawBody(body))

    def start_run(self, model: str, *, params: Mapping[str, Any] | None = None, parent: str | None = None,
                  description: str | None = None, tags: Mapping[str, str] | None = None,
                  dataset: Mapping[str, Any] | None = None, source: Mapping[str, Any] | None = None) -> RemoteRun:
        """Start a training run: a new version with status ``training`` until the ``with`` block ends."""
        body = {"model": model, "params": params, "parent": parent, "description": description, "tags": tags,
                "dataset": dataset, "source": source}
        return RemoteRun(self, cast(Version, self._send(Version, "POST", "/runs", _drop_none(body))))

    def resume_run(self, ref: str) -> RemoteRun:
        """The run of a version still in training, to log more epochs or end it."""
        version = self.get_version(ref)
        check_in_training(version)
        return RemoteRun(self, version)

    def _finish_run(self, run: RemoteRun) -> Version:
        try:
            uploads = self._hash_sources(run._sources)
        except BaseException as exc:
            self._fail_run(run, f"storing the run's files failed: {exc}")
            raise
        stored = [{"path": a.path, "digest": a.digest, "size": a.size} for a in run._stored.values()]
        body = {**_jsonable(run._changes), "metrics": run._metrics or None,
                "artifacts": [{"path": u.path, "digest": u.digest, "size": u.size} for u in uploads] + stored}
        response = self._post_with_blobs(self._version_path(run.ref) + "/finish", _drop_none(body), uploads, None)
        return Version.model_validate_json(response.content)

    def _fail_run(self, run: RemoteRun, message: str) -> Version:
        return cast(Version, self._send(Version, "POST", self._version_path(run.ref) + "/fail", {"error": message}))

    # ---- reading versions
    def get_version(self, ref: str | Ref) -> Version:
        """The version a reference names (a bare model name means its MODEL_ENVIRONMENT alias)."""
        return cast(Version, self._get(Version, self._version_path(ref)))

    def list_versions(self, model: str, *, limit: int = 50, cursor: str | None = None,
                      include_archived: bool = True) -> Page[Version]:
        """A model's versions, newest first."""
        return cast(Page[Version], self._get(Page[Version], self._model_path(model) + "/versions", limit=limit,
                                             cursor=cursor, include_archived=include_archived))

    def search_versions(self, query: str | None = None, *, model: str | None = None, project: str | None = None,
                        filter: Mapping[str, Any] | None = None, sort: str | None = None, limit: int = 50,
                        cursor: str | None = None) -> Page[Version]:
        """Versions matching a filter expression, keyset paged (see ``Service.search_versions``)."""
        body = {"query": query, "model": model, "project": project, "filter": filter, "sort": sort, "limit": limit,
                "cursor": cursor}
        return cast(Page[Version], self._send(Page[Version], "POST", "/versions/search", body, idempotent=True))

    def metric_trend(self, model: str, metric: str, *, limit: int = 1000,
                     include_archived: bool = True) -> list[MetricPoint]:
        """A metric across the model's versions: the newest ``limit`` versions that have it, oldest first."""
        return cast(list[MetricPoint], self._get(list[MetricPoint], self._model_path(model) + "/trend", metric=metric,
                                                 limit=limit, include_archived=include_archived))

    def iter_versions(self, query: str | None = None, **kwargs: Any) -> Iterator[Version]:
        """Every version matching, walking all pages (the next one is asked for while this one is decoded)."""
        extra = sorted(set(kwargs) - {"model", "project", "filter", "sort", "limit"})
        if extra:
            raise TypeError(f"iter_versions() got unexpected keyword arguments {extra}")

        def request(cursor: str | None, sent: Callable[[], None]) -> httpx.Response:
            body = {"query": query, **kwargs, "cursor": cursor}
            return self._request("POST", "/versions/search", body=body, idempotent=True, sent=sent)

        return pages_ahead(request, lambda data: _validate(Page[Version], data))

    # ---- amending
    def update_version(self, ref: str, **fields: Unpack[VersionFields]) -> Version:
        """Amend a version's metadata (``metrics`` and ``tags`` merge; a None tag value removes it)."""
        body = given_fields(fields)
        return cast(Version, self._send(Version, "PATCH", self._version_path(ref), body))

    def _flag(self, ref: str, action: str) -> Version:
        return cast(Version, self._send(Version, "POST", f"{self._version_path(ref)}/{action}"))

    def pin(self, ref: str) -> Version:
        """Pin a version: it cannot be deleted while pinned."""
        return self._flag(ref, "pin")

    def unpin(self, ref: str) -> Version:
        return self._flag(ref, "unpin")

    def archive(self, ref: str) -> Version:
        """Archive a version: hidden from default listings, kept, still resolvable."""
        return self._flag(ref, "archive")

    def unarchive(self, ref: str) -> Version:
        return self._flag(ref, "unarchive")

    def mark_best(self, ref: str) -> Version:
        """Mark a version best, overriding the model's best_metric policy."""
        return self._flag(ref, "mark-best")

    def best_version(self, model: str) -> Version:
        """The version marked best, or the best by the model's best_metric policy."""
        r = parse_ref(model)
        return self.get_version(Ref(model=r.model, project=r.project, selector="best"))

    def delete_version(self, ref: str) -> None:
        """Delete a version and every blob nothing else references (refused while an alias or pin holds it)."""
        self._send(None, "DELETE", self._version_path(ref))

    # ---- aliases
    def set_alias(self, ref: str, alias: str, *, dry_run: bool = False) -> PromotionPlan:
        """Point ``alias`` of the model at the version ``ref`` names. ``dry_run`` shows the move only."""
        alias = validate_alias(alias)
        path = self._version_path(ref)
        model_path, _, version = path.rpartition("/versions/")
        return cast(PromotionPlan, self._send(PromotionPlan, "PUT", f"{model_path}/aliases/{alias}",
                                              {"version": version, "dry_run": dry_run}))

    def activate(self, ref: str, *, dry_run: bool = False) -> PromotionPlan:
        """Make the version production: move the ``production`` alias to it (``modelreg activate``)."""
        return cast(PromotionPlan, self._send(PromotionPlan, "POST", self._version_path(ref) + "/activate",
                                              {"dry_run": dry_run}))

    def delete_alias(self, model: str, alias: str, *, dry_run: bool = False) -> PromotionPlan:
        alias = validate_alias(alias)
        return cast(PromotionPlan, self._send(PromotionPlan, "DELETE", f"{self._model_path(model)}/aliases/{alias}",
                                              params={"dry_run": dry_run}))

    def list_aliases(self, model: str) -> list[AliasInfo]:
        return cast(list[AliasInfo], self._get(list[AliasInfo], self._model_path(model) + "/aliases"))

    def alias_history(self, model: str, alias: str = "production") -> list[AliasMove]:
        """Every move of the alias, newest first."""
        alias = validate_alias(alias)
        return cast(list[AliasMove], self._get(list[AliasMove], f"{self._model_path(model)}/aliases/{alias}/history"))

    def watch_alias(self, model: str, alias: str = "production", *, known: int | None = None,
                    timeout: float = 30.0) -> int | None:
        """The version number ``alias`` points at (None: no version), waiting up to ``timeout`` seconds for it
        to differ from ``known``: long polls of at most ``WATCH_MAX_S`` each, until the answer differs."""
        alias = validate_alias(alias)
        deadline = time.monotonic() + check_wait(timeout)
        path = f"{self._model_path(model)}/aliases/{alias}/watch"
        while True:
            wait = max(0.0, min(deadline - time.monotonic(), WATCH_MAX_S))
            response = self._request("GET", path, params={"known": known, "timeout": round(wait, 3)},
                                     timeout=wait + WATCH_GRACE_S)
            current = cast(_AliasWatched, _validate(_AliasWatched, response.content)).version
            if current != known or deadline - time.monotonic() <= 0:
                return current

    def live(self, model: str, *, loader: Callable[[Path], Any], alias: str | None = None,
             path: str | None = None, log: bool = False, sample: float = 1.0,
             outputs: Callable[[Any], Any] | None = None, retry_s: float = 5.0) -> LiveModel:
        """A handle that serves the version ``alias`` names and follows it when it moves (``LiveModel``)."""
        return LiveModel(self, model, loader=loader, alias=alias, environment=self.settings.model_environment,
                         path=path, log=log, sample=sample, outputs=outputs, retry_s=retry_s)

    def rollback(self, model: str, alias: str = "production", *, dry_run: bool = False) -> PromotionPlan:
        """Move ``alias`` back to the version it pointed to before its latest move."""
        alias = validate_alias(alias)
        return cast(PromotionPlan, self._send(PromotionPlan, "POST",
                                              f"{self._model_path(model)}/aliases/{alias}/rollback",
                                              {"dry_run": dry_run}))

    def promote(self, model: str, src: str, dst: str = "production", *, dry_run: bool = False,
                force: bool = False, archive_previous: bool = True) -> PromotionPlan:
        """Point ``dst`` at what ``src`` names, through the model's promotion gate (see ``Service.promote``)."""
        body = {"src": src, "dst": dst, "dry_run": dry_run, "force": force, "archive_previous": archive_previous}
        return cast(PromotionPlan, self._send(PromotionPlan, "POST", self._model_path(model) + "/promote", body))

    # ---- insights
    def log_evaluation(self, ref: str, *, dataset: str, metrics: Mapping[str, float],
                       class_metrics: Sequence[Any] | None = None, notes: str = "",
                       digest: str = "") -> Evaluation:
        """Record an evaluation of a version on a named dataset; the same dataset again replaces it."""
        body = {"dataset": dataset, "metrics": metrics, "class_metrics": class_metrics, "notes": notes,
                "digest": digest}
        return cast(Evaluation, self._send(Evaluation, "POST", self._version_path(ref) + "/evaluations", body))

    def list_evaluations(self, ref: str) -> list[Evaluation]:
        """The evaluations of a version, one per dataset (by dataset name)."""
        return cast(list[Evaluation], self._get(list[Evaluation], self._version_path(ref) + "/evaluations"))

    # ---- inference records
    def log_inference(self, model: str, *, version: int, outputs: Any = None, latency_ms: float | None = None,
                      status: InferenceStatus | None = None, error: str = "", input_ref: str = "",
                      input: Any = None,
                      request_id: str | None = None, client_request_id: str | None = None,
                      time: datetime | None = None, sample_rate: float = 1.0) -> str:
        """Record one request the version numbered ``version`` answered; returns its request id."""
        record = {"model": model, "version": version, "outputs": outputs, "latency_ms": latency_ms,
                  "status": status, "error": error, "input_ref": input_ref, "input": input,
                  "request_id": request_id, "client_request_id": client_request_id, "time": time,
                  "sample_rate": sample_rate}
        return self.log_inferences([record]).request_ids[0]

    def log_inferences(self, records: Iterable[Mapping[str, Any]]) -> InferenceBatch:
        """Record many at once as JSON lines in one request: all or none (the server's body limit, 16 MiB by
        default, bounds one call; send more in several)."""
        if isinstance(records, (str, bytes, Mapping)):
            raise InvalidInput("records must be a list of objects, one per request", field="records")
        body = ndjson(records)
        response = self._request("POST", "/inferences", content=lambda: [body],
                                 headers={"Content-Type": "application/x-ndjson"}, idempotent=False)
        return cast(InferenceBatch, _validate(InferenceBatch, response.content))

    def get_inference(self, request_id: str) -> InferenceRecord:
        """One inference record, with its feedback."""
        return cast(InferenceRecord, self._get(InferenceRecord, f"/inferences/{quote(request_id, safe='')}"))

    def list_inferences(self, model: str, *, version: int | None = None, since: datetime | None = None,
                        until: datetime | None = None, status: InferenceStatus | None = None,
                        has_feedback: bool | None = None, where: str | None = None, limit: int = 50,
                        cursor: str | None = None) -> InferencePage:
        """A model's inference records, newest first; ``where`` takes the filter language over the record."""
        return cast(InferencePage, self._get(
            InferencePage, self._model_path(model) + "/inferences", version=version, since=_iso(since),
            until=_iso(until), status=status, has_feedback=has_feedback, where=where, limit=limit, cursor=cursor))

    def inference_stats(self, model: str, *, versions: Sequence[int] | None = None,
                        since: datetime | None = None, until: datetime | None = None) -> list[InferenceStats]:
        """Live figures per version (default: the last 24 hours)."""
        return cast(list[InferenceStats], self._get(
            list[InferenceStats], self._model_path(model) + "/inferences/stats",
            versions=None if versions is None else list(versions), since=_iso(since), until=_iso(until)))

    def feedback(self, request_id: str, *, label: str | None = None, corrected: Any = None,
                 source: FeedbackSource = "human", author: str | None = None, note: str = "") -> Feedback:
        """Attach a judgement or a corrected output to an inference record."""
        body = {"label": label, "corrected": corrected, "source": source, "author": author, "note": note}
        return cast(Feedback, self._send(Feedback, "POST", f"/inferences/{quote(request_id, safe='')}/feedback",
                                         body))

    def export_feedback(self, model: str, to: str | os.PathLike[str], *, format: FeedbackFormat = "jsonl",
                        version: int | None = None, since: datetime | None = None, until: datetime | None = None,
                        dataset_name: str | None = None) -> FeedbackExport:
        """Write the corrected samples to ``to`` (jsonl, yolo or coco) with their dataset reference."""
        return write_feedback_export(self, model, to, format=format, version=version, since=since, until=until,
                                     dataset_name=dataset_name)

    def set_inference_retention(self, project: str, *, days: int | None = None,
                                count: int | None = None) -> Project:
        """Keep a project's inference records at most ``days`` old and/or the newest ``count`` per model."""
        return cast(Project, self._send(Project, "PUT", self._project_path(project) + "/inference-retention",
                                        {"days": days, "count": count}, idempotent=True))

    def history(self, ref: str) -> list[Epoch]:
        """The version's training history, one row per epoch."""
        return cast(list[Epoch], self._get(list[Epoch], self._version_path(ref) + "/history"))

    def lineage(self, ref: str) -> Lineage:
        """Ancestors (parent first) and descendants (breadth first) of a version, across models."""
        return cast(Lineage, self._get(Lineage, self._version_path(ref) + "/lineage"))

    def compare(self, refs: Sequence[str]) -> Comparison:
        """Metrics with differences from the first version, per-class AP deltas, params diff, curves."""
        body = {"refs": refs if isinstance(refs, str) else list(refs)}
        return cast(Comparison, self._send(Comparison, "POST", "/versions/compare", body, idempotent=True))

    def report(self, ref: str, fmt: ReportFormat = "json") -> str:
        """A full report of a version: metadata, files, aliases, training history, lineage, events."""
        name = str(fmt)
        if name not in ("json", "markdown", "md"):
            raise InvalidInput(f"report format {fmt!r} is not json or markdown", field="fmt")
        fmt_name = "markdown" if name == "md" else name
        return self._request("GET", self._version_path(ref) + "/report", params={"format": fmt_name}).text

    def events(self, *, project: str | None = None, model: str | None = None, version: int | None = None,
               action: str | None = None, actor: str | None = None, limit: int = 50,
               cursor: str | None = None) -> Page[Event]:
        """The audit log, newest first: who did what, when, before -> after (``actor``: by whom)."""
        return cast(Page[Event], self._get(Page[Event], "/events", project=project, model=model, version=version,
                                           action=action, actor=actor, limit=limit, cursor=cursor))

    # ---- exports (the server converts and verifies; a conversion may take minutes)
    def export(self, ref: str, format: str = "onnx", *, force: bool = False, trusted: bool = False,
               source: str | None = None, entry_point: str | None = None,
               options: Mapping[str, Any] | ExportOptions | None = None, **more_options: Any) -> Export:
        body = {"format": format, "options": given_options(options, more_options), "force": force, "trusted": trusted,
                "source": source, "entry_point": entry_point}
        return cast(Export, self._send(Export, "POST", self._version_path(ref) + "/exports", _drop_none(body),
                                       idempotent=not force, timeout=EXPORT_TIMEOUT_S))

    def list_exports(self, ref: str) -> list[Export]:
        return cast(list[Export], self._get(list[Export], self._version_path(ref) + "/exports"))

    def get_export(self, ref: str, format: str, *, export_id: int | None = None, **options: Any) -> Export:
        return choose_export(self.list_exports(ref), ref, format, options, export_id)

    def bench(self, ref: str, format: str = "onnx", *, batches: Sequence[int] = (1, 16), runs: int = 30,
              trusted: bool = False, **options: Any) -> Export:
        body = {"format": format, "options": options, "batches": list(batches), "runs": runs, "trusted": trusted}
        return cast(Export, self._send(Export, "POST", self._version_path(ref) + "/exports/bench", body,
                                       idempotent=True, timeout=EXPORT_TIMEOUT_S))

    # ---- background jobs (the server runs them; start_export answers once the request is checked)
    def start_export(self, ref: str, format: str = "onnx", *, force: bool = False, trusted: bool = False,
                     source: str | None = None, entry_point: str | None = None,
                     options: Mapping[str, Any] | ExportOptions | None = None, **more_options: Any) -> Job:
        body = {"format": format, "options": given_options(options, more_options), "force": force, "trusted": trusted,
                "source": source, "entry_point": entry_point, "wait": False}
        return cast(Job, self._send(Job, "POST", self._version_path(ref) + "/exports", _drop_none(body),
                                    timeout=EXPORT_TIMEOUT_S))

    def get_job(self, job_id: int) -> Job:
        return cast(Job, self._get(Job, f"/jobs/{check_job_id(job_id)}"))

    def list_jobs(self, ref: str, *, limit: int = 20) -> list[Job]:
        return cast(list[Job], self._get(list[Job], self._version_path(ref) + "/jobs", limit=limit))

    def wait_job(self, job_id: int, timeout: float | None = None) -> Job:
        check_job_id(job_id)
        return wait_for_job(lambda: self.get_job(job_id), timeout)

    # ---- files
    def pull(self, ref: str, to: str | os.PathLike[str], *, progress: Progress | None = None,
             metadata: bool = True, format: str | None = None, export_id: int | None = None,
             export_options: Mapping[str, Any] | None = None) -> Path:
        """Write the version's files (verified) and its metadata.json into ``to``; with ``format``, its export's
        (``export_id``, else the newest with ``export_options``)."""
        def fetch(digest: str, size: int, target: Path) -> None:
            self._download(digest, size, target, progress)

        if format is not None:
            exported = self.get_export(ref, format, export_id=export_id, **dict(export_options or {}))
            files = [(export_file_name(f.path), f.digest, f.size) for f in exported.files]
            return pull_into(Path(to), files, fetch,
                             ("export.json", exported.model_dump(mode="json")) if metadata else None)
        version = self.get_version(ref)
        check_ready(version)
        return pull_into(Path(to), [(a.path, a.digest, a.size) for a in version.artifacts], fetch,
                         ("metadata.json", metadata_document(version)) if metadata else None)

    def _download(self, digest: str, size: int, dest: Path, progress: Progress | None) -> None:
        """Stream a blob to ``dest``: temporary file beside it, hashed, verified, fsynced, renamed.

        The server verifies a blob as it streams and cuts the download off when its copy is damaged; so
        after a cut-off the retry asks for the digest up front (``Want-Repr-Digest``): the server then
        verifies the whole blob before it replies, and a damaged copy is an IntegrityError here, as locally.
        """
        headers: dict[str, str] = {}
        for attempt in range(self._retries + 1):
            last = attempt == self._retries
            try:
                with self._http.stream("GET", f"/blobs/{digest}", headers=headers) as response:
                    if not (response.status_code in RETRY_STATUSES and not last):
                        raise_for_error(response)
                        copy_verified_to_path(_ResponseReader(response), dest, digest=digest, size=size,
                                              progress=progress)
                        return
            except httpx.TransportError as exc:
                if last:
                    raise StorageError(f"downloading {digest} from {self._base} failed: {exc}",
                                       hint="check the connection and try again", digest=digest) from exc
                headers = {"Want-Repr-Digest": "sha-256=10"}
            time.sleep(min(2.0, 0.05 * 2 ** attempt))

    def resolve(self, ref: str, path: str | None = None) -> Path:
        """A local path to the version's folder (or one file in it), fetched once into the cache (verified).

        A reference naming no version follows MODEL_ENVIRONMENT (default production), of this process.
        """
        if path is not None:
            validate_artifact_path(path)
        version = self.get_version(ref)
        check_ready(version)
        return path_in_folder(self._cached_folder(version), version, path)

    def _cached_folder(self, version: Version) -> Path:
        return cached_folder(server_cache_root(self.settings.resolved_cache_dir, self._base), version, self.pull)

    # ---- maintenance
    def gc(self, *, dry_run: bool = True, grace_s: float = 3600.0, temp_grace_s: float = 3600.0) -> GcReport:
        """Remove blobs that no version references on the server (``dry_run``: only report them)."""
        body = {"dry_run": dry_run, "grace_s": grace_s, "temp_grace_s": temp_grace_s}
        return cast(GcReport, self._send(GcReport, "POST", "/maintenance/gc", body))

    def fsck(self, *, verify: bool = True, repair_from: str | os.PathLike[str] | None = None) -> FsckReport:
        """Check every referenced blob on the server exists, has its size and (``verify``) its SHA-256.

        ``repair_from``: a folder on this machine holding original files (searched recursively, matched
        by content); every missing or corrupt blob found there is uploaded, and the server's verified
        upload replaces its damaged copy atomically. Listed under ``repaired``; ``problems`` is what stays.
        """
        folder = repair_folder(repair_from) if repair_from is not None else None
        report = cast(FsckReport, self._send(FsckReport, "POST", "/maintenance/fsck", {"verify": verify},
                                             idempotent=True))
        if folder is None:
            return report
        wanted = blobs_to_repair(report)
        repaired: list[FsckRepair] = []
        notes: dict[str, str] = {}
        for digest, path in find_by_content(folder, {d: size for d, (_, size) in wanted.items()}).items():
            kind, size = wanted[digest]
            info = self._upload_file(path, digest, size)
            if not info.created:  # the store vouches for its copy (S3: a verified write's marker)
                notes[digest] = (f"uploaded from {path}, but the server kept its copy; run fsck --repair on a "
                                 "machine with direct access to the storage")
                continue
            repaired.append(FsckRepair(kind=kind, digest=digest, size=size, source=str(path)))
        return with_repairs(report, folder, repaired, notes)

    def _upload_file(self, path: Path, digest: str, size: int) -> BlobInfo:
        """PUT one file as the blob ``digest`` (the server verifies it, and replaces a damaged copy)."""
        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as f:
                while data := f.read(CHUNK):
                    yield data

        response = self._request("PUT", f"/blobs/{digest}", content=chunks, idempotent=True,
                                 headers={"Content-Length": str(size), "Content-Type": OCTETS})
        return BlobInfo.model_validate_json(response.content)

    def import_folder(self, path: str | os.PathLike[str], model: str, *, layout: Layout = "auto",
                      strict: bool = False, dry_run: bool = False) -> ImportReport:
        """Import a local folder (``versions/vN`` or ``production/staging/archive`` layout) into the server.

        The folder is read here and each version registered through the API.
        """
        from modelreg.importers import import_folder

        return import_folder(self, path, model, layout=layout, strict=strict, dry_run=dry_run)

    # ---- tokens
    def create_token(self, name: str, role: Role, *, project: str | None = None,
                     expires_in_s: float | None = None) -> tuple[TokenInfo, str]:
        """Create a token (admin); returns it and its secret, which is shown this once."""
        body = {"name": name, "role": role, "project": project, "expires_in_s": expires_in_s}
        data = self._request("POST", "/tokens", body=body).json()
        return TokenInfo.model_validate(data["token"]), str(data["secret"])

    def list_tokens(self) -> list[TokenInfo]:
        return cast(list[TokenInfo], self._get(list[TokenInfo], "/tokens"))

    def revoke_token(self, name: str) -> TokenInfo:
        return cast(TokenInfo, self._send(TokenInfo, "DELETE", f"/tokens/{quote(name, safe='')}"))

    def purge_tokens(self) -> list[str]:
        """Delete every token that can no longer be used (revoked or expired); return their names."""
        return list(self._request("POST", "/tokens/purge").json()["purged"])

    def has_tokens(self) -> bool:
        """Whether the server needs a token (it is in token mode, or was started for other hosts)."""
        return bool(self._request("GET", "/auth").json()["tokens_required"])

    def authenticate(self, secret: str) -> TokenInfo:
        """The token a bearer secret belongs to; Unauthenticated when unknown, expired or revoked."""
        if not isinstance(secret, str) or not secret.isascii() or not secret.isprintable():
            raise Unauthenticated("the token is not a modelreg token", hint="create one: modelreg tokens create")
        response = self._request("GET", "/auth/token", headers={"Authorization": f"Bearer {secret}"})
        return TokenInfo.model_validate_json(response.content)


class RemoteRun(RunBase):
    """A training run on a server: the same interface as ``modelreg.Run``. Its version is visible with
    status ``training`` from the start; epochs are sent as logged; files and final metadata at the end."""

    def __init__(self, registry: HttpRegistry, version: Version) -> None:
        super().__init__(version)
        self._registry = registry

    def log_epoch(self, epoch: int | None = None, **metrics: float) -> None:
        """Record one epoch's metrics (train_loss, val_loss, map50, …) now."""
        self._check_open()
        self._registry._request("POST", self._registry._version_path(self.ref) + "/epochs",
                                body={"epoch": epoch, "metrics": metrics})
        self._epochs_logged += 1

    def _finish(self) -> Version:
        return self._registry._finish_run(self)

    def _fail(self, message: str) -> Version:
        return self._registry._fail_run(self, message)

    def _discard(self, message: str) -> None:
        self._registry._request("POST", self._registry._version_path(self.ref) + "/discard", body={"error": message})
