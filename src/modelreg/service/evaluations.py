"""Evaluations: metrics of a version measured on a named dataset after training.

One evaluation per version and dataset: logging the same dataset again replaces the current value (latest
wins), and the ``evaluation.logged`` event keeps what it replaced (``before``) beside the new one (``after``).
The training-time metrics of the version never change. A version holds at most ``MAX_EVALUATIONS``; an
optional ``digest`` says which copy of the dataset was used. Filters and promotion gates address an evaluation's
numbers as ``eval.<dataset>.<metric>``; so a dataset name is a name (``validate_name``) without a ``.``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelreg.errors import InvalidMetadata, InvalidName
from modelreg.local.fields import metadata_changes
from modelreg.metadata.base import MetadataTx
from modelreg.refs import validate_name
from modelreg.service.base import ServiceBase, as_ref
from modelreg.service.permissions import operation
from modelreg.text import check_storable
from modelreg.types import Evaluation, Version

EvalValues = dict[str, dict[str, float]]  # dataset -> metric -> value
MAX_DIGEST = 256
MAX_EVALUATIONS = 100  # datasets per version: the version page and compare show them all


def check_dataset(dataset: object) -> str:
    """A dataset name: a name (letters, digits, ``_``, ``-``) without ``.``, which ``eval.<dataset>.<metric>``
    uses to tell the dataset from the metric."""
    name = validate_name(dataset, kind="dataset name")
    if "." in name:
        raise InvalidName(f"dataset name {name!r} holds a '.'",
                          hint="filters read eval.<dataset>.<metric>; use '_' or '-' instead, e.g. "
                               + name.replace(".", "_"), name=name, kind="dataset name")
    return name


def check_digest(digest: object) -> str:
    """An optional reference to the exact copy of the dataset (``sha256:…``, a tag): one line of at most
    ``MAX_DIGEST`` characters, storable text; empty when not given."""
    if digest is None:
        return ""
    if not isinstance(digest, str):
        raise InvalidMetadata(f"digest is {type(digest).__name__}; it must be text", field="digest",
                              hint="e.g. sha256:3f2a… or a dataset tag")
    if len(digest) > MAX_DIGEST or any(c.isspace() or not c.isprintable() for c in digest):
        raise InvalidMetadata(f"digest {digest[:40]!r} is not one line of at most {MAX_DIGEST} characters "
                              "without spaces", field="digest", hint="e.g. sha256:3f2a… or a dataset tag")
    check_storable(digest, "digest")
    return digest


def evaluation_values(tx: MetadataTx, version: Version | None) -> EvalValues:
    """The numbers of a version's evaluations (none for no version), as gates read them."""
    if version is None:
        return {}
    return {e.dataset: dict(e.metrics) for e in tx.list_evaluations(version_id=version.id)}


def _shown(evaluation: Evaluation | None) -> dict[str, Any] | None:
    return None if evaluation is None else evaluation.model_dump(mode="json")


class EvaluationsMixin(ServiceBase):
    @operation("editor", "logging an evaluation")
    def log_evaluation(self, ref: str, *, dataset: str, metrics: Mapping[str, float],
                       class_metrics: Sequence[Any] | None = None, notes: str = "",
                       digest: str = "") -> Evaluation:
        """Record an evaluation of the version ``ref`` names on ``dataset`` (e.g. ``night_images``): its
        metrics (name -> finite number), optional per-class rows, notes and the dataset copy's ``digest``. An
        evaluation of the same version on the same dataset is replaced (latest wins; the event keeps the one
        before)."""
        name = check_dataset(dataset)
        copy = check_digest(digest)
        if not isinstance(metrics, Mapping):
            raise InvalidMetadata(f"metrics is {type(metrics).__name__}; it must be an object of name -> number",
                                  hint='e.g. {"map50": 0.81}', field="metrics")
        checked = metadata_changes(metrics=metrics, class_metrics=class_metrics, notes=notes)
        if not checked.get("metrics") and not checked.get("class_metrics"):
            raise InvalidMetadata(f"the evaluation on {name} holds no metric and no per-class row",
                                  hint='give metrics, e.g. {"map50": 0.81}', field="metrics")

        def run(tx: MetadataTx) -> Evaluation:
            model, version = self._version(tx, as_ref(ref))
            before = tx.get_evaluation(version_id=version.id, dataset=name)
            if before is None and len(tx.list_evaluations(version_id=version.id)) >= MAX_EVALUATIONS:
                raise InvalidMetadata(f"{version.ref} already has {MAX_EVALUATIONS} evaluations, the limit",
                                      hint="log again under one of its dataset names (it replaces that one)",
                                      field="dataset", limit=MAX_EVALUATIONS)
            evaluation = Evaluation(dataset=name, digest=copy, metrics=checked.get("metrics") or {},
                                    class_metrics=checked.get("class_metrics") or [], notes=checked.get("notes") or "",
                                    created_at=self.ctx.now(), created_by=self.ctx.actor)
            tx.save_evaluation(version_id=version.id, evaluation=evaluation)
            self._event(tx, "evaluation.logged", model=model, version=version.number, before=_shown(before),
                        after=_shown(evaluation))
            return evaluation

        return self.ctx.write(run)

    @operation("viewer", "reading evaluations")
    def list_evaluations(self, ref: str) -> list[Evaluation]:
        """The evaluations of the version ``ref`` names, one per dataset (by dataset name)."""
        def run(tx: MetadataTx) -> list[Evaluation]:
            _, version = self._version(tx, as_ref(ref))
            return tx.list_evaluations(version_id=version.id)

        return self.ctx.read(run)
