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


def test_a_page_of_domain_objects_is_built_without_checking_them_again(reg: Service) -> None:
    from modelreg.types import Page, Version

    version = reg.register_version("m", files={"w.pt": b"1"})
    page = Page[Version].of([version])
    assert page.items[0] is version and len(page) == 1 and page.total == 1 and page.next_cursor is None
    assert Page[Version].of([version], next_cursor="c", total=7).total == 7
    assert page == Page[Version](items=[version], total=1)  # the same page as a checked one
    assert Page[Version].model_validate_json(page.model_dump_json()) == page  # serialised like one


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


def test_version_labels_work_as_references_filters_and_model_environment(reg: Service) -> None:
    import pytest

    from modelreg.service import Context

    reg.register_version("recommender", files={"m.pth": b"1"}, label="v3_2024-11-10")
    reg.register_version("recommender", files={"m.pth": b"2"}, label="v4_no_leakage", metrics={"ndcg": 0.3})
    assert reg.get_version("recommender:v4_no_leakage").number == 2
    assert reg.get_version("default/recommender:v3_2024-11-10").label == "v3_2024-11-10"
    assert [v.number for v in reg.search_versions('label = "v4_no_leakage"', model="recommender")] == [2]
    assert [v.number for v in reg.search_versions('label contains "2024"')] == [1]
    with pytest.raises(modelreg.AlreadyExists) as err:
        reg.register_version("recommender", files={"m.pth": b"3"}, label="v4_no_leakage")
    assert "v2" in str(err.value)
    assert reg.list_versions("recommender").total == 2  # nothing stored
    with pytest.raises(modelreg.InvalidName):
        reg.update_version("recommender:1", label="v7")  # reads as a number
    with pytest.raises(modelreg.VersionNotFound):
        reg.get_version("recommender:no_such_label")
    moved = reg.update_version("recommender:v3_2024-11-10", label="baseline")
    assert moved.label == "baseline" and reg.get_version("recommender:baseline").number == 1
    assert reg.update_version("recommender:baseline", label="").label is None
    env = Service(Context(meta=reg.ctx.meta, blobs=reg.ctx.blobs,
                          settings=reg.ctx.settings.with_overrides(model_environment="v4_no_leakage")))
    assert env.get_version("recommender").number == 2  # MODEL_ENVIRONMENT may name a label
    assert reg.events(action="version.updated")[0].after == {"label": None}


def test_version_labels_over_a_server(remote_server: Any, remote_state: Any) -> None:
    with modelreg.connect(remote_server.url) as reg:
        reg.register_version("recommender", files={"m.pth": b"1"}, label="v4_no_leakage")
        assert reg.get_version("recommender:v4_no_leakage").number == 1
        assert reg.update_version("recommender:v4_no_leakage", notes="clean split").notes == "clean split"
        assert [v.label for v in reg.search_versions('label = "v4_no_leakage"')] == ["v4_no_leakage"]


def test_a_folder_keeps_its_name_unless_the_path_ends_with_a_slash(reg: Service, tmp_path: Path) -> None:
    weights = tmp_path / "runs" / "train" / "weights"
    weights.mkdir(parents=True)
    (weights / "best.pt").write_bytes(b"best")
    (weights / "last.pt").write_bytes(b"last")
    kept = reg.register_version("m", files=str(weights))
    assert [a.path for a in kept.artifacts] == ["weights/best.pt", "weights/last.pt"]
    assert reg.resolve("m:1", "weights/best.pt").read_bytes() == b"best"
    assert [a.path for a in reg.register_version("m", files=weights).artifacts] == ["weights/best.pt",
                                                                                 "weights/last.pt"]
    contents = reg.register_version("m", files=f"{weights}/")
    assert [a.path for a in contents.artifacts] == ["best.pt", "last.pt"]
    with reg.start_run("m") as run:
        run.log_file(weights)
        run.log_file(weights, name="checkpoints")
    assert [a.path for a in run.version.artifacts] == ["checkpoints/best.pt", "checkpoints/last.pt",
                                                       "weights/best.pt", "weights/last.pt"]
