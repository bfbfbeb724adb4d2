"""Per-class metrics under the names users have, and how a metric reads: the rules of ``metric_text``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelreg.errors import InvalidMetadata
from modelreg.metric_text import format_metric, listed_metric, metric_label, metric_value
from modelreg.service import Service
from modelreg.types import CLASS_METRIC_ALIASES, ClassMetric, class_metric_names

USER_ROWS = [  # as a ModelTrainClass is written
    {"class": "car", "annotation_type": "box", "ap": 0.85, "training_annotations_count": 1500,
     "validation_annotations_count": 300},
    {"class_name": "truck", "annotation_type": "box", "ap": 0.78, "training_annotations_count": 800,
     "validation_annotations_count": 200},
]


def _stored_rows(metadata_url: str) -> list[dict[str, object]]:
    """The class_metrics column as the SQL database holds it, read past the store."""
    url = metadata_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            value = conn.execute(sa.text("SELECT class_metrics FROM versions")).scalar_one()
    finally:
        engine.dispose()
    rows: list[dict[str, object]] = json.loads(value) if isinstance(value, str) else value
    return rows


def test_aliases_are_stored_under_the_canonical_names(reg: Service, metadata_url: str) -> None:
    v = reg.register_version("detector", files={"w": b"1"}, class_metrics=USER_ROWS)
    shown = reg.get_version(v.ref).class_metrics
    assert [(c.class_name, c.training_count, c.validation_count) for c in shown] == [
        ("car", 1500, 300), ("truck", 800, 200)]
    assert all(not c.model_extra for c in shown)
    if metadata_url.startswith("memory"):
        return
    stored = _stored_rows(metadata_url)
    assert [sorted(row) for row in stored] == [sorted(ClassMetric.model_fields)] * 2
    assert [(row["class_name"], row["training_count"]) for row in stored] == [("car", 1500), ("truck", 800)]


def test_a_row_stored_under_an_alias_reads_canonically() -> None:
    """Rows written before the aliases were mapped (kept as extra keys) show their counts, not '-'."""
    row = ClassMetric.model_validate({"class_name": "car", "training_annotations_count": 5})
    assert (row.training_count, row.model_extra) == (5, {})


def test_every_alias_names_a_field_and_the_names_list_them_all() -> None:
    assert set(CLASS_METRIC_ALIASES.values()) <= set(ClassMetric.model_fields)
    names = class_metric_names()
    for name in [*CLASS_METRIC_ALIASES, *ClassMetric.model_fields]:
        assert name in names


def test_the_concepts_page_names_every_alias() -> None:
    concepts = (Path(__file__).resolve().parents[1] / "docs" / "concepts.md").read_text(encoding="utf-8")
    for alias, field in CLASS_METRIC_ALIASES.items():
        row = next(line for line in concepts.splitlines() if line.strip().startswith(f"| `{field}` |"))
        assert f"`{alias}`" in row, (alias, field)


@pytest.mark.parametrize("row, needle", [
    ({"class_name": "car", "ap": 85}, "between 0 and 1"),
    ({"class_name": "car", "training_annotations_count": -1}, "count >= 0"),
    ({"class_name": "car", "metrics": {"f1": float("nan")}}, "NaN"),
    ({"class_name": "car", "metrics": [0.5]}, "name -> number"),
])
def test_bad_values_under_any_name_are_refused(reg: Service, row: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidMetadata) as err:
        reg.register_version("m", files={"w": b"1"}, class_metrics=[row])
    assert err.value.message.startswith("class_metrics[0]") and needle in err.value.message


def test_the_markdown_report_shows_the_per_class_rows(reg: Service) -> None:
    rows = [*USER_ROWS, {"class": "bus", "training_count": 0, "metrics": {"f1": 0.5}}]
    v = reg.register_version("detector", files={"w": b"1"}, class_metrics=rows, metrics={"map50": 0.9, "epochs": 43})
    md = reg.report(v.ref, "markdown")
    assert "| class | type | AP | precision | recall | train | val | f1 |" in md
    assert "| car | box | 0.8500 |  |  | 1500 | 300 |  |" in md
    assert "| bus |  |  |  |  | 0 |  | 0.5000 |" in md
    assert "| epochs | 43 |" in md and "| map50 | 0.9000 |" in md


# ---- how a metric reads


@pytest.mark.parametrize("name, value, text", [
    ("map50", 0.91234, "0.9123"), ("map50", 0.0, "0.0000"), ("accuracy", 1.0, "1.0000"), ("ndcg@10", 0.3, "0.3000"),
    ("epochs", 43.0, "43"), ("users", 12000.0, "12000"), ("rmse", 0.42, "0.42"), ("val_loss", 1.23456789, "1.2346"),
    ("val_loss", 2.0, "2"), ("loss", 1234.5678, "1234.6"), ("mse", 0.000012345, "0.000012345"),
    ("precision", 12.5, "12.5"), ("latency_ms", 3.14159, "3.1416"), ("throughput", -2.5, "-2.5"), ("x", None, "-"),
])
def test_format_metric(name: str, value: float | None, text: str) -> None:
    assert format_metric(name, value) == text


def test_the_listed_metric_is_the_policy_else_the_first() -> None:
    assert listed_metric("accuracy", [{"loss": 1.0, "accuracy": 0.9}]) == "accuracy"
    assert listed_metric(None, [{}, {"ndcg@10": 0.3, "hit_rate": 0.5}]) == "ndcg@10"
    assert listed_metric(None, [{"best_accuracy": 0.89}]) == "map50"  # map50 under its older name
    assert listed_metric(None, [{}]) is None
    assert metric_value({"best_accuracy": 0.89}, "map50") == 0.89
    assert metric_value({"map50": 0.9, "best_accuracy": 0.89}, "map50") == 0.9
    assert (metric_label("map50"), metric_label("accuracy")) == ("mAP", "accuracy")
