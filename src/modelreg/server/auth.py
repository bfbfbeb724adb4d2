"""Who is asking: bearer tokens, and the ``Service`` each request acts through.

- ``Authorization: Bearer mr_…``: the token is looked up by its SHA-256 (``Service.authenticate``);
  unknown, expired or revoked tokens are refused with 401. The request then acts as the token: its name
  is the actor every event records, its role and project bound what it may do (403 beyond them).
- No header, and no usable token exists at all: the request acts as a local admin named after the
  settings' actor. ``modelreg serve`` only allows that on loopback (or with ``--insecure``), and a
  server started for other hosts sets ``require_auth`` so it never falls back to open access.
- No header while tokens exist (or ``require_auth``): 401.

``X-Modelreg-Environment`` carries the client's ``MODEL_ENVIRONMENT`` (the alias a reference naming no
version follows), so a remote ``resolve("fire-detector")`` picks what a local one would.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request

from modelreg.errors import Unauthenticated
from modelreg.server.state import ServerState
from modelreg.service import Service

ENVIRONMENT_HEADER = "x-modelreg-environment"


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


async def server_state(request: Request) -> ServerState:
    """The served state (a FastAPI dependency; async, so it costs no trip to the thread pool)."""
    return state_of(request)


def bearer_secret(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthenticated("the Authorization header must read 'Bearer <token>'",
                              hint="pass the token the way modelreg tokens create printed it")
    return secret.strip()


async def registry(request: Request) -> Service:
    """The registry as the request's principal (a FastAPI dependency)."""
    st = state_of(request)
    anonymous = st.service()
    secret = bearer_secret(request)
    settings = st.settings
    environment = request.headers.get(ENVIRONMENT_HEADER)
    if environment and environment.strip() != settings.model_environment:
        settings = settings.with_overrides(model_environment=environment.strip())
    if secret is None:
        has_tokens = st.tokens.peek_has_tokens(st.meta)
        if has_tokens is None:
            has_tokens = await anyio.to_thread.run_sync(st.tokens.has_tokens, anonymous)
        if st.require_auth or has_tokens:
            raise Unauthenticated("this server needs a token",
                                  hint="send Authorization: Bearer <token> (MODELREG_TOKEN for the CLI and SDK); "
                                       "an admin creates one with: modelreg tokens create NAME --role editor")
        return st.service(actor=st.settings.actor, settings=settings)
    info = st.tokens.peek(st.meta, secret, anonymous.ctx.now())
    if info is None:
        info = await anyio.to_thread.run_sync(st.tokens.authenticate, anonymous, secret)
    return st.service(actor=info.name, role=info.role, project=info.project, settings=settings)


Registry = Annotated[Service, Depends(registry)]
State = Annotated[ServerState, Depends(server_state)]
