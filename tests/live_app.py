"""An application that serves with a live handle, run as its own process by tests/test_live.py.

``python tests/live_app.py MODEL STOP_FILE`` connects the way an application does (``MODELREG_URL`` or
``MODELREG_HOME``; ``MODEL_ENVIRONMENT`` picks the alias), opens ``reg.live(MODEL, loader=SlowModel, log=True)``
and calls it without pause until ``STOP_FILE`` exists. Each version's single file holds its name; the loader
takes 0.3 s and refuses a file reading ``broken``. Every call checks that the object that answered is fully
loaded and is the version the handle says served it. On stdout, one JSON line per event:
``{"serving": N}`` when the first call of a new version is seen, then ``{"done": …}`` with the counts.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import modelreg

LOAD_S = 0.3


class SlowModel:
    def __init__(self, path: Path) -> None:
        self.ready = False
        text = Path(path).read_text()
        time.sleep(LOAD_S)  # a model that takes a while to load: the old one must keep serving meanwhile
        if text == "broken":
            raise RuntimeError("these weights are corrupt")
        self.name = text
        self.ready = True

    def __call__(self, x: int) -> dict[str, object]:
        return {"class": self.name, "score": 1.0, "ready": self.ready, "x": x}


def say(**event: object) -> None:
    print(json.dumps(event), flush=True)


def main() -> None:
    model, stop = sys.argv[1], Path(sys.argv[2])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    reg = modelreg.connect()
    m = reg.live(model, loader=SlowModel, log=True)
    seen: int | None = None
    calls = wrong = 0
    while not stop.exists():
        result = m.call(calls, input_ref=f"frame-{calls}")
        calls += 1
        answer = result.outputs
        if not answer["ready"] or answer["class"] != f"v{result.version}" or answer["x"] != calls - 1:
            wrong += 1
            say(wrong={"version": result.version, "answer": answer})
        if result.version != seen:
            seen = result.version
            say(serving=seen)
        time.sleep(0.001)
    logger = m.logger
    assert logger is not None
    m.close()
    c = logger.counts()
    say(done={"calls": calls, "wrong": wrong, "logged": c.logged, "sent": c.sent, "dropped": c.dropped,
              "rejected": c.rejected, "pending": c.pending, "failed_batches": c.failed_batches,
              "last_error": m.last_error})


if __name__ == "__main__":
    main()
