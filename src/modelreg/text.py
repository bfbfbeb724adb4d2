"""Text a store can keep: every string that reaches a store is valid UTF-8 and holds no NUL character.

Python strings may hold lone UTF-16 surrogates (``"\\ud800"``, from JSON escapes or ``os.fsdecode``)
that no UTF-8 encoder accepts, and NUL, which PostgreSQL refuses and SQLite keeps. Either would be
committed by one store and then break every reader (a reply that cannot be encoded), or be refused by
one backend and kept by the other. ``check_storable`` walks any JSON-like value (keys included) and
raises ``InvalidMetadata`` naming the first offending field (values nested deeper than ``MAX_DEPTH``
are refused too: serialisers and databases give up on them); ``storable`` repairs text that must be
kept whatever it holds (an error message), replacing what cannot be stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelreg.errors import InvalidInput, InvalidMetadata

REPLACEMENT = "\ufffd"
MAX_DEPTH = 64  # levels of objects and lists inside one metadata value (params, extra, …)


def unstorable_reason(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None when it can."""
    if "\x00" in text:
        return "a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"a lone UTF-16 surrogate ({text[exc.start]!r}) that is not valid Unicode text"
    return None


def check_storable(value: Any, field: str, *, error: type[InvalidInput] = InvalidMetadata) -> None:
    """Raise ``error`` naming the path inside ``field`` of the first string (or key) that cannot be stored,
    or of the first object or list nested deeper than ``MAX_DEPTH`` levels."""
    stack: list[tuple[str, Any, int]] = [(field, value, 0)]
    while stack:
        where, item, depth = stack.pop()
        if isinstance(item, (Mapping, list, tuple)) and depth >= MAX_DEPTH:
            raise error(f"{field} nests objects and lists more than {MAX_DEPTH} levels deep; it cannot be stored",
                        hint="flatten it: use dotted keys such as 'optimizer.lr'", field=field)
        if isinstance(item, str):
            _refuse(unstorable_reason(item), where, where, error)
        elif isinstance(item, Mapping):
            for key, inner in item.items():
                if isinstance(key, str):
                    _refuse(unstorable_reason(key), f"a key of {where}", where, error)
                stack.append((f"{where}.{key}", inner, depth + 1))
        elif isinstance(item, (list, tuple)):
            stack.extend((f"{where}[{i}]", inner, depth + 1) for i, inner in enumerate(item))


def _refuse(reason: str | None, what: str, field: str, error: type[InvalidInput]) -> None:
    if reason is not None:
        raise error(f"{what} holds {reason}; it cannot be stored",
                    hint="send valid UTF-8 text without NUL characters", field=field)


def storable(text: str) -> str:
    """``text`` with NUL characters and lone surrogates replaced by U+FFFD (for text that must be kept)."""
    if unstorable_reason(text) is None:
        return text
    return "".join(REPLACEMENT if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in text)
