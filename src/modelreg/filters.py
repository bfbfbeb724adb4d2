"""The filter language for search and promotion gates: parsed once into a small AST.

Grammar (keywords are case-insensitive)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | primary
    primary    := "(" expr ")" | field op value | field "contains" string | field
    op         := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
    field      := name ("." name)*            e.g. status, pinned, metrics.map50, tags.team,
                                              eval.night_images.map50 (an evaluation's metric)
    value      := number | 'string' | "string" | true | false

A bare field (``pinned``) means ``pinned = true``. Stores compile the AST to parameterized SQL
(``metadata/sql/filters.py``) or evaluate it in Python (``evaluate``); nothing is ever built by
pasting text into SQL.

Limits, each declared once below: ``MAX_FILTER_LENGTH`` characters and ``MAX_FILTER_DEPTH`` levels of
nesting (each ``(`` and each ``not`` is one level). The depth limit keeps the recursive parser, the
evaluators and the SQL they compile to far from any stack: SQLite's own SQL parser overflows at about
32 levels of alternating ``and``/``or`` groups, so the limit sits below that on every backend alike.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from modelreg.errors import InvalidFilter

Op = Literal["=", "!=", "<", "<=", ">", ">=", "contains"]
Scalar = str | float | bool


@dataclass(frozen=True)
class Field:
    """A resolved field: ``kind`` is 'column', 'metric', 'tag' or 'eval'; ``name`` the column, metric or tag key,
    or for 'eval' ``<dataset>.<metric>`` (see ``eval_key``)."""

    kind: str
    name: str
    type: Literal["str", "num", "bool", "status", "time", "any"] = "str"

    def __str__(self) -> str:
        return {"metric": f"metrics.{self.name}", "tag": f"tags.{self.name}",
                "eval": f"eval.{self.name}"}.get(self.kind, self.name)

    @property
    def json_path(self) -> tuple[str, tuple[str, ...]]:
        """A 'json' field's document (``outputs``, ``input``) and the keys into it: ``outputs.box.x`` ->
        ("outputs", ("box", "x"))."""
        root, *keys = self.name.split(".")
        return root, tuple(keys)


def eval_key(field: Field) -> tuple[str, str]:
    """The dataset and metric an 'eval' field names: dataset names hold no '.', so it splits at the first."""
    dataset, _, metric = field.name.partition(".")
    return dataset, metric


@dataclass(frozen=True)
class Compare:
    field: Field
    op: Op
    value: Scalar | Field  # a Field: compared with another field of the same record (inference filters)


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | And | Or | Not

# Fields that search understands; anything else is an error that lists these.
VERSION_COLUMNS: dict[str, Field] = {
    "number": Field("column", "number", "num"),
    "version": Field("column", "number", "num"),
    "status": Field("column", "status", "status"),
    "pinned": Field("column", "pinned", "bool"),
    "archived": Field("column", "archived", "bool"),
    "created_at": Field("column", "created_at", "time"),
    "created_by": Field("column", "created_by", "str"),
    "label": Field("column", "label", "str"),
    "description": Field("column", "description", "str"),
    "notes": Field("column", "notes", "str"),
    "name": Field("column", "model", "str"),
    "model": Field("column", "model", "str"),
    "project": Field("column", "project", "str"),
}
MODEL_COLUMNS: dict[str, Field] = {
    "name": Field("column", "name", "str"),
    "description": Field("column", "description", "str"),
    "task": Field("column", "task", "str"),
    "baseline": Field("column", "baseline", "str"),
    "pinned": Field("column", "pinned", "bool"),
    "project": Field("column", "project", "str"),
    "created_at": Field("column", "created_at", "time"),
    "updated_at": Field("column", "updated_at", "time"),
}

FieldResolver = Callable[[str], Field]


def resolver(columns: Mapping[str, Field], *, metrics: bool, free: bool = False) -> FieldResolver:
    """Build a field resolver: known columns, ``tags.<key>``, ``metrics.<name>`` and ``eval.<dataset>.<metric>``
    (a metric of the version's evaluation on that dataset) when ``metrics``.

    ``free`` accepts any dotted name as a numeric field (promotion gates: ``delta.class_ap.min``).
    """

    def resolve(name: str) -> Field:
        if name in columns:
            return columns[name]
        head, _, rest = name.partition(".")
        if head == "tags" and rest:
            return Field("tag", rest, "str")
        if head == "metrics" and rest and metrics:
            return Field("metric", rest, "num")
        if head == "eval" and metrics:
            dataset, _, metric = rest.partition(".")
            if not dataset or not metric:
                raise InvalidFilter(f"{name!r} names no dataset and metric", field=name,
                                    hint="an evaluation's metric is eval.<dataset>.<metric>, e.g. "
                                         "eval.night_images.map50")
            return Field("eval", rest, "num")
        if free:
            return Field("path", name, "num")
        known = sorted(columns) + ["tags.<key>"] + (["metrics.<name>", "eval.<dataset>.<metric>"] if metrics else [])
        raise InvalidFilter(f"unknown field {name!r}", hint="known fields: " + ", ".join(known), field=name)

    return resolve


# Inference records: their columns, the newest feedback's label, and any key inside the JSON they carry.
INFERENCE_COLUMNS: dict[str, Field] = {
    "request_id": Field("column", "request_id", "str"),
    "client_request_id": Field("column", "client_request_id", "str"),
    "version": Field("column", "version", "num"),
    "time": Field("column", "time", "time"),
    "latency_ms": Field("column", "latency_ms", "num"),
    "status": Field("column", "status", "str"),
    "error": Field("column", "error", "str"),
    "input_ref": Field("column", "input_ref", "str"),
    "sample_rate": Field("column", "sample_rate", "num"),
    "feedback": Field("column", "feedback", "bool"),  # the record has feedback
    "feedback.count": Field("column", "feedback_count", "num"),
    "feedback.label": Field("column", "feedback_label", "str"),  # the newest feedback's label
    "feedback.agrees": Field("column", "feedback_agrees", "bool"),  # the newest feedback matched the outputs
}
INFERENCE_JSON = ("outputs", "input")
MAX_JSON_PATH = 8  # keys into an inference's outputs or input


def inference_fields(name: str) -> Field:
    """Resolve a field of an inference record: a column, or ``outputs.<key>[.<key>…]`` / ``input.<key>…``
    (a value inside the record's JSON, compared as whatever it is compared with)."""
    if name in INFERENCE_COLUMNS:
        return INFERENCE_COLUMNS[name]
    head, _, rest = name.partition(".")
    if head in INFERENCE_JSON and rest:
        keys = rest.split(".")
        if len(keys) > MAX_JSON_PATH or any(not k for k in keys):
            raise InvalidFilter(f"{name!r} is not a path of at most {MAX_JSON_PATH} keys", field=name,
                                hint="e.g. outputs.class or outputs.box.score")
        return Field("json", name, "any")
    known = sorted(INFERENCE_COLUMNS) + ["outputs.<key>", "input.<key>"]
    raise InvalidFilter(f"unknown field {name!r}", hint="known fields: " + ", ".join(known), field=name)


version_fields = resolver(VERSION_COLUMNS, metrics=True)
model_fields = resolver(MODEL_COLUMNS, metrics=False)
gate_fields = resolver({}, metrics=True, free=True)

_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
      | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|<=|>=|=|<|>)
      | (?P<paren>[()])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.\-]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "contains", "true", "false"}
MAX_FILTER_LENGTH = 4000
MAX_FILTER_DEPTH = 24  # levels of "(" and "not"; below SQLite's parser stack (about 32 levels of groups)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            snippet = text[pos:pos + 20].strip()
            raise InvalidFilter(f"unexpected character at position {pos}: {snippet!r}",
                                hint="strings go in quotes: name contains 'yolo'", position=pos)
        kind = m.lastgroup or ""
        tok_text = m.group(kind)
        start = m.start(kind)
        if kind == "word" and tok_text.lower() in _KEYWORDS:
            kind, tok_text = "kw", tok_text.lower()
        toks.append(_Tok(kind, tok_text, start))
        pos = m.end()
    return toks


class _Parser:
    def __init__(self, text: str, resolve: FieldResolver, field_values: bool = False) -> None:
        self.field_values = field_values
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.resolve = resolve
        self.depth = 0

    def enter(self, tok: _Tok) -> None:
        """One level deeper (a ``(`` or a ``not``); refuse the filter past ``MAX_FILTER_DEPTH``."""
        self.depth += 1
        if self.depth > MAX_FILTER_DEPTH:
            raise InvalidFilter(f"the filter nests deeper than {MAX_FILTER_DEPTH} levels at position {tok.pos}",
                                hint="each '(' and each 'not' is a level; remove redundant parentheses and "
                                     "double negations, or split the search into simpler filters",
                                position=tok.pos, limit=MAX_FILTER_DEPTH)

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise InvalidFilter("the filter ends too early", hint="check for a missing value or ')'",
                                position=len(self.text))
        self.i += 1
        return tok

    def error(self, tok: _Tok, expected: str) -> InvalidFilter:
        return InvalidFilter(f"expected {expected} at position {tok.pos}, found {tok.text!r}",
                             hint="example: metrics.map50 >= 0.8 and not pinned", position=tok.pos)

    def parse(self) -> Node:
        node = self.parse_or()
        tok = self.peek()
        if tok is not None:
            raise self.error(tok, "'and', 'or' or the end")
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while (tok := self.peek()) and tok.kind == "kw" and tok.text == "or":
            self.i += 1
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_not()]
        while (tok := self.peek()) and tok.kind == "kw" and tok.text == "and":
            self.i += 1
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_not(self) -> Node:
        tok = self.peek()
        if tok and tok.kind == "kw" and tok.text == "not":
            self.i += 1
            self.enter(tok)
            node = Not(self.parse_not())
            self.depth -= 1
            return node
        return self.parse_primary()

    def parse_primary(self) -> Node:
        tok = self.take()
        if tok.kind == "paren" and tok.text == "(":
            self.enter(tok)
            node = self.parse_or()
            close = self.take()
            if close.text != ")":
                raise self.error(close, "')'")
            self.depth -= 1
            return node
        if tok.kind != "word":
            raise self.error(tok, "a field name")
        field = self.resolve(tok.text)
        nxt = self.peek()
        if nxt is None or (nxt.kind == "kw" and nxt.text in ("and", "or")) or nxt.text == ")":
            if field.type != "bool":
                raise InvalidFilter(f"field {tok.text!r} needs a comparison, e.g. {tok.text} = ...",
                                    position=tok.pos)
            return Compare(field, "=", True)
        op_tok = self.take()
        if op_tok.kind == "kw" and op_tok.text == "contains":
            value = self.take()
            if value.kind != "str":
                raise self.error(value, "a quoted string after 'contains'")
            if field.type not in ("str", "status", "any"):
                raise InvalidFilter(f"'contains' works on text fields, not {tok.text!r}", position=op_tok.pos)
            return Compare(field, "contains", _unquote(value.text))
        if op_tok.kind != "op":
            raise self.error(op_tok, "a comparison (=, !=, <, <=, >, >=) or 'contains'")
        op: Op = "=" if op_tok.text == "==" else op_tok.text  # type: ignore[assignment]
        return Compare(field, op, self.parse_value(field, op))

    def parse_value(self, field: Field, op: Op) -> Scalar | Field:
        tok = self.take()
        if tok.kind == "word" and self.field_values:
            other = self.resolve(tok.text)
            if "bool" in (field.type, other.type):
                raise InvalidFilter(f"{field} and {other} cannot be compared with each other", position=tok.pos,
                                    hint="compare a field with a value, e.g. feedback = true")
            return other
        if tok.kind == "num":
            number = float(tok.text)
            if not math.isfinite(number):
                raise InvalidFilter(f"{tok.text} is not a finite number", position=tok.pos)
            value: Scalar = number
        elif tok.kind == "str":
            value = _unquote(tok.text)
        elif tok.kind == "kw" and tok.text in ("true", "false"):
            value = tok.text == "true"
        else:
            expected = "a value (a number, a quoted string, true or false)"
            raise self.error(tok, expected + (" or a field" if self.field_values else ""))
        return _check_value(field, op, value, tok.pos)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _check_value(field: Field, op: Op, value: Scalar, pos: int) -> Scalar:
    name = str(field)
    if field.type == "num" and (isinstance(value, bool) or not isinstance(value, float)):
        raise InvalidFilter(f"{name} is a number; {value!r} is not", position=pos)
    if field.type == "bool":
        if not isinstance(value, bool) or op not in ("=", "!="):
            raise InvalidFilter(f"{name} is true or false; compare it with = true or = false", position=pos)
    if field.type in ("str", "status", "time") and not isinstance(value, str):
        raise InvalidFilter(f"{name} is text; put the value in quotes", position=pos)
    if field.type == "status" and op != "contains":
        from modelreg.types import STATUSES

        if value not in STATUSES:
            raise InvalidFilter(f"status {value!r} does not exist", hint="statuses: " + ", ".join(STATUSES),
                                position=pos)
    return value


def parse_filter(text: str | None, resolve: FieldResolver = version_fields, *,
                 field_values: bool = False) -> Node | None:
    """Parse a filter expression; ``None`` or blank means no filter. Raises InvalidFilter. ``field_values``: a
    comparison's right side may name another field (``feedback.label != outputs.class``)."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidFilter(f"the filter is {len(text)} characters; the limit is {MAX_FILTER_LENGTH}")
    return _Parser(text, resolve, field_values).parse()


# ---------------------------------------------------------------- structured must/not form

_STRUCTURED_KEYS = ("name_contains", "description_contains", "is_pinned", "is_archived", "is_trained",
                    "status", "task", "baseline", "tags", "metrics_min", "metrics_max")


def structured_filter(spec: Mapping[str, Any], resolve: FieldResolver = version_fields) -> Node | None:
    """Turn the structured ``{"must": {...}, "not": {...}}`` filter into the same AST.

    Options: name_contains, description_contains, is_pinned, is_archived, is_trained (status ready),
    status, task, baseline, tags {key: value}, metrics_min {name: low}, metrics_max {name: high}.
    """
    unknown = set(spec) - {"must", "not", "must_filter", "not_filter"}
    if unknown:
        raise InvalidFilter(f"unknown filter section(s) {sorted(unknown)}", hint="use 'must' and 'not'")
    parts: list[Node] = []
    for section in ("must", "must_filter"):
        if spec.get(section):
            parts.extend(_options(spec[section], resolve))
    for section in ("not", "not_filter"):
        if spec.get(section):
            opts = _options(spec[section], resolve)
            parts.extend(Not(o) for o in opts)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _options(opts: Any, resolve: FieldResolver) -> list[Node]:
    if not isinstance(opts, Mapping):
        raise InvalidFilter("each filter section is an object of options", hint=", ".join(_STRUCTURED_KEYS))
    out: list[Node] = []
    for key, value in opts.items():
        if value is not None:
            out.extend(_option(str(key), value, resolve))
    return out


_BOUND_OPS: dict[str, Op] = {"metrics_min": ">=", "metrics_max": "<="}
_FLOAT_INT = 10**308  # an integer past this does not fit in a float
_SHOWN = 40  # characters of a refused value quoted back in an error


def _option(key: str, value: Any, resolve: FieldResolver) -> list[Node]:
    """The comparisons of one option, each value checked against the type the option takes."""
    if key in ("name_contains", "description_contains"):
        return [Compare(resolve(key.removesuffix("_contains")), "contains", _text(key, value))]
    if key in ("is_pinned", "is_archived"):
        return [Compare(resolve(key.removeprefix("is_")), "=", _flag(key, value))]
    if key == "is_trained":
        node = Compare(resolve("status"), "=", "ready")
        return [node if _flag(key, value) else Not(node)]
    if key in ("status", "task", "baseline"):
        field = resolve(key)
        return [Compare(field, "=", _check_value(field, "=", _text(key, value), 0))]
    if key == "tags":
        pairs = _mapping(key, value, '{"tags": {"team": "vision"}}').items()
        return [Compare(resolve(f"tags.{k}"), "=", _text(f"tags.{k}", v)) for k, v in pairs]
    if key in _BOUND_OPS:
        pairs = _mapping(key, value, f'{{"{key}": {{"map50": 0.5}}}}').items()
        return [_bound(key, resolve(f"metrics.{k}"), v) for k, v in pairs]
    raise InvalidFilter(f"unknown filter option {key!r}", hint="options: " + ", ".join(_STRUCTURED_KEYS))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def _text(option: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidFilter(f"filter option {option} is text; {_shown(value)} is not",
                            hint="put the value in quotes", option=option)
    return value


def _flag(option: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidFilter(f"filter option {option} is true or false; {_shown(value)} is not",
                            hint=f'use a JSON boolean, e.g. {{"{option}": true}}', option=option)
    return value


def _mapping(option: str, value: Any, example: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidFilter(f"filter option {option} is an object; {_shown(value)} is not",
                            hint=f"for example {example}", option=option)
    return value


def _bound(option: str, field: Field, bound: Any) -> Compare:
    """``metrics.<name> >= bound`` (metrics_min) or ``<=`` (metrics_max); the bound is a finite JSON number."""
    hint = f'bounds are numbers, e.g. {{"{option}": {{"{field.name}": 0.5}}}}'
    if isinstance(bound, bool) or not isinstance(bound, int | float):
        raise InvalidFilter(f"the {option} bound of {field} is {_shown(bound)}, not a number", hint=hint,
                            option=option, field=str(field))
    number = float(bound) if isinstance(bound, float) or abs(bound) <= _FLOAT_INT else math.inf
    if not math.isfinite(number):
        raise InvalidFilter(f"the {option} bound of {field} is {_shown(bound)}, not a finite number", hint=hint,
                            option=option, field=str(field))
    op = _BOUND_OPS[option]
    return Compare(field, op, _check_value(field, op, number, 0))


# ---------------------------------------------------------------- evaluation in Python

Getter = Callable[[Field], Any]


def evaluate(node: Node | None, get: Getter, cmp: Callable[[Any, Op, Any], bool] | None = None) -> bool:
    """Evaluate the AST against one record; ``get(field)`` returns its value or None when absent; ``cmp``
    replaces ``compare`` (inference records compare JSON values by kind)."""
    if node is None:
        return True
    if isinstance(node, And):
        return all(evaluate(n, get, cmp) for n in node.items)
    if isinstance(node, Or):
        return any(evaluate(n, get, cmp) for n in node.items)
    if isinstance(node, Not):
        return not evaluate(node.item, get, cmp)
    value = get(node.value) if isinstance(node.value, Field) else node.value
    if value is None:
        return False
    return (cmp or compare)(get(node.field), node.op, value)


def compare(actual: Any, op: Op, value: Any) -> bool:
    """One comparison with SQL's semantics: an absent value matches nothing (not even !=)."""
    if actual is None:
        return False
    if op == "contains":
        return str(value).lower() in str(actual).lower()
    if hasattr(actual, "isoformat"):
        actual = actual.isoformat()
    try:
        if op == "=":
            return bool(actual == value)
        if op == "!=":
            return bool(actual != value)
        if op == "<":
            return bool(actual < value)
        if op == "<=":
            return bool(actual <= value)
        if op == ">":
            return bool(actual > value)
        return bool(actual >= value)
    except TypeError:
        return False


# ---------------------------------------------------------------- sorting and cursors


@dataclass(frozen=True)
class Sort:
    field: Field
    descending: bool


def parse_sort(text: str | None, resolve: FieldResolver, default: str) -> Sort:
    """``"-metrics.map50"`` sorts by map50 descending; ``"created_at"`` ascending."""
    text = (text or default).strip()
    descending = text.startswith("-")
    field = resolve(text.lstrip("-+"))
    return Sort(field, descending)


# A page's next cursor in a REST reply's headers too, so a client can ask for the next page while it still
# decodes this one (the body's ``next_cursor`` is the same).
NEXT_CURSOR_HEADER = "X-Modelreg-Next-Cursor"


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_CURSOR_VALUES = 8  # a cursor is a flat list: [sort value, id] or [id]
_CURSOR_INT = 2**63 - 1  # the largest integer SQLite and PostgreSQL store
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def decode_cursor(cursor: str | None) -> list[Any] | None:
    """The values of a cursor that ``encode_cursor`` made: a flat list of at most ``MAX_CURSOR_VALUES``
    scalars (text, finite numbers, 64-bit integers, booleans, null). Anything else raises InvalidFilter
    before the JSON is parsed deeper than one level."""
    if not cursor:
        return None
    bad = InvalidFilter("the cursor is not one this server issued",
                        hint="pass back next_cursor exactly as the previous page returned it, or leave cursor "
                             "out for the first page", cursor=cursor[:40])
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not _flat_list(text):
            raise bad
        values = json.loads(text)
    except ValueError as exc:  # binascii.Error, UnicodeDecodeError, JSONDecodeError, too many digits
        raise bad from exc
    if not isinstance(values, list) or len(values) > MAX_CURSOR_VALUES or not all(map(_cursor_scalar, values)):
        raise bad
    return values


def _flat_list(text: str) -> bool:
    """Whether JSON ``text`` is one list with no list or object inside (strings blanked out first)."""
    skeleton = _JSON_STRING.sub('""', text).strip()
    return skeleton.startswith("[") and skeleton.count("[") == 1 and "{" not in skeleton


def _cursor_scalar(value: Any) -> bool:
    if value is None or isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return abs(value) <= _CURSOR_INT
    return isinstance(value, float) and math.isfinite(value)


def walk_pages(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    """Every item of a keyset-paged listing: ``fetch(cursor)`` returns a page with items and next_cursor."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        if not page.next_cursor:
            return
        cursor = page.next_cursor
