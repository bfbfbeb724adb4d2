"""API tokens (admin), whether this server needs one, and who a token is."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request

from modelreg.errors import Unauthenticated
from modelreg.server.auth import Registry, State, bearer_secret
from modelreg.server.wire import AuthStatus, TokenCreate, TokenCreated, TokensPurged, Whoami, reply
from modelreg.types import TokenInfo

router = APIRouter(tags=["tokens"])


@router.get("/auth", response_model=AuthStatus, summary="Whether requests need a token (no token needed to ask)")
def auth_status(st: State) -> object:
    return reply(AuthStatus(tokens_required=st.require_auth or st.tokens.has_tokens(st.service())))


@router.get("/auth/whoami", response_model=Whoami, summary="The principal the request acts as")
def whoami(reg: Registry) -> object:
    return reply(Whoami(actor=reg.ctx.actor, role=reg.ctx.role, project=reg.ctx.project_scope))


@router.get("/auth/token", response_model=TokenInfo,
            summary="The token the bearer secret belongs to (401 when unknown, expired or revoked)")
def token_of_bearer(request: Request, st: State) -> object:
    secret = bearer_secret(request)
    if secret is None:
        raise Unauthenticated("no token was sent", hint="send Authorization: Bearer <token>")
    return reply(st.tokens.authenticate(st.service(), secret))


@router.get("/tokens", response_model=list[TokenInfo], summary="Every token, never their secrets (admin)")
def list_tokens(reg: Registry) -> object:
    return reply(reg.list_tokens())


@router.post("/tokens", response_model=TokenCreated, status_code=201,
             summary="Create a token; its secret is in this reply only (admin)")
def create_token(body: TokenCreate, reg: Registry) -> object:
    info, secret = reg.create_token(body.name, body.role, project=body.project, expires_in_s=body.expires_in_s)
    return reply(TokenCreated(token=info, secret=secret), 201)


@router.post("/tokens/purge", response_model=TokensPurged,
             summary="Delete every revoked or expired token (admin, not limited to a project)")
def purge_tokens(reg: Registry) -> object:
    return reply(TokensPurged(purged=reg.purge_tokens()))


@router.delete("/tokens/{name}", response_model=TokenInfo, summary="Revoke a token (admin); it keeps its name")
def revoke_token(reg: Registry, name: str = Path(description="The token's name")) -> object:
    return reply(reg.revoke_token(name))
