"""Watching an alias: a long poll that answers as soon as the alias moves (what a remote live handle waits on).

The route is ``async``: between checks it sleeps on the event loop, and each check (the service's
``watch_alias`` with no wait: the permission check and one read) runs briefly in the thread pool, and only when
the store's change token moved (every ``FALLBACK_S`` where it has none). A hundred waiting clients hold no
threads, so they never starve the other requests.
"""

from __future__ import annotations

import time

import anyio
import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from modelreg.server.auth import Registry, State
from modelreg.server.wire import ModelPath, ProjectPath, ref_text, reply
from modelreg.service.watch import ChangePacer

router = APIRouter(tags=["aliases"])
MAX_WAIT_S = 60.0  # a longer timeout is cut to this (clients ask again)
DISCONNECT_CHECK_S = 1.0  # how often a waiting request looks whether its client went away


class AliasWatched(BaseModel):
    """The answer of a watch: the alias, the version it points at now (null: none), and whether that differs
    from the ``known`` version the client gave."""

    alias: str
    version: int | None
    changed: bool


@router.get("/projects/{project}/models/{model}/aliases/{alias}/watch", response_model=AliasWatched,
            summary="Wait until the alias points elsewhere than `known` (a long poll, at most 60 s)")
async def watch_alias(request: Request, reg: Registry, st: State, project: str = ProjectPath,
                      model: str = ModelPath,
                      alias: str = Path(description="An alias name, e.g. `production`.", examples=["production"]),
                      known: int | None = Query(None, description="The version the client serves; omitted: none"),
                      timeout: float = Query(30.0, ge=0, description="Seconds to wait at most (cut to 60)")) -> object:
    ref = ref_text(project, model)
    deadline = time.monotonic() + min(timeout, MAX_WAIT_S)
    pacer = ChangePacer(st.meta)

    def check() -> int | None:
        return reg.watch_alias(ref, alias, known=known, timeout=0)

    current = await anyio.to_thread.run_sync(check)
    asked_client = time.monotonic()
    while current == known:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        await anyio.sleep(min(pacer.step, left))
        if time.monotonic() - asked_client >= DISCONNECT_CHECK_S:
            if await request.is_disconnected():
                break
            asked_client = time.monotonic()
        if pacer.due():
            pacer.read()
            current = await anyio.to_thread.run_sync(check)
    return reply(AliasWatched(alias=alias, version=current, changed=current != known))
