"""API tokens: created by admins, shown once, stored as SHA-256, with a role and an optional project."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from modelreg.errors import AlreadyExists, InvalidInput, NotFound, Unauthenticated
from modelreg.metadata.base import MetadataTx
from modelreg.refs import validate_name
from modelreg.service.base import ServiceBase
from modelreg.types import ROLES, Role, TokenInfo

TOKEN_PREFIX = "mr_"
MAX_EXPIRY_S = 10 * 365 * 24 * 3600


def hash_secret(secret: str) -> str:
    """Tokens carry 256 random bits, so one SHA-256 is enough (no slow KDF needed)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokensMixin(ServiceBase):
    def create_token(self, name: str, role: Role, *, project: str | None = None,
                     expires_in_s: float | None = None) -> tuple[TokenInfo, str]:
        """Create a token; returns it and its secret, which is shown this once and never stored."""
        self.ctx.require("admin", "creating a token")
        validate_name(name, kind="token name")
        if role not in ROLES:
            raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}", field="role")
        if project is not None:
            validate_name(project, kind="project name")
        if expires_in_s is not None and not 0 < expires_in_s <= MAX_EXPIRY_S:
            raise InvalidInput("expiry must be between 1 second and 10 years", field="expires_in_s")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.ctx.now()
        expires = now + timedelta(seconds=expires_in_s) if expires_in_s is not None else None

        def run(tx: MetadataTx) -> TokenInfo:
            if tx.get_token(name=name) is not None:
                raise AlreadyExists(f"a token named {name!r} already exists",
                                    hint="pick another name (revoked tokens keep theirs)", token=name)
            info = tx.insert_token(name=name, secret_hash=hash_secret(secret), role=role, project=project,
                                   expires_at=expires, created_by=self.ctx.actor, now=now)
            self._event(tx, "token.created", project=project,
                        after={"name": name, "role": role, "expires_at": expires.isoformat() if expires else None})
            return info

        return self.ctx.write(run), secret

    def list_tokens(self) -> list[TokenInfo]:
        self.ctx.require("admin", "listing tokens")
        return self.ctx.read(lambda tx: tx.list_tokens())

    def revoke_token(self, name: str) -> TokenInfo:
        self.ctx.require("admin", "revoking a token")

        def run(tx: MetadataTx) -> TokenInfo:
            info = tx.revoke_token(name=name, now=self.ctx.now())
            if info is None:
                raise NotFound(f"no token named {name!r}", hint="list them: modelreg tokens list", token=name)
            self._event(tx, "token.revoked", project=info.project, after={"name": name})
            return info

        return self.ctx.write(run)

    def has_tokens(self) -> bool:
        """Whether any token that can still be used exists (the server refuses open binds without one)."""
        now = self.ctx.now()
        return any(t.active_at(now) for t in self.ctx.read(lambda tx: tx.list_tokens()))

    def authenticate(self, secret: str) -> TokenInfo:
        """The token a bearer secret belongs to; Unauthenticated when unknown, expired or revoked."""
        if not isinstance(secret, str) or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            raise Unauthenticated("the token is not a modelreg token", hint="create one: modelreg tokens create")
        info = self.ctx.read(lambda tx: tx.get_token_by_hash(secret_hash=hash_secret(secret)))
        if info is None:
            raise Unauthenticated("the token is not known", hint="check MODELREG_TOKEN; an admin can create one")
        if info.revoked_at is not None:
            raise Unauthenticated(f"the token {info.name!r} was revoked", hint="ask an admin for a new token",
                                  token=info.name)
        if not info.active_at(self.ctx.now()):
            raise Unauthenticated(f"the token {info.name!r} expired", hint="ask an admin for a new token",
                                  token=info.name)
        return info
