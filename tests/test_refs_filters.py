"""The reference parser, name and path validation, and the filter language (pure functions)."""

from __future__ import annotations

import base64
import contextlib
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelreg.errors import InvalidArtifactPath, InvalidFilter, InvalidName, InvalidReference
from modelreg.filters import (
    MAX_CURSOR_VALUES,
    MAX_FILTER_DEPTH,
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
from modelreg.refs import (
    MAX_VERSION,
    Ref,
    parse_ref,
    validate_alias,
    validate_artifact_path,
    validate_name,
    version_number,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("fire-detector", Ref(model="fire-detector")),
    ("fire-detector:3", Ref(model="fire-detector", number=3)),
    ("fire-detector:v3", Ref(model="fire-detector", number=3)),
    ("fire-detector:V12", Ref(model="fire-detector", number=12)),
    ("fire-detector:latest", Ref(model="fire-detector", selector="latest")),
    ("fire-detector:best", Ref(model="fire-detector", selector="best")),
    ("embereye/fire-detector@production", Ref(model="fire-detector", project="embereye", alias="production")),
    ("  m@staging ", Ref(model="m", alias="staging")),
    ("recommender:v4_no_leakage", Ref(model="recommender", label="v4_no_leakage")),
    ("p/m:1.5", Ref(model="m", project="p", label="1.5")),  # any other name is a version label
    ("m:latest2", Ref(model="m", label="latest2")),
])
def test_parse_ref(text: str, expected: Ref) -> None:
    assert parse_ref(text) == expected
    assert parse_ref(str(expected)) == expected  # str() is a reference again


@pytest.mark.parametrize("text", ["", "a/b/c", "m:0", "m:v0", "m:a b", "m:..", "m@", "m:1@a", "m@a b", "/m", "m/",
                                  "m:bad/label", "fіre:1", "../m", "m@..", "m:lab\u0435l", 42])
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


# ---- limits: nesting depth, version numbers, structured values, cursors (security review, finding 13)


def _groups(levels: int) -> str:
    return "(" * levels + "pinned" + ")" * levels


def test_filter_nesting_is_limited_by_one_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_filter(_groups(MAX_FILTER_DEPTH)) is not None
    assert parse_filter("not " * MAX_FILTER_DEPTH + "pinned") is not None
    assert parse_filter(" and ".join(["(pinned)"] * 200)) is not None  # siblings are not depth
    for deep in (_groups(MAX_FILTER_DEPTH + 1), "not " * (MAX_FILTER_DEPTH + 1) + "pinned", _groups(1900),
                 "not (" * 600 + "pinned" + ")" * 600):
        with pytest.raises(InvalidFilter) as err:
            parse_filter(deep)
        assert f"deeper than {MAX_FILTER_DEPTH} levels" in err.value.message and err.value.hint
        assert err.value.details["limit"] == MAX_FILTER_DEPTH
    monkeypatch.setattr("modelreg.filters.MAX_FILTER_DEPTH", 2)
    with pytest.raises(InvalidFilter):
        parse_filter("not (not pinned)")


def test_a_stored_gate_past_the_limit_says_how_to_replace_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from modelreg.service.gate import evaluate_gate
    from modelreg.types import Version

    gate = "not not metrics.map50 >= 0.5"
    now = datetime.now(UTC)
    candidate = Version(id=1, model="m", project="default", number=1, metrics={"map50": 0.9}, created_at=now,
                        updated_at=now)
    assert evaluate_gate(gate, candidate, None)[0]
    monkeypatch.setattr("modelreg.filters.MAX_FILTER_DEPTH", 1)
    with pytest.raises(InvalidFilter) as err:
        evaluate_gate(gate, candidate, None)
    assert "promotion gate" in err.value.message and "promotion_gate=" in (err.value.hint or "")
    assert err.value.details["step"] == {"action": "set_promotion_gate", "model": "m"}


@pytest.mark.parametrize(("text", "number"), [("m:2147483647", MAX_VERSION), ("m:v007", 7), ("m:V1", 1)])
def test_version_numbers_up_to_the_database_integer(text: str, number: int) -> None:
    assert parse_ref(text).number == number


@pytest.mark.parametrize("text", ["m:2147483648", "m:999999999999", "m:v" + "9" * 29, "m:" + "9" * 5000,
                                  "m:00", "m:v0", "m:\u0663", "m:v\uff13"])
def test_version_numbers_out_of_range_or_not_ascii_are_refused(text: str) -> None:
    with pytest.raises(InvalidReference) as err:
        parse_ref(text)
    assert err.value.hint and "model:3" in err.value.hint
    assert len(err.value.message) < 200  # a 5,000-digit reference is not echoed back whole


def test_version_number_reads_the_number_forms_only() -> None:
    assert version_number("v12") == 12 and version_number("12") == 12
    assert version_number("staging") is None and version_number("v") is None and version_number("1.5") is None
    for bad in ("0", "v" + "9" * 29, str(MAX_VERSION + 1)):
        with pytest.raises(InvalidReference) as err:
            version_number(bad)
        assert str(MAX_VERSION) in (err.value.hint or "")


@pytest.mark.parametrize("bound", ["abc", "0.5", "nan", True, None, [1], {"a": 1}, math.nan, math.inf, -math.inf,
                                   10**400])
def test_structured_metric_bounds_are_finite_numbers(bound: object) -> None:
    for option in ("metrics_min", "metrics_max"):
        with pytest.raises(InvalidFilter) as err:
            structured_filter({"must": {option: {"map50": bound}}})
        assert "metrics.map50" in err.value.message and option in err.value.message
        assert err.value.details["field"] == "metrics.map50"


def test_structured_metric_bounds_accept_integers_and_floats() -> None:
    node = structured_filter({"must": {"metrics_min": {"map50": 1}, "metrics_max": {"val_loss": 0.25}}})
    assert isinstance(node, And)
    assert [(c.op, c.value) for c in node.items if isinstance(c, Compare)] == [(">=", 1.0), ("<=", 0.25)]


@pytest.mark.parametrize(("must", "named"), [({"is_pinned": "false"}, "is_pinned"), ({"is_trained": 1}, "is_trained"),
                                             ({"name_contains": 3}, "name_contains"), ({"status": ["ready"]}, "status"),
                                             ({"tags": ["team"]}, "tags"), ({"tags": {"team": 1}}, "tags.team"),
                                             ({"metrics_min": 0.5}, "metrics_min")])
def test_structured_options_check_their_types(must: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidFilter) as err:
        structured_filter({"must": must})
    assert named in err.value.message and err.value.hint


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("raw", ["[" * 100_000 + "]" * 100_000, '{"a":' * 5000 + "1" + "}" * 5000, "[[1],2]",
                                 '[{"a":1}]', "[1,2]x", json.dumps(list(range(MAX_CURSOR_VALUES + 1))),
                                 "[NaN,1]", "[Infinity,1]", "[1e999,1]", f"[0.5,{2**63}]", "[1" + "0" * 5000 + "]",
                                 "1", '"x"', "{}", "\xff"])
def test_a_cursor_is_a_short_flat_list_of_scalars(raw: str) -> None:
    with pytest.raises(InvalidFilter) as err:
        decode_cursor(_cursor(raw))
    assert err.value.message == "the cursor is not one this server issued"
    assert "next_cursor" in (err.value.hint or "")


def test_cursor_strings_may_hold_brackets_and_quotes() -> None:
    values = ['a [b] {c} "d" \\', -(2**63 - 1), 2**63 - 1, False, None, 1e300]
    assert decode_cursor(encode_cursor(values)) == values
