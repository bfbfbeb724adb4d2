"""A live model handle: the version an alias names, loaded and served, swapped when the alias moves.

``reg.live("fire-detector", loader=YOLO)`` returns a ``LiveModel``:

- it follows an alias (``alias=``, default the registry's ``MODEL_ENVIRONMENT``, else ``production``), loads the
  version it names with ``loader(path)`` and serves it: ``m(x)`` calls the loaded object;
- the path given to the loader is the version's file ``path=`` when given, else its only file, else its only
  weights file (``.pt``, ``.onnx``, ``.safetensors`` …), else its only weights file named ``best`` (Ultralytics'
  ``weights/best.pt`` beside ``last.pt``), else the version's folder (a loader that reads several files);
- one background thread waits on ``registry.watch_alias`` (a long poll: the store's change token locally, an
  HTTP long poll remotely; no round trip per call). When the alias moves it loads the new version in that
  thread while the old one keeps serving, then swaps in one assignment: a call runs one version's object and
  reports that version's number, never a mix. A load that fails keeps the old version serving, is logged,
  and is tried again on the next move or after ``retry_s`` seconds (doubling up to ``MAX_RETRY_S``);
- ``m.version`` and ``m.ref`` say what is serving; ``m.wait_for(3)`` waits until v3 serves;
- ``log=True`` records calls through an ``InferenceLogger`` (buffered, batched, bounded: serving never waits
  for the registry); ``sample=0.1`` records one call in ten, chosen at random. ``m.call(x, client_request_id=…,
  input_ref=…, input_data=…)`` returns a ``LiveResult`` with the record's request id (for feedback); the
  model's answer becomes JSON through ``outputs=`` (default ``json_outputs``). A model that raises has its
  call recorded with status ``error`` and the exception raised to the caller, unchanged.

Both registries build it the same way (``live`` in the service and in the HTTP client).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from modelreg.errors import InvalidInput
from modelreg.export.detect import WEIGHT_SUFFIXES
from modelreg.local.inference_log import InferenceLogger
from modelreg.local.live_outputs import json_outputs
from modelreg.refs import validate_alias
from modelreg.request_ids import new_request_id

if TYPE_CHECKING:
    from modelreg.types import Version

log = logging.getLogger("modelreg.live")

# files a loader may take, besides PyTorch's: the version's only such file is what the loader gets
LOADABLE_SUFFIXES: tuple[str, ...] = (*WEIGHT_SUFFIXES, ".onnx", ".safetensors", ".engine", ".tflite", ".pb", ".h5",
                                      ".keras", ".gguf", ".joblib", ".pkl")
WATCH_S = 10.0  # one watch call waits this long at most (a remote watch is one request per this, when idle)
LOCAL_WATCH_S = 1.0  # a local watch costs nothing to renew: short, so that close() can wait for the thread
RETRY_S = 5.0
MAX_RETRY_S = 300.0
ERROR_CHARS = 4000  # an error message recorded with a failed call (the registry's limit)


class LiveSource(Protocol):
    """What a live handle uses of a registry (both registries have it all)."""

    def get_version(self, ref: str) -> Version: ...

    def resolve(self, ref: str, path: str | None = None) -> Path: ...

    def watch_alias(self, model: str, alias: str = "production", *, known: int | None = None,
                    timeout: float = 30.0) -> int | None: ...

    def log_inferences(self, records: Iterable[Mapping[str, Any]]) -> object: ...


@dataclass(frozen=True)
class Serving:
    """One loaded version: its number and reference, the path its loader was given, and the loaded object."""

    version: int
    ref: str
    path: Path
    model: Any
    loaded_at: datetime


class LiveResult(NamedTuple):
    """One call of ``LiveModel.call``: the model's answer, the version that gave it, and the inference
    record's ``request_id`` (None when the call was not recorded: ``log=False``, or sampled out). A named
    tuple: cheap to build on the serving path."""

    outputs: Any
    version: int
    ref: str
    request_id: str | None
    latency_ms: float


def check_wait(timeout: float) -> float:
    """A watch's ``timeout``: a finite number of seconds, 0 or more (0 answers at once)."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) \
            or timeout < 0:
        raise InvalidInput(f"timeout is {timeout!r}; it must be a number of seconds, 0 or more", field="timeout",
                           hint="e.g. timeout=30; 0 answers at once")
    return float(timeout)


def serving_file(version: Version) -> str | None:
    """The file of ``version`` a loader gets when none is named (module docstring), or None: the folder."""
    paths = [a.path for a in version.artifacts]
    if len(paths) == 1:
        return paths[0]
    weights = [p for p in paths if p.lower().endswith(LOADABLE_SUFFIXES)]
    if len(weights) == 1:
        return weights[0]
    best = [p for p in weights if PurePosixPath(p).stem.lower() == "best"]
    return best[0] if len(best) == 1 else None


class LiveModel:
    """The handle ``Registry.live`` returns (module docstring)."""

    def __init__(self, registry: LiveSource, model: str, *, loader: Callable[[Path], Any], alias: str | None = None,
                 environment: str = "production", path: str | None = None, log: bool = False,
                 sample: float = 1.0, outputs: Callable[[Any], Any] | None = None, retry_s: float = RETRY_S,
                 watch_s: float = WATCH_S, logger: InferenceLogger | None = None) -> None:
        if not callable(loader):
            raise InvalidInput(f"loader must be callable (it is {type(loader).__name__})", field="loader",
                               hint="e.g. loader=YOLO, or loader=lambda path: torch.jit.load(path)")
        if isinstance(sample, bool) or not isinstance(sample, (int, float)) or not 0 < sample <= 1:
            raise InvalidInput(f"sample is {sample!r}; it must be over 0 and at most 1 (the share of calls "
                               "recorded)", field="sample", hint="sample=1 records every call, 0.1 one in ten")
        if not retry_s > 0:
            raise InvalidInput(f"retry_s is {retry_s!r}; it must be over 0", field="retry_s")
        self.alias = self._alias(alias, environment)
        self._registry = registry
        self._loader = loader
        self._path = path
        self._outputs = outputs or json_outputs
        self._sample = float(sample)
        self._retry_s = float(retry_s)
        self._watch_s = check_wait(watch_s)
        self.last_error: str | None = None  # why the newest load failed (None once a load succeeds)
        first = registry.get_version(f"{model}@{self.alias}")
        self.model_name = f"{first.project}/{first.model}"
        self._serving = self._load(first)
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._logger = (logger or InferenceLogger(registry)) if log else None
        self._watcher = threading.Thread(target=self._watch, name=f"modelreg-live-{self.model_name}",
                                         daemon=True)
        self._watcher.start()

    @staticmethod
    def _alias(alias: str | None, environment: str) -> str:
        name = alias if alias is not None else (environment.strip() or "production")
        try:
            return validate_alias(name)
        except InvalidInput as exc:
            given = "alias=" if alias is not None else "MODEL_ENVIRONMENT="
            raise InvalidInput(f"a live handle follows an alias; {given}{name!r} is not one ({exc.message})",
                               hint="pass alias='production' (or 'staging'), or set MODEL_ENVIRONMENT to an alias; "
                                    "to serve one fixed version, load reg.resolve('model:3') yourself",
                               field="alias", alias=name) from None

    # ---- what is serving
    @property
    def version(self) -> int:
        """The number of the version serving now."""
        return self._serving.version

    @property
    def ref(self) -> str:
        """The reference of the version serving now (``project/model:vN``)."""
        return self._serving.ref

    @property
    def serving(self) -> Serving:
        """The version serving now, with its loaded object and path, as one consistent value."""
        return self._serving

    @property
    def model(self) -> Any:
        """The loaded object serving now."""
        return self._serving.model

    @property
    def logger(self) -> InferenceLogger | None:
        """The logger of ``log=True`` (its counters say what was sent, dropped or refused), else None."""
        return self._logger

    def wait_for(self, version: int, timeout: float | None = 10.0) -> bool:
        """Wait until the version numbered ``version`` serves; False when ``timeout`` seconds pass first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._serving.version == version, timeout)

    # ---- serving
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the serving model on the arguments and return its answer (recorded when ``log=True``)."""
        serving = self._serving  # one read: this call's version and object belong together
        logger = self._logger
        if logger is None or (self._sample < 1.0 and random.random() >= self._sample):
            return serving.model(*args, **kwargs)
        return self._recorded(serving, logger, args, kwargs, None, "", None).outputs

    def call(self, *args: Any, client_request_id: str | None = None, input_ref: str = "", input_data: Any = None,
             **kwargs: Any) -> LiveResult:
        """Run the serving model like ``m(...)`` and say what answered: the ``LiveResult`` holds the answer, the
        version, the latency and the record's request id. ``client_request_id``, ``input_ref`` (a digest or
        URI of the input) and ``input_data`` (small inline JSON) go into the record; the other arguments go to
        the model."""
        serving = self._serving
        logger = self._logger
        if logger is None or (self._sample < 1.0 and random.random() >= self._sample):
            start = time.perf_counter()
            answer = serving.model(*args, **kwargs)
            return LiveResult(answer, serving.version, serving.ref, None, (time.perf_counter() - start) * 1000.0)
        return self._recorded(serving, logger, args, kwargs, client_request_id, input_ref, input_data)

    def _recorded(self, serving: Serving, logger: InferenceLogger, args: tuple[Any, ...], kwargs: dict[str, Any],
                  client_id: str | None, input_ref: str, input_data: Any) -> LiveResult:
        """One call, timed and queued as an inference record (an exception too, then raised again)."""
        at = datetime.now(UTC)
        start = time.perf_counter()
        try:
            answer = serving.model(*args, **kwargs)
        except Exception as exc:
            logger.log(self._record(serving, new_request_id(), at, client_id, input_ref, input_data, None,
                                    f"{type(exc).__name__}: {exc}"[:ERROR_CHARS],
                                    (time.perf_counter() - start) * 1000.0))
            raise
        latency = (time.perf_counter() - start) * 1000.0
        request_id = new_request_id()
        try:
            outputs = self._outputs(answer)
        except Exception:  # a converter that fails costs the record its outputs, not the call
            log.debug("the outputs converter failed; the record has no outputs", exc_info=True)
            outputs = None
        logger.log(self._record(serving, request_id, at, client_id, input_ref, input_data, outputs, "", latency))
        return LiveResult(answer, serving.version, serving.ref, request_id, latency)

    def _record(self, serving: Serving, request_id: str, at: datetime, client_id: str | None, input_ref: str,
                input_data: Any, outputs: Any, error: str, latency: float) -> dict[str, Any]:
        return {"model": self.model_name, "version": serving.version, "request_id": request_id,
                "client_request_id": client_id, "time": at, "input_ref": input_ref, "input": input_data,
                "outputs": outputs, "status": "error" if error else "ok", "error": error, "latency_ms": latency,
                "sample_rate": self._sample}

    # ---- loading and following the alias
    def _load(self, version: Version) -> Serving:
        """Fetch the version's files and run the loader on them (in the caller's thread)."""
        ref = f"{version.project}/{version.model}:{version.number}"
        path = self._registry.resolve(ref, self._path if self._path is not None else serving_file(version))
        try:
            loaded = self._loader(path)
        except Exception as exc:
            exc.add_note(f"modelreg: loading {version.ref} from {path} for {self.model_name}@{self.alias}")
            raise
        return Serving(version=version.number, ref=version.ref, path=path, model=loaded,
                       loaded_at=datetime.now(UTC))

    def _watch(self) -> None:
        known: int | None = self._serving.version
        failures = 0  # consecutive failed loads of the version the alias names
        retry_at: float | None = None  # when to load it again after a failed load (monotonic)
        unreachable = 0  # consecutive failed watches
        while not self._stop.is_set():
            wait = self._watch_s if retry_at is None else max(0.0, min(self._watch_s, retry_at - time.monotonic()))
            try:
                number = self._registry.watch_alias(self.model_name, self.alias, known=known, timeout=wait)
            except Exception as exc:  # the registry may be down for a while: keep serving
                if self._stop.is_set():
                    return
                if unreachable == 0:
                    log.warning("%s@%s: watching the alias failed (%s: %s); v%d keeps serving, trying again",
                                self.model_name, self.alias, type(exc).__name__, exc, self.version)
                unreachable += 1
                self._stop.wait(min(self._retry_s * 2 ** (unreachable - 1), MAX_RETRY_S))
                continue
            if self._stop.is_set():
                return
            if unreachable:
                log.info("%s@%s: watching the alias again", self.model_name, self.alias)
                unreachable = 0
            if number is None:
                if known is not None:
                    log.warning("%s@%s names no version any more; v%d keeps serving", self.model_name,
                                self.alias, self.version)
                known, failures, retry_at = None, 0, None
            elif number == self._serving.version:
                known, failures, retry_at = number, 0, None
            elif number != known or retry_at is None or time.monotonic() >= retry_at:
                if number != known:
                    known, failures = number, 0  # a new move: try it at once
                if self._swap(number):
                    failures, retry_at = 0, None
                else:
                    failures += 1
                    retry_at = time.monotonic() + min(self._retry_s * 2 ** (failures - 1), MAX_RETRY_S)

    def _swap(self, number: int) -> bool:
        """Load v``number`` and serve it; on failure keep the serving version and say why (logged)."""
        started = time.monotonic()
        try:
            version = self._registry.get_version(f"{self.model_name}:{number}")
            serving = self._load(version)
        except Exception as exc:  # a bad version must not take serving down
            if self._stop.is_set():
                return False
            self.last_error = f"v{number}: {type(exc).__name__}: {exc}"
            log.error("%s@%s moved to v%d but loading it failed; v%d keeps serving (tried again on the next move "
                      "or in a while)", self.model_name, self.alias, number, self.version, exc_info=True)
            return False
        if self._stop.is_set():
            return False
        with self._changed:
            previous, self._serving = self._serving.version, serving
            self._changed.notify_all()
        self.last_error = None
        log.info("%s@%s moved: v%d serves (was v%d; loaded in %.2f s)", self.model_name, self.alias, number,
                 previous, time.monotonic() - started)
        return True

    # ---- closing
    def close(self, timeout: float | None = 10.0) -> None:
        """Stop following the alias and send the records not yet sent (waiting up to ``timeout`` seconds).
        The handle keeps serving the loaded version if called afterwards."""
        self._stop.set()
        if self._logger is not None:
            self._logger.close(timeout)
        # a watch in progress returns by itself within watch_s: wait for a short one (a local registry's), not
        # for a long poll (the thread is a daemon, and ends quietly when its poll returns)
        self._watcher.join(self._watch_s + 1.0 if self._watch_s <= LOCAL_WATCH_S else 0.1)

    def __enter__(self) -> LiveModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LiveModel {self.model_name}@{self.alias} serving {self.ref}>"
