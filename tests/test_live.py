"""The live model handle (``reg.live``), the alias watch it waits on, and the inference logger behind ``log=True``.

- the logger: batches, bounds, counters, a sink that fails or refuses, never raising into the caller;
- the handle on each registry (memory, SQLite, a real server): follows activate, rollback and promote, keeps the
  old version when a load fails and retries it, records calls (outputs as JSON, errors, sampling);
- ``watch_alias`` and its REST long poll (100 waiting clients leave the server answering);
- an application process holding a handle while this process moves the alias, on SQLite and through
  ``modelreg serve`` (whose crash while the application logs loses only counted records).

No test asserts a timing; waits have generous deadlines.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests._processes import MODELREG, free_port
from tests._ultralytics import offline_ultralytics

import modelreg
from modelreg.errors import (
    AliasNotFound,
    InvalidInput,
    InvalidMetadata,
    InvalidName,
    ModelNotFound,
    StorageError,
)
from modelreg.local.inference_log import InferenceLogger
from modelreg.local.live import LiveModel, serving_file
from modelreg.local.live_outputs import json_outputs
from modelreg.types import Artifact, Version

TESTS = Path(__file__).parent
API = "/api/v1"


# ---- helpers

class Sink:
    """A registry's ``log_inferences`` stand-in that keeps the batches, or fails while ``fail`` is set."""

    def __init__(self) -> None:
        self.batches: list[list[Mapping[str, Any]]] = []
        self.fail: Exception | None = None
        self.gate = threading.Event()
        self.gate.set()

    def log_inferences(self, records: Iterable[Mapping[str, Any]]) -> object:
        self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.batches.append(list(records))
        return None

    @property
    def records(self) -> list[Mapping[str, Any]]:
        return [r for b in self.batches for r in b]


def _consistent(logger: InferenceLogger, logged: int) -> None:
    c = logger.counts()
    assert c.logged == logged == c.sent + c.dropped + c.rejected + c.pending, c


class Loaded:
    """What the test loader builds: the version's file content, and the calls it answered."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.text = self.path.read_text()
        if self.text == "broken":
            raise RuntimeError("these weights are corrupt")

    def __call__(self, x: Any) -> dict[str, Any]:
        if x == "boom":
            raise ValueError("the model cannot read this input")
        return {"class": self.text, "score": 0.5, "x": x}


def _register(reg: Any, tmp_path: Path, model: str, *contents: str) -> list[int]:
    numbers = []
    for i, text in enumerate(contents):
        f = tmp_path / f"{model.replace('/', '_')}-{i}-{len(numbers)}.txt"
        f.write_text(text)
        numbers.append(reg.register_version(model, files={"model.txt": f}).number)
    return numbers


def _eventually(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.02)


# ---- the logger


def test_logger_sends_everything_in_bounded_batches() -> None:
    sink = Sink()
    logger = InferenceLogger(sink, batch_size=7, flush_s=0.05)
    for i in range(100):
        assert logger.log({"model": "m", "version": 1, "request_id": f"r{i}"}) is True
    assert logger.flush(timeout=10)
    assert [r["request_id"] for r in sink.records] == [f"r{i}" for i in range(100)]  # in order, once each
    assert max(len(b) for b in sink.batches) <= 7
    _consistent(logger, 100)
    assert (logger.sent, logger.dropped, logger.failed_batches) == (100, 0, 0)
    logger.close()
    assert logger.log({"model": "m", "version": 1}) is False  # after close: counted, not sent
    assert logger.dropped == 1
    _consistent(logger, 101)


def test_logger_close_sends_what_is_left() -> None:
    sink = Sink()
    logger = InferenceLogger(sink, batch_size=1000, flush_s=3600)  # nothing would go before close
    for i in range(10):
        logger.log({"model": "m", "version": 1, "request_id": f"r{i}"})
    logger.close()
    assert len(sink.records) == 10 and logger.sent == 10


def test_a_sink_that_is_down_costs_only_counted_records_and_warns_once_per_burst(
        caplog: pytest.LogCaptureFixture) -> None:
    sink = Sink()
    sink.fail = StorageError("the modelreg server at http://x could not be reached")
    logger = InferenceLogger(sink, batch_size=5, flush_s=0.05)
    with caplog.at_level(logging.INFO, logger="modelreg.inference"):
        for i in range(23):
            logger.log({"model": "m", "version": 1, "request_id": f"down{i}"})  # never raises
        assert logger.flush(timeout=10)
        assert logger.dropped == 23 and logger.sent == 0 and logger.failed_batches >= 5
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "StorageError" in warnings[0].getMessage()

        sink.fail = None  # the registry is back
        for i in range(4):
            logger.log({"model": "m", "version": 1, "request_id": f"up{i}"})
        assert logger.flush(timeout=10)
        assert [r["request_id"] for r in sink.records] == [f"up{i}" for i in range(4)]
        assert any("sent again" in r.getMessage() and "23 dropped" in r.getMessage() for r in caplog.records)

        sink.fail = RuntimeError("down again")  # a second burst: a second warning
        logger.log({"model": "m", "version": 1})
        assert logger.flush(timeout=10)
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
    _consistent(logger, 28)
    logger.close()


def test_a_full_buffer_drops_new_records_instead_of_blocking() -> None:
    sink = Sink()
    sink.gate.clear()  # the registry hangs: the sender thread is stuck in its first batch
    logger = InferenceLogger(sink, batch_size=10, flush_s=0.01, max_buffer=50)
    accepted = [logger.log({"model": "m", "version": 1, "request_id": f"r{i}"}) for i in range(500)]
    # the calls all returned while the sink hung; at most the buffer plus one batch in flight were kept
    kept = sum(accepted)
    assert 50 <= kept <= 60 and logger.dropped == 500 - kept
    _consistent(logger, 500)
    sink.gate.set()
    assert logger.flush(timeout=10)
    assert logger.sent == kept and len(sink.records) == kept
    _consistent(logger, 500)
    logger.close()


def test_a_refused_record_is_left_out_and_the_rest_of_its_batch_sent() -> None:
    class Refusing(Sink):
        def log_inferences(self, records: Iterable[Mapping[str, Any]]) -> object:
            batch = list(records)
            for index, r in enumerate(batch):
                if r.get("latency_ms") == -1:
                    raise InvalidMetadata(f"record {index}: latency_ms is -1", field="latency_ms", index=index)
            return super().log_inferences(batch)

    sink = Refusing()
    logger = InferenceLogger(sink, batch_size=10, flush_s=0.05)
    for i in range(10):
        logger.log({"model": "m", "version": 1, "request_id": f"r{i}", "latency_ms": -1 if i in (2, 7) else 1})
    assert logger.flush(timeout=10)
    assert [r["request_id"] for r in sink.records] == [f"r{i}" for i in range(10) if i not in (2, 7)]
    assert (logger.sent, logger.rejected, logger.dropped, logger.failed_batches) == (8, 2, 0, 0)
    logger.close()


def test_logger_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        InferenceLogger(Sink(), batch_size=0)
    with pytest.raises(ValueError):
        InferenceLogger(Sink(), flush_s=0)


def test_logger_into_a_server_that_is_not_there(tmp_path: Path) -> None:
    """The real HTTP client as the sink, with nothing listening: every record is counted as dropped."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reg = modelreg.connect(f"http://127.0.0.1:{port}", settings=modelreg.Settings(home=tmp_path, actor="t"))
    logger = InferenceLogger(reg, batch_size=20, flush_s=0.05)
    for i in range(30):
        assert logger.log({"model": "m", "version": 1, "request_id": f"r{i}"}) is True
    assert logger.flush(timeout=30)
    assert logger.dropped == 30 and logger.sent == 0 and logger.failed_batches == 2
    logger.close()
    reg.close()


# ---- which file a loader gets


def _version(*paths: str) -> Version:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return Version(id=1, project="default", model="m", number=1, status="ready", created_at=now, updated_at=now,
                   artifacts=[Artifact(path=p, digest="sha256:" + "0" * 64, size=1) for p in paths])


@pytest.mark.parametrize(("paths", "chosen"), [
    (["model.onnx"], "model.onnx"),
    (["encoders.pkl"], "encoders.pkl"),  # the only file, whatever it is
    (["weights/best.pt", "config.yaml", "results.csv"], "weights/best.pt"),
    (["weights/best.pt", "weights/last.pt", "args.yaml"], "weights/best.pt"),
    (["model.safetensors", "config.json", "tokenizer.json"], "model.safetensors"),
    (["a.pt", "b.pt"], None),  # two weights, neither named best: the folder
    (["encoders.pkl", "model.pt"], None),
    (["config.json", "vocab.txt"], None),
])
def test_the_file_a_loader_gets(paths: list[str], chosen: str | None) -> None:
    assert serving_file(_version(*paths)) == chosen


# ---- outputs as JSON


def test_json_outputs_of_plain_values() -> None:
    import numpy as np
    import torch

    answer = {"class": "ng", "score": 0.97}
    recorded = json_outputs(answer)
    answer["class"] = "ok"  # the application reuses its answer: the record keeps what was answered
    assert recorded == {"class": "ng", "score": 0.97}
    assert json_outputs({"score": float("inf")}) is None
    assert json_outputs({"a": {"b": [1, {"c": None}]}}) == {"a": {"b": [1, {"c": None}]}}
    assert json_outputs([1, 2.5, "x", None, True]) == [1, 2.5, "x", None, True]
    assert json_outputs(3.2) == 3.2 and json_outputs("ok") == "ok"
    assert json_outputs((1, 2)) == [1, 2]
    assert json_outputs(np.float32(0.5)) == 0.5
    assert json_outputs(np.arange(3)) == [0, 1, 2]
    assert json_outputs({"logits": torch.tensor([[1.0, 2.0]])}) == {"logits": [[1.0, 2.0]]}
    assert json_outputs(np.zeros(20_000)) is None  # too big to record inline
    assert json_outputs(float("nan")) is None
    assert json_outputs({1: "a"}) is None  # not JSON
    assert json_outputs(object()) is None


@pytest.fixture(scope="module")
def ultralytics_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Ultralytics offline (tests/_ultralytics.py)."""
    with offline_ultralytics(tmp_path_factory):
        yield


def test_json_outputs_of_ultralytics_results(ultralytics_env: None) -> None:
    import numpy as np
    import torch
    from ultralytics.engine.results import Results

    image = np.zeros((48, 64, 3), dtype=np.uint8)
    names = {0: "fire", 1: "smoke"}
    boxes = torch.tensor([[1.0, 2.0, 30.5, 40.25, 0.91, 0.0], [5.0, 6.0, 7.0, 8.0, 0.333333, 1.0]])
    detected = Results(image, path="frame.jpg", names=names, boxes=boxes)
    expected = {"detections": [{"class": "fire", "score": 0.91, "box": [1.0, 2.0, 30.5, 40.25]},
                               {"class": "smoke", "score": 0.3333, "box": [5.0, 6.0, 7.0, 8.0]}],
                "width": 64, "height": 48}
    assert json_outputs(detected) == expected
    assert json_outputs([detected]) == expected  # what YOLO(...)(image) returns for one image
    assert json_outputs([detected, detected]) == [expected, expected]
    empty = Results(image, path="frame.jpg", names=names, boxes=torch.zeros((0, 6)))
    assert json_outputs(empty) == {"detections": [], "width": 64, "height": 48}
    classified = Results(image, path="frame.jpg", names=names, probs=torch.tensor([0.2, 0.8]))
    assert json_outputs(classified) == {"class": "smoke", "score": 0.8}


def test_a_yolo_model_served_live_is_logged_as_detections(ultralytics_env: None, tmp_path: Path) -> None:
    """The real thing: Ultralytics' YOLO as the loader of a registered .pt, its Results recorded as JSON."""
    import numpy as np
    from ultralytics import YOLO

    weights = tmp_path / "best.pt"
    YOLO("yolov8n.yaml").save(weights)
    reg = modelreg.connect("memory://", settings=modelreg.Settings(home=tmp_path / "home", actor="t"))
    reg.register_version("fire-detector", files={"weights/best.pt": weights, "args.yaml": _text(tmp_path, "a: 1")})
    with reg.live("fire-detector", loader=YOLO, log=True) as m:
        result = m.call(np.zeros((64, 96, 3), dtype=np.uint8), input_ref="cam1/000001.jpg", verbose=False)
        assert isinstance(result.outputs, list) and type(result.outputs[0]).__name__ == "Results"
    record = reg.get_inference(result.request_id or "")
    assert record.version == 1 and record.input_ref == "cam1/000001.jpg"
    assert record.outputs["width"] == 96 and record.outputs["height"] == 64
    assert isinstance(record.outputs["detections"], list)
    assert all(set(d) == {"class", "score", "box"} for d in record.outputs["detections"])
    reg.close()


def _text(tmp_path: Path, text: str) -> Path:
    f = tmp_path / f"t{abs(hash(text))}.txt"
    f.write_text(text)
    return f


# ---- the handle on each registry


def test_live_follows_activate_rollback_and_promote(every_registry: Any, tmp_path: Path) -> None:
    reg = every_registry
    _register(reg, tmp_path, "fire-detector", "v1", "v2", "v3")
    with reg.live("fire-detector", loader=Loaded) as m:
        assert (m.version, m.alias, m.ref) == (1, "production", "default/fire-detector:v1")
        assert m("x") == {"class": "v1", "score": 0.5, "x": "x"}
        assert m.call("y").version == 1 and m.call("y").request_id is None  # not recording
        reg.activate("fire-detector:2")
        assert m.wait_for(2) and m("x")["class"] == "v2"
        reg.rollback("fire-detector")
        assert m.wait_for(1) and m("x")["class"] == "v1"
        reg.set_alias("fire-detector:3", "staging")
        reg.promote("fire-detector", "staging", "production")
        assert m.wait_for(3) and m("x")["class"] == "v3" and m.serving.path.name == "model.txt"
    assert m("after close") == {"class": "v3", "score": 0.5, "x": "after close"}  # still serves what it has


def test_a_failed_load_keeps_the_old_version_and_is_retried(every_registry: Any, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    reg = every_registry
    _register(reg, tmp_path, "fire-detector", "v1", "broken", "v3")
    attempts: list[str] = []
    flaky = {"v3": 1}  # v3 fails its first load only

    def loader(path: Path) -> Loaded:
        loaded = Loaded(path)  # raises for "broken"
        attempts.append(loaded.text)
        if flaky.get(loaded.text, 0) > 0:
            flaky[loaded.text] -= 1
            raise OSError("the disk hiccupped")
        return loaded

    with caplog.at_level(logging.ERROR, logger="modelreg.live"), \
            reg.live("fire-detector", loader=loader, retry_s=0.2) as m:
        reg.activate("fire-detector:2")
        _eventually(lambda: m.last_error is not None)
        assert m.version == 1 and m("x")["class"] == "v1"
        assert "v2" in (m.last_error or "") and "corrupt" in (m.last_error or "")
        assert any("loading it failed" in r.getMessage() for r in caplog.records)
        reg.activate("fire-detector:3")  # the next move: its first load fails, the retry succeeds
        assert m.wait_for(3, timeout=20) and m.last_error is None
        assert attempts.count("v3") == 2


def test_live_records_calls_as_inference_records(every_registry: Any, tmp_path: Path) -> None:
    reg = every_registry
    _register(reg, tmp_path, "fire-detector", "v1", "v2")
    with reg.live("fire-detector", loader=Loaded, log=True) as m:
        ok = m.call("a", client_request_id="cam7-000123", input_ref="s3://cams/7/000123.jpg",
                    input_data={"camera": 7})
        assert ok.request_id and ok.version == 1 and ok.outputs["class"] == "v1" and ok.latency_ms >= 0
        with pytest.raises(ValueError, match="cannot read"):
            m("boom")
        reg.activate("fire-detector:2")
        assert m.wait_for(2)
        second = m.call("b")
        logger = m.logger
        assert logger is not None
    assert (logger.sent, logger.dropped, logger.pending) == (3, 0, 0)  # close sent them
    page = reg.list_inferences("fire-detector")
    by_id = {r.request_id: r for r in page}
    assert len(by_id) == 3
    first = by_id[ok.request_id]
    assert (first.version, first.status, first.client_request_id, first.input_ref, first.input) == (
        1, "ok", "cam7-000123", "s3://cams/7/000123.jpg", {"camera": 7})
    assert first.outputs == {"class": "v1", "score": 0.5, "x": "a"} and first.sample_rate == 1.0
    failed = [r for r in page if r.status == "error"]
    assert len(failed) == 1 and failed[0].version == 1 and "ValueError: the model cannot read" in failed[0].error
    assert by_id[second.request_id or ""].version == 2 and by_id[second.request_id or ""].outputs["class"] == "v2"


def test_sampling_and_the_outputs_hook(tmp_path: Path) -> None:
    reg = modelreg.connect("memory://", settings=modelreg.Settings(home=tmp_path, actor="t"))
    _register(reg, tmp_path, "fire-detector", "v1")
    with reg.live("fire-detector", loader=Loaded, log=True, sample=0.5,
                  outputs=lambda answer: {"class": answer["class"].upper()}) as m:
        results = [m.call(i) for i in range(200)]
    recorded = [r.request_id for r in results if r.request_id is not None]
    assert 0 < len(recorded) < 200  # one call in two, chosen at random (all or none: 2 ** -199)
    page = reg.list_inferences("fire-detector", limit=1000)
    assert sorted(r.request_id for r in page) == sorted(recorded)
    assert {r.sample_rate for r in page} == {0.5} and {r.outputs["class"] for r in page} == {"V1"}
    reg.close()


def test_a_failing_outputs_hook_costs_the_record_its_outputs_only(tmp_path: Path) -> None:
    reg = modelreg.connect("memory://", settings=modelreg.Settings(home=tmp_path, actor="t"))
    _register(reg, tmp_path, "fire-detector", "v1")

    def broken(answer: Any) -> Any:
        raise KeyError("nope")

    with reg.live("fire-detector", loader=Loaded, log=True, outputs=broken) as m:
        result = m.call(1)
    assert result.outputs["class"] == "v1"
    record = reg.get_inference(result.request_id or "")
    assert record.status == "ok" and record.outputs is None
    reg.close()


def test_live_follows_model_environment(tmp_path: Path) -> None:
    reg = modelreg.connect(home=tmp_path / "reg", environ={"MODEL_ENVIRONMENT": "staging"})
    _register(reg, tmp_path, "fire-detector", "v1", "v2")
    reg.set_alias("fire-detector:2", "staging")
    with reg.live("fire-detector", loader=Loaded) as m:
        assert (m.alias, m.version) == ("staging", 2)
        reg.set_alias("fire-detector:1", "staging")
        assert m.wait_for(1)
    with reg.live("fire-detector", loader=Loaded, alias="production") as m:
        assert (m.alias, m.version) == ("production", 1)
    reg.close()
    pinned = modelreg.connect(home=tmp_path / "reg", environ={"MODEL_ENVIRONMENT": "v2"})
    with pytest.raises(InvalidInput, match="MODEL_ENVIRONMENT='v2'") as caught:
        pinned.live("fire-detector", loader=Loaded)
    assert "resolve" in (caught.value.hint or "")
    pinned.close()


def test_live_refuses_bad_input(every_registry: Any, tmp_path: Path) -> None:
    reg = every_registry
    _register(reg, tmp_path, "fire-detector", "v1")
    with pytest.raises(InvalidInput, match="loader must be callable"):
        reg.live("fire-detector", loader="yolo.pt")
    for sample in (0, 1.5, -0.1, True):
        with pytest.raises(InvalidInput, match="sample"):
            reg.live("fire-detector", loader=Loaded, sample=sample)
    with pytest.raises(InvalidInput, match="alias="):
        reg.live("fire-detector", loader=Loaded, alias="latest")
    with pytest.raises(AliasNotFound):
        reg.live("fire-detector", loader=Loaded, alias="canary")
    with pytest.raises(ModelNotFound):
        reg.live("no-such-model", loader=Loaded)

    def failing(path: Path) -> Any:
        raise RuntimeError("cannot load")

    with pytest.raises(RuntimeError, match="cannot load") as caught:  # nothing to serve: the loader's error
        reg.live("fire-detector", loader=failing)
    assert any("default/fire-detector:v1" in note for note in getattr(caught.value, "__notes__", []))


# ---- watch_alias


def test_watch_alias(every_registry: Any, tmp_path: Path) -> None:
    reg = every_registry
    _register(reg, tmp_path, "fire-detector", "v1", "v2")
    assert reg.watch_alias("fire-detector", known=None, timeout=0) == 1  # differs from known: at once
    assert reg.watch_alias("fire-detector", known=1, timeout=0.2) == 1  # no move: the current one, after the wait
    assert reg.watch_alias("fire-detector", "staging", known=None, timeout=0.1) is None

    answer: list[int | None] = []
    waiting = threading.Thread(target=lambda: answer.append(reg.watch_alias("fire-detector", known=1, timeout=30)))
    waiting.start()
    time.sleep(0.3)
    reg.activate("fire-detector:2")
    waiting.join(timeout=30)
    assert answer == [2]

    with pytest.raises(InvalidInput, match="timeout"):
        reg.watch_alias("fire-detector", timeout=-1)
    with pytest.raises(InvalidInput, match="timeout"):
        reg.watch_alias("fire-detector", timeout=float("nan"))
    with pytest.raises(InvalidName):
        reg.watch_alias("fire-detector", "v3")
    with pytest.raises(ModelNotFound):
        reg.watch_alias("no-such-model", timeout=0)


def test_watch_alias_and_live_on_each_store(reg: Any, tmp_path: Path) -> None:
    """Memory, SQLite and PostgreSQL (no change token there: the alias is re-read every half second)."""
    _register(reg, tmp_path, "fire-detector", "v1", "v2")
    answer: list[int | None] = []
    waiting = threading.Thread(target=lambda: answer.append(reg.watch_alias("fire-detector", known=1, timeout=30)))
    waiting.start()
    time.sleep(0.3)
    reg.activate("fire-detector:2")
    waiting.join(timeout=30)
    assert answer == [2]
    with reg.live("fire-detector", loader=Loaded) as m:
        reg.rollback("fire-detector")
        assert m.wait_for(1) and m("x")["class"] == "v1"


def test_watch_alias_over_rest(remote_server: Any, remote_state: Any, http_registry: Any, tmp_path: Path) -> None:
    _register(http_registry, tmp_path, "fire-detector", "v1")
    watch = remote_server.url + API + "/projects/-/models/fire-detector/aliases/production/watch"
    assert httpx.get(watch, params={"timeout": 0}).json() == {"alias": "production", "version": 1, "changed": True}
    assert httpx.get(watch, params={"known": 1, "timeout": 0.1}).json() == {
        "alias": "production", "version": 1, "changed": False}
    assert httpx.get(watch, params={"known": 1, "timeout": -1}).status_code == 422
    bad = httpx.get(remote_server.url + API + "/projects/-/models/fire-detector/aliases/v3/watch")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_name"
    missing = httpx.get(remote_server.url + API + "/projects/-/models/nope/aliases/production/watch")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_a_hundred_waiting_watches_leave_the_server_answering(remote_server: Any, remote_state: Any,
                                                               http_registry: Any, tmp_path: Path) -> None:
    """Each waiting watch holds no thread: with 100 of them waiting (more than the thread pool's 40), other
    requests are answered, and one move answers all 100."""
    _register(http_registry, tmp_path, "fire-detector", "v1", "v2")
    watch = remote_server.url + API + "/projects/-/models/fire-detector/aliases/production/watch"
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()

    def wait() -> None:
        with httpx.Client(timeout=90) as client:
            body = client.get(watch, params={"known": 1, "timeout": 60}).json()
        with lock:
            answers.append(body)

    threads = [threading.Thread(target=wait) for _ in range(100)]
    for t in threads:
        t.start()
    _eventually(lambda: len(remote_server.server.server_state.connections) >= 100)
    with httpx.Client(base_url=remote_server.url + API, timeout=30) as client:
        for _ in range(20):  # synchronous routes: they need the thread pool the watches leave free
            assert client.get("/projects").status_code == 200
            assert client.get("/projects/-/models/fire-detector/versions").status_code == 200
    assert answers == []  # every watch was still waiting meanwhile
    http_registry.activate("fire-detector:2")
    for t in threads:
        t.join(timeout=60)
    assert len(answers) == 100
    assert all(a == {"alias": "production", "version": 2, "changed": True} for a in answers)


# ---- an application process holding a handle while this one moves the alias




def _environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELREG_", "MODEL_ENVIRONMENT"))}
    env.update({"MODELREG_ACTOR": "tester", **extra})
    return env


class App:
    """tests/live_app.py in its own process; its stdout read line by line into ``events``."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.stop = tmp_path / "stop"
        self.events: list[dict[str, Any]] = []
        self.stderr = (tmp_path / "app.err").open("w+")
        self.proc = subprocess.Popen([sys.executable, str(TESTS / "live_app.py"), "fire-detector", str(self.stop)],
                                     env=env, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.append(json.loads(line))

    def serving(self) -> list[int]:
        return [e["serving"] for e in list(self.events) if "serving" in e]

    def wait_serving(self, version: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not (self.serving() and self.serving()[-1] == version):
            assert self.proc.poll() is None, f"the application exited: {self.log()}"
            assert time.monotonic() < deadline, f"the application did not serve v{version}: {self.events}"
            time.sleep(0.02)

    def finish(self) -> dict[str, Any]:
        self.stop.touch()
        self.proc.wait(timeout=60)
        self._reader.join(timeout=10)
        done = [e["done"] for e in self.events if "done" in e]
        assert self.proc.returncode == 0 and done, self.log()
        return dict(done[0])

    def log(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.close()


def _moves(reg: Any, app: App) -> None:
    """Activate, roll back, promote, a version that fails to load, then a good one; the application follows
    every move and never answers with a half-loaded model or a version other than the one answering."""
    app.wait_serving(1)
    reg.activate("fire-detector:2")
    app.wait_serving(2)
    reg.rollback("fire-detector")
    app.wait_serving(1)
    reg.set_alias("fire-detector:3", "staging")
    reg.promote("fire-detector", "staging", "production")
    app.wait_serving(3)
    reg.activate("fire-detector:4")  # broken: the application keeps serving v3
    _eventually(lambda: "loading it failed" in app.log(), timeout=20)
    reg.activate("fire-detector:2")
    app.wait_serving(2)
    assert app.serving() == [1, 2, 1, 3, 2]
    assert not [e for e in app.events if "wrong" in e]


def test_an_application_follows_the_alias_on_sqlite(tmp_path: Path) -> None:
    home = tmp_path / "home"
    reg = modelreg.connect(home=home, environ={})
    _register(reg, tmp_path, "fire-detector", "v1", "v2", "v3", "broken")
    app = App(tmp_path, _environ(tmp_path, MODELREG_HOME=str(home)))
    try:
        _moves(reg, app)
        done = app.finish()
    finally:
        app.kill()
    assert done["wrong"] == 0 and done["calls"] > 0
    assert done["sent"] == done["logged"] and done["dropped"] == done["rejected"] == done["pending"] == 0
    stored, cursor = 0, None
    while True:
        page = reg.list_inferences("fire-detector", limit=1000, cursor=cursor)
        stored += len(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert stored == done["sent"]  # every record the application logged, once
    reg.close()


def _serve(home: Path, port: int, log: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the server writes to its own copy of the descriptor
        server = subprocess.Popen([*MODELREG, "serve", "--port", str(port), "--no-access-log"],
                                  env=_environ(tmp_path, MODELREG_HOME=str(home)), stdout=out,
                                  stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{API}/ready", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def test_an_application_follows_the_alias_through_modelreg_serve(tmp_path: Path) -> None:
    """The same through a server, whose crash while the application logs loses only counted records."""
    home, port, log = tmp_path / "server", free_port(), tmp_path / "serve.log"
    url = f"http://127.0.0.1:{port}"
    server = _serve(home, port, log, tmp_path)
    app = None
    try:
        reg = modelreg.connect(url, settings=modelreg.Settings(home=tmp_path / "client", actor="tester"))
        _register(reg, tmp_path, "fire-detector", "v1", "v2", "v3", "broken")
        app = App(tmp_path, _environ(tmp_path, MODELREG_URL=url, MODELREG_HOME=str(tmp_path / "app")))
        _moves(reg, app)
        reg.close()
        served_before = len(app.events)
        _stop(server)  # the sink goes down while the application logs
        _eventually(lambda: "dropped" in app.log() and "watching the alias failed" in app.log(), timeout=30)
        assert app.proc.poll() is None and len(app.events) >= served_before  # serving goes on
        done = app.finish()
    finally:
        if app is not None:
            app.kill()
        if server.poll() is None:
            _stop(server)
    assert done["wrong"] == 0
    assert done["logged"] == done["sent"] + done["dropped"] + done["rejected"] + done["pending"]
    assert done["dropped"] > 0 and done["failed_batches"] > 0 and done["rejected"] == 0
    server = _serve(home, port, log, tmp_path)
    try:
        reg = modelreg.connect(url, settings=modelreg.Settings(home=tmp_path / "client", actor="tester"))
        stored, cursor = 0, None
        while True:
            page = reg.list_inferences("fire-detector", limit=1000, cursor=cursor)
            stored += len(page)
            cursor = page.next_cursor
            if cursor is None:
                break
        reg.close()
    finally:
        _stop(server)
    # nothing was lost uncounted: what the store holds is what was sent, plus at most the batches whose
    # answer the crash cut off (stored, but counted as dropped by the application)
    assert done["sent"] <= stored <= done["sent"] + done["dropped"]
    assert "Traceback" not in log.read_text()


def test_live_model_is_the_protocol_return(tmp_path: Path) -> None:
    reg = modelreg.connect("memory://", settings=modelreg.Settings(home=tmp_path, actor="t"))
    _register(reg, tmp_path, "fire-detector", "v1")
    with reg.live("fire-detector", loader=Loaded) as m:
        assert isinstance(m, LiveModel) and repr(m) == "<LiveModel default/fire-detector@production serving " \
                                                       "default/fire-detector:v1>"
    reg.close()


def test_the_example_in_the_docs_runs_and_prints_what_it_says(capsys: pytest.CaptureFixture[str]) -> None:
    import re

    page = (TESTS.parent / "docs" / "inference.md").read_text(encoding="utf-8")
    example = page.split("A complete example that runs as is", 1)[1]
    code = re.search(r"```python\n(.*?)```", example, re.S)
    assert code is not None
    exec(compile(code.group(1), "docs/inference.md", "exec"), {})  # our own documentation
    printed = capsys.readouterr().out.splitlines()
    # each print's comment shows its output: up to " — " (an explanation), or up to the last word before "…"
    comments = [c.split("# ", 1)[1].split(" — ")[0] for c in code.group(1).splitlines()
                if c.strip().startswith("print")]
    said = [c.split("…")[0].rsplit(" ", 1)[0] if "…" in c else c.strip() for c in comments]
    assert len(printed) == len(said) == 3
    for line, comment in zip(printed, said, strict=True):
        assert line.startswith(comment), (line, comment)
