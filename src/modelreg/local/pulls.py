"""Writing a version's files out: staged beside the target folder, moved in only when all of it arrived.

Where the bytes come from is the caller's ``fetch``: the blob store in process, a download from a server
in the HTTP client. Both write the same folder: the files at their artifact paths and a metadata.json
(or an export's export.json).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from modelreg.errors import InvalidInput, InvalidState
from modelreg.refs import validate_artifact_path
from modelreg.types import Version

Fetch = Callable[[str, int, Path], None]  # (digest, size, target): write the blob, verified, at target


def check_ready(version: Version) -> None:
    """Refuse to fetch the files of a version that is not ready (in training, failed, …)."""
    if version.status != "ready":
        raise InvalidState(f"{version.ref} is {version.status}; it has no files to fetch",
                           hint="pick a ready version", version=version.number, status=version.status)


def metadata_document(version: Version) -> dict[str, object]:
    """The metadata.json written beside pulled files: the whole version, plus ``version`` (``v3``) and ``ref``."""
    doc: dict[str, object] = {"version": f"v{version.number}", "ref": version.ref}
    doc.update(version.model_dump(mode="json", exclude={"number"}))
    doc["number"] = version.number
    return doc


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
