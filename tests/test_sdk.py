"""The SDK as a new user meets it: connect() follows MODELREG_URL like the CLI, pages behave like lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import modelreg
from modelreg.client.http import HttpRegistry
from modelreg.service import Service


def test_connect_follows_modelreg_url_and_token(remote_server: Any, remote_state: Any, tmp_path: Path) -> None:
    _, secret = remote_state.service().create_token("sdk", "editor")
    environ = {"MODELREG_URL": remote_server.url, "MODELREG_TOKEN": secret, "MODELREG_HOME": str(tmp_path / "h")}
    with modelreg.connect(environ=environ) as reg:
        assert isinstance(reg, HttpRegistry) and remote_server.url in repr(reg)
        reg.register_version("m", files={"w.pt": b"1"})
    assert remote_state.service().get_version("m:1").created_by == "sdk"  # it reached the server, as "sdk"
    with modelreg.connect(home=tmp_path / "local", environ=environ) as local:  # an explicit argument wins
        assert isinstance(local, Service) and "registry.db" in repr(local)
        assert local.list_projects() == []
    with modelreg.connect(environ={"MODELREG_HOME": str(tmp_path / "h2")}) as embedded:
        assert isinstance(embedded, Service) and str(tmp_path / "h2") in repr(embedded)


def test_pages_iterate_their_items_and_have_a_length(reg: Service) -> None:
    for i in range(3):
        reg.register_version("m", files={"w.pt": str(i).encode()})
    page = reg.list_versions("m", limit=2)
    assert [v.number for v in page] == [3, 2] and len(page) == 2 and page[0].number == 3
    assert page.total == 3 and page.next_cursor is not None
    assert page.model_dump()["total"] == 3  # serialisation is unchanged
    assert [m.name for m in reg.search_models()] == ["m"]
    assert len(reg.events(limit=1)) == 1


def test_events_filter_on_the_declared_actions(reg: Service) -> None:
    import pytest

    from modelreg.types import EVENT_ACTIONS

    reg.register_version("m", files={"w.pt": b"1"})
    assert [e.action for e in reg.events(action="version.registered")] == ["version.registered"]
    assert {e.action for e in reg.events()} <= set(EVENT_ACTIONS)
    with pytest.raises(modelreg.InvalidInput) as err:
        reg.events(action="version.created")
    assert "version.registered" in str(err.value) and err.value.details["field"] == "action"


def test_a_run_that_fails_on_a_bad_argument_leaves_no_version(reg: Service) -> None:
    import pytest

    with pytest.raises(modelreg.InvalidMetadata), reg.start_run("m", params={"lr": 0.01}) as run:
        run.log_epoch(1, train_loss=...)  # type: ignore[arg-type]  # a placeholder left in copied code
    assert list(reg.list_versions("m")) == []
    assert [e.action for e in reg.events(model="m")][:2] == ["run.discarded", "run.started"]
    with pytest.raises(ValueError), reg.start_run("m") as second:  # a real failure is kept, with its error
        second.log_epoch(1, loss=0.5)
        raise ValueError("diverged")
    assert [(v.number, v.status) for v in reg.list_versions("m")] == [(2, "failed")]
    with pytest.raises(modelreg.InvalidMetadata), reg.start_run("m") as third:  # history logged: kept as failed
        third.log_epoch(1, loss=0.4)
        third.log_epoch(2, loss=float("nan"))
    assert reg.get_version("m:3").status == "failed"


def test_a_remote_run_that_fails_on_a_bad_argument_leaves_no_version(remote_server: Any, remote_state: Any) -> None:
    import pytest

    with modelreg.connect(remote_server.url) as reg:
        with pytest.raises(modelreg.InvalidMetadata), reg.start_run("m") as run:
            run.log_epoch(1, train_loss=...)  # type: ignore[arg-type]
        assert list(reg.list_versions("m")) == []
        assert reg.events(model="m", action="run.discarded").total == 1
