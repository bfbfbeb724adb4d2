"""Repairing a blob store from a folder: find the original content of missing or corrupt blobs by hashing
files whatever their names, and fold what was repaired into the fsck report.

The service stores what it finds directly; the HTTP client, whose folder is on the user's machine,
uploads it and the server's verified upload replaces the damaged copy.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal

from modelreg.blobs.local import pump, reader_of
from modelreg.errors import InvalidInput
from modelreg.types import FsckProblem, FsckRepair, FsckReport

log = logging.getLogger(__name__)


def repair_folder(path: str | os.PathLike[str]) -> Path:
    """The folder to repair from, checked: it must exist and be a folder."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise InvalidInput(f"{str(folder)!r} is not a folder", field="repair_from", path=str(folder),
                           hint="pass the folder that holds the original files (searched recursively)")
    return folder.absolute()


def blobs_to_repair(report: FsckReport) -> dict[str, tuple[Literal["missing", "corrupt"], int]]:
    """Every missing or corrupt blob of the report: digest -> (kind, recorded size)."""
    wanted: dict[str, tuple[Literal["missing", "corrupt"], int]] = {}
    for p in report.problems:
        if p.kind != "dangling" and p.size is not None:
            wanted[p.digest] = (p.kind, p.size)
    return wanted


def find_by_content(folder: Path, wanted: Mapping[str, int]) -> dict[str, Path]:
    """A file under ``folder`` holding each wanted blob (digest -> size), whatever its name.

    Only files of a wanted size are read (and each once); the search stops when all are found.
    """
    sizes = set(wanted.values())
    found: dict[str, Path] = {}
    for path, size in _files(folder):
        if len(found) == len(wanted):
            break
        if size not in sizes:
            continue
        try:
            with open(path, "rb") as f:
                hexdigest, _ = pump(reader_of(f), None, expected_size=size)
        except OSError as e:
            log.warning("fsck could not read %s: %s", path, e)
            continue
        digest = f"sha256:{hexdigest}"
        if digest in wanted and wanted[digest] == size:
            found.setdefault(digest, path)
    return found


def _files(folder: Path) -> Iterator[tuple[Path, int]]:
    """Every regular file under ``folder`` (symlinked files followed, symlinked folders not: no loops)."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            try:
                st = path.stat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                yield path, st.st_size


def with_repairs(report: FsckReport, folder: Path, repaired: Sequence[FsckRepair],
                 notes: Mapping[str, str]) -> FsckReport:
    """The report after a repair: repaired blobs' missing/corrupt problems go, the others say why they stay."""
    done = {r.digest for r in repaired}
    problems: list[FsckProblem] = []
    for p in report.problems:
        if p.kind == "dangling":
            problems.append(p)
        elif p.digest not in done:
            why = notes.get(p.digest, f"no file under {folder} has this content")
            problems.append(p.model_copy(update={"detail": f"{p.detail}; {why}"}))
    return report.model_copy(update={"problems": problems, "repaired": list(repaired)})
