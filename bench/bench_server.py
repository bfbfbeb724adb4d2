"""The server's keep-alive latency, start-up time and idle memory, with and without modelreg's TCP_NODELAY fix.

    python bench/bench_server.py [--requests 50] [--workers 1 4]

For each configuration a real server is started as a subprocess on a free port over a fresh registry
($MODELREG_HOME in a scratch folder), then measured:

- start-up: from spawning the process to the first 200 of ``GET /api/v1/ready``;
- keep-alive latency: ``--requests`` sequential ``GET /api/v1/health`` on one reused httpx connection
  (after one warm-up request), and the same for resolving an alias (``GET …/versions/@production``);
- idle memory: the resident memory of the server and its worker processes after the requests.

Configurations, each with 1 and 4 workers:

- ``modelreg serve``: modelreg's HTTP protocol class (TCP_NODELAY on every accepted connection) on the
  default loop (uvloop when installed);
- ``modelreg serve --loop asyncio``: the same on asyncio's loop, the one that loses TCP_NODELAY;
- ``uvicorn --loop asyncio``: the same app and loop on stock uvicorn (httptools): the numbers without the
  fix (uvicorn issue 3149 shows with several workers, where the supervisor binds the socket);
- ``uvicorn`` (uvloop): stock uvicorn on uvloop, which sets TCP_NODELAY itself.

Prints the numbers and writes them into docs/benchmarks.md between ``<!-- bench_server:start -->`` and
``<!-- bench_server:end -->``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from _util import (
    Stats,
    machine_facts,
    markdown_table,
    ms,
    replace_section,
    scratch_dir,
    stop_process,
    text_table,
    tree_pids,
)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
MODELREG = [sys.executable, "-c", "from modelreg.cli.main import run; run()"]
UVICORN = [sys.executable, "-m", "uvicorn", "modelreg.server.app:create_app_from_environ", "--factory",
           "--no-access-log", "--http", "httptools"]


@dataclass(frozen=True)
class Config:
    name: str
    fix: bool
    command: list[str]  # without host, port and workers


CONFIGS = [
    Config("modelreg serve", True, [*MODELREG, "serve", "--no-access-log"]),
    Config("modelreg serve --loop asyncio", True, [*MODELREG, "serve", "--no-access-log", "--loop", "asyncio"]),
    Config("uvicorn --loop asyncio", False, [*UVICORN, "--loop", "asyncio"]),
    Config("uvicorn (uvloop)", False, [*UVICORN, "--loop", "uvloop"]),
]


@dataclass(frozen=True)
class Result:
    config: Config
    workers: int
    startup: float
    health: Stats
    alias: Stats
    raw: Stats  # health again, with the standard library's http.client (no httpx overhead)
    rss_mib: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants (Linux /proc), in MiB."""
    total_kib = 0
    for current in tree_pids(pid):
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


def measure(config: Config, workers: int, requests: int, work: Path) -> Result:
    home = work / f"home-{len(list(work.iterdir()))}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELREG_", "MODEL_ENVIRONMENT"))}
    env.update({"MODELREG_HOME": str(home), "MODELREG_ACTOR": "bench"})
    home.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (work / f"{home.name}.log").open("w")
    started = time.perf_counter()
    proc = subprocess.Popen([*config.command, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        while True:
            try:
                if httpx.get(url + "/api/v1/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"{config.name} exited: {(work / f'{home.name}.log').read_text()}")
            time.sleep(0.005)
        startup = time.perf_counter() - started
        if workers > 1:
            time.sleep(1.0)  # let every worker finish starting before timing one of them
        import modelreg

        reg = modelreg.connect(url)
        reg.register_version("bench-detector", files={"weights/best.pt": b"weights"}, metrics={"map50": 0.9})
        reg.close()
        with httpx.Client(base_url=url) as client:  # one connection, reused for every request
            health = _timed(client, "/api/v1/health", requests)
            alias = _timed(client, "/api/v1/projects/-/models/bench-detector/versions/@production", requests)
        raw = _timed_raw(port, "/api/v1/health", requests)
        rss = tree_rss_mib(proc.pid)
    finally:
        stop_process(proc)
        log.close()
    return Result(config, workers, startup, health, alias, raw, rss)


def _timed(client: httpx.Client, path: str, requests: int) -> Stats:
    assert client.get(path).status_code == 200  # warm-up: opens the connection
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(path)
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
    return Stats(tuple(samples))


def _timed_raw(port: int, path: str, requests: int) -> Stats:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        samples = []
        for i in range(requests + 1):
            start = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if i:  # the first one opens the connection
                samples.append(time.perf_counter() - start)
            assert response.status == 200
        return Stats(tuple(samples))
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50, help="sequential requests per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4], help="worker counts to measure")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    results: list[Result] = []
    with scratch_dir(None, "bench_server_") as work:
        facts = machine_facts(work, None)
        for config in CONFIGS:
            for workers in args.workers:
                result = measure(config, workers, args.requests, work)
                results.append(result)
                print(f"{config.name:32} workers={workers}  health p50 {ms(result.health.median):>9}  "
                      f"(http.client {ms(result.raw.median):>9})  "
                      f"alias p50 {ms(result.alias.median):>9}  start-up {ms(result.startup):>8}  "
                      f"idle RSS {result.rss_mib:.0f} MiB", flush=True)
    header = ["server", "TCP_NODELAY fix", "workers", "health p50", "health p90", "health max",
              "health p50, http.client", "alias p50", "alias p90", "start-up", "idle RSS"]
    rows = [[r.config.name, "yes" if r.config.fix else "no", str(r.workers), ms(r.health.median), ms(r.health.p90),
             ms(max(r.health.samples)), ms(r.raw.median), ms(r.alias.median), ms(r.alias.p90), ms(r.startup),
             f"{r.rss_mib:.0f} MiB"] for r in results]
    print()
    print(text_table(header, rows))
    if args.no_docs:
        return
    fact_lines = "\n".join(f"- {k}: {v}" for k, v in facts.items() if k not in ("PostgreSQL", "SQLite"))
    body = f"""## Server keep-alive latency (`bench/bench_server.py`)

```bash
python bench/bench_server.py --requests {args.requests} --workers {' '.join(map(str, args.workers))}
```

Each row is a real server process on loopback over a fresh embedded registry: `{args.requests}` sequential
requests on **one reused httpx connection** after a warm-up request, timed at the client (so they include
httpx's own overhead; *http.client* repeats the health requests with the standard library's client on
one connection, closer to the server's own time). *health* is `GET /api/v1/health`; *alias* resolves
`@production` of a model (`GET /api/v1/projects/-/models/bench-detector/versions/@production`; the server
reuses the reply while the store reports no commit). *start-up* runs from
spawning the process to the first `200` of `GET /api/v1/ready` (all workers of a multi-worker server may
take a moment longer; on a 2-core machine 4 workers start one after the other's imports, and start-up varies
with the machine's load). *idle RSS* is the resident memory of the server and its workers after the requests.

Without the fix (stock uvicorn on asyncio's loop) Nagle's algorithm stays on once the supervisor binds
the socket (more than one worker, uvicorn issue 3149) and each reused-connection request waits for the
client's delayed ACK. modelreg's HTTP protocol class sets `TCP_NODELAY` on every accepted connection,
whatever the loop and the worker count; uvloop happens to set it too.

{markdown_table(header, rows)}

Machine:
{fact_lines}
"""
    replace_section(DOC, "bench_server", body)
    print(f"\nwrote the bench_server section of {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
