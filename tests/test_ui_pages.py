"""Small pure helpers of the dashboard's pages (``modelreg.server.ui.pages``); the pages themselves are checked in
a browser by tests/test_dashboard.py."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest

from modelreg.errors import InvalidInput
from modelreg.server.ui.pages import _move_id, column_labels, compare_url, trend_chart
from modelreg.types import MetricPoint, Version

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def version(ref: str) -> Version:
    """``project/model:N``, with nothing else."""
    name, _, number = ref.partition(":")
    project, _, model = name.partition("/")
    return Version(id=1, project=project, model=model, number=int(number), created_at=NOW, updated_at=NOW)


def test_compare_columns_name_the_model_only_when_it_differs() -> None:
    assert column_labels([version("p/det:2"), version("p/det:5")]) == ["v2", "v5"]
    assert column_labels([version("p/det:2"), version("p/seg:2")]) == ["det v2", "seg v2"]
    assert column_labels([version("p/det:2"), version("q/det:2")]) == ["p/det v2", "q/det v2"]


def test_compare_url_keeps_the_order_and_the_identical_switch() -> None:
    url = compare_url(["vision/fire-detector:2", "retail/shelf classifier:1"])
    parts = urlsplit(url)
    assert parts.path == "/compare"
    assert parse_qsl(parts.query) == [("ref", "vision/fire-detector:2"), ("ref", "retail/shelf classifier:1")]
    assert parse_qsl(urlsplit(compare_url(["a:1", "a:2"], hide_identical=False)).query)[-1] == (
        "hide_identical", "false")


def test_a_timeline_position_is_a_move_id() -> None:
    assert _move_id(None) is None
    assert _move_id("42") == 42 and _move_id(" 7 ") == 7
    for bad in ("abc", "", "4.5", "²"):
        with pytest.raises(InvalidInput, match="is not a move of the timeline"):
            _move_id(bad)


def test_the_model_chart_puts_each_metric_on_the_versions_any_has() -> None:
    trends = {"map50": [MetricPoint(number=1, value=0.5), MetricPoint(number=3, value=0.7)],
              "recall": [MetricPoint(number=2, value=0.6), MetricPoint(number=3, value=0.8)]}
    assert trend_chart(trends) == {"x": [1, 2, 3], "series": {"map50": [0.5, None, 0.7], "recall": [None, 0.6, 0.8]}}
    assert trend_chart({}) == {"x": [], "series": {}}
