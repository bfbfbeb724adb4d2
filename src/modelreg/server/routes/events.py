"""The audit log: who did what, when, before -> after (newest first, keyset paged)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from modelreg.server.auth import Registry
from modelreg.server.wire import reply
from modelreg.types import Event, Page

router = APIRouter(tags=["events"])


@router.get("/events", response_model=Page[Event], summary="The audit log, newest first")
def events(reg: Registry, project: str | None = None,
           model: str | None = Query(None, description="`model` or `project/model`"),
           version: int | None = None, action: str | None = Query(None, examples=["alias.set"]),
           actor: str | None = Query(None, description="Who acted: a token's name, or the local user"),
           limit: int = 50, cursor: str | None = None) -> object:
    return reply(reg.events(project=project, model=model, version=version, action=action, actor=actor,
                            limit=limit, cursor=cursor))
