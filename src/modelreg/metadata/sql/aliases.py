"""Aliases, their move history, and the append-only events log."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row, select, update

from modelreg.errors import InvalidState, ModelNotFound
from modelreg.metadata.sql.schema import alias_moves, aliases, events, models, versions
from modelreg.metadata.sql.txbase import TxBase
from modelreg.metadata.values import to_json_value
from modelreg.types import AliasInfo, AliasMove, Event, Policies


def _move(r: Row[Any]) -> AliasMove:
    return AliasMove(id=r.id, alias=r.alias, from_number=r.from_number, to_number=r.to_number, kind=r.kind,
                     reverted=r.reverted, at=r.at, actor=r.actor)


def _round_trip(value: Any, field_name: str) -> Any:
    """What reading the JSON column back returns (keys become strings, tuples lists)."""
    data = to_json_value(value, field_name=field_name)
    return None if data is None else json.loads(json.dumps(data))


class AliasesTx(TxBase):
    # ---- aliases

    def _aliases(self, model_id: int, name: str | None = None) -> list[AliasInfo]:
        query = (select(aliases.c.name, aliases.c.updated_at, versions.c.number)
                 .select_from(aliases.join(versions, versions.c.id == aliases.c.version_id))
                 .where(aliases.c.model_id == model_id).order_by(aliases.c.name))
        if name is not None:
            query = query.where(aliases.c.name == name)
        rows = self.conn.execute(query).all()
        if not rows:
            return []
        policies = self.conn.execute(select(models.c.policies).where(models.c.id == model_id)).scalar()
        protected = set(Policies.model_validate(policies or {}).protected_aliases)
        return [AliasInfo(alias=r.name, number=r.number, protected=r.name in protected, updated_at=r.updated_at)
                for r in rows]

    def set_alias(self, *, model_id: int, alias: str, version_id: int, now: datetime) -> None:
        conn = self._w()
        owner = conn.execute(select(versions.c.model_id).where(versions.c.id == version_id)).scalar()
        if owner != model_id:
            raise InvalidState(f"version #{version_id} does not belong to model #{model_id}",
                               version_id=version_id, model_id=model_id)
        conn.execute(self._upsert(aliases, ["model_id", "name"], ["version_id", "updated_at"])
                     .values(model_id=model_id, name=alias, version_id=version_id, updated_at=now))

    def get_alias(self, *, model_id: int, alias: str) -> AliasInfo | None:
        found = self._aliases(model_id, alias)
        return found[0] if found else None

    def delete_alias(self, *, model_id: int, alias: str) -> None:
        self._w().execute(aliases.delete().where(aliases.c.model_id == model_id, aliases.c.name == alias))

    def list_aliases(self, *, model_id: int) -> list[AliasInfo]:
        return self._aliases(model_id)

    def record_alias_move(self, *, model_id: int, alias: str, from_number: int | None, to_number: int | None,
                          kind: Literal["set", "rollback", "delete"], actor: str, now: datetime) -> AliasMove:
        conn = self._w()
        if conn.execute(select(models.c.id).where(models.c.id == model_id)).first() is None:
            raise ModelNotFound(f"model #{model_id} does not exist", model_id=model_id)
        row = conn.execute(alias_moves.insert().values(
            model_id=model_id, alias=alias, from_number=from_number, to_number=to_number, kind=kind,
            reverted=False, at=now, actor=actor).returning(*alias_moves.c)).one()
        return _move(row)

    def alias_moves(self, *, model_id: int, alias: str) -> list[AliasMove]:
        query = (select(alias_moves).where(alias_moves.c.model_id == model_id, alias_moves.c.alias == alias)
                 .order_by(alias_moves.c.id.desc()))
        return [_move(r) for r in self.conn.execute(query)]

    def mark_move_reverted(self, *, move_id: int) -> None:
        self._w().execute(update(alias_moves).where(alias_moves.c.id == move_id).values(reverted=True))

    # ---- events

    def append_event(self, *, actor: str, action: str, now: datetime, project: str | None = None,
                     model: str | None = None, version: int | None = None, alias: str | None = None,
                     before: Any = None, after: Any = None) -> Event:
        before, after = _round_trip(before, "before"), _round_trip(after, "after")
        event_id = self._w().execute(events.insert().values(
            at=now, actor=actor, action=action, project=project, model=model, version=version, alias=alias,
            before=before, after=after).returning(events.c.id)).scalar_one()
        return Event(id=event_id, at=now, actor=actor, action=action, project=project, model=model,
                     version=version, alias=alias, before=before, after=after)
