"""Screenshots of the dashboard for docs/dashboard.md, over a demo registry.

    python bench/dashboard_screenshots.py [--out docs/images]

Builds a demo registry in a scratch folder through the SDK (two projects, three models, a detector with six
trained versions, aliases moved, a promotion gate, a day of inference records with a few corrections), serves
it on a free loopback port as ``modelreg serve`` does, opens each page in Chromium (``/usr/bin/chromium``,
driven by Playwright) at 1280 px wide and saves ``dashboard-<page>.png`` under ``--out``.
Not a test: run it again when a page changes.
"""

from __future__ import annotations

import argparse
import math
import random
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from playwright.sync_api import Page, sync_playwright

import modelreg
from modelreg.config import Settings
from modelreg.registry import Registry
from modelreg.server import create_app

CHROMIUM = "/usr/bin/chromium"
WIDTH = 1280
DETECTOR = "embereye/fire-detector"
# (page name, path, how much of the page: None for all of it, the height in pixels, or a CSS selector of one part)
PAGES: list[tuple[str, str, int | str | None]] = [
    ("models", "/", None),
    ("model", f"/m/{DETECTOR}", 1500),
    ("version", f"/v/{DETECTOR}/5", 1700),
    ("lineage", f"/v/{DETECTOR}/5", "section[aria-labelledby=lineage-h]"),
    ("aliases", f"/m/{DETECTOR}/aliases", None),
    ("inferences", f"/m/{DETECTOR}/inferences", 1100),
    ("inference", "/i/cam12-000002", None),
    ("compare", f"/compare?ref={DETECTOR}:3&ref={DETECTOR}:5&ref={DETECTOR}:6", 1500),
    ("plan", f"/plan/promote?model={DETECTOR}&src=6&dst=production", None),
    ("activity", "/activity", 1000),
    ("projects", "/projects", None),
    ("signin", "/signin", 600),
]


def build_demo(reg: Registry, lead: Registry) -> None:
    """A registry as a team would have it after a few weeks of training (``lead`` moves the aliases)."""
    reg.create_project("embereye", labels=["fire", "smoke"], description="Wildfire cameras")
    reg.update_project("embereye", labels=["fire", "smoke", "person"])
    reg.create_project("retail", labels=["shelf", "gap", "price-tag"], description="Store shelf audits")
    reg.create_model(DETECTOR, task="detection", baseline="yolov8n", best_metric="map50",
                     description="Fire, smoke and people in the tower cameras' frames")
    runs = [(0.612, 0.58, "first baseline"), (0.684, 0.63, "more night images"), (0.731, 0.69, "mosaic off"),
            (0.748, 0.70, "imgsz 800"), (0.802, 0.74, "relabelled smoke"), (0.826, 0.77, "longer schedule")]
    for number, (map50, recall, note) in enumerate(runs, start=1):
        epochs = 40 + 10 * number
        reg.register_version(
            DETECTOR, files={"weights/best.pt": b"demo weights %d" % number * 4096,
                             "weights/last.pt": b"demo last %d" % number * 4096, "args.yaml": b"imgsz: 640\n"},
            metrics={"map50": map50, "map50_95": map50 * 0.62, "precision": recall + 0.08, "recall": recall,
                     "val_loss": round(1.9 - map50, 4)},
            class_metrics=[
                {"class_name": "fire", "ap": map50 + 0.05, "precision": 0.88, "recall": recall + 0.05,
                 "training_count": 4210, "validation_count": 610},
                {"class_name": "smoke", "ap": map50 - 0.09, "precision": 0.74, "recall": recall - 0.1,
                 "training_count": 2980, "validation_count": 402},
                {"class_name": "person", "ap": map50 + 0.02, "precision": 0.86, "recall": recall,
                 "training_count": 1630, "validation_count": 255}],
            epochs=[{"epoch": e, "train_loss": 2.4 * math.exp(-e / 12) + 0.35,
                     "val_loss": 2.5 * math.exp(-e / 14) + 0.5, "map50": map50 * (1 - math.exp(-e / 9))}
                    for e in range(epochs)],
            params={"epochs": epochs, "batch_size": 32, "imgsz": 640, "lr0": 0.01, "optimizer": "SGD",
                    "mosaic": number != 3, "pretrained": "yolov8n.pt"},
            dataset={"name": "embereye-frames", "version": f"2025.{number}", "train_count": 8820,
                     "val_count": 1267, "classes": ["fire", "smoke", "person"]},
            training={"duration_s": 1800 + 420 * number, "hardware": "1x L4"},
            notes=note, tags={"team": "vision", "camera": "tower"},
            parent=f"{DETECTOR}:{number - 1}" if number > 1 else None)  # each run fine-tunes the one before
    lead.activate(f"{DETECTOR}:3")
    lead.activate(f"{DETECTOR}:5")
    reg.set_alias(f"{DETECTOR}:6", "staging")
    lead.update_model(DETECTOR, promotion_gate="metrics.map50 >= 0.8 and delta.class_ap.min >= -0.02")
    lead.pin(f"{DETECTOR}:3")
    reg.create_model("embereye/smoke-segmenter", task="segmentation", baseline="yolov8n-seg", best_metric="iou")
    for number in (1, 2):  # the segmenter started from the detector's v5 weights
        reg.register_version("embereye/smoke-segmenter", files={"weights/best.pt": b"seg %d" % number * 2048},
                             metrics={"iou": 0.55 + number / 20, "dice": 0.66 + number / 25},
                             parent=f"{DETECTOR}:5" if number == 1 else "embereye/smoke-segmenter:1")
    reg.create_model("retail/shelf-classifier", task="classification", baseline="resnet50", best_metric="accuracy")
    for number in (1, 2, 3):
        reg.register_version("retail/shelf-classifier", files={"model.pt": b"shelf %d" % number * 2048},
                             metrics={"accuracy": 0.86 + number / 50, "f1": 0.82 + number / 50})
    lead.activate("retail/shelf-classifier:3")
    lead.rollback("retail/shelf-classifier")
    log_traffic(reg)


def log_traffic(reg: Registry) -> None:
    """A day of the detector's traffic: production (v5) answers most frames, staging (v6) a share of them."""
    rng = random.Random(7)
    now = datetime.now(UTC).replace(microsecond=0)
    records: list[dict[str, Any]] = []
    for i in range(600):
        version = 6 if i % 4 == 0 else 5
        failed = rng.random() < 0.015
        found = [{"class": name, "score": round(rng.uniform(0.3, 0.98), 3),
                  "box": [round(x, 3) for x in (rng.uniform(0, 0.5), rng.uniform(0, 0.5), rng.uniform(0.5, 1),
                                                rng.uniform(0.5, 1))]}
                 for name in rng.sample(["fire", "smoke", "person"], rng.randint(0, 3))]
        records.append({"model": DETECTOR, "version": version, "time": now - timedelta(seconds=140 * i + 20),
                        "latency_ms": round(rng.gauss(31 if version == 5 else 27, 6), 1),
                        "status": "error" if failed else "ok", "error": "decode error: truncated JPEG" if failed
                        else "", "outputs": None if failed else {"detections": found, "width": 1920, "height": 1080},
                        "request_id": f"cam12-{i:06d}", "input_ref": f"s3://embereye-frames/tower12/{i:06d}.jpg"})
    reg.log_inferences(records)
    reg.feedback("cam12-000002", label="smoke", note="haze at dawn, not fire")
    reg.feedback("cam12-000002", corrected={"detections": [{"class": "smoke", "score": 1.0,
                                                            "box": [0.12, 0.3, 0.41, 0.62]}]},
                 note="boxed the haze")
    for i in (4, 5, 8, 9, 14, 22):
        reg.feedback(f"cam12-{i:06d}", corrected=records[i]["outputs"], note="checked: right")


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """``modelreg serve`` in a thread on a free loopback port; yields its base URL."""
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.server.close()


def shoot(page: Page, path: Path, height: int | str | None) -> None:
    if isinstance(height, str):
        page.locator(height).screenshot(path=path)
    elif height is None:
        page.screenshot(path=path, full_page=True)
    else:
        full = page.evaluate("document.documentElement.scrollHeight")
        page.screenshot(path=path, full_page=True, clip={"x": 0, "y": 0, "width": WIDTH, "height": min(height, full)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(home=Path(scratch) / "home", actor="alice")
        reg = modelreg.connect(settings=settings)
        lead = modelreg.connect(settings=Settings(home=settings.home, actor="bob"))
        try:
            build_demo(reg, lead)
            with serving(settings) as base, sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                page = browser.new_page(viewport={"width": WIDTH, "height": 800}, color_scheme="light")
                for name, url, height in PAGES:
                    page.goto(base + url)
                    page.wait_for_load_state("networkidle")
                    target = args.out / f"dashboard-{name}.png"
                    shoot(page, target, height)
                    print(f"{target} {target.stat().st_size // 1024} KiB")
                browser.close()
        finally:
            lead.close()
            reg.close()


if __name__ == "__main__":
    main()
