"""The worker of background jobs in this process: a small pool of daemon threads and a heartbeat.

There is one per process, started on first use, whatever the number of registries or requests: every job
of the process waits in its queue, and at most ``WORKERS`` run at once (an export converts in child processes
that take a CPU and memory each, so more would only slow them all down).

How a job left behind by a stopped process is told from a live one: while a job is queued or running here,
the heartbeat calls its ``beat`` (which writes ``heartbeat_at``) every ``HEARTBEAT_S``. Any process that
reads a job unfinished whose last beat is older than ``STALE_AFTER_S`` (``is_stale``) knows that no process
runs it any more: the server was stopped, crashed or was killed, or the script of an embedded registry
exited. This holds with several server processes and hosts on one database (whose clocks agree within a few
seconds), which a "fail every running job when the server starts" rule would not: it would fail the jobs that
the other processes are running.

The threads are daemons: a script that started a job and exits does not wait for it (its job is reported
interrupted); ``wait_job`` waits for it.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from modelreg.types import Job

log = logging.getLogger("modelreg.jobs")

WORKERS = 2          # jobs that run at once in one process
HEARTBEAT_S = 5.0    # how often a queued or running job says it is alive
STALE_AFTER_S = 30.0  # a job silent this long has no process running it any more


def runner_id() -> str:
    """Who runs a job: this host and process (``host:pid``), for people reading a job."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_stale(job: Job, now: datetime) -> bool:
    """Whether an unfinished job has not been heard of for longer than ``STALE_AFTER_S``."""
    if job.finished:
        return False
    last = job.heartbeat_at or job.started_at or job.created_at
    return (now - last).total_seconds() > STALE_AFTER_S


@dataclass(eq=False)
class Task:
    """One job handed to the runner: ``work`` runs it to the end (recording its outcome itself); ``beat``
    records that it is alive. Neither may raise for the job's own failures."""

    name: str
    work: Callable[[], None]
    beat: Callable[[], None]


class JobRunner:
    """A queue, ``workers`` daemon threads that take from it, and one heartbeat thread (all started on the first
    ``submit``)."""

    def __init__(self, workers: int = WORKERS) -> None:
        self.workers = workers
        self._queue: queue.SimpleQueue[Task] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._live: set[Task] = set()  # queued or running
        self._started = False

    def submit(self, task: Task) -> None:
        with self._lock:
            self._start()
            self._live.add(task)
        self._queue.put(task)

    def _start(self) -> None:
        if self._started:
            return
        for number in range(self.workers):
            threading.Thread(target=self._work, name=f"modelreg-job-{number}", daemon=True).start()
        threading.Thread(target=self._beat, name="modelreg-job-heartbeat", daemon=True).start()
        self._started = True

    def _work(self) -> None:
        while True:
            task = self._queue.get()
            try:
                task.work()
            except Exception:  # work records its outcome; this is a bug in doing so, and must not stop the thread
                log.exception("the job %s stopped on an unexpected error", task.name)
            finally:
                with self._lock:
                    self._live.discard(task)

    def _beat(self) -> None:
        while True:
            time.sleep(HEARTBEAT_S)
            with self._lock:
                live = list(self._live)
            for task in live:
                try:
                    task.beat()
                except Exception as exc:  # the store may be unreachable for a moment; the next beat tries again
                    log.warning("could not record that the job %s is alive: %s", task.name, exc)


_RUNNER: JobRunner | None = None
_RUNNER_LOCK = threading.Lock()


def job_runner() -> JobRunner:
    """This process's runner (created on first use)."""
    global _RUNNER
    with _RUNNER_LOCK:
        if _RUNNER is None:
            _RUNNER = JobRunner()
        return _RUNNER


def _forget_after_fork() -> None:
    """A forked child has none of its parent's threads: it starts a runner of its own when it needs one."""
    global _RUNNER, _RUNNER_LOCK
    _RUNNER, _RUNNER_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)

__all__ = ["HEARTBEAT_S", "STALE_AFTER_S", "WORKERS", "JobRunner", "Task", "is_stale", "job_runner", "runner_id"]
