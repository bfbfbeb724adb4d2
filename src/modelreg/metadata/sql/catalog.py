"""Projects and models."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select, update

from modelreg.errors import AlreadyExists, InvalidInput, InvalidState, ModelNotFound, ProjectNotFound
from modelreg.metadata.base import MODEL_UPDATABLE
from modelreg.metadata.sql.rows import load_models, select_models
from modelreg.metadata.sql.schema import (
    alias_moves,
    aliases,
    artifacts,
    epochs,
    export_files,
    exports,
    model_tags,
    models,
    projects,
    version_metrics,
    version_tags,
    versions,
)
from modelreg.metadata.sql.txbase import TxBase
from modelreg.metadata.values import to_json_value
from modelreg.types import Model, Policies, Project, Task


def project_from_row(r: Any) -> Project:
    return Project(id=r.id, name=r.name, description=r.description, labels=r.labels, created_at=r.created_at,
                   inference_retention=r.inference_retention)


class CatalogTx(TxBase):
    # ---- projects

    def create_project(self, *, name: str, description: str = "", labels: list[str] | None = None,
                       now: datetime) -> Project:
        row = self._w().execute(
            self._insert_ignore(projects)
            .values(name=name, description=description, labels=list(labels or []), created_at=now)
            .returning(*projects.c)).first()
        if row is None:
            raise AlreadyExists(f"project {name!r} already exists", project=name)
        return project_from_row(row)

    def get_project(self, *, name: str) -> Project | None:
        row = self.conn.execute(select(projects).where(projects.c.name == name)).first()
        return None if row is None else project_from_row(row)

    def list_projects(self) -> list[Project]:
        return [project_from_row(r) for r in self.conn.execute(select(projects).order_by(projects.c.name))]

    def update_project(self, *, project_id: int, description: str | None = None,
                       labels: list[str] | None = None) -> Project:
        values: dict[str, Any] = {}
        if description is not None:
            values["description"] = description
        if labels is not None:
            values["labels"] = list(labels)
        if values:
            self._w().execute(update(projects).where(projects.c.id == project_id).values(**values))
        row = self.conn.execute(select(projects).where(projects.c.id == project_id)).first()
        if row is None:
            raise ProjectNotFound(f"project #{project_id} does not exist", project_id=project_id)
        return project_from_row(row)

    def delete_project(self, *, project_id: int) -> None:
        name = self.conn.execute(select(projects.c.name).where(projects.c.id == project_id)).scalar()
        if name is None:
            raise ProjectNotFound(f"project #{project_id} does not exist", project_id=project_id)
        if self.count_models(project_id=project_id):
            raise InvalidState(f"project {name!r} still has models", hint="delete its models first", project=name)
        self._w().execute(projects.delete().where(projects.c.id == project_id))

    def count_models(self, *, project_id: int) -> int:
        query = select(func.count()).select_from(models).where(models.c.project_id == project_id)
        return int(self.conn.execute(query).scalar_one())

    # ---- models

    def create_model(self, *, project_id: int, name: str, description: str = "", task: Task = "other",
                     baseline: str | None = None, tags: Mapping[str, str] | None = None,
                     policies: Policies | None = None, now: datetime) -> Model:
        conn = self._w()
        project = conn.execute(select(projects.c.name).where(projects.c.id == project_id)).scalar()
        if project is None:
            raise ProjectNotFound(f"project #{project_id} does not exist", project_id=project_id)
        model_id = conn.execute(
            self._insert_ignore(models)
            .values(project_id=project_id, name=name, description=description, task=task, baseline=baseline,
                    pinned=False, policies=(policies or Policies()).model_dump(mode="json"), marked_best=None,
                    latest_number=0, version_count=0, created_at=now, updated_at=now)
            .returning(models.c.id)).scalar()
        if model_id is None:
            raise AlreadyExists(f"model {project}/{name} already exists", project=project, model=name)
        if tags:
            self._replace_pairs(model_tags, "model_id", model_id, dict(tags))
        return self._model(model_id)

    def _model(self, model_id: int) -> Model:
        rows = self.conn.execute(select_models().where(models.c.id == model_id)).all()
        if not rows:
            raise ModelNotFound(f"model #{model_id} does not exist", model_id=model_id)
        return load_models(self.conn, rows)[0]

    def get_model(self, *, project: str, name: str, lock: bool = False) -> Model | None:
        query = select_models().where(projects.c.name == project, models.c.name == name)
        if lock and self.write:
            query = query.with_for_update(of=models)
        rows = self.conn.execute(query).all()
        return load_models(self.conn, rows)[0] if rows else None

    def get_model_by_id(self, *, model_id: int) -> Model | None:
        rows = self.conn.execute(select_models().where(models.c.id == model_id)).all()
        return load_models(self.conn, rows)[0] if rows else None

    def update_model(self, *, model_id: int, changes: Mapping[str, Any], now: datetime) -> Model:
        conn = self._w()
        unknown = set(changes) - MODEL_UPDATABLE
        if unknown:
            raise InvalidInput(f"model fields {sorted(unknown)} cannot be updated", fields=sorted(unknown))
        current = self._model(model_id)
        values: dict[str, Any] = {k: v for k, v in changes.items() if k not in ("tags", "policies")}
        if "policies" in changes:
            values["policies"] = to_json_value(Policies.model_validate(changes["policies"] or {}),
                                               field_name="policies")
        if "tags" in changes:
            self._replace_pairs(model_tags, "model_id", model_id, dict(changes["tags"] or {}))
        statement = update(models).where(models.c.id == model_id).values(updated_at=now, **values)
        try:
            with conn.begin_nested():  # a taken name must not abort the caller's transaction
                conn.execute(statement)
        except sa_exc.IntegrityError as exc:
            name = values.get("name")
            raise AlreadyExists(f"model {current.project}/{name} already exists", project=current.project,
                                model=name) from exc
        return self._model(model_id)

    def delete_model(self, *, model_id: int) -> None:
        conn = self._w()
        if conn.execute(select(models.c.id).where(models.c.id == model_id)).first() is None:
            raise ModelNotFound(f"model #{model_id} does not exist", model_id=model_id)
        own = select(versions.c.id).where(versions.c.model_id == model_id)
        conn.execute(aliases.delete().where(aliases.c.model_id == model_id))
        conn.execute(alias_moves.delete().where(alias_moves.c.model_id == model_id))
        conn.execute(update(versions).where(versions.c.parent_id.in_(own), versions.c.model_id != model_id)
                     .values(parent_id=None))
        own_exports = select(exports.c.id).where(exports.c.version_id.in_(own))
        conn.execute(export_files.delete().where(export_files.c.export_id.in_(own_exports)))
        for table in (exports, artifacts, epochs, version_metrics, version_tags):
            conn.execute(table.delete().where(table.c.version_id.in_(own)))
        conn.execute(versions.delete().where(versions.c.model_id == model_id))
        conn.execute(model_tags.delete().where(model_tags.c.model_id == model_id))
        conn.execute(models.delete().where(models.c.id == model_id))

    def allocate_number(self, *, model_id: int) -> int:
        number = self._w().execute(
            update(models).where(models.c.id == model_id)
            .values(latest_number=models.c.latest_number + 1).returning(models.c.latest_number)).scalar()
        if number is None:
            raise ModelNotFound(f"model #{model_id} does not exist", model_id=model_id)
        return int(number)
