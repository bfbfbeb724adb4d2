"""The reference parser, name and path validation, and the filter language (pure functions)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelreg.errors import InvalidArtifactPath, InvalidFilter, InvalidName, InvalidReference
from modelreg.filters import (
    And,
    Compare,
    Not,
    Or,
    decode_cursor,
    encode_cursor,
    evaluate,
    gate_fields,
    model_fields,
    parse_filter,
    parse_sort,
    structured_filter,
)
from modelreg.refs import Ref, parse_ref, validate_alias, validate_artifact_path, validate_name


@pytest.mark.parametrize(("text", "expected"), [
    ("fire-detector", Ref(model="fire-detector")),
    ("fire-detector:3", Ref(model="fire-detector", number=3)),
    ("fire-detector:v3", Ref(model="fire-detector", number=3)),
    ("fire-detector:V12", Ref(model="fire-detector", number=12)),
    ("fire-detector:latest", Ref(model="fire-detector", selector="latest")),
    ("fire-detector:best", Ref(model="fire-detector", selector="best")),
    ("embereye/fire-detector@production", Ref(model="fire-detector", project="embereye", alias="production")),
    ("  m@staging ", Ref(model="m", alias="staging")),
])
def test_parse_ref(text: str, expected: Ref) -> None:
    assert parse_ref(text) == expected
    assert parse_ref(str(expected)) == expected  # str() is a reference again


@pytest.mark.parametrize("text", ["", "a/b/c", "m:0", "m:v", "m:1.5", "m@", "m:1@a", "m@a b", "/m", "m/", "m:latest2",
                                  "fіre:1", "../m", "m@..", 42])
def test_parse_ref_refuses(text: object) -> None:
    with pytest.raises(InvalidReference) as err:
        parse_ref(text)
    assert err.value.hint and "model:3" in err.value.hint


def test_names() -> None:
    assert validate_name("yolov8n_vehicles_v3.1-final") == "yolov8n_vehicles_v3.1-final"
    for bad in ["", " ", "a b", "a/b", "..", "x..y", "x" * 129, "\u0430bc", "-a", ".a", "a\n"]:
        with pytest.raises(InvalidName):
            validate_name(bad)
    with pytest.raises(InvalidName) as err:
        validate_name("fіre")  # Cyrillic і
    assert "U+0456" in err.value.message
    for reserved in ("latest", "best", "v3", "12"):
        with pytest.raises(InvalidName):
            validate_alias(reserved)


@given(st.text(max_size=200))
def test_names_never_crash_and_accepted_names_are_safe(text: str) -> None:
    try:
        name = validate_name(text)
    except InvalidName:
        return
    assert name.isascii() and "/" not in name and ".." not in name and " " not in name and len(name) <= 128


@pytest.mark.parametrize("path", ["weights/best.pt", "encoders.pkl", "a/b/c/d.bin", ".hidden", "exports/onnx/m.onnx"])
def test_artifact_paths_ok(path: str) -> None:
    assert validate_artifact_path(path) == path


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "a/../b", "a/./b", "a//b", "a/", "C:\\x", "C:/x",
                                  "a\\b", "", "a\x00b", "x" * 2000, ("d" * 300) + "/f"])
def test_artifact_paths_refused(path: str) -> None:
    with pytest.raises(InvalidArtifactPath):
        validate_artifact_path(path)


def test_filter_precedence_and_structure() -> None:
    node = parse_filter("metrics.map50 >= 0.8 and not pinned or tags.team = 'red'")
    assert isinstance(node, Or)
    left = node.items[0]
    assert isinstance(left, And) and isinstance(left.items[1], Not)
    grouped = parse_filter("metrics.map50 >= 0.8 and (not pinned or tags.team = 'red')")
    assert isinstance(grouped, And)
    assert parse_filter("  ") is None
    assert parse_filter("status == 'ready' AND archived = false") == And((
        Compare(parse_filter("status = 'ready'").field, "=", "ready"),  # type: ignore[union-attr]
        Compare(parse_filter("archived = true").field, "=", False)))  # type: ignore[union-attr]


@pytest.mark.parametrize("expr", ["metrics.map50 >=", "(pinned", "pinned)", "pinned = 'yes'", "foo = 1", "tags = 'x'",
                                  "metrics.map50 > 'a'", "name contains 3", "name ~ 'x'", "'x' = name",
                                  "status = 'running'", "name = 'x'; DROP TABLE versions", "metrics.m > 1e999",
                                  "name = 'unterminated", "x" * 5000])
def test_filter_errors_are_clear(expr: str) -> None:
    with pytest.raises(InvalidFilter) as err:
        parse_filter(expr)
    assert err.value.message


@given(st.text(max_size=80))
def test_filter_parser_never_crashes(text: str) -> None:
    with contextlib.suppress(InvalidFilter):
        parse_filter(text)


def test_evaluate_matches_sql_semantics() -> None:
    record = {"metrics.map50": 0.9, "status": "ready", "pinned": False, "model": "Fire-Detector", "tags.team": None}

    def get(field: object) -> object:
        return record.get(str(field))

    assert evaluate(parse_filter("metrics.map50 > 0.8 and name contains 'fire'"), get)
    assert not evaluate(parse_filter("tags.team != 'red'"), get)  # absent matches nothing, like SQL NULL
    assert evaluate(parse_filter("not tags.team = 'red'"), get)
    assert evaluate(None, get)


def test_structured_filter_matches_the_expression() -> None:
    spec = {"must": {"name_contains": "yolo", "is_pinned": False, "metrics_min": {"map50": 0.5}},
            "not": {"name_contains": "deprecated"}}
    node = structured_filter(spec)
    assert isinstance(node, And) and len(node.items) == 4
    with pytest.raises(InvalidFilter):
        structured_filter({"must": {"colour": "red"}})
    with pytest.raises(InvalidFilter):
        structured_filter({"should": {}})
    assert structured_filter({"must": {"task": "detection"}}, model_fields) is not None


def test_gate_fields_accept_deltas() -> None:
    node = parse_filter("metrics.map50 >= 0.80 and delta.class_ap.min >= -0.05", gate_fields)
    assert isinstance(node, And)


def test_sort_and_cursor() -> None:
    sort = parse_sort("-metrics.map50", gate_fields, "-number")
    assert sort.descending and sort.field.name == "map50"
    values = [0.5, 12, "2026-01-01T00:00:00+00:00", None]
    assert decode_cursor(encode_cursor(values)) == values
    assert decode_cursor(None) is None
    for bad in ["%%%", "bm90IGpzb24", encode_cursor({"a": 1})]:  # type: ignore[arg-type]
        with pytest.raises(InvalidFilter):
            decode_cursor(bad)
