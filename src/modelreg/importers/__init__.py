"""Importing the folder layouts users already have into a model of the registry.

Three layouts that teams keep their trained models in:

- ``versions``: ``models/current_best.pt`` and ``models/versions/v<N>/`` holding metadata.json
  and ``weights/best.pt``, ``weights/last.pt``. See ``importers.versions_layout``.
- ``environments``: ``models/{production,staging,archive/<name>}/`` holding model.pth,
  encoders.pkl and metadata.json. See ``importers.environments_layout``.
- ``ultralytics``: a ``yolo train`` run folder (``runs/detect/train3/``: args.yaml, results.csv, weights/),
  or a folder of them, with their training history. See ``importers.ultralytics_run``.

What an import guarantees:

- Every file of a version folder except metadata.json becomes an artifact at its relative path;
  metadata.json is parsed (not stored as a file: ``pull`` writes its own) and every field lands in its
  place or under ``extra``. ``extra.original_version`` keeps the folder's label (``v3``),
  ``extra.original_folder`` where it sat (``versions/v3``), ``extra.import_source`` the marker that
  recognises it again. The registry's numbers are its own; the report maps each folder to one.
- A folder that cannot be imported (corrupt metadata.json, no files, …) is reported in ``failed`` with
  its path and the others go on; ``strict`` raises the first problem before anything is written.
  Each version lands whole or not at all.
- ``production`` and ``staging`` end where the folder says; when it names no production, the automatic
  production alias of a new model's first version is removed again.
- Importing the same folder twice brings nothing in twice: a folder whose files and metadata.json
  (SHA-256) match a version an earlier import made is reported as already imported, and the aliases and
  archive flags are brought in line with the folder again.
- ``dry_run`` reads, hashes and validates everything and reports what would happen, writing nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from modelreg.errors import InvalidInput
from modelreg.importers import environments_layout, ultralytics_run, versions_layout
from modelreg.importers.common import LayoutName, Plan, carry_out
from modelreg.refs import parse_ref
from modelreg.registry import Layout
from modelreg.types import ImportReport

if TYPE_CHECKING:
    from modelreg.registry import Registry

LAYOUT_HINT = (f"modelreg imports three layouts: {versions_layout.DESCRIPTION}; {environments_layout.DESCRIPTION}; "
               f"or {ultralytics_run.DESCRIPTION}")
DESCRIPTIONS: dict[LayoutName, str] = {"versions": versions_layout.DESCRIPTION,
                                       "environments": environments_layout.DESCRIPTION,
                                       "ultralytics": ultralytics_run.DESCRIPTION}


def import_folder(
    registry: Registry,
    path: str | os.PathLike[str],
    model: str,
    *,
    layout: Layout = "auto",
    strict: bool = False,
    dry_run: bool = False,
) -> ImportReport:
    """Import a folder in the ``versions/vN``, the ``production/staging/archive`` or the Ultralytics run layout
    into ``model``.

    ``path`` is the ``models/`` folder or the folder holding it. Returns what was imported (folder ->
    version), what failed (with the path and the reason), what was already there, and the aliases set.
    """
    target = parse_ref(model)
    if target.names_version:
        raise InvalidInput(f"import into a model, not a version: {model!r}", hint="e.g. fire-detector", model=model)
    found, root = detect_layout(path, layout)
    planners = {"versions": versions_layout.plan, "environments": environments_layout.plan,
                "ultralytics": ultralytics_run.plan}
    plan: Plan = planners[found](root)
    return carry_out(registry, model, plan, strict=strict, dry_run=dry_run)


def detect_layout(path: str | os.PathLike[str], layout: Layout = "auto") -> tuple[LayoutName, Path]:
    """The layout of the folder and its ``models/`` root; InvalidInput describing both when unknown."""
    folder = Path(path).expanduser().absolute()
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder", hint="pass the models/ folder to import", path=str(folder))
    roots: dict[LayoutName, Path | None] = {
        "versions": versions_layout.find_root(folder),
        "environments": environments_layout.find_root(folder),
        "ultralytics": ultralytics_run.find_root(folder),
    }
    if layout == "auto":
        hits = [(name, root) for name, root in roots.items() if root is not None]
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise InvalidInput(
                f"{folder} holds both the {' and the '.join(name for name, _ in hits)} layouts",
                hint="say which to import: layout='versions', 'environments' or 'ultralytics' (--layout on the "
                     "command line)",
                path=str(folder),
            )
        raise InvalidInput(f"{folder} holds no folder layout modelreg can import", hint=LAYOUT_HINT, path=str(folder))
    if layout not in roots:
        raise InvalidInput(
            f"unknown layout {layout!r}; use 'auto', 'versions', 'environments' or 'ultralytics'", hint=LAYOUT_HINT,
            field="layout",
        )
    root = roots[layout]
    if root is None:
        description = DESCRIPTIONS[layout]
        raise InvalidInput(
            f"{folder} does not hold the {layout} layout", hint=f"expected {description}", path=str(folder)
        )
    return layout, root


__all__ = ["LAYOUT_HINT", "detect_layout", "import_folder"]
