"""What both folder layouts share: reading a folder into a planned version, recognising what an
earlier import already brought in, and carrying a plan out (register, aliases, archive flags).

An import runs in two phases. Planning reads every folder (files hashed, metadata.json parsed,
mapped and validated) and writes nothing; ``dry_run`` stops there. Carrying out registers each
planned version with one ``register_version`` call (all or nothing per version), then points the
aliases the folder names, then archives what the folder keeps in its archive.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from modelreg.blobs.base import sha256_file
from modelreg.errors import InvalidInput, InvalidMetadata, ModelregError, NotFound
from modelreg.local.fields import metadata_changes
from modelreg.local.metadata_files import label_or_none, read_json_object, version_fields_from_metadata
from modelreg.refs import parse_ref, validate_artifact_path
from modelreg.registry import DEFAULT_PROJECT
from modelreg.types import ImportItem, ImportReport

if TYPE_CHECKING:
    from modelreg.registry import Registry

log = logging.getLogger("modelreg.importers")

LayoutName = Literal["versions", "environments", "ultralytics"]
METADATA_NAME = "metadata.json"
IMPORT_MARKER = "import_source"
_CHUNK = 1024 * 1024


@dataclass
class Candidate:
    """One folder (or file) of the layout that becomes one version."""

    source: Path  # on disk
    label: str  # where it sits in the layout: "versions/v3", "archive/v1_2024-10-15", "production"
    files: dict[str, Path] = field(default_factory=dict)  # artifact path -> local file
    digests: dict[str, str] = field(default_factory=dict)  # artifact path -> sha256:<hex>
    fields: dict[str, Any] = field(default_factory=dict)  # register_version keywords
    epochs: list[dict[str, Any]] = field(default_factory=list)  # training history rows, when the folder has them
    metadata_digest: str | None = None  # of metadata.json's bytes; None when the folder has none
    archive: bool = False
    error: ModelregError | None = None
    number: int | None = None  # the registry's number, once imported or found

    @property
    def signature(self) -> tuple[frozenset[tuple[str, str]], str | None]:
        return frozenset(self.digests.items()), self.metadata_digest


@dataclass
class Plan:
    """Everything a layout's folder says, read and checked, before anything is written."""

    layout: LayoutName
    root: Path
    candidates: list[Candidate] = field(default_factory=list)  # in import order
    aliases: dict[str, Candidate] = field(default_factory=dict)  # alias -> the candidate it names
    alias_sources: dict[str, Path] = field(default_factory=dict)  # alias -> what on disk names it
    problems: list[tuple[Path, ModelregError]] = field(default_factory=list)  # found, not importable
    warnings: list[str] = field(default_factory=list)
    baseline: str | None = None
    keep_auto_activation: bool = False  # the first version of a new model stays production, as a registration

    def warn(self, message: str) -> None:
        log.warning("%s", message)
        self.warnings.append(message)


# ---- reading folders


def with_path(exc: BaseException, path: Path) -> ModelregError:
    """A copy of the error (same modelreg class, caused by it) whose message names the file or folder."""
    where = str(path)
    error: ModelregError
    if isinstance(exc, ModelregError):
        message = exc.message if where in exc.message else f"{where}: {exc.message}"
        error = type(exc)(message, hint=exc.hint, **{"path": where, **exc.details})
    elif isinstance(exc, OSError):
        error = InvalidInput(
            f"{where}: cannot read {exc.filename or 'it'}: {exc.strerror or exc}",
            hint="check that the file exists and is readable",
            path=where,
        )
    else:
        error = InvalidInput(f"{where}: {exc}", path=where)
    error.__cause__ = exc
    return error


def version_files(folder: Path) -> dict[str, Path]:
    """Every file under ``folder`` (symlinks followed, hidden files kept) except the top-level
    metadata.json, by artifact path (``weights/best.pt``)."""
    out: dict[str, Path] = {}
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink loop
            dirnames.clear()
            continue
        seen.add(real)
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            rel = full.relative_to(folder).as_posix()
            if rel == METADATA_NAME:
                continue
            if not full.is_file():
                raise InvalidInput(
                    f"{full} is not a regular file (a broken symlink?)",
                    hint="remove it or point it at a real file",
                    path=str(full),
                )
            out[validate_artifact_path(rel)] = full
    return out


def read_candidate(
    plan: Plan,
    folder: Path,
    label: str,
    *,
    original_version: str | None = None,
    tags: dict[str, str] | None = None,
    archive: bool = False,
    named: bool = False,
) -> Candidate:
    """Read one version folder: its files (hashed) and its metadata.json (mapped and validated).

    The version's label is metadata.json's ``version`` when that is a valid label (``v4_no_leakage``),
    else, for a folder ``named`` after its version (``v3_2024-11-10``), the folder's name when that is one.
    A problem is kept on the candidate (``error``, naming the path), never raised here.
    """
    cand = Candidate(source=folder, label=label, archive=archive)
    meta = folder / METADATA_NAME
    try:
        cand.files = version_files(folder)
        cand.digests = {path: sha256_file(local) for path, local in cand.files.items()}
        raw: dict[str, Any] = {}
        if meta.is_file():
            raw = read_json_object(meta)
            cand.metadata_digest = sha256_file(meta)
        elif cand.files:
            plan.warn(f"{folder} has no {METADATA_NAME}; its files are imported with empty metadata")
        else:
            raise InvalidInput(
                f"{folder} holds no files",
                hint=f"a version folder holds weights and a {METADATA_NAME}; remove the empty folder or fill it",
                path=str(folder),
            )
        if meta.is_file() and not cand.files:
            plan.warn(f"{folder} holds only {METADATA_NAME}; it is imported as a version without files")
        cand.fields = mapped_fields(raw, path=meta)
        if named and "label" not in cand.fields and (own := label_or_none(folder.name)) is not None:
            cand.fields["label"] = own
        extra: dict[str, Any] = cand.fields.setdefault("extra", {})
        if original_version is not None:
            extra.setdefault("original_version", original_version)
        _put(extra, "original_folder", label)
        _put(
            extra, IMPORT_MARKER, {"layout": plan.layout, "path": str(folder), "metadata_sha256": cand.metadata_digest}
        )
        if tags:
            cand.fields["tags"] = {**cand.fields.get("tags", {}), **tags}
        check_fields(cand.fields, meta)
    except (ModelregError, OSError) as exc:
        if isinstance(exc, ModelregError) and str(folder) in exc.message:
            cand.error = exc  # it names the file already
        else:
            cand.error = with_path(exc, meta if isinstance(exc, InvalidMetadata) else folder)
    return cand


def mapped_fields(raw: dict[str, Any], *, path: Path) -> dict[str, Any]:
    """register_version's keywords for a metadata.json; errors name the file.

    On top of ``version_fields_from_metadata``: ``created_at`` (when training finished) also
    becomes ``training.finished_at`` (a time without a zone is read as UTC); the original text stays
    in ``extra.created_at``.
    """
    try:
        fields = version_fields_from_metadata(raw)
    except ModelregError as exc:
        raise with_path(exc, path) from exc
    created = fields.get("extra", {}).get("created_at")
    finished = _timestamp(created)
    if finished is not None:
        training: dict[str, Any] = dict(fields.get("training") or {})
        if training.get("finished_at") is None:
            training["finished_at"] = finished
            fields["training"] = training
    return fields


def check_fields(fields: dict[str, Any], path: Path) -> None:
    """Validate the keywords exactly as register_version will, so a dry run finds every problem."""
    try:
        metadata_changes(**fields)
    except ModelregError as exc:
        raise with_path(exc, path) from exc


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def _put(extra: dict[str, Any], key: str, value: Any) -> None:
    """Set an import key in ``extra``; a value the metadata itself had under that key is kept aside."""
    if key in extra and extra[key] != value:
        extra[f"{key}_in_metadata"] = extra.pop(key)
    extra[key] = value


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key that puts v2 before v10."""
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name))


def visible_entries(folder: Path) -> Iterator[Path]:
    """The entries of a folder, hidden ones (.DS_Store, .git) left out, in natural order."""
    for entry in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
        if not entry.name.startswith("."):
            yield entry


# ---- carrying a plan out


@dataclass
class _Outcome:
    imported: list[ImportItem] = field(default_factory=list)
    skipped: list[ImportItem] = field(default_factory=list)
    failed: list[ImportItem] = field(default_factory=list)
    aliases: dict[str, int] = field(default_factory=dict)


def first_error(plan: Plan) -> ModelregError | None:
    for cand in plan.candidates:
        if cand.error is not None:
            return cand.error
    return plan.problems[0][1] if plan.problems else None


def carry_out(registry: Registry, model: str, plan: Plan, *, strict: bool, dry_run: bool) -> ImportReport:
    ref = parse_ref(model)
    if strict and (error := first_error(plan)) is not None:
        raise error
    out = _Outcome()
    out.failed.extend(ImportItem(source=str(path), error=str(exc)) for path, exc in plan.problems)
    project = ref.project or DEFAULT_PROJECT
    try:
        existing_model = registry.get_model(model)
        next_number = existing_model.latest_number + 1
        aliases_before = {a.alias: a.number for a in registry.list_aliases(model)}
        known = _imported_signatures(registry, model)
    except NotFound:
        existing_model, next_number, aliases_before, known = None, 1, {}, {}
    imported_now: set[int] = set()
    labels = _labels(registry, model) if existing_model is not None else {}

    for cand in plan.candidates:
        if cand.error is not None:
            out.failed.append(ImportItem(source=str(cand.source), error=str(cand.error)))
            continue
        found = known.get(cand.signature)
        if found is not None:
            cand.number = found
            out.skipped.append(ImportItem(source=str(cand.source), version=f"{project}/{ref.model}:v{found}"))
            continue
        _check_label(plan, cand, labels)
        if dry_run:
            cand.number, next_number = next_number, next_number + 1
        else:
            try:
                version = registry.register_version(model, files=cand.files, read_metadata=False,
                                                   epochs=cand.epochs or None, **cand.fields)
            except (ModelregError, OSError) as exc:
                error = with_path(exc, cand.source)
                if strict:
                    raise error from exc
                out.failed.append(ImportItem(source=str(cand.source), error=str(error)))
                continue
            cand.number = version.number
        imported_now.add(cand.number)
        known[cand.signature] = cand.number
        if cand.fields.get("label"):
            labels[cand.fields["label"]] = cand.number
        out.imported.append(ImportItem(source=str(cand.source), version=f"{project}/{ref.model}:v{cand.number}"))

    _point_aliases(registry, model, plan, out, dry_run=dry_run)
    if not dry_run:
        _undo_auto_activation(registry, model, plan, out, aliases_before, imported_now)
        _archive(registry, model, plan, out, project)
        if plan.baseline and (existing_model is None or existing_model.baseline is None) and out.imported:
            current = registry.get_model(model)
            if current.baseline is None:
                registry.update_model(model, baseline=plan.baseline)
    return _report(out, plan.warnings)


def _imported_signatures(registry: Registry, model: str) -> dict[tuple[frozenset[tuple[str, str]], str | None], int]:
    """The versions an earlier import brought in: (files and digests, metadata.json digest) -> number."""
    known: dict[tuple[frozenset[tuple[str, str]], str | None], int] = {}
    for version in registry.iter_versions(model=model, limit=500):
        marker = version.extra.get(IMPORT_MARKER)
        if not isinstance(marker, dict) or version.status != "ready":
            continue
        files = frozenset((a.path, a.digest) for a in version.artifacts)
        known.setdefault((files, marker.get("metadata_sha256")), version.number)
    return known


def _labels(registry: Registry, model: str) -> dict[str, int]:
    """The labels the model's versions have: label -> number."""
    return {v.label: v.number for v in registry.iter_versions(model=model, limit=500) if v.label}


def _check_label(plan: Plan, cand: Candidate, labels: dict[str, int]) -> None:
    """A label another version has already (an earlier import, or two folders naming the same) is left off."""
    label = cand.fields.get("label")
    if label is None or label not in labels:
        return
    cand.fields = {k: v for k, v in cand.fields.items() if k != "label"}
    plan.warn(f"{cand.source} is imported without the label {label!r}: v{labels[label]} has it already")


def _point_aliases(registry: Registry, model: str, plan: Plan, out: _Outcome, *, dry_run: bool) -> None:
    for alias, cand in plan.aliases.items():
        named_by = plan.alias_sources.get(alias, cand.source)
        if cand.number is None:
            if named_by != cand.source:  # the folder's own failure is reported already
                out.failed.append(
                    ImportItem(
                        source=str(named_by),
                        error=f"{named_by} names {cand.label}, which was not imported; {alias} is not set from it "
                        f"(fix {cand.label} and import again)",
                    )
                )
            continue
        if not dry_run:
            registry.set_alias(f"{model}:{cand.number}", alias)
        out.aliases[alias] = cand.number


def _undo_auto_activation(
    registry: Registry, model: str, plan: Plan, out: _Outcome, before: dict[str, int], imported_now: set[int]
) -> None:
    """The first registration makes production of a new model; when the folder names no production
    (or its production failed), production is left as it was before the import."""
    if plan.keep_auto_activation or "production" in out.aliases or "production" in before or not imported_now:
        return
    now = {a.alias: a.number for a in registry.list_aliases(model)}
    if now.get("production") in imported_now:
        registry.delete_alias(model, "production")
        named = plan.aliases.get("production")
        why = (
            f"its production ({named.label}) was not imported"
            if named is not None
            else f"{plan.root} names no production version"
        )
        plan.warn(
            f"{why}; the automatic production alias on v{now['production']} was removed "
            f"(set one: modelreg activate {model}:VERSION)"
        )


def _archive(registry: Registry, model: str, plan: Plan, out: _Outcome, project: str) -> None:
    for cand in plan.candidates:
        if not cand.archive or cand.number is None:
            continue
        holding = sorted(alias for alias, number in out.aliases.items() if number == cand.number)
        if holding:
            plan.warn(
                f"{cand.source} is in the archive but also {', '.join(holding)}; "
                f"{project}/{parse_ref(model).model}:v{cand.number} is left unarchived"
            )
            continue
        registry.archive(f"{model}:{cand.number}")


def _report(out: _Outcome, warnings: list[str]) -> ImportReport:
    return ImportReport(imported=out.imported, skipped=out.skipped, failed=out.failed, aliases=out.aliases,
                        warnings=list(warnings))
