"""What tests that start real processes share: a free loopback port, and the CLI as a child process."""

from __future__ import annotations

import socket
import sys

# the modelreg CLI run by this interpreter (whatever `modelreg` is on PATH, if any)
MODELREG = [sys.executable, "-c", "from modelreg.cli.main import run; run()"]


def free_port() -> int:
    """A loopback TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
