"""The events log filtered by who acted, on every store and over HTTP (the activity page's actor filter)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelreg.config import Settings
from modelreg.errors import InvalidInput
from modelreg.service import Context, Service


def test_events_by_actor(reg: Service) -> None:
    reg.register_version("m", files={"w.pt": b"1"})
    other = Service(Context(meta=reg.ctx.meta, blobs=reg.ctx.blobs, settings=reg.ctx.settings, actor="bob"))
    other.register_version("m", files={"w.pt": b"2"})
    other.pin("m:2")
    by_bob = reg.events(actor="bob")
    assert by_bob.total == 2 and {e.action for e in by_bob.items} == {"version.registered", "version.pinned"}
    assert all(e.actor == "bob" for e in by_bob.items)
    mine = reg.events(actor=reg.ctx.actor, model="m")
    assert mine.items and all(e.actor == reg.ctx.actor for e in mine.items)
    assert reg.events(actor="nobody").items == []
    with pytest.raises(InvalidInput):
        reg.events(actor="bad\x00name")


def test_events_by_actor_over_http(remote_state: Any, remote_server: Any, tmp_path: Path) -> None:
    import modelreg

    with modelreg.connect(remote_server.url, settings=Settings(home=tmp_path / "h", actor="carol")) as remote:
        remote.register_version("m", files={"w.pt": b"1"})
        found = remote.events(actor="tester")  # the server acts as its own actor without tokens
        assert found.items and {e.actor for e in found.items} == {"tester"}
        assert remote.events(actor="carol").items == []
