"""Liveness (the process answers) and readiness (the metadata store answers)."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter

from modelreg import __version__
from modelreg.server.auth import State
from modelreg.server.wire import Health, reply

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness: the server process answers")
async def health() -> object:
    return reply(Health(status="ok", version=__version__))


@router.get("/ready", response_model=Health, summary="Readiness: the metadata store answers",
            responses={503: {"description": "The metadata store cannot be reached (storage_error)"}})
async def ready(st: State) -> object:
    def touch() -> None:
        with st.meta.read() as tx:
            tx.get_project(name="default")

    await anyio.to_thread.run_sync(touch)
    return reply(Health(status="ready", version=__version__))
