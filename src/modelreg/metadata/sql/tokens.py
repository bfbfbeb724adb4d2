"""API tokens: name, role, optional project, expiry, revocation; the secret only as its SHA-256."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, select, update

from modelreg.errors import AlreadyExists
from modelreg.metadata.sql.schema import tokens
from modelreg.metadata.sql.txbase import TxBase
from modelreg.types import TokenInfo


def _token(r: Row[Any]) -> TokenInfo:
    return TokenInfo(id=r.id, name=r.name, role=r.role, project=r.project, created_at=r.created_at,
                     created_by=r.created_by, expires_at=r.expires_at, revoked_at=r.revoked_at)


_COLUMNS = [c for c in tokens.c if c.name != "secret_hash"]


class TokensTx(TxBase):
    def insert_token(self, *, name: str, secret_hash: str, role: str, project: str | None,
                     expires_at: datetime | None, created_by: str, now: datetime) -> TokenInfo:
        row = self._w().execute(
            self._insert_ignore(tokens)
            .values(name=name, secret_hash=secret_hash, role=role, project=project, created_at=now,
                    created_by=created_by, expires_at=expires_at)
            .returning(*_COLUMNS)).first()
        if row is None:
            raise AlreadyExists(f"a token named {name!r} already exists", token=name)
        return _token(row)

    def get_token(self, *, name: str) -> TokenInfo | None:
        row = self.conn.execute(select(*_COLUMNS).where(tokens.c.name == name)).first()
        return _token(row) if row else None

    def get_token_by_hash(self, *, secret_hash: str) -> TokenInfo | None:
        row = self.conn.execute(select(*_COLUMNS).where(tokens.c.secret_hash == secret_hash)).first()
        return _token(row) if row else None

    def list_tokens(self) -> list[TokenInfo]:
        return [_token(r) for r in self.conn.execute(select(*_COLUMNS).order_by(tokens.c.id)).all()]

    def revoke_token(self, *, name: str, now: datetime) -> TokenInfo | None:
        self._w().execute(update(tokens).where(tokens.c.name == name, tokens.c.revoked_at.is_(None))
                          .values(revoked_at=now))
        return self.get_token(name=name)

    def delete_token(self, *, name: str) -> bool:
        return bool(self._w().execute(delete(tokens).where(tokens.c.name == name)).rowcount)
