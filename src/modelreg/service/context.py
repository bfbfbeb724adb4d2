"""What every part of the service shares: the two stores, the settings, the clock, who is acting."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from modelreg.blobs.base import BlobStore
from modelreg.config import Settings
from modelreg.errors import PermissionDenied, StorageError
from modelreg.metadata.base import MetadataStore, MetadataTx
from modelreg.service.permissions import ROLE_ORDER, Permission
from modelreg.types import Role

log = logging.getLogger("modelreg.service")

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """The service's dependencies. ``role`` is what the acting principal may do (local use: admin)."""

    meta: MetadataStore
    blobs: BlobStore
    settings: Settings
    actor: str = ""
    role: Role = "admin"
    project_scope: str | None = None  # a token for one project may act only there
    clock: Callable[[], datetime] = field(default=utcnow)

    def __post_init__(self) -> None:
        if not self.actor:
            self.actor = self.settings.actor

    def now(self) -> datetime:
        return self.clock()

    def require(self, role: Role, action: str) -> None:
        """Raise PermissionDenied unless the acting principal has ``role`` or above."""
        if ROLE_ORDER[self.role] < ROLE_ORDER[role]:
            raise PermissionDenied(f"{action} needs the {role} role; {self.actor or 'you'} have {self.role}",
                                   hint=f"ask an admin for a token with the {role} role", role=role)

    def allow(self, permission: Permission) -> None:
        """Raise PermissionDenied unless the acting principal may perform an operation needing ``permission``."""
        if permission.role is not None:
            self.require(permission.role, permission.action)
        if permission.registry_wide and self.project_scope is not None:
            raise PermissionDenied(
                f"{permission.action} covers every project; {self.actor or 'this token'} is limited to "
                f"project {self.project_scope!r}", hint="use a token that is not limited to one project",
                project=self.project_scope)

    def outranks(self, role: Role) -> bool:
        """Whether the acting principal's role is ``role`` or above."""
        return ROLE_ORDER[self.role] >= ROLE_ORDER[role]

    def check_project(self, project: str) -> None:
        """Raise PermissionDenied when the acting principal is limited to another project."""
        if self.project_scope is not None and project != self.project_scope:
            raise PermissionDenied(f"{self.actor or 'this token'} may act on project {self.project_scope!r} only, "
                                   f"not {project!r}", hint="use a token for that project", project=project)

    def write(self, fn: Callable[[MetadataTx], T], *, attempts: int = 6) -> T:
        """Run ``fn`` in a write transaction, retrying when the store reports a retryable conflict."""
        delay = 0.01
        for attempt in range(attempts):
            try:
                with self.meta.transaction() as tx:
                    return fn(tx)
            except StorageError as exc:
                if not exc.details.get("retryable") or attempt == attempts - 1:
                    raise
                log.debug("retrying a write transaction after %s", exc)
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        raise AssertionError("unreachable")

    def read(self, fn: Callable[[MetadataTx], T]) -> T:
        with self.meta.read() as tx:
            return fn(tx)
