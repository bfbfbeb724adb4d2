"""DESIGN.md's "Rules that never bend", attacked with processes, threads and SIGKILL.

Slow: CI runs them (``.ci/run`` runs the whole suite); ``-m 'not slow'`` skips them locally.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import modelreg
from modelreg.config import Settings
from modelreg.service import Service

pytestmark = pytest.mark.slow

WORKER = textwrap.dedent("""
    import sys, modelreg
    from modelreg.config import Settings
    url, blobs, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    reg = modelreg.connect(url, artifacts=blobs, settings=Settings(actor=f"worker-{worker}"))
    for i in range(count):
        reg.register_version("shared", files={"w.bin": f"{worker}-{i}".encode(), "common.txt": b"same"},
                             metrics={"worker": worker, "i": i})
    reg.close()
""")


def _disk_url(metadata_url: str) -> str:
    if metadata_url.startswith("memory"):
        pytest.skip("processes cannot share the in-memory store")
    return metadata_url


def test_eight_processes_get_distinct_numbers(metadata_url: str, tmp_path: Path) -> None:
    url = _disk_url(metadata_url)
    blobs = str(tmp_path / "blobs")
    modelreg.connect(url, artifacts=blobs, settings=Settings(home=tmp_path)).create_model("shared")
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, url, blobs, str(w), "50"]) for w in range(8)]
    assert [p.wait(timeout=600) for p in procs] == [0] * 8
    reg = modelreg.connect(url, artifacts=blobs, settings=Settings(home=tmp_path))
    versions = list(reg.iter_versions(model="shared", limit=1000))
    assert sorted(v.number for v in versions) == list(range(1, 401))
    seen = {(int(v.metrics["worker"]), int(v.metrics["i"])) for v in versions}
    assert seen == {(w, i) for w in range(8) for i in range(50)}  # nothing lost
    for v in versions[:20]:
        assert reg.pull(v.ref, tmp_path / "p" / str(v.number)).joinpath("w.bin").read_bytes() == \
            f"{int(v.metrics['worker'])}-{int(v.metrics['i'])}".encode()
    assert reg.events(action="version.registered").total == 400
    assert reg.fsck(verify=False).ok
    reg.close()


SLOW_REGISTER = textwrap.dedent("""
    import io, sys, time, modelreg
    from modelreg.config import Settings

    class Slow(io.RawIOBase):
        def __init__(self, total): self.left = total
        def readable(self): return True
        def readinto(self, b):
            n = min(len(b), self.left, 4 << 20)
            b[:n] = b"\\x5a" * n
            self.left -= n
            time.sleep(0.01)
            return n

    url, blobs = sys.argv[1], sys.argv[2]
    reg = modelreg.connect(url, artifacts=blobs, settings=Settings(actor="doomed"))
    print("ready", flush=True)
    reg.register_version("big", files={"weights/best.pt": io.BufferedReader(Slow(1 << 30)), "small": b"s"})
    print("finished", flush=True)
""")


def test_sigkill_while_registering_leaves_nothing_visible(metadata_url: str, tmp_path: Path) -> None:
    url = _disk_url(metadata_url)
    blobs = tmp_path / "blobs"
    reg = modelreg.connect(url, artifacts=str(blobs), settings=Settings(home=tmp_path))
    reg.register_version("big", files={"weights/best.pt": b"v1"})
    proc = subprocess.Popen([sys.executable, "-c", SLOW_REGISTER, url, str(blobs)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until a good part of the 1 GiB is written
        temp = list((blobs / "tmp").glob("*")) if (blobs / "tmp").exists() else []
        if temp and max(p.stat().st_size for p in temp) > 100 << 20:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the writer never got going")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert [v.number for v in reg.list_versions("big").items] == [1]
    assert reg.fsck().ok
    assert reg.gc(dry_run=False, grace_s=0, temp_grace_s=0).temp_files >= 1
    assert not list((blobs / "tmp").glob("*"))
    assert reg.register_version("big", files={"weights/best.pt": b"v2"}).number == 2
    reg.close()


KILL_LOOP = textwrap.dedent("""
    import os, sys, modelreg
    from modelreg.config import Settings
    url, blobs = sys.argv[1], sys.argv[2]
    reg = modelreg.connect(url, artifacts=blobs, settings=Settings(actor="loop"))
    i = 0
    while True:
        i += 1
        reg.register_version("loop", files={"a": os.urandom(200_000), "b": f"{os.getpid()}-{i}".encode()},
                             metrics={"i": i})
        print(i, flush=True)
""")


def test_kill_at_random_moments_leaves_whole_versions_only(metadata_url: str, tmp_path: Path) -> None:
    url = _disk_url(metadata_url)
    blobs = str(tmp_path / "blobs")
    for delay in (0.0, 0.003, 0.007, 0.011, 0.017, 0.023):
        proc = subprocess.Popen([sys.executable, "-c", KILL_LOOP, url, blobs], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        for _ in range(3):  # let a few registrations finish, then kill in the middle of the next ones
            assert proc.stdout.readline()
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    reg = modelreg.connect(url, artifacts=blobs, settings=Settings(home=tmp_path))
    versions = list(reg.iter_versions(model="loop"))
    assert versions, "no registration finished at all"
    for v in versions:
        assert v.status == "ready" and sorted(a.path for a in v.artifacts) == ["a", "b"]
    assert reg.fsck().ok
    numbers = sorted(v.number for v in versions)
    assert len(numbers) == len(set(numbers))
    reg.close()


def test_gc_racing_registrations_of_the_same_content_never_loses_a_referenced_blob(reg: Service) -> None:
    """A version of content X is deleted (X becomes garbage) and X is registered again while gc runs."""
    content = b"popular base weights" * 1000
    reg.register_version("race", files={"keep.pt": b"v1 holds other content"})
    stop = threading.Event()
    errors: list[BaseException] = []
    kept: list[str] = []

    def churn() -> None:
        try:
            for i in range(40):
                v = reg.register_version("race", files={"w.pt": content})
                if i % 4 == 3:
                    kept.append(v.ref)  # some survive: they must stay whole
                else:
                    reg.delete_version(v.ref)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            stop.set()

    def collect() -> None:
        try:
            while not stop.is_set():
                reg.gc(dry_run=False, grace_s=60)  # the default grace is an hour; rows race without one
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=churn), threading.Thread(target=collect)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert len(kept) == 10
    reg.gc(dry_run=False, grace_s=0)
    assert reg.fsck().ok
    for ref in kept:
        assert reg.pull(ref, reg.ctx.settings.home / "out" / ref.replace("/", "_")).joinpath("w.pt").read_bytes() \
            == content


def test_two_threads_moving_an_alias_lose_no_update(reg: Service) -> None:
    for i in range(4):
        reg.register_version("m", files={"w": bytes([i])})
    errors: list[BaseException] = []

    def mover(numbers: list[int]) -> None:
        try:
            for n in numbers * 10:
                reg.activate(f"m:{n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=mover, args=([1, 2],)), threading.Thread(target=mover, args=([3, 4],))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    moves = reg.alias_history("m", "production")
    events = reg.events(model="m", action="alias.set", limit=1000).items
    assert len(moves) == len(events)  # every move has its event
    chain = list(reversed(moves))
    for earlier, later in itertools.pairwise(chain):
        assert later.from_number == earlier.to_number  # no move was lost in between
    assert reg.get_version("m@production").number == moves[0].to_number


def test_blob_corrupted_on_disk_is_detected_by_resolve_and_fsck(tmp_path: Path) -> None:
    reg = modelreg.connect(home=tmp_path, settings=Settings(home=tmp_path))
    v = reg.register_version("m", files={"w.pt": os.urandom(1 << 20)})
    path = reg.ctx.blobs.local_path(v.artifacts[0].digest)
    assert path is not None
    path.chmod(0o644)
    with open(path, "r+b") as f:
        f.seek(12345)
        f.write(b"\x00\x01\x02")
    with pytest.raises(modelreg.IntegrityError):
        reg.resolve("m", "w.pt")
    report = reg.fsck()
    assert [p.kind for p in report.problems] == ["corrupt"]
    reg.close()
