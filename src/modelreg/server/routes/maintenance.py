"""Keeping storage honest: gc and fsck (maintainer and above, with a token not limited to a project)."""

from __future__ import annotations

from fastapi import APIRouter

from modelreg.server.auth import Registry
from modelreg.server.wire import FsckRequest, GcRequest, reply
from modelreg.types import FsckReport, GcReport

router = APIRouter(prefix="/maintenance", tags=["maintenance"])


@router.post("/gc", response_model=GcReport,
             summary="Remove blobs no version references (a dry run unless dry_run is false)")
def gc(body: GcRequest, reg: Registry) -> object:
    return reply(reg.gc(dry_run=body.dry_run, grace_s=body.grace_s, temp_grace_s=body.temp_grace_s))


@router.post("/fsck", response_model=FsckReport, summary="Check every referenced blob: present, sized, hashing right")
def fsck(body: FsckRequest, reg: Registry) -> object:
    """Only checks: it reads no folder of the server's disk. To repair a missing or corrupt blob, upload the
    original file again (`PUT /blobs/{digest}`): a verified upload replaces a damaged copy atomically (201,
    `"created": true`). `modelreg fsck --repair DIR` against a server does that for every broken
    blob whose content is in DIR, a folder on the client's machine."""
    return reply(reg.fsck(verify=body.verify))
