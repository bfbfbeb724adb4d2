"""Getting a version's files out: ``pull`` into a folder, ``resolve`` to a cached local path.

How a pull is staged and how the cache is laid out is shared with the HTTP client (``modelreg.local``);
here the bytes come from the blob store and every call is checked against the caller's role.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from modelreg.blobs.base import Progress
from modelreg.local.cache import cached_folder, path_in_folder
from modelreg.local.pulls import check_ready, metadata_document, pull_into
from modelreg.refs import validate_artifact_path
from modelreg.service.base import ServiceBase
from modelreg.service.permissions import operation
from modelreg.types import Version


class FilesMixin(ServiceBase):
    _resolved: dict[tuple[str, str | None], tuple[object, Path]]
    _resolved_lock: threading.Lock

    @operation("viewer", "downloading files")
    def pull(self, ref: str, to: str | os.PathLike[str], *, progress: Progress | None = None,
             metadata: bool = True) -> Path:
        """Write the version's files (verified) and its metadata.json into the folder ``to``."""
        version = self.get_version(ref)
        check_ready(version)
        files = [(a.path, a.digest, a.size) for a in version.artifacts]
        return pull_into(Path(to), files, lambda digest, _, target: self.ctx.blobs.get_to_path(
            digest, target, progress=progress), ("metadata.json", metadata_document(version)) if metadata else None)

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
        check_ready(version)
        result = path_in_folder(self._cached_folder(version), version, path)
        if token is not None:
            with self._resolved_lock:
                self._resolved[key] = (token, result)
        return result

    def _cached_folder(self, version: Version) -> Path:
        return cached_folder(self.ctx.settings.resolved_cache_dir, version, self.pull)
