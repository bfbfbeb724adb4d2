"""Following a background job the same way whichever registry runs it: the job id check and the wait."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from modelreg.errors import InvalidInput
from modelreg.types import Job

FIRST_POLL_S = 0.05
MAX_POLL_S = 1.0  # a wait asks at least this often
MAX_JOB_ID = 2**63 - 1  # ids are 64-bit integers in every store


def check_job_id(job_id: int) -> int:
    if isinstance(job_id, bool) or not isinstance(job_id, int) or not 1 <= job_id <= MAX_JOB_ID:
        raise InvalidInput(f"{repr(job_id)[:40]} is not a job id (a whole number from 1 to {MAX_JOB_ID})",
                           field="job_id")
    return job_id


def wait_for_job(fetch: Callable[[], Job], timeout: float | None) -> Job:
    """Call ``fetch`` (polling, from every 50 ms up to every second) until the job it returns is finished or
    ``timeout`` seconds have passed; return the job as it is then."""
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not math.isfinite(timeout) or timeout < 0):
        raise InvalidInput(f"timeout={timeout!r} must be a number of seconds >= 0, or None", field="timeout")
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = FIRST_POLL_S
    while True:
        job = fetch()
        left = None if deadline is None else deadline - time.monotonic()
        if job.finished or (left is not None and left <= 0):
            return job
        time.sleep(delay if left is None else min(delay, left))
        delay = min(delay * 2, MAX_POLL_S)
