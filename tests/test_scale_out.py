"""Scale-out: a `modelreg serve --workers 4` on PostgreSQL + S3, hammered by client processes.

The server keeps no state of its own, so four workers must behave as one registry: 8 processes x 50
registrations get 400 distinct numbers, and concurrent alias moves end consistent with a complete history.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests._processes import free_port

import modelreg
from modelreg.config import Settings
from s3_server import ACCESS_KEY, REGION, SECRET_KEY, S3Server, s3_server, s3_url

__all__ = ["s3_server", "s3_url"]  # the fixtures, re-exported for pytest
pytestmark = [pytest.mark.slow, pytest.mark.postgres]




@pytest.fixture
def four_workers(postgres_url: str, s3_server: S3Server, s3_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "MODELREG_HOME": str(tmp_path / "server"), "MODELREG_DATABASE_URL": postgres_url,
           "MODELREG_ARTIFACTS": s3_url, "MODELREG_S3_ENDPOINT_URL": s3_server.endpoint_url,
           "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION}
    env.pop("MODELREG_URL", None)
    env.pop("MODELREG_TOKEN", None)
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 -- closed below, after the server stops
    proc = subprocess.Popen([sys.executable, "-m", "modelreg", "serve", "--port", str(port),
                             "--workers", "4"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v1/ready", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("the server did not become ready:\n" + (tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


REGISTER = textwrap.dedent("""
    import sys, modelreg
    from modelreg.config import Settings
    url, model, worker, home = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    reg = modelreg.connect(url, settings=Settings(home=home, actor=f"client-{worker}"))
    for i in range(50):
        reg.register_version(model, files={"w.bin": f"{worker}-{i}".encode(), "shared.txt": b"same"},
                             metrics={"worker": worker, "i": i})
    reg.close()
""")

MOVE = textwrap.dedent("""
    import sys, modelreg
    from modelreg.config import Settings
    url, model, first, home = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    reg = modelreg.connect(url, settings=Settings(home=home))
    for n in [first, first + 1] * 10:
        reg.activate(f"{model}:{n}")
    reg.close()
""")


def test_four_workers_on_postgres_and_s3(four_workers: str, tmp_path: Path) -> None:
    model = f"scale-{uuid.uuid4().hex[:8]}/detector"
    home = str(tmp_path / "client")
    procs = [subprocess.Popen([sys.executable, "-c", REGISTER, four_workers, model, str(w), home])
             for w in range(8)]
    assert [p.wait(timeout=900) for p in procs] == [0] * 8
    reg = modelreg.connect(four_workers, settings=Settings(home=home))
    versions = list(reg.iter_versions(model=model, limit=500))
    assert sorted(v.number for v in versions) == list(range(1, 401))
    assert {(int(v.metrics["worker"]), int(v.metrics["i"])) for v in versions} == \
        {(w, i) for w in range(8) for i in range(50)}
    assert reg.events(model=model, action="version.registered").total == 400
    sample = versions[123]
    pulled = reg.pull(sample.ref, tmp_path / "pulled")
    assert (pulled / "w.bin").read_bytes() == f"{int(sample.metrics['worker'])}-{int(sample.metrics['i'])}".encode()

    movers = [subprocess.Popen([sys.executable, "-c", MOVE, four_workers, model, str(first), home])
              for first in (1, 3, 5, 7)]
    assert [p.wait(timeout=600) for p in movers] == [0] * 4
    moves = reg.alias_history(model, "production")
    chain = list(reversed(moves))
    for earlier, later in itertools.pairwise(chain):
        assert later.from_number == earlier.to_number  # no move lost between two others
    assert reg.get_version(f"{model}@production").number == moves[0].to_number
    assert len(moves) == reg.events(model=model, action="alias.set", limit=1000).total
    reg.close()
