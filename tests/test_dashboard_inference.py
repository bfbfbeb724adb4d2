"""The dashboard's inference pages: a model's inference history (filters, keyset pages, the filter language), one
record with its correction form, and the live figures on the model page.

The server-side tests ask a real server (uvicorn on loopback, the demo data of ``test_dashboard``) over HTTP, as
a browser without JavaScript would, and read the HTML; the last test clicks through the same pages in Chromium.
Records are logged through the SDK before the server starts, with times and contents the tests derive their
expectations from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from tests.test_dashboard import (
    FIRE,
    MISSING,
    Dash,
    Requests,
    _context,
    browser,  # noqa: F401  (the module's Chromium, a fixture)
    dashboard,
    requests_seen,  # noqa: F401  (a fixture)
    rows,
)

from modelreg.registry import Registry
from modelreg.types import Role

if TYPE_CHECKING:
    from playwright.sync_api import Browser

SHELF = "retail/shelf-classifier"
HISTORY = "/m/vision/fire-detector/inferences"


# ---------------------------------------------------------------- records, logged through the SDK


def _detections(i: int) -> dict[str, Any]:
    found = [{"class": "fire", "score": round(0.5 + i / 200, 3), "box": [0.1, 0.2, 0.3 + i / 1000, 0.4]},
             {"class": "smoke", "score": 0.41, "box": [12, 30, 80, 96]}]
    if i % 4 == 0:
        found.append({"class": "person", "score": 0.97, "box": [0.5, 0.5, 0.6, 0.9]})
    return {"detections": found, "width": 640, "height": 480}


def seed(reg: Registry) -> list[dict[str, Any]]:
    """60 records of fire-detector (v3 serving two in three, v4 the rest; every tenth failed), one a minute back
    from now, and 12 of shelf-classifier; feedback on two fire-detector records. Returns what was logged."""
    now = datetime.now(UTC).replace(microsecond=0)
    fire: list[dict[str, Any]] = []
    for i in range(60):
        failed = i % 10 == 9
        fire.append({"model": FIRE, "version": 4 if i % 3 == 0 else 3, "time": now - timedelta(minutes=i),
                     "latency_ms": 10.0 + i, "status": "error" if failed else "ok",
                     "error": "CUDA out of memory" if failed else "", "outputs": None if failed else _detections(i),
                     "request_id": f"fire-{i:03d}", "input_ref": f"s3://frames/cam7/{i:03d}.jpg",
                     "input": {"camera": "cam7", "frame": i} if i < 3 else None,
                     "client_request_id": f"cam7-{i}" if i == 0 else None})
    shelf: list[dict[str, Any]] = [
        {"model": SHELF, "version": 2 if i % 4 else 1, "time": now - timedelta(minutes=i, seconds=30),
         "latency_ms": 3.0 + i / 2, "outputs": {"class": "gap" if i % 3 == 0 else "shelf", "score": 0.8},
         "request_id": f"shelf-{i:02d}"} for i in range(12)]
    reg.log_inferences(fire + shelf)
    reg.feedback("fire-001", label="smoke", author="bob", note="the smoke was missed")
    reg.feedback("fire-002", label="fire")
    reg.feedback("fire-002", corrected={"detections": [{"class": "fire", "score": 1, "box": [0.1, 0.2, 0.3, 0.4]}]},
                 note="only the fire")
    return fire


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Dash, list[dict[str, Any]]]]:
    with dashboard(tmp_path) as dash:
        yield dash, seed(dash.reg)


@pytest.fixture
def tokened(tmp_path: Path) -> Iterator[Dash]:
    tokens: dict[str, Role] = {"ann": "viewer", "ed": "editor"}
    with dashboard(tmp_path, tokens=tokens) as dash:
        seed(dash.reg)
        yield dash


# ---------------------------------------------------------------- reading the HTML


class _Text(HTMLParser):
    """The text of the element a test asks about (by id), and, for a table, the text of each of its body rows
    (a table nested in a cell counts as that cell's text)."""

    VOID = ("br", "input", "meta", "img", "hr", "link")

    def __init__(self, wanted: str) -> None:
        super().__init__(convert_charrefs=True)
        self.wanted = wanted
        self.depth = 0  # inside the wanted element: how deep
        self.body = 0  # the depth of its table's <tbody> (0: outside it)
        self.rows: list[list[str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        if self.depth:
            self.depth += 1
            if tag == "tbody" and not self.body:
                self.body = self.depth
            elif tag == "tr" and self.body and self.depth == self.body + 1:
                self.rows.append([])
            elif tag in ("td", "th", "dd", "dt", "li", "p"):
                self.handle_data(" ")  # cells read apart
        elif dict(attrs).get("id") == self.wanted:
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in self.VOID:
            if tag == "tbody" and self.depth == self.body:
                self.body = 0
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.text.append(data)
            if self.body and self.rows:
                self.rows[-1].append(data)


def text_of(html: str, element_id: str) -> str:
    """The text of the element with this id, white space collapsed ("" when there is none)."""
    parser = _Text(element_id)
    parser.feed(html)
    return " ".join("".join(parser.text).split())


def table_rows(html: str, table_id: str) -> list[str]:
    parser = _Text(table_id)
    parser.feed(html)
    return [" ".join("".join(row).split()) for row in parser.rows]


def listed(html: str) -> list[str]:
    """The request ids a history page lists, in order."""
    return re.findall(r'<a href="/i/([^"]+)" title=', html)


def older(html: str) -> str | None:
    found = re.search(r'rel="next" href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form"
    return found.group(1)


def client(dash: Dash) -> httpx.Client:
    return httpx.Client(base_url=dash.base, timeout=30)


@contextmanager
def signed_in(dash: Dash, name: str) -> Iterator[httpx.Client]:
    """A client signed in with the token ``name`` (its session cookie kept)."""
    with client(dash) as web:
        form = web.get("/signin").text
        done = web.post("/signin", data={"csrf": csrf(form), "token": dash.secrets[name], "next": "/"})
        assert done.status_code == 303, done.text
        yield web


# ---------------------------------------------------------------- the history


def test_the_history_lists_records_newest_first_in_keyset_pages(served: tuple[Dash, list[dict[str, Any]]]) -> None:
    dash, fire = served
    newest_first = [r["request_id"] for r in sorted(fire, key=lambda r: r["time"], reverse=True)]
    with client(dash) as web:
        first = web.get(HISTORY)
        assert first.status_code == 200
        assert listed(first.text) == newest_first[:50]
        row = table_rows(first.text, "inferences")[0]  # fire-000: v4, 10 ms, three detections, the client's id
        assert "v4" in row and "ok" in row and "10.0 ms" in row and "cam7-0" in row
        assert "3 detections: person 0.97, fire 0.50, smoke 0.41" in row
        failed = table_rows(first.text, "inferences")[9]
        assert "error CUDA out of memory" in failed
        judged = {r.split()[2]: r for r in table_rows(first.text, "inferences")[1:3]}  # fire-001, fire-002
        assert "smoke" in judged["fire-001"] and "by bob" in judged["fire-001"]
        assert "corrected: 1 detection: fire 1.00" in judged["fire-002"] and "(+1 earlier)" in judged["fire-002"]
        nxt = older(first.text)
        assert nxt and "cursor=" in nxt
        second = web.get(HISTORY + nxt)
        assert listed(second.text) == newest_first[50:]
        assert older(second.text) is None


def test_each_filter_narrows_the_history_and_the_next_page_keeps_them(
        served: tuple[Dash, list[dict[str, Any]]]) -> None:
    dash, fire = served
    ordered = sorted(fire, key=lambda r: r["time"], reverse=True)

    def ids(keep: Any) -> list[str]:
        return [r["request_id"] for r in ordered if keep(r)]

    judged = {"fire-001", "fire-002"}
    since, until = ordered[40]["time"], ordered[10]["time"]
    cases: list[tuple[dict[str, str], list[str]]] = [
        ({"version": "4"}, ids(lambda r: r["version"] == 4)),
        ({"status": "error"}, ids(lambda r: r["status"] == "error")),
        ({"feedback": "yes"}, ids(lambda r: r["request_id"] in judged)),
        ({"feedback": "no", "version": "4"}, ids(lambda r: r["request_id"] not in judged and r["version"] == 4)),
        ({"since": since.strftime("%Y-%m-%dT%H:%M:%S"), "until": until.strftime("%Y-%m-%dT%H:%M:%S")},
         ids(lambda r: since <= r["time"] < until)),
        ({"where": "latency_ms > 50 and status = 'ok'"}, ids(lambda r: r["latency_ms"] > 50 and r["status"] == "ok")),
        ({"where": "feedback.label = 'smoke'"}, ["fire-001"]),
    ]
    with client(dash) as web:
        for query, expected in cases:
            page = web.get(HISTORY, params=query)
            assert page.status_code == 200, query
            assert listed(page.text) == expected, query
            assert expected, query  # every case keeps some records and drops others
            assert len(expected) < len(fire), query
        # The filter form shows what the URL says; the version's own page links to its history.
        page = web.get(HISTORY, params={"version": "4", "status": "ok", "where": "latency_ms > 20"})
        assert 'value="4"' in page.text and "<option selected>ok</option>" in page.text
        assert 'value="latency_ms &gt; 20"' in page.text
        assert re.search(r"<h1>fire-detector: inferences of <a [^>]+>v4</a></h1>", page.text)
        version_page = web.get("/v/vision/fire-detector/4").text
        assert f'href="{HISTORY}?version=4"' in version_page
        # The next page of a filtered history keeps every filter, and the two pages hold all of v3's records.
        v3 = ids(lambda r: r["version"] == 3)
        many = web.get(HISTORY, params={"version": "3", "where": "latency_ms >= 0"}).text
        assert older(many) is None and listed(many) == v3
        everything = web.get(HISTORY, params={"where": "latency_ms >= 0", "status": "ok"}).text
        ok = ids(lambda r: r["status"] == "ok")
        assert len(ok) > 50 and listed(everything) == ok[:50]
        nxt = older(everything)
        assert nxt and "status=ok" in nxt and "where=latency_ms" in nxt
        assert listed(web.get(HISTORY + nxt).text) == ok[50:]


def test_a_bad_filter_is_shown_inline_with_what_was_typed(served: tuple[Dash, list[dict[str, Any]]]) -> None:
    dash, _ = served
    with client(dash) as web:
        for query, said in [({"where": "latency_ms >"}, r"at character \d+"),
                            ({"where": "colour = 'red'"}, "unknown field 'colour'"),
                            ({"since": "yesterday"}, "since 'yesterday' is not a time"),
                            ({"version": "three"}, "version 'three' is not a version number"),
                            ({"status": "maybe"}, "status 'maybe' is not one of ok, error"),
                            ({"cursor": "not-a-cursor"}, "cursor")]:
            page = web.get(HISTORY, params=query)
            assert page.status_code == 200, query
            error = text_of(page.text, "where-error")
            assert re.search(said, error), (query, error)
            assert listed(page.text) == [], query
            typed = next(iter(query.values()))
            if "where" in query or "version" in query:  # the box keeps what was typed, to correct it
                assert f'value="{typed}"' in page.text.replace("&gt;", ">").replace("&#39;", "'"), query
        fine = web.get(HISTORY, params={"where": "latency_ms > 0"}).text
        assert text_of(fine, "where-error") == "" and listed(fine)
        missing = web.get("/m/vision/no-such-model/inferences")
        assert missing.status_code == 404 and "error-page" in missing.text


# ---------------------------------------------------------------- one record


def test_a_record_page_shows_outputs_input_error_and_feedback(served: tuple[Dash, list[dict[str, Any]]]) -> None:
    dash, _ = served
    with client(dash) as web:
        page = web.get("/i/fire-000")
        assert page.status_code == 200
        facts = text_of(page.text, "record")
        assert "fire-detector v4" in facts and "10.0 ms" in facts and "s3://frames/cam7/000.jpg" in facts
        assert "cam7-0" in facts and "every request is logged" in facts
        assert '"camera": "cam7"' in text_of(page.text, "inline-input").replace("&#34;", '"')
        section = page.text.split('id="outputs-h"')[1].split("</section>")[0]
        classes = re.findall(  # the detections' table, highest score first
            r'<tr><th scope="row">(\w+)</th><td class="num">([\d.]+)</td>', section)
        assert classes == [("person", "0.970"), ("fire", "0.500"), ("smoke", "0.410")]
        assert "12, 30, 80, 96" in section
        assert table_rows(page.text, "feedback") == ["No feedback yet."]
        assert 'href="/v/vision/fire-detector/4"' in page.text
        failed = web.get("/i/fire-009").text
        assert text_of(failed, "record-error") == "CUDA out of memory"
        assert "No outputs: the request failed." in failed
        judged = web.get("/i/fire-002").text
        history = table_rows(judged, "feedback")
        assert len(history) == 2
        assert "newest" in history[0] and "1 detection: fire 1.00" in history[0] and "only the fire" in history[0]
        assert "newest" not in history[1] and "fire" in history[1] and "alice" in history[1]
        select = judged.split('id="fb-label"')[1].split("</select>")[0]
        labels = re.findall(r"<option(?: selected)?>([^<]+)</option>", select)
        assert labels == dash.reg.get_project("vision").labels
        missing = web.get("/i/no-such-request")
        assert missing.status_code == 404 and "no inference record has request id" in missing.text


def test_a_correction_is_saved_and_bad_ones_are_refused_on_the_form(
        served: tuple[Dash, list[dict[str, Any]]]) -> None:
    dash, _ = served
    with client(dash) as web:
        page = web.get("/i/fire-005").text
        form = {"csrf": csrf(page), "request_id": "fire-005", "label": "", "corrected": "", "note": ""}
        for fields, said in [({"label": "dragon"}, "'dragon' is not in project 'vision''s label set"),
                             ({"corrected": "{not json"}, "the corrected output is not JSON"),
                             ({"corrected": '{"detections": [{"class": "cat", "box": [0, 0, 1, 1]}]}'},
                              "'cat' is not in project 'vision''s label set"),
                             ({}, "feedback needs a label or a corrected output")]:
            refused = web.post("/feedback", data={**form, **fields, "note": "typed note"})
            assert refused.status_code == 422, fields
            assert said in text_of(refused.text, "feedback-error").replace("&#39;", "'"), fields
            assert 'value="typed note"' in refused.text  # what was typed stays on the form
            assert dash.reg.get_inference("fire-005").feedback == []
        corrected = '{"detections": [{"class": "smoke", "score": 1, "box": [0.1, 0.1, 0.5, 0.5]}]}'
        done = web.post("/feedback", data={**form, "label": "smoke", "corrected": corrected, "note": "smoke only"})
        assert done.status_code == 303 and done.headers["location"] == "/i/fire-005?done=feedback"
        (saved,) = dash.reg.get_inference("fire-005").feedback
        assert saved.label == "smoke" and saved.author == "alice" and saved.source == "human"
        assert saved.corrected["detections"][0]["class"] == "smoke" and saved.note == "smoke only"
        assert saved.agrees is False  # it answered fire and smoke
        shown = web.get(done.headers["location"]).text
        assert "✓ Done." in shown and "smoke only" in table_rows(shown, "feedback")[0]
        listed_row = table_rows(web.get(HISTORY, params={"feedback": "yes"}).text, "inferences")
        assert any("fire-005" in r and "smoke" in r and "✗" in r for r in listed_row), listed_row
        unknown = web.post("/feedback", data={**form, "request_id": "nope", "label": "fire"})
        assert unknown.status_code == 404


def test_a_viewer_sees_no_correction_form_and_cannot_post_one(tokened: Dash) -> None:
    with signed_in(tokened, "ann") as viewer:
        page = viewer.get("/i/fire-004")
        assert page.status_code == 200 and "fire-detector v3" in text_of(page.text, "record")
        assert 'action="/feedback"' not in page.text
        assert "needs the editor role" in text_of(page.text, "no-feedback")
        refused = viewer.post("/feedback", data={"csrf": csrf(page.text), "request_id": "fire-004", "label": "fire"})
        assert refused.status_code == 403 and "viewer" in refused.text
        assert tokened.reg.get_inference("fire-004").feedback == []
        assert viewer.get(HISTORY).status_code == 200  # reading needs a viewer only
    with signed_in(tokened, "ed") as editor:
        form = editor.get("/i/fire-004").text
        assert 'action="/feedback"' in form
        done = editor.post("/feedback", data={"csrf": csrf(form), "request_id": "fire-004", "label": "fire"})
        assert done.status_code == 303
        assert [f.author for f in tokened.reg.get_inference("fire-004").feedback] == ["ed"]
    with client(tokened) as stranger:
        assert stranger.get("/i/fire-004").status_code == 303  # to the sign-in page


def test_the_correction_form_needs_its_csrf_token_and_this_origin(served: tuple[Dash, list[dict[str, Any]]]) -> None:
    dash, _ = served
    with client(dash) as web:
        token = csrf(web.get("/i/fire-004").text)
        form = {"request_id": "fire-004", "label": "fire"}
        for fields in ({}, {"csrf": ""}, {"csrf": "0" * 32}):
            refused = web.post("/feedback", data={**form, **fields})
            assert refused.status_code == 403 and "CSRF" in refused.text, fields
        for origin in ("http://evil.example", "http://127.0.0.1:1"):
            refused = web.post("/feedback", data={**form, "csrf": token}, headers={"Origin": origin})
            assert refused.status_code == 403 and "cross-site" in refused.text, origin
        assert dash.reg.get_inference("fire-004").feedback == []
        assert web.post("/feedback", data={**form, "csrf": token}, headers={"Origin": dash.base}).status_code == 303
        assert len(dash.reg.get_inference("fire-004").feedback) == 1


# ---------------------------------------------------------------- the model page


def test_the_model_page_shows_live_figures_per_version(served: tuple[Dash, list[dict[str, Any]]]) -> None:
    dash, _ = served
    with client(dash) as web:
        page = web.get("/m/vision/fire-detector").text
        figures = {r.split()[0]: r for r in table_rows(page, "live")}
        stats = {f"v{s.version}": s for s in dash.reg.inference_stats(FIRE)}
        assert set(figures) == set(stats) == {"v3", "v4"}
        for name, s in stats.items():
            assert s.records and s.error_rate is not None and s.latency_p50_ms and s.latency_p95_ms
            cells = f" {s.records:,} {s.error_rate * 100:.1f} % {s.latency_p50_ms:.1f} ms {s.latency_p95_ms:.1f} ms "
            assert cells in f" {figures[name]} ", figures[name]
        assert "production" in figures["v3"] and "staging" in figures["v4"]
        assert f'href="{HISTORY}?version=3"' in page and f'href="{HISTORY}">Inference history →' in page
        assert re.search(r'aria-current="page">Versions</a>\s*<a href="/m/vision/fire-detector/inferences">', page)
        shelf = web.get("/m/retail/shelf-classifier").text
        assert {r.split()[0] for r in table_rows(shelf, "live")} == {"v1", "v2"}
        quiet = web.get("/m/vision/smoke-seg").text
        assert 'id="live"' not in quiet and "Inference history" in quiet  # no records: no figures, the tab stays


# ---------------------------------------------------------------- in a real browser


@pytest.mark.skipif(MISSING is not None, reason=f"the browser test needs Chromium and Playwright: {MISSING}")
def test_a_correction_from_the_browser(browser: Browser, served: tuple[Dash, list[dict[str, Any]]],  # noqa: F811
                                       requests_seen: Requests) -> None:  # noqa: F811
    """Open a model's inference history from its page, filter it, open a record, correct its label from the
    project's label set, see the correction listed, and see the live figures count it."""
    dash, _ = served
    context = _context(browser, requests_seen)
    page = context.new_page()
    try:
        page.goto(dash.url("/m/retail/shelf-classifier"))
        live = {r.split()[0]: r for r in rows(page, "#live")}
        assert "no feedback" in live["v2"]
        page.get_by_role("link", name="Inference history", exact=True).click()
        assert page.url == dash.url("/m/retail/shelf-classifier/inferences")
        page.fill("#f-version", "2")
        page.fill("#where", "outputs.class = 'gap'")
        page.get_by_role("button", name="Filter").click()
        assert "version=2" in page.url and "where=outputs.class" in page.url
        expected = [r.request_id for r in dash.reg.list_inferences(SHELF, version=2, where="outputs.class = 'gap'")]
        shown = rows(page, "#inferences")
        assert len(shown) == len(expected) > 0 and all("gap 0.80" in r and "v2" in r for r in shown), shown
        shared = page.url
        page.goto(shared)  # the URL is the filter state
        assert page.locator("#where").input_value() == "outputs.class = 'gap'"
        assert page.locator("#f-version").input_value() == "2"
        page.locator("#inferences tbody tr").first.get_by_role("link").first.click()
        assert page.url == dash.url(f"/i/{expected[0]}")
        assert rows(page, "#feedback") == ["No feedback yet."]
        options = page.locator("#fb-label option").all_inner_texts()
        assert options[1:] == dash.reg.get_project("retail").labels
        page.select_option("#fb-label", "shelf")
        page.fill("#fb-note", "a full shelf, not a gap")
        page.get_by_role("button", name="Save the correction").click()
        assert page.url == dash.url(f"/i/{expected[0]}?done=feedback")
        newest = rows(page, "#feedback")[0]
        assert "shelf" in newest and "✗ no" in newest and "a full shelf, not a gap" in newest
        assert dash.reg.get_inference(expected[0]).feedback[-1].label == "shelf"
        page.get_by_role("link", name="inferences").click()  # the breadcrumb, back to the history
        page.select_option("#f-feedback", "yes")
        page.get_by_role("button", name="Filter").click()
        judged = rows(page, "#inferences")
        assert len(judged) == 1 and "shelf" in judged[0] and "✗" in judged[0] and "by alice" in judged[0]
        page.get_by_role("link", name="Versions").click()
        live = {r.split()[0]: r for r in rows(page, "#live")}
        assert "0.0 % of 1 compared" in live["v2"], live
    finally:
        context.close()
    assert requests_seen.external(dash.base) == []


def test_a_version_trained_on_corrections_says_whose_traffic(served: tuple[Dash, list[dict[str, Any]]],
                                                             tmp_path: Path) -> None:
    dash, _ = served
    done = dash.reg.export_feedback(FIRE, tmp_path / "corrections", format="jsonl", dataset_name="fire-fixes")
    newer = dash.reg.register_version(FIRE, files={"best.pt": b"retrained on the fixes"}, dataset=done.dataset)
    page = httpx.get(dash.url(f"/v/{newer.project}/{newer.model}/{newer.number}"))
    assert page.status_code == 200
    said = " ".join(re.sub(r"<[^>]+>", " ", page.text).split())
    assert "fire-fixes" in said and "the corrections of fire-detector v3" in said
    assert f'href="/m/{newer.project}/{newer.model}/inferences?feedback=yes"' in page.text
