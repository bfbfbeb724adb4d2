"""The ``production/staging/archive`` layout, "environments": ``models/{production,staging,archive/<name>}/``.

Each folder (``model.pth``, ``encoders.pkl``, ``metadata.json``) becomes a version. The archive comes
first, oldest first (by the date in the folder name, else the metadata's created_date), then staging,
then production, so that production is the newest. The ``production`` and ``staging`` aliases point
at what those folders hold; archive versions are archived. Every version is tagged
``environment=<folder>`` and keeps its folder in ``extra.original_folder``. Its label is metadata.json's
``version`` when that is a valid label (``v4_no_leakage``), else an archive folder's name (``v3_2024-11-10``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from modelreg.importers.common import Candidate, Plan, natural_key, read_candidate, visible_entries

ENVIRONMENTS = ("staging", "production")  # import order: production last, so it is the newest
ARCHIVE = "archive"
DESCRIPTION = (
    "environments: models/production/, models/staging/ and models/archive/<name>/, each holding "
    "model.pth, encoders.pkl and metadata.json"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def find_root(path: Path) -> Path | None:
    """The ``models/`` folder of the layout: ``path`` itself or ``path/models``."""
    for root in (path, path / "models"):
        if any((root / name).is_dir() for name in (*ENVIRONMENTS, ARCHIVE)):
            return root
    return None


def plan(root: Path) -> Plan:
    result = Plan(layout="environments", root=root)
    archived: list[Candidate] = []
    if (root / ARCHIVE).is_dir():
        for entry in visible_entries(root / ARCHIVE):
            if not entry.is_dir():
                result.warn(f"{entry} is not a version folder; not imported")
                continue
            archived.append(
                read_candidate(result, entry, f"{ARCHIVE}/{entry.name}", tags={"environment": ARCHIVE}, archive=True,
                               named=True)
            )
    result.candidates.extend(sorted(archived, key=_age))
    for env in ENVIRONMENTS:
        folder = root / env
        if folder.is_dir():
            cand = read_candidate(result, folder, env, tags={"environment": env})
            result.candidates.append(cand)
            result.aliases[env] = cand
            result.alias_sources[env] = folder
    ignored = [
        e.name
        for e in visible_entries(root)
        if e.name not in (*ENVIRONMENTS, ARCHIVE) and not e.name.lower().startswith("readme")
    ]
    if ignored:
        result.warn(f"not part of the environments layout, not imported: {', '.join(ignored)} (in {root})")
    result.baseline = _baseline(result)
    return result


def _age(cand: Candidate) -> tuple[str, tuple[Any, ...]]:
    """Oldest first: the date in the folder name (v3_2024-11-10), else created_date or deployed_date."""
    found = _DATE.search(cand.source.name)
    date = found.group(0) if found else ""
    extra = cand.fields.get("extra", {})
    for key in ("created_date", "deployed_date"):
        value = extra.get(key)
        if not date and isinstance(value, str) and _DATE.match(value):
            date = value[:10]
    return date, natural_key(cand.source.name)


def _baseline(result: Plan) -> str | None:
    """model_architecture.type of the production version (else the newest one that names it)."""
    ready = [c for c in result.candidates if c.error is None]
    target = result.aliases.get("production")
    for cand in ([target] if target is not None and target.error is None else []) + ready[::-1]:
        arch = cand.fields.get("params", {}).get("model_architecture")
        if isinstance(arch, dict) and isinstance(arch.get("type"), str) and arch["type"].strip():
            return str(arch["type"]).strip()
    return None
