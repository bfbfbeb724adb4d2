"""The ``versions/vN`` layout, "versions": ``models/current_best.pt`` and ``models/versions/v<N>/``.

Each ``versions/v<N>/`` or ``versions/v<N>_<name>/`` (in ascending N) becomes a version: every file in it
but metadata.json is an artifact at its relative path (``weights/best.pt``), and metadata.json is mapped
onto the version's fields. Its label is metadata.json's ``version``, else the folder's name
(``v4_no_leakage``), when that is a valid label (``v4`` is not: it reads as a number).
``current_best.pt`` (a symlink, or a copy recognised by its SHA-256) names production; a
``current_best.pt`` that matches no folder is imported as a version of its own, so the weights in
production are never lost.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from modelreg.blobs.base import sha256_file
from modelreg.errors import InvalidInput
from modelreg.importers.common import (
    IMPORT_MARKER,
    Candidate,
    Plan,
    read_candidate,
    visible_entries,
)

VERSION_DIR = re.compile(r"[vV](\d+)(?:[_-][A-Za-z0-9][A-Za-z0-9._-]*)?")  # v3, v4_no_leakage
CURRENT_BEST = "current_best.pt"
CURRENT_BEST_VERSION = "current_best_version.txt"  # the label of current_best.pt ("v5"), kept by export scripts
BEST_WEIGHTS = "weights/best.pt"
DESCRIPTION = (
    "versions: models/current_best.pt (production) and models/versions/v<N>/ holding "
    "metadata.json and weights/best.pt, weights/last.pt"
)


def find_root(path: Path) -> Path | None:
    """The ``models/`` folder of the layout: ``path`` itself, ``path/models``, or the parent of ``versions/``."""
    for root in (path, path / "models"):
        if _has_versions(root / "versions"):
            return root
    if path.name == "versions" and _has_versions(path):
        return path.parent
    return None


def _has_versions(folder: Path) -> bool:
    return folder.is_dir() and any(e.is_dir() and VERSION_DIR.fullmatch(e.name) for e in folder.iterdir())


def plan(root: Path) -> Plan:
    result = Plan(layout="versions", root=root)
    folders: list[tuple[int, Path]] = []
    for entry in visible_entries(root / "versions"):
        match = VERSION_DIR.fullmatch(entry.name)
        if entry.is_dir() and match:
            folders.append((int(match.group(1)), entry))
        elif entry.is_dir():
            result.problems.append(
                (
                    entry,
                    InvalidInput(
                        f"{entry} is not a version folder; versions/ holds one folder per version, named v<N>",
                        hint="rename it to v<N> or v<N>_<name> to import it",
                        path=str(entry),
                    ),
                )
            )
        else:
            result.warn(f"{entry} is not a version folder; not imported")
    folders.sort(key=lambda item: item[0])  # stable: v3 before V3
    for _, folder in folders:
        result.candidates.append(
            read_candidate(result, folder, f"versions/{folder.name}", original_version=folder.name, named=True)
        )
    _production(result)
    ignored = [e.name for e in visible_entries(root) if e.name not in ("versions", CURRENT_BEST, CURRENT_BEST_VERSION)]
    if ignored:
        result.warn(f"not part of the versions layout, not imported: {', '.join(ignored)} (in {root})")
    result.baseline = _baseline(result)
    return result


def _production(result: Plan) -> None:
    best = result.root / CURRENT_BEST
    note = result.root / CURRENT_BEST_VERSION
    noted = _noted_version(result, note)
    if os.path.lexists(best):
        target = _current_best(result, best, noted)
        if target is None:
            return
        if noted is not None and noted is not target:
            result.warn(f"{note} says {noted.label} but {best} is {target.label}; production follows {best}")
        result.aliases["production"] = target
        result.alias_sources["production"] = best
    elif noted is not None:
        result.aliases["production"] = noted
        result.alias_sources["production"] = note


def _noted_version(result: Plan, note: Path) -> Candidate | None:
    """The version current_best_version.txt names ("v3"), if any."""
    if not note.is_file():
        return None
    with open(note, "rb") as f:
        text = f.read(256).decode("utf-8", "replace").strip()
    match = VERSION_DIR.fullmatch(text) or re.fullmatch(r"(\d+)", text)
    number = int(match.group(1)) if match else None
    for cand in reversed(result.candidates):  # the folder it names exactly, else one with its number
        if cand.source.name == text:
            return cand
    for cand in reversed(result.candidates):
        m = VERSION_DIR.fullmatch(cand.source.name)
        if m is not None and number is not None and int(m.group(1)) == number:
            return cand
    result.warn(f"{note} names {text[:40]!r}, which is not a folder in versions/; ignored")
    return None


def _current_best(result: Plan, best: Path, noted: Candidate | None) -> Candidate | None:
    """The candidate current_best.pt is: its symlink target's folder, else the one with the same content."""
    if best.is_symlink() and not best.exists():
        result.problems.append(
            (
                best,
                InvalidInput(
                    f"{best} is a broken symlink to {os.readlink(best)}",
                    hint="point it at versions/v<N>/weights/best.pt, or remove it",
                    path=str(best),
                ),
            )
        )
        return None
    if not best.is_file():
        result.problems.append((best, InvalidInput(f"{best} is not a file", path=str(best))))
        return None
    if best.is_symlink():
        real = best.resolve()
        for cand in result.candidates:
            if real.is_relative_to(cand.source.resolve()):
                return cand
    try:
        digest = sha256_file(best)
    except OSError as exc:
        result.problems.append((best, InvalidInput(f"{best} cannot be read: {exc.strerror}", path=str(best))))
        return None
    matches = [c for c in result.candidates if c.digests.get(BEST_WEIGHTS) == digest] or [
        c for c in result.candidates if digest in c.digests.values()
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        chosen = noted if noted in matches else matches[-1]
        result.warn(
            f"{best} has the same content as {', '.join(c.label for c in matches)}; production is {chosen.label}"
        )
        return chosen
    own = Candidate(
        source=best,
        label=CURRENT_BEST,
        files={BEST_WEIGHTS: best},
        digests={BEST_WEIGHTS: digest},
        fields={
            "extra": {
                "original_folder": CURRENT_BEST,
                IMPORT_MARKER: {"layout": result.layout, "path": str(best), "metadata_sha256": None},
            }
        },
    )
    result.warn(
        f"{best} matches no folder in versions/; it is imported as a version of its own "
        f"(file {BEST_WEIGHTS}) and made production"
    )
    result.candidates.append(own)
    return own


def _baseline(result: Plan) -> str | None:
    """The architecture the production version (else the newest) started from: pretrained_model minus .pt."""
    ready = [c for c in result.candidates if c.error is None]
    target = result.aliases.get("production")
    for cand in ([target] if target is not None and target.error is None else []) + ready[::-1]:
        pretrained = cand.fields.get("params", {}).get("pretrained_model")
        if isinstance(pretrained, str) and pretrained.strip():
            return Path(pretrained.strip()).stem
    return None
