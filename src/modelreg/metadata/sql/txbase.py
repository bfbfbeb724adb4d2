"""What every part of the SQL transaction shares: the connection, the dialect and a few statement helpers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import Insert

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PgInsert


def pg_insert(table: Table) -> PgInsert:
    """PostgreSQL's INSERT, its dialect imported on first use: a SQLite registry never loads it."""
    from sqlalchemy.dialects.postgresql import insert

    return insert(table)


class TxBase:
    def __init__(self, conn: Connection, *, write: bool) -> None:
        self.conn = conn
        self.write = write
        self.postgres = conn.dialect.name == "postgresql"

    def _w(self) -> Connection:
        """The connection, for a statement that writes."""
        if not self.write:
            raise RuntimeError("a read transaction cannot write; use store.transaction()")
        return self.conn

    def _insert_ignore(self, table: Table) -> Insert:
        """``INSERT ... ON CONFLICT DO NOTHING``: a duplicate neither fails nor aborts the transaction."""
        insert = pg_insert(table) if self.postgres else sqlite_insert(table)
        return insert.on_conflict_do_nothing()

    def _upsert(self, table: Table, keys: Sequence[str], update: Sequence[str]) -> Insert:
        """``INSERT ... ON CONFLICT (keys) DO UPDATE SET`` the ``update`` columns to the new values."""
        if self.postgres:
            pg = pg_insert(table)
            return pg.on_conflict_do_update(index_elements=list(keys),
                                            set_={c: pg.excluded[c] for c in update})
        lite = sqlite_insert(table)
        return lite.on_conflict_do_update(index_elements=list(keys), set_={c: lite.excluded[c] for c in update})

    def _replace_pairs(self, table: Table, owner: str, owner_id: int, pairs: Mapping[str, Any],
                       **extra: Any) -> None:
        """Replace the key/value side rows (tags or metrics) of one owner; ``extra``: more columns."""
        conn = self._w()
        conn.execute(table.delete().where(table.c[owner] == owner_id))
        if pairs:
            conn.execute(table.insert(), [{owner: owner_id, "key": k, "value": v, **extra}
                                          for k, v in pairs.items()])
