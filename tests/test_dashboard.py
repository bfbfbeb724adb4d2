"""The dashboard in a real browser: Chromium, driven by Playwright, against a real server (uvicorn on loopback).

Each test gets a fresh registry home with the same demo data, registered through the SDK before the server
starts, and a fresh browser context; it clicks through the pages as a user would and checks what they show,
then asks the SDK whether an action really happened. Every test also records the browser's requests: the
dashboard never asks anything of another host (its scripts, styles and ``/docs`` are served by the server).

Chromium is Debian's ``/usr/bin/chromium`` (Playwright cannot download its own browser here). Without it or
without the ``playwright`` package the module is skipped, unless ``CI`` is set: then it fails.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import modelreg
from modelreg.config import Settings
from modelreg.errors import NotFound
from modelreg.registry import Registry
from modelreg.types import Role, Version

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install playwright)"
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


MISSING = _missing()
pytestmark = pytest.mark.skipif(MISSING is not None and not os.environ.get("CI"),
                                reason=f"dashboard browser tests need Chromium and Playwright: {MISSING}")

FIRE = "vision/fire-detector"
MAP50 = [0.62, 0.71, 0.78, 0.84, 0.88]  # v1..v5 of fire-detector
RECALL = [0.70, 0.69, 0.68, 0.66, 0.65]
CLASS_AP = {"fire": 0.80, "smoke": 0.55, "person": 0.91}


def weights(number: int) -> bytes:
    return b"fire-detector weights v%d " % number + bytes(range(256)) * 4


# ---------------------------------------------------------------- demo data


def populate(reg: Registry) -> None:
    """Two projects with label sets; three models; fire-detector has v1..v5, production on v3, staging on v4."""
    reg.create_project("vision", labels=["fire", "smoke", "person"], description="Camera network detectors")
    reg.update_project("vision", labels=["fire", "smoke", "person", "vehicle"])
    reg.create_project("retail", labels=["shelf", "gap"])
    reg.create_model(FIRE, task="detection", best_metric="map50", description="Fire and smoke in camera frames")
    for i, (map50, recall) in enumerate(zip(MAP50, RECALL, strict=True), start=1):
        reg.register_version(
            FIRE, files={"weights/best.pt": weights(i), "config.yaml": b"imgsz: 640\n"},
            metrics={"map50": map50, "recall": recall, "val_loss": 1.5 - i / 10},
            class_metrics=[{"class_name": name, "ap": ap - (5 - i) / 100, "precision": 0.9, "recall": 0.7,
                            "training_count": 1000 + n, "validation_count": 200 + n}
                           for n, (name, ap) in enumerate(CLASS_AP.items())],
            epochs=[{"epoch": e, "train_loss": 2 / (e + 1), "map50": map50 * e / 19} for e in range(20)],
            params={"lr": 0.01 * i, "epochs": 20, "imgsz": 640, "model": {"depth": 0.33}},
            notes=f"run {i}", tags={"team": "vision", "night": "yes"}, parent=f"{FIRE}:{i - 1}" if i == 5 else None)
    reg.activate(f"{FIRE}:3")
    reg.set_alias(f"{FIRE}:4", "staging")
    reg.create_model("vision/smoke-seg", task="segmentation")
    for i in (1, 2):
        reg.register_version("vision/smoke-seg", files={"weights/best.pt": b"seg %d" % i},
                             metrics={"iou": 0.5 + i / 10})
    reg.create_model("retail/shelf-classifier", task="classification", tags={"team": "retail"})
    for i in (1, 2):
        reg.register_version("retail/shelf-classifier", files={"model.pkl": b"shelf %d" % i},
                             metrics={"accuracy": 0.8 + i / 20}, tags={"team": "retail"})
    reg.activate("retail/shelf-classifier:2")


# ---------------------------------------------------------------- a real server


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """``modelreg serve`` in a thread: uvicorn on a free loopback port; yields its base URL."""
    import uvicorn

    from modelreg.server import create_app

    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        app.state.server.close()


@dataclass
class Dash:
    """A served registry: its base URL and the SDK on the same home (to set up and to check)."""

    base: str
    reg: Registry
    secrets: dict[str, str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base + path

    def version(self, number: int, model: str = FIRE) -> Version:
        return self.reg.get_version(f"{model}:{number}")

    def production(self, model: str = FIRE) -> int:
        return self.reg.get_version(f"{model}@production").number


@contextmanager
def dashboard(tmp_path: Path, tokens: dict[str, Role] | None = None) -> Iterator[Dash]:
    """A fresh home with the demo data (and the given tokens, name -> role), served."""
    settings = Settings(home=tmp_path / "home", actor="alice")
    reg = modelreg.connect(settings=settings)
    try:
        populate(reg)
        secrets = {name: reg.create_token(name, role)[1] for name, role in (tokens or {}).items()}
        with serving(settings) as base:
            yield Dash(base=base, reg=reg, secrets=secrets)
    finally:
        reg.close()


# ---------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if MISSING is not None:
        pytest.fail(f"CI runs the dashboard browser tests: {MISSING}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = _launch(pw)
        try:
            yield chromium
        finally:
            chromium.close()


def _launch(pw: Playwright) -> Browser:
    return pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


class Requests:
    """Every URL the browser asked for; the test fails if one is not on the server (or an allowed host)."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.allowed: list[str] = []

    def __call__(self, request: Any) -> None:
        self.urls.append(request.url)

    def external(self, base: str) -> list[str]:
        ours = (base + "/", *self.allowed)
        return [u for u in self.urls if not u.startswith(ours) and u != base and not u.startswith("data:")]


@pytest.fixture
def dash(tmp_path: Path) -> Iterator[Dash]:
    with dashboard(tmp_path) as served:
        yield served


@pytest.fixture
def requests_seen() -> Requests:
    return Requests()


def _context(browser: Browser, requests: Requests, **options: Any) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    context.set_default_timeout(15_000)
    context.on("request", requests)
    return context


@pytest.fixture
def page(browser: Browser, dash: Dash, requests_seen: Requests) -> Iterator[Page]:
    context = _context(browser, requests_seen)
    try:
        yield context.new_page()
    finally:
        context.close()
    assert requests_seen.external(dash.base) == []


# ---------------------------------------------------------------- helpers


def rows(page: Page, table: str | Locator) -> list[str]:
    """The text of each body row of a table (a selector or a locator), white space collapsed."""
    found = page.locator(table) if isinstance(table, str) else table
    return [" ".join(t.split()) for t in found.locator("tbody tr").all_inner_texts()]


def version_row(page: Page, number: int) -> str:
    """The model page's row of one version."""
    for row in rows(page, "#versions"):
        if re.search(rf"(^|\s)v{number}(\s|$)", row):
            return row
    raise AssertionError(f"v{number} is not listed: {rows(page, '#versions')}")


def confirm(page: Page, label: str) -> None:
    """Open an action's confirmation (a <details>) and press its Confirm button."""
    page.locator("details.action > summary", has_text=re.compile(rf"^{re.escape(label)}$")).click()
    page.get_by_role("button", name=f"Confirm: {label}").click()


def csrf_of(page: Page) -> str:
    value = page.locator("input[name=csrf]").first.get_attribute("value")
    assert value
    return value


def flash(page: Page) -> str:
    return page.locator("p.flash").inner_text()


def lineage_nodes(page: Page) -> dict[str, int]:
    """The versions the lineage graph draws: reference -> depth (-1 the parent, 0 the page's version, 1 a child)."""
    nodes = page.locator("#lineage .node")
    return {str(n.get_attribute("data-ref")): int(n.get_attribute("data-depth") or "") for n in nodes.all()}


def lineage_edges(page: Page) -> set[tuple[str, str]]:
    """The lines of the lineage graph: (parent, child)."""
    return {(str(e.get_attribute("data-parent")), str(e.get_attribute("data-child")))
            for e in page.locator("#lineage .edges path").all()}


# ---------------------------------------------------------------- 1. models


def test_models_page_lists_each_model_with_its_production_version_and_metric(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/"))
    assert page.title() == "Models · modelreg"
    page.keyboard.press("/")  # the search box, from the keyboard
    assert page.evaluate("document.activeElement.id") == "q"
    listed = {r.split()[0]: r for r in rows(page, "table.grid")}
    assert set(listed) == {"fire-detector", "smoke-seg", "shelf-classifier"}
    assert "✓ v3 mAP 0.7800" in listed["fire-detector"]
    assert "vision" in listed["fire-detector"] and "detection" in listed["fire-detector"]
    assert "✓ v2 accuracy 0.9000" in listed["shelf-classifier"]
    assert "✓ v1 iou 0.6000" in listed["smoke-seg"]
    fire = dash.reg.search_versions(model=FIRE, limit=1)
    cells = page.locator("table.grid tbody tr", has_text="fire-detector").locator("td").all_inner_texts()
    latest, best, count = cells[2:5]  # after project and production: latest, best, how many versions
    assert latest.strip() == f"v{fire.items[0].number}" and count.strip() == f"{fire.total:,}"
    assert best.split() == ["★", f"v{dash.reg.best_version(FIRE).number}"]
    page.get_by_role("link", name="fire-detector").click()
    assert page.url == dash.url("/m/vision/fire-detector")


def test_a_bad_filter_expression_shows_its_error_inline(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/"))
    page.fill("#q", "name contains")
    page.get_by_role("button", name="Search").click()
    error = page.locator("#q-error")
    assert error.is_visible()
    assert re.search(r"at character \d+", error.inner_text())
    assert page.locator("#q").input_value() == "name contains"  # the box keeps what was typed
    page.fill("#q", "name contains 'fire'")
    page.get_by_role("button", name="Search").click()
    assert page.locator("#q-error").count() == 0
    assert [r.split()[0] for r in rows(page, "table.grid")] == ["fire-detector"]


def test_a_project_facet_narrows_the_list(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/"))
    page.select_option("#project", "retail")
    page.get_by_role("button", name="Search").click()
    assert "project=retail" in page.url
    assert [r.split()[0] for r in rows(page, "table.grid")] == ["shelf-classifier"]
    page.select_option("#project", "vision")
    page.select_option("#task", "segmentation")
    page.get_by_role("button", name="Search").click()
    assert [r.split()[0] for r in rows(page, "table.grid")] == ["smoke-seg"]
    page.goto(dash.url("/?tag=team%3Dretail"))
    assert [r.split()[0] for r in rows(page, "table.grid")] == ["shelf-classifier"]


def test_the_next_page_keeps_the_filters(page: Page, dash: Dash) -> None:
    for n in range(55):
        dash.reg.create_model(f"lab/m{n:02d}", tags={"team": "r&d #2"})
    page.goto(dash.url("/"))
    page.fill("#tag", "team=r&d #2")
    page.get_by_role("button", name="Search").click()
    assert len(rows(page, "table.grid")) == 50
    page.get_by_role("link", name="Next page →").click()
    assert page.locator("#tag").input_value() == "team=r&d #2"
    assert [r.split()[0] for r in rows(page, "table.grid")] == [f"m{n}" for n in range(50, 55)]


# ---------------------------------------------------------------- 2. a model


def test_model_page_lists_versions_newest_first_with_aliases(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/m/vision/fire-detector"))
    numbers = [re.search(r"v(\d+)", r).group(1) for r in rows(page, "#versions")]  # type: ignore[union-attr]
    assert numbers == ["5", "4", "3", "2", "1"]
    assert version_row(page, 3).startswith("✓ v3") and "production" in version_row(page, 3)
    assert "staging" in version_row(page, 4) and "✓" not in version_row(page, 4)
    assert "★" in version_row(page, 5)  # best by map50
    assert "0.8800" in version_row(page, 5)  # the best metric's column
    assert page.locator("#versions .badge.protected", has_text="production").count() == 1
    timeline = page.locator("ol.timeline li").all_inner_texts()
    assert any("moved production: v1 → v3" in t for t in timeline), timeline
    assert any("moved staging: nothing → v4" in t for t in timeline), timeline
    assert any("moved production: nothing → v1" in t for t in timeline), timeline
    # Metric columns: pick two, remembered for the next visit.
    page.select_option("#col", ["map50", "recall"])
    page.get_by_role("button", name="Show", exact=True).click()
    header = page.locator("#versions thead th").all_text_contents()
    assert "mAP" in header and "recall" in header
    page.goto(dash.url("/m/vision/fire-detector"))
    assert "recall" in page.locator("#versions thead th").all_text_contents()


def test_the_model_chart_draws_versions_beyond_the_page(page: Page, dash: Dash) -> None:
    dash.reg.create_model("vision/many", best_metric="map50")
    for i in range(1, 56):  # more than a page of 50
        dash.reg.register_version("vision/many", files={"w.pt": b"%d" % i}, metrics={"map50": i / 100})
    dash.reg.archive("vision/many:2")
    page.goto(dash.url("/m/vision/many"))
    assert len(rows(page, "#versions")) == 50  # v55..v6 listed; v5..v1 on the next page
    island = json.loads(page.locator("figure.chart[data-chart=versions] script").inner_text())
    assert island["x"] == [n for n in range(1, 56) if n != 2]  # every version but the archived one
    assert island["series"]["map50"] == [n / 100 for n in island["x"]]
    caption = page.locator("figure.chart[data-chart=versions] figcaption").inner_text()
    assert "54 versions" in caption and "archived ones left out" in caption
    assert page.locator("figure.chart[data-chart=versions] .uplot canvas").count() == 1  # drawn by uPlot
    page.goto(dash.url("/m/vision/many?archived=true"))
    island = json.loads(page.locator("figure.chart[data-chart=versions] script").inner_text())
    assert island["x"] == list(range(1, 56))


def test_compare_ticked_versions_colours_the_differences(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/m/vision/fire-detector"))
    page.get_by_label("compare v2").check()
    page.get_by_role("button", name="Compare ticked").click()
    assert page.locator("h1").inner_text() == "pick two or more versions to compare"
    page.go_back()
    page.get_by_label("compare v2").check()
    page.get_by_label("compare v5").check()
    page.get_by_role("button", name="Compare ticked").click()
    assert page.url.startswith(dash.url("/compare?"))
    assert page.locator("h1").inner_text() == "Compare 2 versions"
    metrics = page.locator("table.compare").nth(0)
    cells = {name: metrics.locator("tbody tr", has=page.locator("th", has_text=name)).locator("td").nth(1)
             for name in ("mAP", "recall", "val_loss")}
    # Versions of one model read oldest first: v2 is the reference, v5's column shows what changed since.
    assert [h.split()[-1] for h in metrics.locator("thead th").all_text_contents()[1:]] == ["v2", "v5"]
    assert " ".join(cells["mAP"].inner_text().split()) == "0.8800 +0.1700"
    assert " ".join(cells["recall"].inner_text().split()) == "0.6500 −0.0400"
    assert " ".join(cells["val_loss"].inner_text().split()) == "1 −0.3"
    # Coloured by each metric's direction: more mAP is better, less recall worse, less loss better.
    assert [cells[n].get_attribute("class") for n in ("mAP", "recall", "val_loss")] == [
        "num better", "num worse", "num better"]
    red, green = (cells[n].evaluate("e => getComputedStyle(e).color") for n in ("recall", "mAP"))
    assert green != red
    ap = {r.split()[0]: r for r in rows(page, page.locator("table.compare").nth(1))}
    assert set(ap) == set(CLASS_AP) and ap["fire"].endswith("0.8000 +0.0300")
    params = {r.split()[0] for r in rows(page, page.locator("table.compare").nth(2))}
    assert params == {"lr"}  # identical parameters hidden
    page.get_by_role("button", name="Show identical").click()
    params = {r.split()[0] for r in rows(page, page.locator("table.compare").nth(2))}
    assert {"lr", "epochs", "imgsz"} <= params
    assert page.locator("figure.chart[data-chart=overlay] canvas").count() >= 1


def test_compare_adds_a_version_of_another_model_and_project(page: Page, dash: Dash) -> None:
    page.goto(dash.url(f"/compare?ref={FIRE}:2&ref={FIRE}:5"))
    page.get_by_label("Add a version").fill("retail/shelf-classifier:2")
    page.get_by_role("button", name="Add", exact=True).click()
    assert page.url == dash.url("/compare?ref=vision%2Ffire-detector%3A2&ref=vision%2Ffire-detector%3A5"
                                "&ref=retail%2Fshelf-classifier%3A2")
    assert page.locator("h1").inner_text() == "Compare 3 versions"
    header = [" ".join(h.split()) for h in page.locator("table.compare").nth(0).locator("thead th").all_inner_texts()]
    assert header[1:] == ["vision/fire-detector v2 ×", "vision/fire-detector v5 ×", "retail/shelf-classifier v2 ×"]
    accuracy = [r for r in rows(page, page.locator("table.compare").nth(0)) if r.startswith("accuracy")]
    assert accuracy == ["accuracy ↑ - - 0.9000"]
    assert page.get_by_label("Add a version").input_value() == ""
    # An alias of a version already compared adds nothing.
    page.get_by_label("Add a version").fill("retail/shelf-classifier@production")
    page.get_by_role("button", name="Add", exact=True).click()
    assert page.locator("h1").inner_text() == "Compare 3 versions"
    # References that name nothing are shown by the form, with what was typed; the comparison stays.
    for typed, says in (("retail/shelf-classifier:9", "retail/shelf-classifier has no version v9"),
                        ("nowhere/fire-detector:1", "project 'nowhere' does not exist"),
                        ("fire detector!", "")):
        page.get_by_label("Add a version").fill(typed)
        with page.expect_response(re.compile(r"/compare\?")) as answer:
            page.get_by_role("button", name="Add", exact=True).click()
        assert answer.value.status == 200, typed
        error = page.locator("#add-error[role=alert]")
        assert error.is_visible() and says in error.inner_text(), (typed, error.inner_text())
        assert page.get_by_label("Add a version").input_value() == typed
        assert page.get_by_label("Add a version").get_attribute("aria-invalid") == "true"
        assert page.locator("h1").inner_text() == "Compare 3 versions"
    # × leaves a version out again.
    page.get_by_role("link", name="leave vision/fire-detector v5 out").click()
    assert page.locator("h1").inner_text() == "Compare 2 versions"
    assert page.locator("table.compare").nth(0).locator("a.remove").count() == 0  # two is the least
    # The other tables say which model each column is of: the numbers alone would not.
    ap = page.locator("table.compare").nth(1)
    assert ap.locator("thead th").all_inner_texts()[1:] == ["vision/fire-detector v2", "retail/shelf-classifier v2"]


def test_roll_back_goes_through_its_plan(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/m/vision/fire-detector"))
    page.get_by_role("link", name="Roll back to v1").click()
    assert page.url.startswith(dash.url("/plan/rollback?"))
    plan = " ".join(page.locator("section.plan").inner_text().split())
    assert "production moves from v3 to v1." in plan
    assert dash.production() == 3  # the plan changes nothing
    page.get_by_role("button", name="Confirm").click()
    assert page.url == dash.url("/m/vision/fire-detector?done=rollback")
    assert flash(page) == "✓ Done."
    assert version_row(page, 1).startswith("✓ v1")
    assert any("rolled production back: v3 → v1" in t for t in page.locator("ol.timeline li").all_inner_texts())
    assert dash.production() == 1


def test_the_alias_timeline_shows_every_move(page: Page, dash: Dash) -> None:
    """58 moves: the model page lists the newest 20, its aliases page every one, 50 a page, newest first."""
    for i in range(54):  # canary: nothing → v1, then back and forth between v2 and v1 …
        dash.reg.set_alias(f"{FIRE}:{1 + i % 2 if i else 1}", "canary")
    page.goto(dash.url("/m/vision/fire-detector"))
    assert len(page.locator("ol.timeline li").all()) == 20
    assert "the newest 20 of 57 moves" in page.locator("#timeline-h").inner_text()
    assert "moved canary: v1 → v2" in " ".join(page.locator("ol.timeline li").first.inner_text().split())
    # production's last move (v1 → v3) is far down the timeline: its roll back stays in the Aliases table.
    production = page.locator("section[aria-labelledby=aliases-h] tbody tr", has_text="production")
    assert production.get_by_role("link", name="Roll back to v1").count() == 1
    dash.reg.delete_alias(FIRE, "canary")  # … and removed: the model page forgets its moves, the timeline not
    moves = 3 + 54 + 1  # production nothing → v1 → v3, staging nothing → v4, and canary's
    page.reload()
    assert len(page.locator("ol.timeline li").all()) == 3
    page.get_by_role("link", name="Every move →").click()
    assert page.url == dash.url("/m/vision/fire-detector/aliases")
    assert page.title() == "fire-detector · alias moves · modelreg"
    assert page.locator("nav.tabs a[aria-current=page]").inner_text() == "Alias moves"
    assert f"1–50 of {moves}" in page.locator("#moves-summary").inner_text()
    assert "removed since (canary)" in page.locator("#moves-summary").inner_text()
    first = rows(page, "#moves")
    assert len(first) == 50
    newest = page.locator("#moves tbody tr").first
    assert newest.locator("td").nth(0).inner_text().endswith(" UTC")
    assert [c.strip() for c in newest.locator("th, td").all_inner_texts()[1:]] == [
        "canary removed", "v2", "nothing", "delete", "alice", ""]
    assert newest.get_by_role("link", name="v2").get_attribute("href") == "/v/vision/fire-detector/2"
    second = page.locator("#moves tbody tr").nth(1)
    assert [c.strip() for c in second.locator("th, td").all_inner_texts()[1:5]] == ["canary removed", "v1", "v2",
                                                                                    "set"]
    assert page.get_by_role("link", name=re.compile("Roll back")).count() == 0  # not on this page's moves
    page.get_by_role("link", name="Older moves →").click()
    assert f"51–{moves} of {moves}" in page.locator("#moves-summary").inner_text()
    older = rows(page, "#moves")
    assert len(older) == moves - 50
    # The two pages hold every move once, newest first, as the SDK lists them.
    made = sorted((m for a in ("production", "staging", "canary") for m in dash.reg.alias_history(FIRE, a)),
                  key=lambda m: m.id, reverse=True)
    shown = [r.replace(" removed", "").split()[3:7] for r in first + older]  # after the date, time and UTC
    number = lambda n: "nothing" if n is None else f"v{n}"  # noqa: E731
    assert shown == [[m.alias, number(m.from_number), number(m.to_number), m.kind] for m in made]
    oldest = [" ".join(c.split()) for c in page.locator("#moves tbody tr").last.locator("th, td").all_inner_texts()]
    assert oldest[1:6] == ["production", "nothing", "v1", "set", "alice"]
    assert page.get_by_role("link", name="Older moves →").count() == 0
    # The latest move of production is here, with its roll back; it goes through the plan as on the model page.
    production = page.locator("#moves tbody tr", has=page.get_by_role("link", name="Roll back to v1"))
    assert [c.strip() for c in production.locator("th, td").all_inner_texts()[1:5]] == ["production", "v1", "v3",
                                                                                        "set"]
    page.get_by_role("link", name="← Newer moves").click()
    assert rows(page, "#moves") == first
    page.goto(dash.url("/m/vision/fire-detector/aliases?before=50"))
    page.get_by_role("link", name="Roll back to v1").click()
    assert "production moves from v3 to v1." in " ".join(page.locator("section.plan").inner_text().split())
    page.get_by_role("button", name="Confirm").click()
    assert dash.production() == 1
    page.goto(dash.url("/m/vision/fire-detector/aliases"))
    assert [c.strip() for c in page.locator("#moves tbody tr").first.locator("th, td").all_inner_texts()[1:5]] == [
        "production", "v3", "v1", "rollback"]
    # A position that is not one is the error page; a model with one move has one page.
    response = page.goto(dash.url("/m/vision/fire-detector/aliases?before=abc"))
    assert response is not None and response.status == 422
    assert "is not a move of the timeline" in page.locator("h1").inner_text()
    page.goto(dash.url("/m/vision/smoke-seg/aliases"))
    assert rows(page, "#moves")[0].split()[-4:] == ["nothing", "v1", "set", "alice"]
    assert page.locator("p.pager").count() == 0


# ---------------------------------------------------------------- 3. a version


def test_version_page_shows_metrics_classes_curves_files_and_events(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/v/vision/fire-detector/5"))
    assert page.locator("h1").inner_text().startswith("fire-detector v5")
    metrics = dict(zip(page.locator("dl.metrics dt").all_inner_texts(), page.locator("dl.metrics dd").all_inner_texts(),
                       strict=True))
    assert metrics == {"mAP": "0.8800", "recall": "0.6500", "val_loss": "1"}
    # Per class: sorted by class; a click on a column header sorts by it, a second click reverses.
    classes = lambda: [r.split()[0] for r in rows(page, "#classes")]  # noqa: E731
    assert classes() == ["fire", "person", "smoke"]
    page.locator("#classes thead button", has_text="AP").click()
    assert classes() == ["smoke", "fire", "person"]
    assert page.locator("#classes thead th", has_text="AP").get_attribute("aria-sort") == "ascending"
    page.locator("#classes thead button", has_text="AP").click()
    assert classes() == ["person", "fire", "smoke"]
    page.locator("#classes thead button", has_text="Class").click()
    assert classes() == ["fire", "person", "smoke"]
    # Training curves: uPlot drew them, with a legend entry per series.
    chart = page.locator("figure.chart[data-chart=curves]")
    assert chart.locator(".uplot canvas").count() == 1
    legend = chart.locator(".u-legend").inner_text()
    assert "train_loss" in legend and "map50" in legend
    assert "weights/best.pt" in page.locator("section[aria-labelledby=files-h]").inner_text()
    # A file downloads, and its bytes are the registered ones.
    with page.expect_download() as download:
        page.get_by_role("link", name="weights/best.pt").click()
    assert download.value.suggested_filename == "best.pt"
    assert Path(download.value.path()).read_bytes() == weights(5)
    assert "imgsz" in page.locator("section[aria-labelledby=meta-h] ul.tree").first.inner_text()
    events = rows(page, "section[aria-labelledby=events-h] table")
    assert any("version.registered" in e and "alice" in e for e in events), events
    # Lineage: v5 was fine-tuned from v4; each page links the other.
    assert lineage_nodes(page) == {"vision/fire-detector:v4": -1, "vision/fire-detector:v5": 0}
    page.get_by_role("link", name="vision/fire-detector:v4, parent of v5").click()
    assert page.url == dash.url("/v/vision/fire-detector/4")
    assert lineage_nodes(page) == {"vision/fire-detector:v4": 0, "vision/fire-detector:v5": 1}


def test_lineage_is_a_graph_of_parents_and_descendants(page: Page, dash: Dash) -> None:
    """v5 (from v4) has two children in other models, one in another project; one of them has a child."""
    dash.reg.register_version("vision/smoke-seg", files={"weights/best.pt": b"seg 3"}, parent=f"{FIRE}:5")
    dash.reg.register_version("retail/shelf-classifier", files={"model.pkl": b"shelf 3"}, parent=f"{FIRE}:5")
    dash.reg.register_version("vision/smoke-seg", files={"weights/best.pt": b"seg 4"}, parent="vision/smoke-seg:3")
    page.goto(dash.url("/v/vision/fire-detector/5"))
    graph = page.get_by_role("group", name="Lineage of vision/fire-detector:v5")
    assert graph.count() == 1
    assert lineage_nodes(page) == {"vision/fire-detector:v4": -1, "vision/fire-detector:v5": 0,
                                   "vision/smoke-seg:v3": 1, "retail/shelf-classifier:v3": 1, "vision/smoke-seg:v4": 2}
    assert lineage_edges(page) == {("vision/fire-detector:v4", "vision/fire-detector:v5"),
                                   ("vision/fire-detector:v5", "vision/smoke-seg:v3"),
                                   ("vision/fire-detector:v5", "retail/shelf-classifier:v3"),
                                   ("vision/smoke-seg:v3", "vision/smoke-seg:v4")}
    # Drawn as it reads: the parent above, the version highlighted, its two children side by side below it (the
    # version centred over them), the grandchild under its own parent.
    box = {ref: page.locator(f'#lineage .node[data-ref="{ref}"] rect').bounding_box() for ref in lineage_nodes(page)}
    parent, me = box["vision/fire-detector:v4"], box["vision/fire-detector:v5"]
    seg, shelf, grandchild = (box[r] for r in ("vision/smoke-seg:v3", "retail/shelf-classifier:v3",
                                                "vision/smoke-seg:v4"))
    assert parent and me and seg and shelf and grandchild
    assert parent["y"] < me["y"] < seg["y"] == shelf["y"] < grandchild["y"]
    assert seg["x"] + seg["width"] <= shelf["x"]  # no overlap
    middle = lambda b: b["x"] + b["width"] / 2  # noqa: E731
    assert middle(seg) < middle(me) < middle(shelf) and abs(middle(grandchild) - middle(seg)) < 1
    me_fill = page.locator("#lineage .node.self rect").evaluate("e => getComputedStyle(e).fill")
    assert me_fill != page.locator('#lineage a.node[data-ref="vision/smoke-seg:v3"] rect').evaluate(
        "e => getComputedStyle(e).fill")
    # Each node is a link, named with its relation, that the keyboard reaches; the other project's is spelled out.
    assert graph.get_by_role("link").count() == 4
    assert page.locator('#lineage a.node[data-ref="retail/shelf-classifier:v3"] text.model').text_content() == (
        "retail/shelf-clas…")
    child = page.get_by_role("link", name="vision/smoke-seg:v3, child of v5")
    child.focus()
    assert page.evaluate("document.activeElement.getAttribute('data-ref')") == "vision/smoke-seg:v3"
    page.keyboard.press("Enter")
    page.wait_for_url(dash.url("/v/vision/smoke-seg/3"))
    # A chain across two models: the detector's versions are its ancestors now, nearest first above it.
    assert lineage_nodes(page) == {"vision/fire-detector:v4": -2, "vision/fire-detector:v5": -1,
                                   "vision/smoke-seg:v3": 0, "vision/smoke-seg:v4": 1}
    assert page.get_by_role("link", name="vision/fire-detector:v4, parent of fire-detector v5").count() == 1
    assert page.locator("#lineage-more").count() == 0  # everything is drawn
    # A version with no lineage says so, and draws nothing.
    page.goto(dash.url("/v/vision/smoke-seg/1"))
    assert page.locator("#lineage").count() == 0
    assert page.locator("#lineage-none").inner_text() == "No parent and no descendants."


def test_the_lineage_graph_is_capped_and_says_how_many_more(browser: Browser, dash: Dash,
                                                            requests_seen: Requests) -> None:
    """smoke-seg v1 has 10 children, the first of them a chain of 35: 40 versions are drawn, the rest counted."""
    seg = "vision/smoke-seg"
    dash.reg.create_model("vision/tuned")
    for i in range(10):
        dash.reg.register_version("vision/tuned", files={"w": b"child %d" % i}, parent=f"{seg}:1")
    dash.reg.create_model("vision/chain")
    for i in range(35):
        dash.reg.register_version("vision/chain", files={"w": b"link %d" % i},
                                  parent="vision/tuned:1" if i == 0 else f"vision/chain:{i}")
    context = _context(browser, requests_seen, color_scheme="dark")
    page = context.new_page()
    try:
        page.goto(dash.url("/v/vision/smoke-seg/1"))
        drawn = lineage_nodes(page)
        assert len(drawn) == 40 and drawn["vision/smoke-seg:v1"] == 0
        assert sorted(r for r, d in drawn.items() if d == 1) == [f"vision/tuned:v{n}" for n in range(1, 8)]
        assert max(drawn.values()) == 33  # the chain, down to its 32nd link
        assert page.locator("#lineage text.note").all_text_contents() == ["+3 more"]
        assert " ".join(page.locator("#lineage-more").inner_text().split()) == (
            "40 of 46 versions are drawn: 6 more descendants are not. Open a version to see the lineage around it.")
        assert "0 ancestors, 45 descendants" in page.locator(".lineage-graph figcaption").inner_text()
        # The dark theme's colours: light text on a dark box.
        colours = page.locator('#lineage a.node[data-ref="vision/tuned:v1"]').evaluate(
            "a => [getComputedStyle(a.querySelector('rect')).fill, getComputedStyle(a.querySelector('.model')).fill]")
        assert colours == ["rgb(23, 28, 34)", "rgb(154, 164, 174)"]  # --soft, --muted of the dark theme
    finally:
        context.close()
    assert requests_seen.external(dash.base) == []


def test_unknown_pages_show_the_error_page(page: Page, dash: Dash) -> None:
    response = page.goto(dash.url("/v/vision/fire-detector/99"))
    assert response is not None and response.status == 404
    assert page.locator("section.error-page[role=alert]").count() == 1
    assert page.locator("h1").inner_text() == "vision/fire-detector has no version v99"
    assert page.locator("p.hint").inner_text() == "its newest is v5; see its versions on the page of fire-detector"
    response = page.goto(dash.url("/m/vision/no-such-model"))
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "model 'no-such-model' does not exist in project 'vision'"
    page.get_by_role("link", name="Models").last.click()
    assert page.url == dash.url("/")


def test_the_jump_box_opens_a_reference(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/"))
    page.fill("#jump", f"{FIRE}@staging")
    page.press("#jump", "Enter")
    page.wait_for_url(dash.url("/v/vision/fire-detector/4"))
    page.fill("#jump", "retail/shelf-classifier")
    page.press("#jump", "Enter")
    page.wait_for_url(dash.url("/m/retail/shelf-classifier"))


# ---------------------------------------------------------------- 4. alias moves


def test_activate_from_a_version_page(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/v/vision/fire-detector/5"))
    page.get_by_role("link", name="Activate…").click()
    plan = " ".join(page.locator("section.plan").inner_text().split())
    assert "production moves from v3 to v5." in plan
    page.get_by_role("button", name="Confirm").click()
    assert page.url == dash.url("/m/vision/fire-detector?done=activate")
    assert version_row(page, 5).startswith("✓ v5")
    assert not version_row(page, 3).startswith("✓")
    assert dash.production() == 5
    page.goto(dash.url("/v/vision/fire-detector/5"))  # now production: no Activate, and no Delete
    assert page.get_by_role("link", name="Activate…").count() == 0


def test_set_and_remove_an_alias(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/v/vision/fire-detector/2"))
    page.fill("#alias", "canary")
    page.get_by_role("button", name="Set…").click()
    assert "canary moves from nothing to v2." in " ".join(page.locator("section.plan").inner_text().split())
    page.get_by_role("button", name="Confirm").click()
    assert "canary" in version_row(page, 2)
    assert dash.reg.get_version(f"{FIRE}@canary").number == 2
    row = page.locator("section[aria-labelledby=aliases-h] tbody tr", has_text="canary")
    row.get_by_role("link", name="Remove").click()
    assert "canary is removed (it points to v2)." in " ".join(page.locator("section.plan").inner_text().split())
    page.get_by_role("button", name="Confirm").click()
    assert page.url == dash.url("/m/vision/fire-detector?done=delete_alias")
    assert "canary" not in version_row(page, 2)
    with pytest.raises(NotFound):
        dash.reg.get_version(f"{FIRE}@canary")


def test_a_failing_promotion_gate_needs_force(page: Page, dash: Dash) -> None:
    # The gate is set through the model page's policies form.
    page.goto(dash.url("/m/vision/fire-detector"))
    confirm_policies = page.locator("details.action > summary", has_text="Edit policies")
    confirm_policies.click()
    page.get_by_label("Promotion gate").fill("metrics.map50 >= 0.8")
    page.get_by_role("button", name="Confirm: save policies").click()
    assert page.url == dash.url("/m/vision/fire-detector?done=policies")
    assert "metrics.map50 >= 0.8" in page.locator("section[aria-labelledby=policies-h]").inner_text()
    assert dash.reg.get_model(FIRE).policies.promotion_gate == "metrics.map50 >= 0.8"

    page.goto(dash.url("/v/vision/fire-detector/2"))
    page.get_by_role("button", name="Promote…").click()
    assert page.url.startswith(dash.url("/plan/promote?"))
    gate = page.locator("section.plan h3").inner_text()
    assert "metrics.map50 >= 0.8" in gate and gate.endswith("fails")
    terms = rows(page, "section.plan table")
    assert len(terms) == 1 and terms[0].startswith("metrics.map50 >= 0.8 fail"), terms
    assert "production moves from v3 to v2." in " ".join(page.locator("section.plan ul").inner_text().split())
    page.get_by_role("button", name="Confirm").click()  # without Force
    assert page.locator("section.error-page").count() == 1
    assert "fails the gate" in page.locator("h1").inner_text()
    assert "gate_failed" in page.locator("section.error-page").inner_text()
    assert dash.production() == 3
    page.go_back()
    page.get_by_label("Force past the failing gate (the force is recorded)").check()
    page.get_by_role("button", name="Confirm").click()
    assert page.url == dash.url("/m/vision/fire-detector?done=promote")
    assert version_row(page, 2).startswith("✓ v2")
    assert dash.production() == 2
    forced = list(dash.reg.events(model=FIRE, action="alias.promoted"))
    assert forced and forced[0].after and forced[0].after.get("forced") is True


def test_a_passing_promotion_archives_the_previous_version(page: Page, dash: Dash) -> None:
    dash.reg.update_model(FIRE, promotion_gate="metrics.map50 >= 0.8")
    page.goto(dash.url("/v/vision/fire-detector/5"))
    page.get_by_role("button", name="Promote…").click()
    assert page.locator("section.plan h3").inner_text().endswith("passes")
    assert "v3 is archived" in page.locator("section.plan ul").inner_text()
    assert page.get_by_label(re.compile("Force")).count() == 0
    page.get_by_role("button", name="Confirm").click()
    assert version_row(page, 5).startswith("✓ v5")
    assert dash.version(3).archived
    assert "v3" not in " ".join(rows(page, "#versions")).split()  # archived versions are hidden …
    page.get_by_label("show archived").check()
    page.get_by_role("button", name="Show", exact=True).click()
    assert "archived" in version_row(page, 3)  # … until asked for


# ---------------------------------------------------------------- 5. version actions


def test_pin_and_unpin(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/v/vision/fire-detector/2"))
    confirm(page, "Pin")
    assert page.url == dash.url("/v/vision/fire-detector/2?done=pin")
    assert flash(page) == "✓ Done."
    assert page.locator("h1 [title=pinned]").count() == 1
    assert dash.version(2).pinned
    assert "it is pinned — unpin it first" in page.locator("#no-delete").inner_text()
    confirm(page, "Unpin")
    assert not dash.version(2).pinned
    assert page.locator("details.action > summary", has_text="Delete").count() == 1


def test_archive_and_unarchive(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/v/vision/fire-detector/2"))
    confirm(page, "Archive")
    assert "archived" in page.locator("h1").inner_text()
    assert dash.version(2).archived
    page.goto(dash.url("/m/vision/fire-detector"))
    assert "v2" not in " ".join(rows(page, "#versions")).split()
    page.goto(dash.url("/v/vision/fire-detector/2"))
    confirm(page, "Unarchive")
    assert not dash.version(2).archived


def test_mark_best(page: Page, dash: Dash) -> None:
    assert dash.reg.best_version(FIRE).number == 5
    page.goto(dash.url("/v/vision/fire-detector/2"))
    confirm(page, "Mark best")
    assert page.locator("h1 [title=best]").count() == 1
    assert page.locator("details.action > summary", has_text="Mark best").count() == 0
    assert dash.reg.best_version(FIRE).number == 2
    page.goto(dash.url("/"))
    assert "★ v2" in next(r for r in rows(page, "table.grid") if r.startswith("fire-detector"))


def test_edit_notes_and_tags(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/v/vision/fire-detector/2"))
    page.locator("details.action > summary", has_text="Edit notes").click()
    assert page.locator("#notes").input_value() == "run 2"
    page.fill("#notes", "re-evaluated on the night images\n<b>not bold</b>")
    page.get_by_role("button", name="Confirm: save notes").click()
    assert page.url == dash.url("/v/vision/fire-detector/2?done=notes")
    assert dash.version(2).notes == "re-evaluated on the night images\n<b>not bold</b>"
    assert "<b>not bold</b>" in page.locator("dd.prose").inner_text()  # shown as text, never as markup

    page.locator("details.action > summary", has_text="Edit tags").click()
    assert page.locator("#tags").input_value().splitlines() == ["team=vision", "night=yes"]
    page.fill("#tags", "team=vision\nstage=beta\n")  # night removed, stage added
    page.get_by_role("button", name="Confirm: save tags").click()
    assert dash.version(2).tags == {"team": "vision", "stage": "beta"}
    assert page.locator("dl.facts .badge").all_inner_texts() == ["team=vision", "stage=beta"]
    page.locator("details.action > summary", has_text="Edit tags").click()
    page.fill("#tags", "no equals sign")
    page.get_by_role("button", name="Confirm: save tags").click()
    assert "is not key=value" in page.locator("h1").inner_text()
    assert dash.version(2).tags == {"team": "vision", "stage": "beta"}


def test_delete_a_version_nothing_holds(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/v/vision/fire-detector/2"))
    confirm(page, "Delete")
    assert page.url == dash.url("/m/vision/fire-detector?done=delete_version")
    assert "v2" not in " ".join(rows(page, "#versions")).split()
    with pytest.raises(NotFound):
        dash.version(2)


def test_an_export_of_weights_that_are_not_pytorch_says_why(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/v/vision/fire-detector/2"))
    assert rows(page, "#jobs table") == ["No background exports yet."]
    page.locator("details.action > summary", has_text="Export…").click()
    page.select_option("#x-format", "onnx")
    page.fill("#x-shape", "1,3,640,640")
    with page.expect_response(dash.url("/do/export")) as answer:
        page.get_by_role("button", name="Confirm: start the export").click()
    assert answer.value.status == 422
    assert "is not a PyTorch file" in page.locator("section.error-page h1").inner_text()
    assert dash.reg.list_jobs(f"{FIRE}:2") == []


# ---------------------------------------------------------------- 6. refusals


def test_the_production_version_cannot_be_deleted(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/v/vision/fire-detector/3"))
    assert page.locator("details.action > summary", has_text="Delete").count() == 0
    reason = page.locator("#no-delete").inner_text()
    assert "production points to it — move it first" in reason
    response = page.request.post(dash.url("/do/delete_version"), form={"csrf": csrf_of(page), "ref": f"{FIRE}:3"})
    assert response.status == 409
    assert "production" in response.text() and "error-page" in response.text()
    assert dash.version(3).number == 3


def test_posts_without_the_csrf_token_are_refused(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/v/vision/fire-detector/2"))
    for form in ({"ref": f"{FIRE}:2"}, {"ref": f"{FIRE}:2", "csrf": "0" * 32}, {"ref": f"{FIRE}:2", "csrf": ""}):
        response = page.request.post(dash.url("/do/pin"), form=form)
        assert response.status == 403, form
        assert "CSRF" in response.text()
    response = page.request.post(dash.url("/plan/activate"), form={"ref": f"{FIRE}:5"})
    assert response.status == 403
    assert not dash.version(2).pinned and dash.production() == 3
    # The same form with the page's token goes through (the refusals above were for the token alone).
    response = page.request.post(dash.url("/do/pin"), form={"ref": f"{FIRE}:2", "csrf": csrf_of(page)})
    assert response.ok and dash.version(2).pinned


def test_cross_site_forms_are_refused(page: Page, dash: Dash, requests_seen: Requests) -> None:
    page.goto(dash.url("/v/vision/fire-detector/2"))
    token = csrf_of(page)  # even a page that knew the token is refused
    response = page.request.post(dash.url("/do/pin"), form={"ref": f"{FIRE}:2", "csrf": token},
                                 headers={"Origin": "http://evil.example"})
    assert response.status == 403 and "cross-site" in response.text()
    assert response.headers["content-type"].startswith("text/html")  # the dashboard's error page, not JSON
    # A page of another site that submits a form to the dashboard as soon as it loads …
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    other_port = sock.getsockname()[1]
    sock.close()
    forged = (f'<form method="post" action="{dash.url("/do/pin")}"><input name="csrf" value="{token}">'
              f'<input name="ref" value="{FIRE}:2"></form><script>document.forms[0].submit()</script>')
    # … on another site, and on another port of this host (same site: the browser sends the cookie there).
    for origin in ("http://evil.example", f"http://127.0.0.1:{other_port}"):
        requests_seen.allowed.append(origin + "/")
        page.route(f"{origin}/**", lambda route: route.fulfill(status=200, content_type="text/html", body=forged))
        with page.expect_response(dash.url("/do/pin")) as answer:
            page.goto(f"{origin}/prize.html")
        assert answer.value.status == 403, origin
        assert answer.value.request.headers.get("origin") == origin
        page.wait_for_load_state()
    assert not dash.version(2).pinned
    assert not [e for e in dash.reg.events(model=FIRE, action="version.pinned")]


# ---------------------------------------------------------------- 7. tokens


@pytest.fixture
def tokened(tmp_path: Path) -> Iterator[Dash]:
    with dashboard(tmp_path, tokens={"ann": "viewer", "ed": "editor", "root": "admin"}) as served:
        yield served


def sign_in(page: Page, base: str, secret: str) -> None:
    page.goto(base + "/")
    page.wait_for_url(re.compile(r"/signin\?next="))
    page.fill("#token", secret)
    page.get_by_role("button", name="Sign in").click()


def test_a_server_with_tokens_needs_signing_in(browser: Browser, tokened: Dash, requests_seen: Requests) -> None:
    context = _context(browser, requests_seen)
    page = context.new_page()
    html: list[str] = []
    try:
        page.goto(tokened.url("/m/vision/fire-detector"))
        assert page.url == tokened.url("/signin?next=%2Fm%2Fvision%2Ffire-detector")
        assert page.locator("h1").inner_text() == "Sign in"
        page.fill("#token", "mr_not-a-real-token")
        page.get_by_role("button", name="Sign in").click()
        assert page.locator("p.error[role=alert]").is_visible()
        html.append(page.content())
        # The viewer signs in and lands where it was going.
        page.fill("#token", tokened.secrets["ann"])
        page.get_by_role("button", name="Sign in").click()
        assert page.url == tokened.url("/m/vision/fire-detector")
        assert "ann · viewer" in page.locator(".who").inner_text()
        cookie = next(c for c in context.cookies() if c["name"] == "modelreg_session")
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
        assert tokened.secrets["ann"] not in cookie["value"]  # signed and encoded, not the bare token
        assert page.evaluate("document.cookie") == ""  # a script cannot read the session
        html.append(page.content())
        assert page.get_by_role("link", name=re.compile("Roll back")).count() == 0
        assert page.get_by_role("link", name="Remove").count() == 0
        assert page.locator("details.action").count() == 0  # no Edit policies
        page.goto(tokened.url("/v/vision/fire-detector/2"))
        html.append(page.content())
        assert "v2" in page.locator("h1").inner_text()
        for name in ("Activate…", "Promote…", "Set…"):
            assert page.get_by_role("link", name=name).count() + page.get_by_role("button", name=name).count() == 0
        assert page.locator("section.toolbar details.action").count() == 0  # no Pin, Archive, Mark best, Delete
        assert page.locator("details.action > summary", has_text="Edit").count() == 0
        # A crafted POST with the session's own CSRF token is refused by the service's permission check.
        response = page.request.post(tokened.url("/do/pin"), form={"ref": f"{FIRE}:2", "csrf": csrf_of(page)})
        assert response.status == 403 and "viewer" in response.text()
        html.append(response.text())
        assert not tokened.version(2).pinned
        for path in ("/", "/activity", "/projects", f"/compare?ref={FIRE}:1&ref={FIRE}:2",
                     f"/plan/activate?ref={FIRE}:5"):
            page.goto(tokened.url(path))
            html.append(page.content())
        assert "403" in page.locator("section.error-page").inner_text()  # the viewer may not plan a move
        # Sign out: back to the sign-in page, and the pages need signing in again.
        page.goto(tokened.url("/"))
        page.get_by_role("button", name="Sign out").click()
        assert page.url == tokened.url("/signin")
        html.append(page.content())
        page.goto(tokened.url("/v/vision/fire-detector/2"))
        assert page.url.startswith(tokened.url("/signin?next="))
        response = page.request.get(tokened.url("/file/vision/fire-detector/2/weights/best.pt"), max_redirects=0)
        assert response.status == 303
        for text in html:
            assert all(secret not in text for secret in tokened.secrets.values())
    finally:
        context.close()
    assert requests_seen.external(tokened.base) == []


def test_an_editor_may_pin_but_not_move_production(browser: Browser, tokened: Dash, requests_seen: Requests) -> None:
    context = _context(browser, requests_seen)
    page = context.new_page()
    try:
        sign_in(page, tokened.base, tokened.secrets["ed"])
        assert "ed · editor" in page.locator(".who").inner_text()
        page.goto(tokened.url("/v/vision/fire-detector/5"))
        assert page.get_by_role("link", name="Activate…").count() == 0  # production is protected
        confirm(page, "Pin")
        assert tokened.version(5).pinned
        event = next(iter(tokened.reg.events(model=FIRE, action="version.pinned")))
        assert event.actor == "ed"
        response = page.request.post(tokened.url("/plan/activate"), form={"ref": f"{FIRE}:5", "csrf": csrf_of(page)})
        assert response.status == 403
        assert tokened.production() == 3
        # Policies: an editor changes the best metric; the gate needs an admin, and the page says so.
        page.goto(tokened.url("/m/vision/fire-detector"))
        page.locator("details.action > summary", has_text="Edit policies").click()
        page.get_by_label("Best metric").fill("recall")
        page.get_by_role("button", name="Confirm: save policies").click()
        assert page.url == tokened.url("/m/vision/fire-detector?done=policies")
        assert tokened.reg.get_model(FIRE).policies.best_metric == "recall"
        page.locator("details.action > summary", has_text="Edit policies").click()
        page.get_by_label("Promotion gate").fill("metrics.map50 >= 0.5")
        with page.expect_response(re.compile(r"/policies/")) as answer:
            page.get_by_role("button", name="Confirm: save policies").click()
        assert answer.value.status == 403
        assert "admin" in page.locator("section.error-page").inner_text()
        assert tokened.reg.get_model(FIRE).policies.promotion_gate is None
    finally:
        context.close()


def test_a_revoked_token_ends_its_session(browser: Browser, tokened: Dash, requests_seen: Requests) -> None:
    context = _context(browser, requests_seen)
    page = context.new_page()
    try:
        page.goto(tokened.url("/signin?next=%2F%09%2Fevil.example"))  # "/\t/evil.example": browsers drop the tab
        page.fill("#token", tokened.secrets["root"])
        page.get_by_role("button", name="Sign in").click()
        assert page.url == tokened.url("/")  # never sent to another site after signing in
        assert "root · admin" in page.locator(".who").inner_text()
        page.goto(tokened.url("/activity"))
        assert page.locator("h1").inner_text() == "Activity"
        tokened.reg.revoke_token("root")  # by another process: the very next request sees it
        page.goto(tokened.url("/activity"))
        assert page.url == tokened.url("/signin?next=%2Factivity")
    finally:
        context.close()


# ---------------------------------------------------------------- 8. activity and projects


def test_activity_filters_by_action(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/activity"))
    assert len(rows(page, "table.events")) > 10
    page.select_option("#f-action", "alias.set")
    page.get_by_role("button", name="Filter").click()
    assert "action=alias.set" in page.url
    actions = page.locator("table.events tbody td:nth-child(3)").all_inner_texts()
    assert actions and set(actions) == {"alias.set"}
    where = " ".join(rows(page, "table.events"))
    assert "staging" in where and "production" in where
    page.fill("#f-project", "retail")
    page.fill("#f-model", "shelf-classifier")
    page.get_by_role("button", name="Filter").click()
    shelf = rows(page, "table.events")
    assert shelf and all("retail/shelf-classifier" in r and "alias.set" in r for r in shelf), shelf
    page.goto(dash.url("/activity?action=version.deleted"))
    assert rows(page, "table.events") == ["No events."]


def test_projects_page_shows_label_sets_and_their_history(page: Page, dash: Dash) -> None:
    page.goto(dash.url("/projects"))
    cards = {c.split("\n")[0]: c for c in page.locator("section.card").all_inner_texts()}
    assert {"vision", "retail"} <= set(cards)
    vision = page.locator("section.card", has=page.get_by_role("heading", name="vision"))
    assert vision.locator(".badge").all_inner_texts() == ["fire", "smoke", "person", "vehicle"]
    assert "Camera network detectors" in cards["vision"]
    assert "labels fire, smoke, person → fire, smoke, person, vehicle" in " ".join(cards["vision"].split())
    retail = page.locator("section.card", has=page.get_by_role("heading", name="retail"))
    assert retail.locator(".badge").all_inner_texts() == ["shelf", "gap"]
    retail.get_by_role("link", name="retail").click()
    assert [r.split()[0] for r in rows(page, "table.grid")] == ["shelf-classifier"]


# ---------------------------------------------------------------- 9. nothing from other hosts


def test_api_docs_load_from_the_server_itself(page: Page, dash: Dash, requests_seen: Requests) -> None:
    page.goto(dash.url("/docs"))
    page.locator(".swagger-ui .info .title", has_text="modelreg").wait_for()
    page.locator(".opblock-tag", has_text=re.compile("versions", re.I)).first.wait_for()
    assert any(u.endswith("/api/v1/openapi.json") for u in requests_seen.urls)
    assert any("/ui/static/vendor/swagger-ui-bundle" in u for u in requests_seen.urls)
    assert all(u.startswith(dash.base + "/") for u in requests_seen.urls), requests_seen.urls


def test_no_page_of_the_dashboard_asks_another_host(page: Page, dash: Dash, requests_seen: Requests) -> None:
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on("pageerror", lambda error: failed.append(f"script error: {error}"))
    for path in ("/", "/?project=vision", "/m/vision/fire-detector", "/m/vision/fire-detector/aliases",
                 "/v/vision/fire-detector/3",
                 "/v/vision/fire-detector/3/jobs", f"/compare?ref={FIRE}:1&ref={FIRE}:5", "/activity", "/projects",
                 f"/plan/activate?ref={FIRE}:5", "/signin", "/docs"):
        response = page.goto(dash.url(path))
        assert response is not None and response.ok, path
        page.wait_for_load_state("networkidle")
    assert failed == []
    assert len({u for u in requests_seen.urls if "/ui/static/" in u}) >= 5  # css, htmx, uPlot, app.js, swagger
    assert all(u.startswith(dash.base + "/") for u in requests_seen.urls), requests_seen.urls


# ---------------------------------------------------------------- 10. without JavaScript


def test_the_dashboard_works_without_javascript(browser: Browser, dash: Dash, requests_seen: Requests) -> None:
    context = _context(browser, requests_seen, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(dash.url("/"))
        assert "✓ v3 mAP 0.7800" in " ".join(rows(page, "table.grid"))
        page.get_by_role("link", name="fire-detector").click()
        assert version_row(page, 3).startswith("✓ v3")
        page.get_by_role("link", name="v5", exact=True).first.click()
        assert page.url == dash.url("/v/vision/fire-detector/5")
        assert lineage_nodes(page) == {"vision/fire-detector:v4": -1, "vision/fire-detector:v5": 0}  # inline SVG
        assert page.locator("dl.metrics").inner_text().split()[:2] == ["mAP", "0.8800"]
        assert rows(page, "#classes")[0].startswith("fire")
        assert "turn on JavaScript" in page.locator("figure.chart[data-chart=curves]").inner_text()
        confirm(page, "Pin")  # a <details> opens without a script
        assert dash.version(5).pinned
        page.get_by_role("link", name="Activate…").click()
        page.get_by_role("button", name="Confirm").click()
        assert version_row(page, 5).startswith("✓ v5")
        assert dash.production() == 5
        page.get_by_label("compare v4").check()
        page.get_by_label("compare v5").check()
        page.get_by_role("button", name="Compare ticked").click()
        assert page.locator("h1").inner_text() == "Compare 2 versions"
        page.get_by_label("Add a version").fill("vision/smoke-seg:1")
        page.get_by_role("button", name="Add", exact=True).click()
        assert page.locator("h1").inner_text() == "Compare 3 versions"
        page.goto(dash.url("/v/vision/fire-detector/5"))
        page.get_by_role("link", name="vision/fire-detector:v4, parent of v5").click()
        assert page.url == dash.url("/v/vision/fire-detector/4")
        page.goto(dash.url("/m/vision/fire-detector"))
        page.get_by_role("link", name="Every move →").click()
        assert len(rows(page, "#moves")) == 4
    finally:
        context.close()
    assert requests_seen.external(dash.base) == []


def test_every_route_of_the_dashboard_is_walked_here() -> None:
    """The routes this module walks are all the dashboard has: a new page or action fails here until a test
    above visits it (and this list names it). The inference pages are walked in test_dashboard_inference.py."""
    from modelreg.server import ui
    from modelreg.server.ui import actions, inferences, pages

    routes = sorted(f"{sorted(getattr(r, 'methods', ''))[0]} {getattr(r, 'path', '')}"
                    for module in (ui, pages, actions, inferences) for r in module.router.routes)
    assert routes == [
        "GET /", "GET /activity", "GET /compare", "GET /file/{project}/{model}/{number}/{path:path}", "GET /go",
        "GET /i/{request_id:path}", "GET /m/{project}/{model}", "GET /m/{project}/{model}/aliases",
        "GET /m/{project}/{model}/inferences",
        "GET /plan/{kind}", "GET /projects", "GET /signin", "GET /v/{project}/{model}/{number}",
        "GET /v/{project}/{model}/{number}/jobs", "POST /do/{action}", "POST /feedback", "POST /plan/{kind}",
        "POST /policies/{project}/{model}", "POST /signin", "POST /signout"]


# ---------------------------------------------------------------- the daily loop, end to end


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning")
def test_the_daily_loop_from_the_browser_alone(page: Page, dash: Dash, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Find a model, see which version is production and why, compare two, promote with the gate's verdict
    first, roll back, export to ONNX in the background and download the file — each step a click."""
    import hashlib

    from tests.test_export import SIGNATURE, weights

    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the export's children import tests.export_models
    model = "vision/classifier"
    for accuracy in (0.81, 0.86):
        dash.reg.register_version(model, files={"weights/best.pt": weights(tmp_path)}, signature=SIGNATURE,
                                  metrics={"accuracy": accuracy})
    dash.reg.update_model(model, best_metric="accuracy", promotion_gate="metrics.accuracy >= 0.85")
    # find it
    page.goto(dash.url("/"))
    page.fill("#q", "name contains 'classif'")
    page.select_option("#project", "vision")
    page.get_by_role("button", name="Search").click()
    assert [r.split()[0] for r in rows(page, "table.grid")] == ["classifier"]
    page.get_by_role("link", name="classifier", exact=True).click()
    # production is v1 (the first version becomes production), with its metric beside it
    production_row = page.locator("#versions tbody tr", has=page.locator("span.ok"))
    assert production_row.locator("th").inner_text().split()[:2] == ["✓", "v1"]
    # compare the two
    page.get_by_label("compare v1").check()
    page.get_by_label("compare v2").check()
    page.get_by_role("button", name="Compare ticked").click()
    assert "0.8600 +0.0500" in " ".join(page.locator("table.compare").nth(0).inner_text().split())
    # promote v2: the plan and the gate's verdict come first
    page.goto(dash.url("/v/vision/classifier/2"))
    page.get_by_role("button", name="Promote…").click()
    assert "production moves from v1 to v2" in " ".join(page.locator("section.plan").inner_text().split())
    assert "passes" in page.locator("section.plan h3").inner_text()
    page.get_by_role("button", name="Confirm").click()
    assert dash.production("vision/classifier") == 2
    # roll back
    page.get_by_role("link", name="Roll back to v1").click()
    page.get_by_role("button", name="Confirm").click()
    assert dash.production("vision/classifier") == 1
    # export v1 to ONNX in the background, then download the file
    page.goto(dash.url("/v/vision/classifier/1"))
    page.locator("details.action > summary", has_text="Export…").click()
    page.select_option("#x-format", "onnx")
    page.get_by_role("button", name="Confirm: start the export").click()
    job = dash.reg.list_jobs(f"{model}:1")[0]
    assert dash.reg.wait_job(job.id, timeout=240).status == "done"
    page.reload()
    link = page.locator("section[aria-labelledby='exports-h'] a[download]").first
    assert link.inner_text().endswith(".onnx")
    with page.expect_download() as download:
        link.click()
    data = Path(download.value.path()).read_bytes()
    stored = dash.reg.list_exports(f"{model}:1")[0].files
    onnx = next(a for a in stored if a.path.endswith(".onnx"))
    assert f"sha256:{hashlib.sha256(data).hexdigest()}" == onnx.digest and len(data) == onnx.size
