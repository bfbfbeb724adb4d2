"""Request ids of inference records made for the caller: 32 hex digits, ordered by time.

The first 12 digits are the milliseconds since 1970, the other 20 random (80 bits: two ids of one millisecond
collide with a chance of about 1 in 10^24), the layout of a UUIDv7 without its version bits. Ordered ids make a
store's unique index on them grow at its end, as it does for times; random ones (``uuid4``) land all over it,
and past a few hundred thousand records every insert reads pages from the middle of the index.
"""

from __future__ import annotations

import os
import time


def new_request_id() -> str:
    """A new request id: ``{milliseconds:012x}{80 random bits:020x}``."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"
