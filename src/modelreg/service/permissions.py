"""Who may do what: each public operation of the service declares the least role it needs, once.

``@operation("editor", "moving an alias")`` above a service method is that declaration: the check runs
before the method, whatever face (SDK, CLI, REST, dashboard) called it, and ``OPERATIONS`` collects every
declaration for the documentation (``docs/security.md``'s table is generated from it and checked by a test).

Roles are ordered ``viewer < editor < maintainer < admin``. A token limited to one project acts in that
project only (the service checks the project of every model, version and blob it touches); operations
marked ``registry_wide`` (gc, fsck, listing the whole store's blobs) are refused to such a token whatever
its role, because they see and change every project. A few rules depend on the data and are checked
inside the operation on top of its role: moving a protected alias needs ``maintainer``; changing a
model's policies needs ``admin``; a token creates, lists and revokes only tokens of its own project and
never one with a higher role than its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

from modelreg.types import ROLES, Role

P = ParamSpec("P")
R = TypeVar("R")

ROLE_ORDER: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}


@dataclass(frozen=True)
class Permission:
    """What an operation needs: ``role`` (None: anyone, even before signing in) and the words for errors."""

    role: Role | None
    action: str
    registry_wide: bool = False
    extra: str = ""  # a rule that depends on the data, for the documentation

    @property
    def mutates(self) -> bool:
        return self.role is not None and self.role != "viewer"


class _Guarded(Protocol):
    @property
    def ctx(self) -> Any: ...


OPERATIONS: dict[str, Permission] = {}
PROTECTED = "a protected alias (production unless the model's policy says otherwise): maintainer"
TOKEN_RULE = "a token limited to a project: only tokens of that project, never a higher role than its own"


def operation(role: Role | None, action: str, *, registry_wide: bool = False,
              extra: str = "") -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Declare the least role of a public service method and check it before every call."""
    permission = Permission(role=role, action=action, registry_wide=registry_wide, extra=extra)

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        known = OPERATIONS.get(fn.__name__)
        if known is not None and known != permission:
            raise TypeError(f"{fn.__name__} is declared twice with different permissions")
        OPERATIONS[fn.__name__] = permission

        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            self: _Guarded = args[0]  # type: ignore[assignment]
            self.ctx.allow(permission)
            return fn(*args, **kwargs)

        guarded.__modelreg_permission__ = permission  # type: ignore[attr-defined]
        return guarded

    return decorate


def permission_of(method: object) -> Permission | None:
    """The permission a service method declared (None when it declared none)."""
    found: Permission | None = getattr(method, "__modelreg_permission__", None)
    return found


def permissions_table() -> str:
    """The Markdown table of every operation and what it needs (``docs/security.md`` holds it verbatim)."""
    import modelreg.service  # noqa: F401 -- importing the service declares every operation

    def rank(p: Permission) -> int:
        return -1 if p.role is None else ROLE_ORDER[p.role]

    rows = ["| operation | least role | token limited to a project | also |", "|---|---|---|---|"]
    for name, p in sorted(OPERATIONS.items(), key=lambda item: (rank(item[1]), item[0])):
        role = p.role or "anyone (signing in)"
        scoped = ("refused: it covers every project" if p.registry_wide else
                  "its own project only" if p.role is not None else "-")
        rows.append(f"| `{name}` | {role} | {scoped} | {p.extra or ''} |")
    return "\n".join(rows) + "\n"

