"""Evaluations of a version on named datasets: one row each, and their numbers one row per key for filters."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select

from modelreg.errors import VersionNotFound
from modelreg.metadata.sql.schema import evaluation_metrics, evaluations, versions
from modelreg.metadata.sql.txbase import TxBase
from modelreg.metadata.values import to_json_value
from modelreg.types import Evaluation


def _evaluation(r: Row[Any]) -> Evaluation:
    return Evaluation(dataset=r.dataset, digest=r.digest, metrics=r.metrics, class_metrics=r.class_metrics,
                      notes=r.notes, created_at=r.created_at, created_by=r.created_by)


class EvaluationsTx(TxBase):
    def save_evaluation(self, *, version_id: int, evaluation: Evaluation) -> None:
        conn = self._w()
        model_id = conn.execute(select(versions.c.model_id).where(versions.c.id == version_id)).scalar()
        if model_id is None:
            raise VersionNotFound(f"version #{version_id} does not exist", version_id=version_id)
        dataset = evaluation.dataset
        for table in (evaluation_metrics, evaluations):
            conn.execute(table.delete().where(table.c.version_id == version_id, table.c.dataset == dataset))
        data = evaluation.model_dump(mode="json")
        conn.execute(evaluations.insert().values(
            version_id=version_id, dataset=dataset, digest=evaluation.digest, notes=evaluation.notes,
            created_at=evaluation.created_at, created_by=evaluation.created_by,
            metrics=to_json_value(data["metrics"], field_name="evaluation metrics"),
            class_metrics=to_json_value(data["class_metrics"], field_name="evaluation class_metrics")))
        if evaluation.metrics:
            conn.execute(evaluation_metrics.insert(), [
                {"version_id": version_id, "model_id": model_id, "dataset": dataset, "key": k, "value": v}
                for k, v in evaluation.metrics.items()])

    def get_evaluation(self, *, version_id: int, dataset: str) -> Evaluation | None:
        row = self.conn.execute(select(evaluations).where(evaluations.c.version_id == version_id,
                                                          evaluations.c.dataset == dataset)).first()
        return None if row is None else _evaluation(row)

    def list_evaluations(self, *, version_id: int) -> list[Evaluation]:
        rows = self.conn.execute(select(evaluations).where(evaluations.c.version_id == version_id)
                                 .order_by(evaluations.c.dataset))
        return [_evaluation(r) for r in rows]
