"""API tokens: created by admins, shown once, stored as SHA-256, with a role and an optional project."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from modelreg.errors import AlreadyExists, InvalidInput, NotFound, PermissionDenied, Unauthenticated
from modelreg.metadata.base import MetadataTx
from modelreg.refs import validate_name
from modelreg.service.base import ServiceBase
from modelreg.service.permissions import TOKEN_RULE, operation
from modelreg.steps import next_step
from modelreg.types import ROLES, Role, TokenInfo

TOKEN_PREFIX = "mr_"
MAX_EXPIRY_S = 10 * 365 * 24 * 3600


def hash_secret(secret: str) -> str:
    """Tokens carry 256 random bits, so one SHA-256 is enough (no slow KDF needed)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokensMixin(ServiceBase):
    @operation("admin", "creating a token", extra=TOKEN_RULE)
    def create_token(self, name: str, role: Role, *, project: str | None = None,
                     expires_in_s: float | None = None) -> tuple[TokenInfo, str]:
        """Create a token; returns it and its secret, which is shown this once and never stored.

        A token limited to a project creates tokens of that project only (``project`` defaults to it),
        and never one with a higher role than its own.
        """
        validate_name(name, kind="token name")
        if role not in ROLES:
            raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}", field="role")
        if project is not None:
            validate_name(project, kind="project name")
        project = self._own_project(project)
        if not self.ctx.outranks(role):
            raise PermissionDenied(f"{self.ctx.actor or 'you'} ({self.ctx.role}) cannot create a token with the "
                                   f"higher role {role}", hint=f"pick {self.ctx.role} or a lower role", role=role)
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

    def _own_project(self, project: str | None) -> str | None:
        """The project of a token the acting principal creates: its own when it is limited to one."""
        scope = self.ctx.project_scope
        if scope is None:
            return project
        if project not in (None, scope):
            raise PermissionDenied(f"{self.ctx.actor or 'this token'} is limited to project {scope!r} and cannot "
                                   f"create a token for {project!r}", hint=f"create a token for {scope!r}",
                                   project=project)
        return scope

    def _visible(self, info: TokenInfo) -> bool:
        scope = self.ctx.project_scope
        return scope is None or info.project == scope

    @operation("admin", "listing tokens", extra=TOKEN_RULE)
    def list_tokens(self) -> list[TokenInfo]:
        """Every token (never a secret); a token limited to a project sees that project's tokens only."""
        return [t for t in self.ctx.read(lambda tx: tx.list_tokens()) if self._visible(t)]

    @operation("admin", "revoking a token", extra=TOKEN_RULE)
    def revoke_token(self, name: str) -> TokenInfo:
        """Revoke a token at once; it keeps its name (and the server stays in token mode)."""

        def run(tx: MetadataTx) -> TokenInfo:
            info = tx.get_token(name=name)
            if info is None or not self._visible(info):
                raise NotFound(f"no token named {name!r}", hint="list the tokens you can see", token=name)
            revoked = tx.revoke_token(name=name, now=self.ctx.now())
            assert revoked is not None
            self._event(tx, "token.revoked", project=info.project, after={"name": name})
            return revoked

        return self.ctx.write(run)

    @operation("admin", "purging tokens", registry_wide=True)
    def purge_tokens(self) -> list[str]:
        """Delete every token that can no longer be used (revoked or expired); return their names.

        A server stays in token mode once any token exists, revoked and expired ones included, so that
        revoking the last token never reopens it to anyone; when this leaves no token at all, a
        loopback server is open again (as on the first start). Each deletion is an event.
        """
        now = self.ctx.now()

        def run(tx: MetadataTx) -> list[str]:
            gone = [t for t in tx.list_tokens() if not t.active_at(now)]
            for token in gone:
                tx.delete_token(name=token.name)
                self._event(tx, "token.purged", project=token.project,
                            after={"name": token.name, "role": token.role})
            return [t.name for t in gone]

        return self.ctx.write(run)

    @operation(None, "asking whether the registry needs tokens")
    def has_tokens(self) -> bool:
        """Whether the registry is in token mode: some token exists, usable or not (see ``purge_tokens``)."""
        return bool(self.ctx.read(lambda tx: tx.list_tokens()))

    @operation(None, "signing in with a token")
    def authenticate(self, secret: str) -> TokenInfo:
        """The token a bearer secret belongs to; Unauthenticated when unknown, expired or revoked."""
        if not isinstance(secret, str) or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            raise Unauthenticated("the token is not a modelreg token", step=next_step("create_token"))
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
