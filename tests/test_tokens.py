"""API tokens and roles: shown once, stored hashed, expired/revoked/garbage refused, roles and projects enforced."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelreg import PermissionDenied, Unauthenticated
from modelreg.errors import AlreadyExists, InvalidInput, NotFound
from modelreg.service import Context, Service
from modelreg.types import Role


def as_principal(reg: Service, name: str, role: Role, project: str | None = None) -> Service:
    """The registry as the server would run it for a request authenticated by a token."""
    ctx = Context(meta=reg.ctx.meta, blobs=reg.ctx.blobs, settings=reg.ctx.settings, actor=name, role=role,
                  project_scope=project, clock=reg.ctx.clock)
    return Service(ctx)


def test_tokens_are_shown_once_and_stored_hashed(reg: Service) -> None:
    info, secret = reg.create_token("ci", "editor")
    assert secret.startswith("mr_") and len(secret) > 40
    assert reg.authenticate(secret) == info
    assert secret not in repr(reg.list_tokens())
    stored = reg.ctx.read(lambda tx: tx.get_token_by_hash(secret_hash=__import__("hashlib").sha256(
        secret.encode()).hexdigest()))
    assert stored == info
    with pytest.raises(AlreadyExists):
        reg.create_token("ci", "viewer")
    assert [e.action for e in reg.events(action="token.created").items] == ["token.created"]


@pytest.mark.parametrize("secret", ["", "garbage", "mr_" + "x" * 43, "Bearer mr_abc", "mr_" + "y" * 500])
def test_garbage_tokens_are_refused(reg: Service, secret: str) -> None:
    reg.create_token("real", "viewer")
    with pytest.raises(Unauthenticated) as err:
        reg.authenticate(secret)
    assert err.value.http_status == 401


def test_revoked_and_expired_tokens_are_refused(reg: Service) -> None:
    _, revoked = reg.create_token("old", "admin")
    reg.revoke_token("old")
    with pytest.raises(Unauthenticated) as err:
        reg.authenticate(revoked)
    assert "revoked" in err.value.message
    _, short = reg.create_token("short", "viewer", expires_in_s=60)
    assert reg.authenticate(short).name == "short"
    later = reg.ctx.now() + timedelta(seconds=61)
    future = Service(Context(meta=reg.ctx.meta, blobs=reg.ctx.blobs, settings=reg.ctx.settings,
                             clock=lambda: later))
    with pytest.raises(Unauthenticated) as err:
        future.authenticate(short)
    assert "expired" in err.value.message
    assert future.has_tokens()  # both are unusable then, and the registry stays in token mode
    assert future.purge_tokens() == ["old", "short"]
    assert not future.has_tokens() and [e.action for e in reg.events(action="token.purged").items] == [
        "token.purged", "token.purged"]
    with pytest.raises(NotFound):
        reg.revoke_token("nope")
    for bad in ({"role": "root"}, {"expires_in_s": -1}, {"project": "a/b"}):
        with pytest.raises(InvalidInput):
            reg.create_token("bad", **{"role": "viewer", **bad})  # type: ignore[arg-type]


def test_roles_are_enforced(reg: Service) -> None:
    reg.register_version("m", files={"w": b"1"})
    reg.register_version("m", files={"w": b"2"})
    viewer = as_principal(reg, "dashboard", "viewer")
    editor = as_principal(reg, "trainer", "editor")
    maintainer = as_principal(reg, "lead", "maintainer")
    assert viewer.get_version("m").number == 1
    with pytest.raises(PermissionDenied):
        viewer.register_version("m", files={"w": b"3"})
    v3 = editor.register_version("m", files={"w": b"3"})
    assert v3.created_by == "trainer"
    editor.set_alias("m:3", "staging")  # not protected
    with pytest.raises(PermissionDenied) as err:
        editor.activate("m:3")  # production is protected
    assert "maintainer" in err.value.message and err.value.http_status == 403
    with pytest.raises(PermissionDenied):
        editor.delete_version("m:2")
    with pytest.raises(PermissionDenied):
        editor.gc(dry_run=True)
    maintainer.activate("m:3")
    with pytest.raises(PermissionDenied):
        maintainer.create_token("x", "viewer")
    with pytest.raises(PermissionDenied):
        maintainer.update_model("m", promotion_gate="metrics.map50 > 0.5")
    with pytest.raises(PermissionDenied):  # trusting pickled weights lets editors run code: admins only
        maintainer.update_model("m", trusted_sources=True)
    assert reg.update_model("m", trusted_sources=True).policies.trusted_sources
    assert reg.events(action="alias.set").items[0].actor == "lead"


def test_project_tokens_stay_in_their_project(reg: Service) -> None:
    reg.register_version("a/m", files={"w": b"1"})
    reg.register_version("b/m", files={"w": b"2"})
    scoped = as_principal(reg, "team-a", "editor", project="a")
    assert scoped.get_version("a/m").number == 1
    scoped.register_version("a/m", files={"w": b"3"})
    with pytest.raises(PermissionDenied):
        scoped.get_version("b/m:1")
    with pytest.raises(PermissionDenied):
        scoped.register_version("b/m", files={"w": b"4"})
    assert {p.name for p in scoped.list_projects()} == {"a"}
    assert {v.project for v in scoped.iter_versions()} == {"a"}
    with pytest.raises(PermissionDenied):
        scoped.search_versions(project="b")
