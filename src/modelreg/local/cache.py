"""Cache folders of versions: ``resolve`` pulls a version once into ``<cache>/<project>/<model>/v<N>`` and
reuses it.

A folder is complete when it holds ``COMPLETE_MARKER``: it is pulled into a staging folder beside its
place, marked, then renamed into place, so a crash or a concurrent resolve never leaves a half folder
that looks whole. The embedded registry caches under the cache dir; the HTTP client under
``servers/<host>`` of it, one tree per server.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from modelreg.errors import ArtifactNotFound
from modelreg.refs import Ref
from modelreg.types import Version

COMPLETE_MARKER = ".modelreg-complete"
Pull = Callable[[str, Path], object]  # (reference, folder): write the version's files into the folder


def server_cache_root(cache_dir: Path, url: str) -> Path:
    """Where versions of the server at ``url`` are cached: a folder per server host under ``cache_dir``."""
    server = re.sub(r"[^A-Za-z0-9._-]", "_", urlsplit(url).netloc)
    return cache_dir / "servers" / server


def cached_folder(root: Path, version: Version, pull: Pull) -> Path:
    """The version's complete folder under ``root``, pulled (with ``pull``) the first time it is asked for."""
    folder = root / version.project / version.model / f"v{version.number}"
    if (folder / COMPLETE_MARKER).exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".v{version.number}-", dir=folder.parent))
    try:
        pull(str(Ref(model=version.model, project=version.project, number=version.number)), staging)
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


def path_in_folder(folder: Path, version: Version, path: str | None) -> Path:
    """The folder itself (``path`` None) or the version's file ``path`` in it; ArtifactNotFound when the
    version has no such file."""
    if path is None:
        return folder
    if not any(a.path == path for a in version.artifacts):
        raise ArtifactNotFound(f"{version.ref} has no file {path!r}",
                               hint="its files: " + ", ".join(a.path for a in version.artifacts), path=path)
    return folder / path
