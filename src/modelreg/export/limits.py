"""What one export may cost: the input it is traced with, the bytes read to tell a file's kind, the
memory of its child processes. A request beyond them is refused before any child starts (InvalidInput,
422) or ends as an out-of-memory failure (507); the server's own memory never depends on the file.

Declared once here; docs/export.md and docs/security.md list them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from modelreg.errors import InvalidInput

MAX_DIM = 16_384  # one dimension of an input (pixels, tokens, features)
MAX_BATCH = 1_024  # the batch an export is traced or verified with
MAX_SAMPLE_ELEMENTS = 2**26  # values in one sample (64 Mi: a 3 x 4,096 x 4,096 image is 48 Mi)
DETECT_BYTES = 4 * 1024 * 1024  # of a weights file's pickle read to tell what it holds (never unpickled)
MIN_MEMORY_BYTES = 2 * 1024**3  # the default memory limit of a child is half the machine, at least this


def check_input_shapes(shapes: Sequence[Sequence[int]]) -> None:
    """Refuse input shapes an export could not afford (InvalidInput naming the shape and the limit)."""
    for shape in shapes:
        for dim in shape:
            if dim > MAX_DIM:
                raise InvalidInput(f"input shape {list(shape)} has a dimension of {dim}; the limit is {MAX_DIM}",
                                   hint="export with a smaller input shape (or image size)", field="input_shapes",
                                   limit=MAX_DIM)
        batch, sample = (shape[0], shape[1:]) if len(shape) > 1 else (1, shape)
        if batch > MAX_BATCH:
            raise InvalidInput(f"input shape {list(shape)} has a batch of {batch}; the limit is {MAX_BATCH}",
                               hint="export with batch 1 (with a dynamic batch the exported model takes "
                                    "larger ones)", field="input_shapes", limit=MAX_BATCH)
        elements = math.prod(max(1, d) for d in sample)
        if elements > MAX_SAMPLE_ELEMENTS:
            raise InvalidInput(f"input shape {list(shape)} holds {elements:,} values per sample; the limit is "
                               f"{MAX_SAMPLE_ELEMENTS:,}", hint="export with a smaller input shape (or image size)",
                               field="input_shapes", limit=MAX_SAMPLE_ELEMENTS)


def default_memory_limit() -> int:
    """Half of this machine's memory, and at least ``MIN_MEMORY_BYTES``."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # platforms without these names
        return MIN_MEMORY_BYTES * 4
    return max(MIN_MEMORY_BYTES, total // 2)
