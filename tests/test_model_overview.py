"""``model_overview``: a page of models, each with what a table of models shows beside it (production version,
best and latest numbers, version count), on every store and through HTTP, agreeing with the one-model reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import modelreg
from modelreg.client.http import HttpRegistry
from modelreg.config import Settings
from modelreg.errors import InvalidFilter, PermissionDenied
from modelreg.registry import Registry
from modelreg.service import Service


def fill(reg: Registry) -> None:
    reg.create_model("vision/det", best_metric="map50")
    for map50 in (0.5, 0.9, 0.7):
        reg.register_version("vision/det", files={"w.pt": f"det {map50}".encode()}, metrics={"map50": map50})
    reg.set_alias("vision/det:3", "production")
    reg.create_model("vision/loss", best_metric="loss", best_mode="min")
    for loss in (0.3, 0.1, 0.2):
        reg.register_version("vision/loss", files={"w.pt": f"loss {loss}".encode()}, metrics={"loss": loss})
    reg.mark_best("vision/loss:1")  # marked wins over the metric
    reg.create_model("vision/bare")  # no version, no policy
    reg.create_model("text/cls")
    reg.register_version("text/cls", files={"w.pt": b"cls"}, metrics={"acc": 0.8})
    reg.delete_alias("text/cls", "production")  # the first version became production by itself
    reg.archive("text/cls:1")


def expected(reg: Registry, name: str) -> tuple[int | None, int | None, int, int]:
    """What the one-model reads say: production number, best number, latest number, version count."""
    production = next((a.number for a in reg.list_aliases(name) if a.alias == "production"), None)
    try:
        best: int | None = reg.best_version(name).number
    except modelreg.errors.VersionNotFound:
        best = None
    page = reg.search_versions(model=name, limit=1)
    return production, best, page.items[0].number if page.items else 0, page.total


def check(reg: Registry) -> None:
    fill(reg)
    page = reg.model_overview(limit=50)
    assert [f"{o.model.project}/{o.model.name}" for o in page.items] == ["vision/bare", "text/cls", "vision/det",
                                                                         "vision/loss"]
    assert page.total == 4 and page.next_cursor is None
    for row in page.items:
        name = f"{row.model.project}/{row.model.name}"
        shown = row.production.number if row.production else None
        assert (shown, row.best, row.latest, row.versions) == expected(reg, name), name
    det = next(o for o in page.items if o.model.name == "det")
    assert det.production is not None and det.production.metrics == {"map50": 0.7}
    assert (det.best, det.production.is_best) == (2, False)
    loss = next(o for o in page.items if o.model.name == "loss")
    assert loss.production is not None and (loss.best, loss.production.number, loss.versions) == (1, 1, 3)
    assert loss.production.is_best
    cls = next(o for o in page.items if o.model.name == "cls")
    assert (cls.versions, cls.latest, cls.best) == (1, 1, None)  # archived, still counted and latest
    # pages and filters are search_models' own
    first = reg.model_overview(limit=2, sort="name")
    rest = reg.model_overview(limit=2, sort="name", cursor=first.next_cursor)
    assert [o.model.id for o in first.items + rest.items] == [m.id for m in reg.search_models(limit=50).items]
    assert [o.model.name for o in reg.model_overview("name contains 'o'", project="vision").items] == ["loss"]
    with pytest.raises(InvalidFilter):
        reg.model_overview("name ~~ 1")


def test_the_overview_agrees_with_the_one_model_reads(reg: Service) -> None:
    check(reg)


@pytest.fixture
def remote(http_registry: HttpRegistry) -> HttpRegistry:
    return http_registry


def test_the_overview_through_http(remote: HttpRegistry) -> None:
    check(remote)


def test_a_project_token_sees_only_its_project(remote: HttpRegistry, remote_server: Any, tmp_path: Path) -> None:
    fill(remote)
    _, secret = remote.create_token("vision-reader", "viewer", project="vision")
    with modelreg.connect(remote_server.url, token=secret,
                          settings=Settings(home=tmp_path / "viewer", actor="x")) as viewer:
        assert {o.model.project for o in viewer.model_overview().items} == {"vision"}
        with pytest.raises(PermissionDenied):
            viewer.model_overview(project="text")
