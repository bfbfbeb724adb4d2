"""Attacks on the parsers and limits of the wire, against a real server on SQLite and PostgreSQL.

Finding 13 of the security review: input that nested too deeply, numbers too large for ``int()`` or for
the database, and bodies that are not UTF-8 each made a 500 (or a 400 where the docs promise 422). Each
attack below must now get a 4xx with the envelope, the same on both backends, and change nothing.
Finding 16 (one part): a version number past the database's integer range is 422 on both backends.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from modelreg.filters import MAX_CURSOR_VALUES, MAX_FILTER_DEPTH
from modelreg.refs import MAX_VERSION
from modelreg.service import Service
from test_server import assert_error, digest_of, register

MODEL = "/projects/default/models/det"
HUGE = "9" * 5000  # past Python's 4300-digit limit on int()


def snapshot(state: Any) -> tuple[Any, ...]:
    """Everything these attacks could change: versions, aliases, models with their policies, events."""
    reg: Service = state.service()
    versions = [(v.ref, v.status, v.archived, v.pinned, tuple(v.aliases), v.metrics) for v in reg.iter_versions()]
    models = [(m.name, m.policies) for m in reg.iter_models()]
    return versions, models, [e.id for e in reg.events(limit=1000).items]


@pytest.fixture
def det(backend_api: httpx.Client, backend_state: Any) -> Iterator[tuple[Any, ...]]:
    """Model ``det`` with v1 (production, map50 0.5) and v2 (map50 0.9); yields the snapshot, checked after."""
    register(backend_api, "det", b"one", metrics={"map50": 0.5})
    register(backend_api, "det", b"two", metrics={"map50": 0.9})
    before = snapshot(backend_state)
    yield before
    assert snapshot(backend_state) == before, "a refused request changed the registry"


def nested(levels: int) -> str:
    """A filter whose tree is ``levels`` deep: ``(pinned and (tags.a = 'x' or (... pinned)))``, on any listing."""
    text = "pinned"
    for i in range(levels):
        text = f"(pinned and {text})" if i % 2 else f"(tags.t{i} = 'x' or {text})"
    return text


def cursor_of(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# ---- 1. filters nested 1,000 deep (parentheses or `not`)

DEEP_FILTERS = {
    "parentheses": "(" * 1000 + "pinned" + ")" * 1000,
    "not": "not " * 900 + "pinned",
    "tree": nested(150),
}
SEARCHES = ["/versions", "/models", "/projects/default/models"]


@pytest.mark.parametrize("path", SEARCHES)
@pytest.mark.parametrize("q", DEEP_FILTERS.values(), ids=DEEP_FILTERS.keys())
def test_a_deeply_nested_filter_is_422(backend_api: httpx.Client, det: Any, path: str, q: str) -> None:
    error = assert_error(backend_api.get(path, params={"q": q}), 422, "invalid_filter")
    assert str(MAX_FILTER_DEPTH) in error["message"] and "nest" in error["message"]
    assert error["details"]["hint"]


@pytest.mark.parametrize("path", SEARCHES)
def test_a_filter_at_the_depth_limit_runs_on_both_backends(backend_api: httpx.Client, det: Any, path: str) -> None:
    for q in (nested(MAX_FILTER_DEPTH), "not " * MAX_FILTER_DEPTH + "pinned"):  # an even count of nots
        found = backend_api.get(path, params={"q": q})
        assert found.status_code == 200 and found.json()["total"] == 0, found.text
    assert_error(backend_api.get(path, params={"q": nested(MAX_FILTER_DEPTH + 1)}), 422, "invalid_filter")


def test_the_deepest_filter_runs_with_everything_a_search_adds(backend_api: httpx.Client, det: Any) -> None:
    """SQLite's SQL parser is the tightest stack: the limit holds with a model, sort, cursor and structured form."""
    first = backend_api.get(MODEL + "/versions", params={"limit": 1}).json()
    q = f"not pinned or {nested(MAX_FILTER_DEPTH - 1)}"
    body = {"query": q, "model": "det", "sort": "-metrics.map50", "limit": 1, "cursor": first["next_cursor"],
            "filter": {"must": {"metrics_min": {"map50": 0}, "tags": {"a": "b"}}, "not": {"tags": {"c": "d"}}}}
    found = backend_api.post("/versions/search", json=body)
    assert found.status_code == 200, found.text


# ---- 2. cursors that decode to something this server never issues

BAD_CURSORS = {
    "deep list": cursor_of("[" * 1000 + "]" * 1000),
    "deep object": cursor_of('{"a":' * 1000 + "1" + "}" * 1000),
    "nested list": cursor_of("[[1],1]"),
    "object in list": cursor_of('[{"a":1},1]'),
    "long list": cursor_of(json.dumps(list(range(MAX_CURSOR_VALUES + 1)))),
    "NaN": cursor_of("[NaN,1]"),
    "5000-digit number": cursor_of(f"[{HUGE}]"),
    "id past 64 bits": cursor_of(f"[0.5,{10**22}]"),
    "not JSON": cursor_of("not json"),
}


@pytest.mark.parametrize("path", ["/versions", "/models", "/events", MODEL + "/versions"])
@pytest.mark.parametrize("cursor", BAD_CURSORS.values(), ids=BAD_CURSORS.keys())
def test_a_forged_cursor_is_422(backend_api: httpx.Client, det: Any, path: str, cursor: str) -> None:
    error = assert_error(backend_api.get(path, params={"cursor": cursor}), 422, "invalid_filter")
    assert "cursor is not one this server issued" in error["message"]
    assert "next_cursor" in error["details"]["hint"]


def test_a_forged_cursor_in_a_search_body_is_422(backend_api: httpx.Client, det: Any) -> None:
    body = {"cursor": BAD_CURSORS["deep list"]}
    assert_error(backend_api.post("/versions/search", json=body), 422, "invalid_filter")
    assert_error(backend_api.post("/models/search", json=body), 422, "invalid_filter")


def test_the_cursors_the_server_issues_still_work(backend_api: httpx.Client, det: Any) -> None:
    for sort in ("-metrics.map50", "-created_at", "number", "description"):
        first = backend_api.get("/versions", params={"limit": 1, "sort": sort}).json()
        second = backend_api.get("/versions", params={"limit": 1, "sort": sort, "cursor": first["next_cursor"]})
        assert second.status_code == 200, second.text
        assert {first["items"][0]["number"], second.json()["items"][0]["number"]} == {1, 2}


# ---- 3. a structured filter whose bounds are not numbers

BAD_BOUNDS: dict[str, Any] = {"text": "abc", "NaN text": "nan", "infinity text": "inf", "boolean": True,
                              "list": [1], "object": {"a": 1}, "null": None, "numeric text": "0.5"}


@pytest.mark.parametrize("option", ["metrics_min", "metrics_max"])
@pytest.mark.parametrize("bound", BAD_BOUNDS.values(), ids=BAD_BOUNDS.keys())
def test_a_metric_bound_that_is_not_a_number_is_422(backend_api: httpx.Client, det: Any, option: str,
                                                    bound: Any) -> None:
    body = {"filter": {"must": {option: {"map50": bound}}}}
    error = assert_error(backend_api.post("/versions/search", json=body), 422, "invalid_filter")
    assert "metrics.map50" in error["message"] and option in error["message"]
    assert "number" in error["details"]["hint"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_json_bound_is_422(backend_api: httpx.Client, det: Any, literal: str) -> None:
    raw = '{"filter": {"must": {"metrics_min": {"map50": ' + literal + "}}}}"
    response = backend_api.post("/versions/search", content=raw, headers={"Content-Type": "application/json"})
    error = assert_error(response, 422, "invalid_filter")
    assert "finite" in error["message"]


@pytest.mark.parametrize(("must", "named"), [({"metrics_min": "abc"}, "metrics_min"),
                                             ({"is_pinned": "false"}, "is_pinned"),
                                             ({"status": ["ready"]}, "status"),
                                             ({"tags": "team"}, "tags")])
def test_a_structured_option_of_the_wrong_type_is_422(backend_api: httpx.Client, det: Any, must: dict[str, Any],
                                                      named: str) -> None:
    error = assert_error(backend_api.post("/versions/search", json={"filter": {"must": must}}), 422,
                         "invalid_filter")
    assert named in error["message"]


def test_numeric_bounds_still_filter(backend_api: httpx.Client, det: Any) -> None:
    body = {"filter": {"must": {"metrics_min": {"map50": 0.6}, "metrics_max": {"map50": 1}}}}
    found = backend_api.post("/versions/search", json=body)
    assert found.status_code == 200, found.text
    assert [v["number"] for v in found.json()["items"]] == [2]


# ---- 4. promotion gates nested too deeply

def test_a_deep_promotion_gate_is_refused_when_set(backend_api: httpx.Client, det: Any) -> None:
    gate = "(" * 1000 + "metrics.map50 >= 0.5" + ")" * 1000
    error = assert_error(backend_api.patch(MODEL, json={"promotion_gate": gate}), 422, "invalid_filter")
    assert str(MAX_FILTER_DEPTH) in error["message"]
    assert_error(backend_api.post("/models", json={"name": "gated", "promotion_gate": "not " * 900 + "x.y"}), 422,
                 "invalid_filter")


def test_a_gate_at_the_depth_limit_is_evaluated(backend_api: httpx.Client, backend_state: Any) -> None:
    register(backend_api, "det", b"one", metrics={"map50": 0.5})
    register(backend_api, "det", b"two", metrics={"map50": 0.9})
    gate = "metrics.map50 >= 0.8"
    for i in range(MAX_FILTER_DEPTH):
        gate = f"(metrics.map50 >= 0.8 and {gate})" if i % 2 else f"(delta.map50 < -1 or {gate})"
    assert backend_api.patch(MODEL, json={"promotion_gate": gate}).status_code == 200
    plan = backend_api.post(MODEL + "/promote", json={"src": "v2", "dst": "production"})
    assert plan.status_code == 200, plan.text
    assert plan.json()["gate_passed"] and plan.json()["applied"]
    assert len(plan.json()["gate_terms"]) == MAX_FILTER_DEPTH + 1


def test_a_stored_gate_past_the_limit_refuses_the_promotion_and_says_how_to_fix_it(
        backend_api: httpx.Client, backend_state: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    register(backend_api, "det", b"one", metrics={"map50": 0.5})
    register(backend_api, "det", b"two", metrics={"map50": 0.9})
    gate = "not " * 10 + "metrics.map50 >= 0.8"  # stored while the limit allowed it (an older server)
    assert backend_api.patch(MODEL, json={"promotion_gate": gate}).status_code == 200
    before = snapshot(backend_state)
    monkeypatch.setattr("modelreg.filters.MAX_FILTER_DEPTH", 4)
    response = backend_api.post(MODEL + "/promote", json={"src": "v2", "dst": "production"})
    error = assert_error(response, 422, "invalid_filter")
    assert "promotion gate" in error["message"] and "PATCH /api/v1/projects/-/models/det" in error["details"]["hint"]
    assert snapshot(backend_state) == before


# ---- 5. Range with numbers past int()'s limit (RFC 9110 §14.1.2: compare them, never fail on them)

RANGES = {  # header -> (status, body, Content-Range) for the blob b"one"
    "suffix past the blob": (f"bytes=-{HUGE}", 206, b"one", "bytes 0-2/3"),
    "end past the blob": (f"bytes=1-{HUGE}", 206, b"ne", "bytes 1-2/3"),
    "leading zeros": (f"bytes=-{'0' * 5000}2", 206, b"ne", "bytes 1-2/3"),
    "start past the blob": (f"bytes={HUGE}-", 416, None, "bytes */3"),
    "both past the blob": (f"bytes={HUGE}-{HUGE}", 416, None, "bytes */3"),
}


@pytest.mark.parametrize(("header", "status", "body", "content_range"), RANGES.values(), ids=RANGES.keys())
def test_a_range_with_huge_numbers_is_answered_by_the_rfc(backend_api: httpx.Client, det: Any, header: str,
                                                          status: int, body: bytes | None,
                                                          content_range: str) -> None:
    response = backend_api.get(f"/blobs/{digest_of(b'one')}", headers={"Range": header})
    if body is None:
        assert_error(response, status, "invalid_input")
    else:
        assert response.status_code == status and response.content == body, response.text
    assert response.headers["content-range"] == content_range


@pytest.mark.parametrize(("header", "size", "span"), [
    (f"bytes=-{HUGE}", 10, (0, 9)), (f"bytes={HUGE}-", 10, "unsatisfiable"), (f"bytes=0-{HUGE}", 10, (0, 9)),
    (f"bytes={'0' * 5000}3-{'0' * 5000}4", 10, (3, 4)), ("bytes=-3", 10, (7, 9)), ("bytes=-0", 10, "unsatisfiable"),
    (f"bytes=-{HUGE}", 0, "unsatisfiable"), ("bytes=10-", 10, "unsatisfiable"), ("bytes=9-", 10, (9, 9)),
    ("bytes=4-2", 10, "unsatisfiable"), ("bytes=-", 10, None), ("bytes=1-2,4-5", 10, None),
])
def test_parse_range_compares_positions_with_the_size(header: str, size: int, span: object) -> None:
    from modelreg.server.routes.blobs import _parse_range

    assert _parse_range(header, size) == span


# ---- 6. version numbers past the database's integer range: 422 before any SQL, on both backends

@pytest.mark.parametrize("version", ["999999999999", str(MAX_VERSION + 1), "v" + "9" * 29, HUGE, "0"])
def test_a_version_number_out_of_range_is_422_on_both_backends(backend_api: httpx.Client, det: Any,
                                                               version: str) -> None:
    error = assert_error(backend_api.get(f"{MODEL}/versions/{version}"), 422, "invalid_reference")
    assert str(MAX_VERSION) in error["details"]["hint"]
    assert_error(backend_api.delete(f"{MODEL}/versions/{version}"), 422, "invalid_reference")
    assert_error(backend_api.post(f"{MODEL}/versions/{version}/pin"), 422, "invalid_reference")


def test_the_largest_version_number_is_simply_not_found(backend_api: httpx.Client, det: Any) -> None:
    assert_error(backend_api.get(f"{MODEL}/versions/{MAX_VERSION}"), 404, "version_not_found")


@pytest.mark.parametrize(("method", "path", "body"), [
    ("PUT", MODEL + "/aliases/staging", {"version": 99999999999}),
    ("PUT", MODEL + "/aliases/staging", {"version": "v" + "9" * 29}),
    ("POST", MODEL + "/promote", {"src": "v99999999999", "dst": "staging"}),
    ("POST", "/versions/compare", {"refs": ["det:1", "det:99999999999"]}),
    ("POST", "/versions", {"model": "det", "parent": "det:99999999999"}),
])
def test_a_version_number_out_of_range_in_a_body_is_422(backend_api: httpx.Client, det: Any, method: str,
                                                        path: str, body: Any) -> None:
    assert_error(backend_api.request(method, path, json=body), 422, "invalid_reference")


# ---- 7. X-Modelreg-Environment naming a version past the range

@pytest.mark.parametrize("environment", ["v" + "9" * 29, "v99999999999", "9" * 5000, "v0"])
def test_an_environment_version_out_of_range_is_422(backend_api: httpx.Client, det: Any, environment: str) -> None:
    response = backend_api.get(MODEL + "/versions/-", headers={"X-Modelreg-Environment": environment})
    error = assert_error(response, 422, "invalid_reference")
    assert "MODEL_ENVIRONMENT" in error["message"] and str(MAX_VERSION) in error["details"]["hint"]


def test_an_environment_version_in_range_still_resolves(backend_api: httpx.Client, det: Any) -> None:
    found = backend_api.get(MODEL + "/versions/-", headers={"X-Modelreg-Environment": "v2"})
    assert found.status_code == 200 and found.json()["number"] == 2, found.text
    missing = backend_api.get(MODEL + "/versions/-", headers={"X-Modelreg-Environment": f"v{MAX_VERSION}"})
    assert_error(missing, 404, "version_not_found")


# ---- 8. request bodies that are not UTF-8, or nest 1,000 deep: 422 as the docs say, not 400

JSON = {"Content-Type": "application/json"}
BAD_BODIES = {
    "invalid UTF-8": b'{"name": "p\xff\xfe"}',
    "lone continuation byte": b'{"name": "\x80"}',
    "deep list": b'{"name": "p", "description": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    "deep object": b'{"name": "p", "labels": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1001,
    "very deep": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_body_that_is_not_utf8_or_nests_too_deeply_is_422(backend_api: httpx.Client, det: Any,
                                                            body: bytes) -> None:
    error = assert_error(backend_api.post("/projects", content=body, headers=JSON), 422, "invalid_input")
    assert "UTF-8" in error["message"] or "nest" in error["message"]
    assert error["details"]["hint"]
    assert backend_api.get("/projects").json()["total"] == 1  # only default


# ---- the limits are documented where users look for them

def test_the_docs_state_the_limits_the_code_declares() -> None:
    from pathlib import Path

    docs = Path(__file__).parent.parent / "docs"
    assert f"nests at most **{MAX_FILTER_DEPTH} levels**" in (docs / "search.md").read_text()
    assert f"1 to {MAX_VERSION}" in (docs / "rest.md").read_text()
