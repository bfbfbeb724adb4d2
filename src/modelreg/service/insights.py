"""Reading across versions: training history, lineage, comparison, reports."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from modelreg.errors import InvalidInput
from modelreg.filters import decode_cursor
from modelreg.metadata.base import MetadataTx
from modelreg.refs import MAX_VERSION, Ref, validate_name
from modelreg.registry import DEFAULT_PROJECT, ReportFormat
from modelreg.service.base import ServiceBase, as_ref
from modelreg.service.permissions import operation
from modelreg.service.projects import check_limit
from modelreg.text import check_storable
from modelreg.types import (
    EVENT_ACTIONS,
    ClassApDiff,
    Comparison,
    Epoch,
    Evaluation,
    Event,
    Lineage,
    LineageEdge,
    MetricDiff,
    Page,
    ParamDiff,
    Version,
    VersionKey,
)

# A comparison's work is bounded whatever the versions hold (docs/security.md lists these).
MAX_COMPARE = 20  # versions in one comparison
MAX_CURVE_POINTS = 500  # epochs per curve: longer histories are thinned evenly, first and last kept
MAX_CURVES = 50  # metrics with a curve, per version (alphabetical)
MAX_PARAMS = 1000  # flattened parameters in the diff (alphabetical)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _deltas(values: list[float | None]) -> list[float | None]:
    first = values[0]
    return [None if v is None or first is None else v - first for v in values]


class InsightsMixin(ServiceBase):
    def _key_version(self, tx: MetadataTx, key: VersionKey) -> Version | None:
        model = tx.get_model(project=key.project, name=key.model)
        return tx.get_version(model_id=model.id, number=key.number) if model else None

    @operation("viewer", "reading training history")
    def history(self, ref: str) -> list[Epoch]:
        """The version's training history, one row per epoch."""
        def run(tx: MetadataTx) -> list[Epoch]:
            _, version = self._version(tx, as_ref(ref))
            return tx.list_epochs(version_id=version.id)

        return self.ctx.read(run)

    @operation("viewer", "reading lineage")
    def lineage(self, ref: str) -> Lineage:
        """Ancestors (parent first) and descendants (breadth first) of a version, across models, with whose child
        each descendant is (``edges``)."""
        def run(tx: MetadataTx) -> Lineage:
            _, version = self._version(tx, as_ref(ref))
            ancestors: list[VersionKey] = []
            seen = {version.id}
            current = version
            while current.parent is not None:
                parent = self._key_version(tx, current.parent)
                if parent is None or parent.id in seen:
                    break
                ancestors.append(current.parent)
                seen.add(parent.id)
                current = parent
            descendants: list[VersionKey] = []
            edges: list[LineageEdge] = []
            queue = deque([(version.id, version.key)])
            visited = {version.id}
            while queue:
                parent_id, parent_key = queue.popleft()
                for child in tx.children(version_id=parent_id):
                    child_version = self._key_version(tx, child)
                    if child_version is None or child_version.id in visited:
                        continue
                    visited.add(child_version.id)
                    descendants.append(child)
                    edges.append(LineageEdge(parent=parent_key, child=child))
                    queue.append((child_version.id, child))
            return Lineage(version=version.ref, ancestors=ancestors, descendants=descendants, edges=edges)

        return self.ctx.read(run)

    @operation("viewer", "comparing versions")
    def compare(self, refs: Sequence[str]) -> Comparison:
        """Metrics with differences from the first version, per-class AP deltas, params diff, curves, and the
        evaluations' metrics side by side (``eval.<dataset>.<metric>``)."""
        if isinstance(refs, str) or len(refs) < 2:
            raise InvalidInput("compare needs two or more versions", hint="e.g. compare fire-detector:4 "
                               "fire-detector:5")
        if len(refs) > MAX_COMPARE:
            raise InvalidInput(f"compare takes at most {MAX_COMPARE} versions", field="refs")

        def run(tx: MetadataTx) -> Comparison:
            versions = [self._version(tx, as_ref(r))[1] for r in refs]
            histories = {v.ref: tx.list_epochs(version_id=v.id, max_rows=MAX_CURVE_POINTS) for v in versions}
            thinned = any(tx.count_epochs(version_id=v.id) > MAX_CURVE_POINTS for v in versions)
            evaluations = {v.ref: tx.list_evaluations(version_id=v.id) for v in versions}
            comparison = build_comparison(versions, {ref: self._curves(rows) for ref, rows in histories.items()},
                                          evaluations)
            if not thinned:
                return comparison
            note = (f"curves show at most {MAX_CURVE_POINTS} evenly spaced epochs of a history (first and last "
                    "kept)")
            return comparison.model_copy(update={"cut": [*comparison.cut, note]})

        return self.ctx.read(run)

    @staticmethod
    def _curves(epochs: list[Epoch]) -> dict[str, list[tuple[int, float]]]:
        names = sorted({name for e in epochs for name in e.metrics})[:MAX_CURVES]
        curves: dict[str, list[tuple[int, float]]] = {name: [] for name in names}
        for e in epochs:
            for name in names:
                if name in e.metrics:
                    curves[name].append((e.epoch, e.metrics[name]))
        return curves

    @operation("viewer", "reading a report")
    def report(self, ref: str, fmt: ReportFormat = "json") -> str:
        """A full report of a version: metadata, files, aliases, training history, lineage, exports, events,
        evaluations."""
        if fmt not in ("json", "markdown", "md"):
            raise InvalidInput(f"report format {fmt!r} is not json or markdown", field="fmt")
        r = as_ref(ref)
        version = self.get_version(r)
        pinned_ref = str(Ref(model=version.model, project=version.project, number=version.number))
        history = self.history(pinned_ref)
        lineage = self.lineage(pinned_ref)
        events = self.events(model=f"{version.project}/{version.model}", version=version.number, limit=100).items
        exports = self.ctx.read(lambda tx: tx.list_exports(version_id=version.id))
        evaluations = self.ctx.read(lambda tx: tx.list_evaluations(version_id=version.id))
        data = {
            "version": version.model_dump(mode="json"),
            "history": [e.model_dump(mode="json") for e in history],
            "lineage": lineage.model_dump(mode="json"),
            "events": [e.model_dump(mode="json") for e in events],
            "exports": [e.model_dump(mode="json") for e in exports],
            "evaluations": [e.model_dump(mode="json") for e in evaluations],
        }
        if fmt == "json":
            return json.dumps(data, indent=2, sort_keys=True)
        from modelreg.service.report_markdown import render_markdown

        return render_markdown(version, history, lineage, events, exports, evaluations)

    @operation("viewer", "reading the events log")
    def events(self, *, project: str | None = None, model: str | None = None, version: int | None = None,
               action: str | None = None, actor: str | None = None, limit: int = 50,
               cursor: str | None = None) -> Page[Event]:
        """The audit log, newest first: who did what, when, before -> after (``actor``: by whom)."""
        check_limit(limit)
        check_action(action)
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                    or not 1 <= version <= MAX_VERSION):
            raise InvalidInput(f"version {version!r} must be a number from 1 to {MAX_VERSION}", field="version")
        decoded = decode_cursor(cursor)
        model_name: str | None = None
        if model is not None:
            r = as_ref(model)
            project = r.project or project or DEFAULT_PROJECT
            model_name = r.model
        project = project or self.ctx.project_scope
        if project is not None:
            validate_name(project, kind="project name")
            self.ctx.check_project(project)
        if actor is not None:
            check_storable(actor, "actor", error=InvalidInput)
        return self.ctx.read(lambda tx: tx.list_events(project=project, model=model_name, version=version,
                                                       action=action, actor=actor, cursor=decoded, limit=limit))


def check_action(action: str | None) -> None:
    """An events filter names one of the declared actions (``version.registered``)."""
    if action is None or action in EVENT_ACTIONS:
        return
    raise InvalidInput(f"{str(action)[:80]!r} is not an event action", field="action",
                       hint="one of " + ", ".join(EVENT_ACTIONS), actions=list(EVENT_ACTIONS))


def build_comparison(versions: list[Version], curves: dict[str, dict[str, list[tuple[int, float]]]],
                     evaluations: Mapping[str, list[Evaluation]] | None = None) -> Comparison:
    """The comparison of ``versions``; ``evaluations``: version ref -> its evaluations (compared per dataset and
    metric, named ``eval.<dataset>.<metric>``, with differences from the first version)."""
    metric_names = sorted({m for v in versions for m in v.metrics})
    metrics = []
    for name in metric_names:
        values: list[float | None] = [v.metrics.get(name) for v in versions]
        metrics.append(MetricDiff(name=name, values=values, deltas=_deltas(values)))
    class_names: list[str] = []
    for v in versions:
        for c in v.class_metrics:
            if c.class_name not in class_names:
                class_names.append(c.class_name)
    class_ap = []
    for cname in class_names:
        aps: list[float | None] = [next((c.ap for c in v.class_metrics if c.class_name == cname), None)
                                   for v in versions]
        class_ap.append(ClassApDiff(class_name=cname, values=aps, deltas=_deltas(aps)))
    flat = [_flatten(v.params) for v in versions]
    keys = sorted({k for f in flat for k in f})
    params = []
    for key in keys[:MAX_PARAMS]:
        vals = [f.get(key) for f in flat]
        params.append(ParamDiff(name=key, values=vals, identical=all(x == vals[0] for x in vals)))
    cut = []
    if len(keys) > MAX_PARAMS:
        cut.append(f"the params diff shows the first {MAX_PARAMS} of {len(keys)} parameters (alphabetical)")
    if any(len(c) == MAX_CURVES for c in curves.values()):
        cut.append(f"curves are drawn for at most {MAX_CURVES} metrics per version (alphabetical)")
    return Comparison(versions=[v.ref for v in versions], metrics=metrics, class_ap=class_ap, params=params,
                      curves=curves, cut=cut, evaluations=_evaluation_diffs(versions, evaluations or {}))


def _evaluation_diffs(versions: list[Version], evaluations: Mapping[str, list[Evaluation]]) -> list[MetricDiff]:
    numbers = [{f"eval.{e.dataset}.{name}": value for e in evaluations.get(v.ref, []) for name, value in
                e.metrics.items()} for v in versions]
    out = []
    for name in sorted({key for n in numbers for key in n}):
        values: list[float | None] = [n.get(name) for n in numbers]
        out.append(MetricDiff(name=name, values=values, deltas=_deltas(values)))
    return out
