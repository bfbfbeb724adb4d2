"""One large-file operation in a process of its own, so its peak memory is its own.

    python bench/_big_child.py register --home H --model M --src FILE
    python bench/_big_child.py pull --home H --ref M:1 --dest DIR

Prints one JSON line: the seconds the operation took (imports and connecting excluded), the peak
resident memory before the operation (imports + connect) and at the end, in MiB, and the bytes the
operation wrote to the disk (``/proc/self/io``: written minus cancelled before reaching the disk).

Peak memory is the kernel's high-water mark of this process's own memory (``VmHWM``). ``ru_maxrss`` is
printed too but is not usable here: on Linux it survives ``exec``, so a child started by a big parent
reports at least the parent's size (the benchmark process holds hundreds of MB).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path


def peak_rss_mib() -> float:
    """High-water mark of this process's resident memory (``VmHWM``), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def io_counters() -> dict[str, int]:
    """This process's storage I/O so far (``/proc/self/io``): bytes it sent, or will send, to the disk."""
    with open("/proc/self/io") as f:
        pairs = (line.split(":") for line in f if ":" in line)
        return {key.strip(): int(value) for key, value in pairs}


def ru_maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("op", choices=["register", "pull"])
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--model", default="big")
    parser.add_argument("--src", type=Path)
    parser.add_argument("--ref")
    parser.add_argument("--dest", type=Path)
    args = parser.parse_args()

    import modelreg

    reg = modelreg.connect(home=args.home)
    if args.op == "pull":
        reg.list_versions(args.model, limit=1)  # open the database connection, as a real caller would have
    before = peak_rss_mib()
    io_before = io_counters()
    start = time.perf_counter()
    out: dict[str, object] = {}
    if args.op == "register":
        version = reg.register_version(args.model, files={"weights/big.bin": args.src})
        out.update(number=version.number, size=version.size)
    else:
        reg.pull(args.ref, to=args.dest)
    seconds = time.perf_counter() - start
    io_after = io_counters()
    written = io_after["write_bytes"] - io_before["write_bytes"]
    cancelled = io_after["cancelled_write_bytes"] - io_before["cancelled_write_bytes"]
    out.update(seconds=seconds, rss_before_mib=before, rss_peak_mib=peak_rss_mib(), ru_maxrss_mib=ru_maxrss_mib(),
               disk_write_bytes=written - cancelled)
    reg.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
