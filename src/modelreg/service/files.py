"""Getting a version's files out: ``pull`` into a folder, ``resolve`` to a cached local path."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from modelreg.blobs.base import Progress
from modelreg.errors import ArtifactNotFound, InvalidInput, InvalidState
from modelreg.refs import Ref, validate_artifact_path
from modelreg.service.base import ServiceBase
from modelreg.service.permissions import operation
from modelreg.types import Version

COMPLETE_MARKER = ".modelreg-complete"


def metadata_document(version: Version) -> dict[str, object]:
    """The metadata.json written beside pulled files: the whole version, plus ``version`` (``v3``) and ``ref``."""
    doc: dict[str, object] = {"version": f"v{version.number}", "ref": version.ref}
    doc.update(version.model_dump(mode="json", exclude={"number"}))
    doc["number"] = version.number
    return doc


class FilesMixin(ServiceBase):
    _resolved: dict[tuple[str, str | None], tuple[object, Path]]
    _resolved_lock: threading.Lock

    @operation("viewer", "downloading files")
    def pull(self, ref: str, to: str | os.PathLike[str], *, progress: Progress | None = None,
             metadata: bool = True) -> Path:
        """Write the version's files (verified) and its metadata.json into the folder ``to``."""
        version = self.get_version(ref)
        self._check_ready(version)
        files = [(a.path, a.digest, a.size) for a in version.artifacts]
        return pull_into(Path(to), files, lambda digest, _, target: self.ctx.blobs.get_to_path(
            digest, target, progress=progress), ("metadata.json", metadata_document(version)) if metadata else None)

    @staticmethod
    def _check_ready(version: Version) -> None:
        if version.status != "ready":
            raise InvalidState(f"{version.ref} is {version.status}; it has no files to fetch",
                               hint="pick a ready version", version=version.number, status=version.status)

    @operation("viewer", "downloading files")
    def resolve(self, ref: str, path: str | None = None) -> Path:
        """A local path to the version's folder (or one file in it) for an application to load.

        Files are fetched once into the cache (verified) and reused; a reference naming no version
        follows MODEL_ENVIRONMENT (default production). Cached files are read-only: copy to change.
        """
        if path is not None:
            validate_artifact_path(path)
        token = self.ctx.meta.change_token()
        key = (ref, path)
        if token is not None:
            hit = self._resolved.get(key)
            if hit is not None and hit[0] == token:
                return hit[1]
        version = self.get_version(ref)
        self._check_ready(version)
        folder = self._cached_folder(version)
        result = folder
        if path is not None:
            if not any(a.path == path for a in version.artifacts):
                raise ArtifactNotFound(f"{version.ref} has no file {path!r}",
                                       hint="its files: " + ", ".join(a.path for a in version.artifacts),
                                       path=path)
            result = folder / path
        if token is not None:
            with self._resolved_lock:
                self._resolved[key] = (token, result)
        return result

    def _cached_folder(self, version: Version) -> Path:
        root = self.ctx.settings.resolved_cache_dir
        folder = root / version.project / version.model / f"v{version.number}"
        if (folder / COMPLETE_MARKER).exists():
            return folder
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".v{version.number}-", dir=folder.parent))
        try:
            pinned = str(Ref(model=version.model, project=version.project, number=version.number))
            self.pull(pinned, staging)
            (staging / COMPLETE_MARKER).write_text(version.ref)
            try:
                os.rename(staging, folder)
            except OSError:
                if not (folder / COMPLETE_MARKER).exists():  # a half folder from an old crash
                    shutil.rmtree(folder, ignore_errors=True)
                    os.rename(staging, folder)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return folder


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON beside its final name, fsync, make it readable (0644), rename into place."""
    fd, tmp = tempfile.mkstemp(prefix=".metadata-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


Fetch = Callable[[str, int, Path], None]  # (digest, size, target): write the blob, verified, at target


def pull_into(to: Path, files: Sequence[tuple[str, str, int]], fetch: Fetch,
              document: tuple[str, object] | None) -> Path:
    """Write ``files`` ((artifact path, digest, size)) and ``document`` (a JSON file) into the folder ``to``.

    Everything is fetched, verified, into a staging folder beside ``to`` first and moved in only when all
    of it arrived, so a failure half-way (a corrupt blob, a dropped connection, a full disk) leaves ``to``
    as it was. Files already in ``to`` with other names are kept; same-named ones are replaced.
    """
    dest = to.expanduser()
    if dest.exists() and not dest.is_dir():
        raise InvalidInput(f"{str(dest)!r} is a file, not a folder", hint="pull into a folder", path=str(dest))
    names = [validate_artifact_path(path) for path, _, _ in files] + ([document[0]] if document else [])
    _check_room(dest, names)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.pull-", dir=dest.parent))
    try:
        for path, digest, size in files:
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            fetch(digest, size, target)
        if document is not None:
            write_json_atomic(staging / document[0], document[1])
        dest.mkdir(exist_ok=True)
        for name in names:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, dest / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _check_room(dest: Path, names: Sequence[str]) -> None:
    """Refuse before fetching anything when a file would have to replace a folder in ``dest``, or the
    other way round."""
    for name in names:
        parts = Path(name).parts
        for depth in range(1, len(parts) + 1):
            existing = dest.joinpath(*parts[:depth])
            last = depth == len(parts)
            if (last and existing.is_dir()) or (not last and existing.is_file()):
                raise InvalidInput(f"{str(existing)!r} is in the way of {name!r}",
                                   hint="pull into an empty or new folder", path=str(existing))
