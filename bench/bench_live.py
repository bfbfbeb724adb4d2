"""What ``log=True`` costs the serving path of a live handle, per call, and what ``InferenceLogger.log`` costs alone.

    python bench/bench_live.py [--calls 200000] [--repeat 5]

A live handle on an in-memory registry serves a model that returns a small classification answer
(``{"class", "score"}``) at once, so the difference between ``log=False`` and ``log=True`` is all logging: the
sampling draw, the timing, the request id, the outputs converted to JSON and the record queued. The sender thread
works meanwhile (its cost on other cores is not counted; on one core it competes). Also: ``log()`` alone, into a
sink that keeps up and into one that is down (every record dropped and counted). Prints the best of ``--repeat``
runs, in microseconds per call.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import modelreg
from modelreg.local.inference_log import InferenceLogger
from modelreg.local.live import LiveModel


class Answer:
    def __init__(self, path: Path) -> None:
        self.name = Path(path).read_text()

    def __call__(self, x: int) -> dict[str, Any]:
        return {"class": self.name, "score": 0.97}


class Counting:
    def __init__(self) -> None:
        self.n = 0

    def log_inferences(self, records: Iterable[Mapping[str, Any]]) -> object:
        self.n += len(list(records))
        return None


class Down:
    def log_inferences(self, records: Iterable[Mapping[str, Any]]) -> object:
        raise ConnectionError("the registry is down")


def per_call_us(fn: Callable[[int], object], calls: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(calls):
            fn(i)
        best = min(best, time.perf_counter() - start)
    return best / calls * 1e6


def measure(calls: int, repeat: int) -> dict[str, float]:
    """Microseconds per call: ``base`` (log=False), ``with_log``, ``with_sample`` (log=True, sample=0.1),
    ``log_alone`` and ``log_down`` (InferenceLogger.log into a sink keeping up, and into one that is down);
    ``calls`` and ``repeat`` as given."""
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "model.txt"
        weights.write_text("ok")
        reg = modelreg.connect("memory://", settings=modelreg.Settings(home=Path(tmp) / "home", actor="bench"))
        reg.register_version("bench-model", files={"model.txt": weights})
        plain = reg.live("bench-model", loader=Answer)
        # a sink that keeps up and never refuses, so the numbers are the serving path's, not the store's
        logging_handle = LiveModel(reg, "bench-model", loader=Answer, log=True,
                                   logger=InferenceLogger(Counting(), max_buffer=calls * repeat + 1))
        base = per_call_us(plain, calls, repeat)
        with_log = per_call_us(logging_handle, calls, repeat)
        sampled = LiveModel(reg, "bench-model", loader=Answer, log=True, sample=0.1,
                            logger=InferenceLogger(Counting(), max_buffer=calls * repeat + 1))
        with_sample = per_call_us(sampled, calls, repeat)
        for handle in (plain, logging_handle, sampled):
            handle.close()
        reg.close()

    record = {"model": "m", "version": 1, "latency_ms": 1.0, "outputs": {"class": "ok", "score": 0.97}}
    keeping = InferenceLogger(Counting(), max_buffer=calls * repeat + 1)
    log_alone = per_call_us(lambda i: keeping.log(record), calls, repeat)
    keeping.close()
    down = InferenceLogger(Down(), max_buffer=1000)
    log_down = per_call_us(lambda i: down.log(record), calls, repeat)
    down.close()

    return {"base": base, "with_log": with_log, "with_sample": with_sample, "log_alone": log_alone,
            "log_down": log_down, "calls": float(calls), "repeat": float(repeat)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    calls, repeat = args.calls, args.repeat
    m = measure(calls, repeat)
    base, with_log, with_sample, log_alone, log_down = (m[k] for k in ("base", "with_log", "with_sample",
                                                                        "log_alone", "log_down"))

    print(f"calls per run: {calls:,}, best of {repeat}")
    print(f"m(x), log=False:                 {base:6.2f} us/call")
    print(f"m(x), log=True:                  {with_log:6.2f} us/call  (overhead {with_log - base:5.2f} us)")
    print(f"m(x), log=True, sample=0.1:      {with_sample:6.2f} us/call  (overhead {with_sample - base:5.2f} us)")
    print(f"InferenceLogger.log, sink up:    {log_alone:6.2f} us/call")
    print(f"InferenceLogger.log, sink down:  {log_down:6.2f} us/call  (buffer full: dropped and counted)")


if __name__ == "__main__":
    main()
