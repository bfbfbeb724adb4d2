"""Exports of a version to deployment formats: pick the weights, convert and verify (in child processes),
store the files as blobs of the version's export, and serve the same version + format + options again.

The toolchains never load in this process: ``modelreg.export.runner`` runs them in children, so a crash
or an out-of-memory in a converter or a runtime becomes a failed export, not a dead server.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from modelreg.blobs.base import Progress
from modelreg.errors import (
    ERRORS_BY_CODE,
    ExportFailed,
    InvalidInput,
    InvalidState,
    ModelregError,
    NoWeights,
    PlatformUnsupported,
    UntrustedSource,
)
from modelreg.export.detect import WEIGHT_SUFFIXES, detect_source_kind
from modelreg.export.job import BenchOutcome, ExportJob, ExportOptions, ExportOutcome, InputSpec
from modelreg.export.limits import check_input_shapes
from modelreg.export.toolchains import ULTRALYTICS_INSTALL
from modelreg.local.export_names import export_file_name
from modelreg.local.export_options import choose_export, export_options, given_options
from modelreg.local.pulls import pull_into
from modelreg.local.sources import Source, folder_sources
from modelreg.metadata.base import MetadataTx
from modelreg.refs import Ref, validate_artifact_path
from modelreg.service.blobs import claim as claim_blobs
from modelreg.service.blobs import register_with_retry, store_sources
from modelreg.service.files import FilesMixin
from modelreg.service.permissions import operation
from modelreg.steps import next_step, pass_option
from modelreg.types import Artifact, Export, ExportSource, Version

log = logging.getLogger("modelreg.service")

SAMPLE_INPUTS_NAME = "sample_inputs.npz"
_PREFERRED_WEIGHTS = ("weights/best.pt", "best.pt", "model.pt", "weights/last.pt", "last.pt")


def export_key(fmt: str, options: ExportOptions, source: ExportSource) -> str:
    """What makes two exports the same: format, options, the source's content and entry point."""
    body = json.dumps({"format": fmt, "options": options.model_dump(mode="json"), "source": source.digest,
                       "entry_point": source.entry_point}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def pick_weights(version: Version, source: str | None) -> Artifact:
    """The file to export from: the one named, else the usual weights names, else any weights file."""
    by_path = {a.path: a for a in version.artifacts}
    if source is not None:
        path = validate_artifact_path(source)
        if path not in by_path:
            raise NoWeights(f"{version.ref} has no file {path!r}",
                            hint="its files: " + (", ".join(by_path) or "none"), path=path)
        return by_path[path]
    for name in _PREFERRED_WEIGHTS:
        if name in by_path:
            return by_path[name]
    candidates = [a for a in version.artifacts if a.path.lower().endswith(WEIGHT_SUFFIXES)]
    if not candidates:
        listed = ", ".join(by_path) or "no files at all"
        raise NoWeights(f"{version.ref} has no weights to export: no {', '.join(WEIGHT_SUFFIXES)} file among "
                        f"its files ({listed})",
                        step=pass_option("source", lead="register the weights file with the version, or"),
                        version=version.number)
    return min(candidates, key=lambda a: (WEIGHT_SUFFIXES.index(Path(a.path).suffix.lower())
                                          if Path(a.path).suffix.lower() in WEIGHT_SUFFIXES else 99, a.path))


def input_specs(version: Version, options: ExportOptions) -> list[InputSpec]:
    """The model's inputs: ``input_shapes`` of the options, else the signature, else ``imgsz`` of params."""
    sig = version.signature.inputs if version.signature else []
    if options.input_shapes:
        if sig and len(sig) != len(options.input_shapes):
            raise InvalidInput(f"{len(options.input_shapes)} input shape(s) given; the signature has {len(sig)} "
                               "inputs", step=pass_option("input_shapes", lead="give one shape per input"),
                               field="input_shapes")
        return [InputSpec(name=sig[i].name if sig else f"input_{i}", dtype=sig[i].dtype if sig else "float32",
                          shape=list(shape)) for i, shape in enumerate(options.input_shapes)]
    if sig:
        if any(not t.shape for t in sig):
            raise InvalidInput(f"{version.ref}'s signature has an input without a shape",
                               step=pass_option("input_shapes"), field="signature")
        return [InputSpec(name=t.name, dtype=t.dtype, shape=list(t.shape)) for t in sig]
    for name in ("imgsz", "image_size", "img_size", "imgsz_train"):
        size = version.params.get(name)
        if isinstance(size, int) and not isinstance(size, bool) and size > 0:
            return [InputSpec(name="images", shape=[-1 if options.dynamic_batch else 1, 3, size, size])]
    raise InvalidInput(f"{version.ref} does not say what its input looks like",
                       step=pass_option("input_shapes", lead="register the version with a signature or "
                                                             "params.imgsz, or"), field="input_shapes")


def without_default_shapes(version: Version, options: ExportOptions) -> ExportOptions:
    """``options`` without input shapes that are the version's own (``--imgsz 640`` of a model registered at
    640), so that asking for the defaults in words finds the export made without them."""
    if not options.input_shapes:
        return options
    plain = options.model_copy(update={"input_shapes": None})
    try:
        defaults = [spec.shape for spec in input_specs(version, plain)]
    except InvalidInput:  # no default to be equal to
        return options
    return plain if defaults == [list(shape) for shape in options.input_shapes] else options


def untrusted_message(version: Version, path: str) -> str:
    """Why exporting a pickled file needs trust, and when that is the usual case."""
    yolo = isinstance(version.extra.get("ultralytics"), Mapping)
    what = "an Ultralytics checkpoint, a pickle" if yolo else "a pickled module"
    message = (f"{path!r} of {version.ref} is {what}: loading it (torch.load) runs whatever code the file names, "
               "so it is exported only when you say you trust it (or an admin sets the model's trusted_sources "
               "policy); a checkpoint your own training run wrote and registered is the usual case")
    if yolo:
        message += f"; loading it also needs the ultralytics package where the export runs: {ULTRALYTICS_INSTALL}"
    return message


def failure_error(outcome: ExportOutcome, fmt: str) -> ModelregError:
    """The error class a failed conversion names (``unsupported_operator`` → UnsupportedOperator …)."""
    failure = outcome.error
    if failure is None:
        return ExportFailed(f"the {fmt} export failed and said nothing",
                            hint="the log of the process that ran it has the details", format=fmt)
    cls = ERRORS_BY_CODE.get(failure.code, ExportFailed)
    step = next_step("install_toolchain", extra=failure.extra, install=failure.hint) \
        if failure.extra and failure.hint else None
    return cls(failure.message, hint=failure.hint, step=step, format=fmt, operator=failure.operator,
               missing=failure.missing, extra=failure.extra, install=failure.install)


Stage = Callable[[str], None]  # told what an export is doing now, in a few words ("storing the files")


def _quiet(stage: str) -> None:
    """A ``Stage`` that tells no one."""


@dataclass(frozen=True)
class ExportPlan:
    """An export checked and ready to run: the version, the weights on local disk, the options and the key."""

    version: Version
    format: str
    options: ExportOptions
    source: ExportSource
    local: Path
    key: str
    trusted: bool
    force: bool
    stored: Export | None = None  # the same export, already stored: served instead of converting


def _inputs(version: Version, opts: ExportOptions) -> list[InputSpec]:
    """The model's inputs for ``opts``, refused when absurd (before any child process loads anything)."""
    inputs = input_specs(version, opts)
    check_input_shapes([spec.shape for spec in inputs])
    return inputs


class ExportsMixin(FilesMixin):
    @operation("editor", "exporting a version")
    def export(self, ref: str, format: str = "onnx", *, force: bool = False, trusted: bool = False,
               source: str | None = None, entry_point: str | None = None,
               options: Mapping[str, Any] | ExportOptions | None = None, **more_options: Any) -> Export:
        """Export a version to ``format`` (onnx, torchscript, coreml, tflite), verified against the source.

        Options (keywords, or ``options=``): ``input_shapes`` ([[1, 3, 640, 640]]), ``dynamic_batch``,
        ``opset``, ``half``, ``int8`` ("dynamic" | "static"), ``simplify``. The same version + format +
        options (+ source file) is exported once; later calls return the stored export unless ``force``.
        ``trusted=True`` allows weights saved as a pickled module (loading them runs code in the file).
        An export whose outputs differ from the source's is kept as ``failed-parity``; one that cannot be
        made raises (UnsupportedOperator, ExportOutOfMemory, …) and stores nothing.
        """
        opts = export_options(format, given_options(options, more_options))
        plan = self._plan_export(ref, format, opts, force=force, trusted=trusted, source=source,
                                 entry_point=entry_point)
        return plan.stored if plan.stored is not None else self._make_export(plan)

    def _plan_export(self, ref: str, fmt: str, opts: ExportOptions, *, force: bool, trusted: bool,
                     source: str | None, entry_point: str | None) -> ExportPlan:
        """Everything an export checks before converting (raising what ``export`` raises), as a plan; its
        ``stored`` is the export to serve when the same one is stored (and ``force`` is off)."""
        version = self.get_version(ref)
        self._check_ready_for_export(version)
        opts = without_default_shapes(version, opts)
        if not trusted:  # an admin may have trusted the model's sources for good (its trusted_sources policy)
            trusted = self.ctx.read(lambda tx: self._model(tx, f"{version.project}/{version.model}")
                                    ).policies.trusted_sources
        weights = pick_weights(version, source)
        local = self.resolve(str(_pinned(version)), weights.path)
        kind = detect_source_kind(local)
        if kind is None:
            raise NoWeights(f"{weights.path!r} of {version.ref} is not a PyTorch file (torch.save, TorchScript or "
                            "torch.export)", step=pass_option("source", lead="name the weights file"),
                            path=weights.path)
        entry = entry_point or _entry_point_of(version)
        src = ExportSource(path=weights.path, digest=weights.digest, kind=kind,
                           entry_point=entry if kind == "state_dict" else None)
        if kind == "state_dict" and not entry:
            raise NoWeights(f"{weights.path!r} of {version.ref} is a state dict: the registry needs the code that "
                            "builds the module",
                           step=pass_option("entry_point", lead="register params.entry_point, or"), path=weights.path)
        key = export_key(fmt, opts, src)
        plan = ExportPlan(version=version, format=fmt, options=opts, source=src, local=local, key=key,
                          trusted=trusted, force=force)
        if not force:
            cached = self._find_export(version, fmt, key)
            if cached is not None:
                return replace(plan, stored=cached)  # serving a stored export loads nothing: no trust needed
        if kind == "pickled_module" and not trusted:
            raise UntrustedSource(untrusted_message(version, weights.path), step=pass_option("trusted"),
                                  path=weights.path)
        _inputs(version, opts)
        return plan

    def _make_export(self, plan: ExportPlan, stage: Stage = _quiet) -> Export:
        """Convert, verify and store what ``plan`` says, telling ``stage`` what it is doing."""
        scratch = self._scratch()
        try:
            stage("preparing the inputs")
            job = self._job(plan.version, plan.format, plan.options, plan.source, plan.local, plan.trusted,
                            scratch / "out")
            stage("converting and checking parity")  # the runner names each of the two as it starts it
            outcome = self._run_export(job, stage)
            if outcome.status == "failed" or not outcome.files:
                error = failure_error(outcome, plan.format)
                self._record_failure(plan.version, plan.format, plan.key, error)
                raise error
            stage("storing the files")
            return self._store_export(plan.version, plan.format, plan.key, plan.options, plan.source, outcome,
                                      Path(job.out_dir))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    @operation("viewer", "downloading files")
    def pull(self, ref: str, to: str | os.PathLike[str], *, progress: Progress | None = None,
             metadata: bool = True, format: str | None = None, export_id: int | None = None,
             export_options: Mapping[str, Any] | None = None) -> Path:
        """Write the version's files into ``to``; with ``format``, its export's files (and export.json) instead:
        the export ``export_id``, else the newest with ``export_options`` (any options when None)."""
        if format is None:
            return super().pull(ref, to, progress=progress, metadata=metadata)
        exported = self.get_export(ref, format, export_id=export_id, **dict(export_options or {}))
        files = [(export_file_name(f.path), f.digest, f.size) for f in exported.files]
        document = ("export.json", exported.model_dump(mode="json")) if metadata else None
        return pull_into(Path(to), files, lambda digest, _, target: self.ctx.blobs.get_to_path(
            digest, target, progress=progress), document)

    @operation("viewer", "listing exports")
    def list_exports(self, ref: str) -> list[Export]:
        """The version's exports, oldest first: format, options, status, parity, speed, files."""
        version = self.get_version(ref)

        def run(tx: MetadataTx) -> list[Export]:
            return tx.list_exports(version_id=version.id)

        return self.ctx.read(run)

    @operation("viewer", "reading an export")
    def get_export(self, ref: str, format: str, *, export_id: int | None = None, **options: Any) -> Export:
        """The stored export of ``format``: the one ``export_id`` names, else the newest with ``options`` (any
        options when none are given)."""
        version = self.get_version(ref)
        return choose_export(self.list_exports(str(_pinned(version))), version.ref, format, options, export_id)

    @operation("editor", "benchmarking an export")
    def bench(self, ref: str, format: str = "onnx", *, batches: Sequence[int] = (1, 16), runs: int = 30,
              trusted: bool = False, **options: Any) -> Export:
        """Measure the export's latency (p50/p90, throughput) per batch size next to PyTorch eager, and store it.

        Exports first when the version has no such export yet (with ``options``).
        """
        sizes = _batch_sizes(batches)
        if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= 10_000:
            raise InvalidInput(f"runs={runs!r} must be a whole number from 1 to 10000", field="runs")
        exported = self.export(ref, format, trusted=trusted, **options)
        version = self.get_version(str(Ref(model=exported.model, project=exported.project, number=exported.version)))
        if exported.status == "unverified" or format == "coreml":
            reason = exported.parity.reason if exported.parity and exported.parity.reason else \
                f"the {format} runtime cannot run on this machine"
            raise PlatformUnsupported(f"cannot benchmark the {format} export of {version.ref} here: {reason}",
                                      hint="benchmark it on the device it targets (Core ML: macOS)", format=format)
        scratch = self._scratch()
        try:
            out = scratch / "out"
            out.mkdir(parents=True)
            for f in exported.files:
                target = out / export_file_name(f.path)
                target.parent.mkdir(parents=True, exist_ok=True)
                self.ctx.blobs.get_to_path(f.digest, target)
            local = self.resolve(str(_pinned(version)), exported.source.path)
            job = self._job(version, exported.format, exported.options, exported.source, local, trusted, out)
            result = self._run_bench(job, sizes, runs)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if result.error is not None and not result.rows:
            raise failure_error(ExportOutcome(status="failed", error=result.error), format)

        def run(tx: MetadataTx) -> Export:
            record = _record_of(exported)
            record["bench"] = result.model_dump(mode="json")
            updated = tx.update_export(export_id=exported.id, record=record, now=self.ctx.now())
            model = self._model(tx, f"{version.project}/{version.model}")
            # the export shows the newest figures; each benchmark stays in the events log, the one it
            # replaced beside it, so no measurement is ever lost
            earlier = exported.bench.model_dump(mode="json") if exported.bench is not None else None
            self._event(tx, "export.benchmarked", model=model, version=version.number,
                        before={"format": format, "key": exported.key, "bench": earlier} if earlier else None,
                        after={"format": format, "key": exported.key, "export_id": exported.id,
                               "machine": result.machine, "rows": [r.model_dump(mode="json") for r in result.rows]})
            return updated

        return self.ctx.write(run)

    # ---- the parts

    def _job(self, version: Version, fmt: str, opts: ExportOptions, src: ExportSource, local: Path, trusted: bool,
             out_dir: Path) -> ExportJob:
        """The work for the exporter: the weights on local disk, the inputs, the sample inputs if stored."""
        samples = next((a.path for a in version.artifacts if a.path.rsplit("/", 1)[-1] == SAMPLE_INPUTS_NAME), None)
        model = self.ctx.read(lambda tx: self._model(tx, _pinned(version)))
        inputs = _inputs(version, opts)
        return ExportJob(format=fmt, options=opts, source_path=str(local),
                         source_kind=src.kind, entry_point=src.entry_point, inputs=inputs,
                         sample_inputs_path=str(self.resolve(str(_pinned(version)), samples)) if samples else None,
                         task=model.task, trusted=trusted, out_dir=str(out_dir),
                         memory_limit_bytes=self.ctx.settings.export_memory_limit)

    def _run_export(self, job: ExportJob, stage: Stage = _quiet) -> ExportOutcome:
        from modelreg.export.runner import run_export

        return run_export(job, stage)

    def _run_bench(self, job: ExportJob, batches: list[int], runs: int) -> BenchOutcome:
        from modelreg.export.runner import run_bench

        return run_bench(job, batches, runs)

    @staticmethod
    def _check_ready_for_export(version: Version) -> None:
        if version.status != "ready":
            raise InvalidState(f"{version.ref} is {version.status}; only a ready version can be exported",
                               hint="wait for the run to finish, or pick a ready version", status=version.status)

    def _scratch(self) -> Path:
        root = self.ctx.settings.resolved_cache_dir / ".exports"
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="job-", dir=root))

    def _find_export(self, version: Version, fmt: str, key: str) -> Export | None:
        def run(tx: MetadataTx) -> Export | None:
            return tx.get_export(version_id=version.id, format=fmt, key=key)

        return self.ctx.read(run)

    def _store_export(self, version: Version, fmt: str, key: str, opts: ExportOptions, src: ExportSource,
                      outcome: ExportOutcome, out_dir: Path) -> Export:
        prefix = f"exports/{fmt}/{key}/"
        listed = set(outcome.files)
        sources = [Source(prefix + s.path, s.open, s.origin) for s in folder_sources(out_dir) if s.path in listed]
        missing = listed - {s.path[len(prefix):] for s in sources}
        if missing:
            raise ExportFailed(f"the {fmt} exporter said it wrote {sorted(missing)[0]!r} but did not",
                               step=pass_option("force", lead="a toolchain bug; run again and"), format=fmt)
        artifacts = store_sources(self.ctx, sources)
        record = {"status": outcome.status, "options": opts.model_dump(mode="json"),
                  "source": src.model_dump(mode="json"), "toolchain": outcome.toolchain,
                  "duration_s": outcome.duration_s,
                  "parity": outcome.parity.model_dump(mode="json") if outcome.parity else None,
                  "error": outcome.error.model_dump(mode="json") if outcome.error else None,
                  "notes": outcome.notes, "created_by": self.ctx.actor}

        def commit(arts: list[Artifact]) -> Export:
            def run(tx: MetadataTx) -> Export:
                model = self._model(tx, f"{version.project}/{version.model}")
                claim_blobs(self.ctx, tx, arts)
                saved = tx.save_export(version_id=version.id, format=fmt, key=key, record=record, files=arts,
                                       now=self.ctx.now())
                self._event(tx, "version.exported", model=model, version=version.number,
                            after={"format": fmt, "key": key, "status": outcome.status,
                                   "options": record["options"], "files": [a.model_dump() for a in arts],
                                   "parity": record["parity"]})
                return saved

            return self.ctx.write(run)

        result: Export = register_with_retry(self.ctx, sources, artifacts, commit)
        return result

    def _record_failure(self, version: Version, fmt: str, key: str, error: ModelregError) -> None:
        def run(tx: MetadataTx) -> None:
            model = self._model(tx, f"{version.project}/{version.model}")
            self._event(tx, "version.export_failed", model=model, version=version.number,
                        after={"format": fmt, "key": key, **error.to_dict()})

        try:
            self.ctx.write(run)
        except Exception:  # the failure itself is what the caller needs to hear about
            log.exception("could not record the failed export of %s", version.ref)


def _pinned(version: Version) -> Ref:
    return Ref(model=version.model, project=version.project, number=version.number)


def _entry_point_of(version: Version) -> str | None:
    for holder in (version.params, version.extra):
        value = holder.get("entry_point")
        if isinstance(value, str) and value:
            return value
    return None


def _record_of(export: Export) -> dict[str, Any]:
    return export.model_dump(mode="json", exclude={"id", "project", "model", "version", "format", "key", "files",
                                                   "created_at"})


def _batch_sizes(batches: Sequence[int]) -> list[int]:
    sizes = list(batches)
    if not sizes or any(isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= 4096 for b in sizes):
        raise InvalidInput(f"batch sizes {sizes!r} must be whole numbers from 1 to 4096", step=pass_option("batches"),
                           field="batches")
    return sorted(set(sizes))


__all__ = ["ExportPlan", "ExportsMixin", "Stage", "choose_export", "export_file_name", "export_key",
           "export_options", "given_options", "input_specs", "pick_weights"]
