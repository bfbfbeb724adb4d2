"""``metric_trend``: one metric across a model's versions (the model page's chart), on every registry."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from modelreg.errors import InvalidInput, InvalidMetadata, NotFound
from modelreg.service import Service
from modelreg.types import MetricPoint
from test_security import as_token, token


def _fill(reg: Any) -> None:
    reg.create_model("vision/det")
    values = {1: 0.5, 2: None, 3: 0.25, 4: 0.75, 5: 0.125, 6: 1.0}  # v2 has no map50
    for number, value in values.items():
        metrics = {"loss": float(number)} | ({"map50": value} if value is not None else {})
        reg.register_version("vision/det", files={"w.pt": f"{number}".encode()}, metrics=metrics)
    reg.archive("vision/det:4")


def test_the_trend_is_the_newest_versions_with_the_metric_oldest_first(every_registry: Any) -> None:
    _fill(every_registry)
    trend = every_registry.metric_trend("vision/det", "map50")
    assert trend == [MetricPoint(number=n, value=v) for n, v in [(1, 0.5), (3, 0.25), (4, 0.75), (5, 0.125),
                                                                  (6, 1.0)]]
    assert [p.number for p in every_registry.metric_trend("vision/det", "map50", limit=2)] == [5, 6]
    assert [p.number for p in every_registry.metric_trend("vision/det", "map50", include_archived=False)] == [
        1, 3, 5, 6]
    assert [p.value for p in every_registry.metric_trend("vision/det", "loss", limit=3)] == [4.0, 5.0, 6.0]
    assert every_registry.metric_trend("vision/det", "never-logged") == []


def test_the_trend_is_the_same_on_every_store(reg: Service) -> None:
    _fill(reg)
    listed = {v.number: v.metrics.get("map50") for v in reg.iter_versions(model="vision/det")}
    trend = reg.metric_trend("vision/det", "map50", limit=10_000)
    assert trend == [MetricPoint(number=n, value=v) for n, v in sorted(listed.items()) if v is not None]


@pytest.mark.parametrize(("args", "error"), [
    ({"metric": ""}, InvalidMetadata), ({"metric": "x" * 129}, InvalidMetadata),
    ({"metric": "map50", "limit": 0}, InvalidInput), ({"metric": "map50", "limit": 10_001}, InvalidInput),
    ({"metric": "map50", "limit": True}, InvalidInput),
])
def test_a_bad_question_is_refused_with_what_was_wrong(every_registry: Any, args: dict[str, Any],
                                                        error: type[Exception]) -> None:
    _fill(every_registry)
    args = dict(args)
    metric = args.pop("metric")
    with pytest.raises(error) as refused:
        every_registry.metric_trend("vision/det", metric, **args)
    assert ("limit" in str(refused.value)) == ("limit" in args)


def test_an_unknown_model_is_not_found(every_registry: Any) -> None:
    with pytest.raises(NotFound):
        every_registry.metric_trend("vision/nothing", "map50")


def test_a_token_of_another_project_cannot_read_the_trend(backend_api: httpx.Client, backend_state: Any) -> None:
    _fill(backend_state.service())
    backend_state.service().create_model("other/m")
    other = as_token(backend_api, token(backend_state, "other-viewer", "viewer", "other"))
    refused = other.get("/projects/vision/models/det/trend", params={"metric": "map50"})
    assert refused.status_code in (403, 404) and refused.json()["error"]["code"] in ("permission_denied", "not_found")
    own = as_token(backend_api, token(backend_state, "vision-viewer", "viewer", "vision"))
    got = own.get("/projects/vision/models/det/trend", params={"metric": "map50", "limit": 2})
    assert got.status_code == 200 and got.json() == [{"number": 5, "value": 0.125}, {"number": 6, "value": 1.0}]
