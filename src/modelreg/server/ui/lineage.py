"""The version page's lineage as a small graph: its ancestors above it, the version, its descendants below in
layers by depth, a line from each parent to its child.

``lineage_graph`` is pure: it places what a ``Lineage`` holds (the service's walk, with whose child each
descendant is) and the template draws it as inline SVG, so the graph needs no script. What is drawn is capped
(``MAX_NODES`` versions, ``MAX_PER_LAYER`` side by side); the graph says how many more there are, nearest kept:
the nearest ancestors, and descendants breadth first, a child only with its parent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote

from modelreg.refs import parse_ref
from modelreg.types import Lineage, VersionKey

MAX_NODES = 40  # versions drawn, the page's own included
MAX_PER_LAYER = 7  # versions side by side in one layer (a generation)
NODE_W, NODE_H = 140, 40  # a version's box, in px
GAP_X, GAP_Y = 14, 30  # between boxes of a layer, between layers
NOTE_W = 72  # room for a layer's "+N more"
PAD = 8
LABEL_CHARS = 18  # of a box's second line (the model), at the stylesheet's 12 px


class _Key(NamedTuple):
    """A version inside the layout: a ``VersionKey`` as a tuple (hashed thousands of times for a large tree)."""

    project: str
    model: str
    number: int

    def __str__(self) -> str:
        return f"{self.project}/{self.model}:v{self.number}"

    @classmethod
    def of(cls, key: VersionKey) -> _Key:
        return cls(key.project, key.model, key.number)

    def public(self) -> VersionKey:
        return VersionKey(project=self.project, model=self.model, number=self.number)


@dataclass(frozen=True)
class GraphNode:
    key: VersionKey
    depth: int  # -k: the k-th ancestor (-1 the parent), 0: the page's version, d: d generations below it
    x: int  # the box's top left corner
    y: int
    number: str  # "v4": the box's first line
    model: str  # its second line: the model, with its project when that differs from the page's version's
    name: str  # what a screen reader says and a tooltip shows: the reference and how it relates
    url: str | None  # its version page (None for the page's own version)

    @property
    def cx(self) -> int:
        return self.x + NODE_W // 2


@dataclass(frozen=True)
class GraphEdge:
    parent: VersionKey
    child: VersionKey
    path: str  # SVG path data: a curve from the parent's bottom to the child's top


@dataclass(frozen=True)
class GraphNote:
    x: int
    y: int
    text: str  # "+3 more": versions of this layer that are not drawn


@dataclass(frozen=True)
class LineageGraph:
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    notes: list[GraphNote]
    width: int
    height: int
    ancestors: int  # in all
    descendants: int
    hidden_ancestors: int  # not drawn: the oldest ones
    hidden_descendants: int
    node_w: int = NODE_W
    node_h: int = NODE_H

    @property
    def hidden(self) -> int:
        return self.hidden_ancestors + self.hidden_descendants


def version_url(key: VersionKey) -> str:
    return f"/v/{quote(key.project, safe='')}/{quote(key.model, safe='')}/{key.number}"


def _short(key: _Key, home: _Key) -> str:
    """``key`` as the page's version sees it: ``v4`` in its model, ``seg v2`` in its project, else in full."""
    if (key.project, key.model) == (home.project, home.model):
        return f"v{key.number}"
    if key.project == home.project:
        return f"{key.model} v{key.number}"
    return f"{key.project}/{key.model} v{key.number}"


def _clip(text: str, chars: int = LABEL_CHARS) -> str:
    return text if len(text) <= chars else text[:chars - 1] + "…"


def _home(lineage: Lineage) -> _Key:
    ref = parse_ref(lineage.version)
    return _Key(ref.project or "default", ref.model, ref.number or 0)


def lineage_graph(lineage: Lineage, *, max_nodes: int = MAX_NODES, max_per_layer: int = MAX_PER_LAYER) -> LineageGraph:
    """Where each version of ``lineage`` goes, and which are left out (see the module's docstring)."""
    home = _home(lineage)
    budget = max(max_nodes - 1, 0)
    ancestors = [_Key.of(k) for k in lineage.ancestors]
    descendants = list(dict.fromkeys(k for k in map(_Key.of, lineage.descendants) if k != home))
    parent_of = {_Key.of(e.child): _Key.of(e.parent) for e in lineage.edges}
    # Ancestors get at least a quarter of the budget, more when the descendants leave it unused.
    shown_ancestors = min(len(ancestors), max(budget // 4, budget - len(descendants)))
    layers: dict[int, list[_Key]] = {0: [home]}
    relation: dict[_Key, str] = {}
    edges: list[tuple[_Key, _Key]] = []
    below = home
    for i, key in enumerate(ancestors[:shown_ancestors]):
        layers[-(i + 1)] = [key]
        relation[key] = f"parent of {_short(below, home)}"
        edges.append((key, below))
        below = key
    drawn = {home, *ancestors[:shown_ancestors]}
    depth: dict[_Key, int] = {home: 0}
    hidden_at: dict[int, int] = {}
    room = budget - shown_ancestors
    for key in descendants:
        parent = parent_of.get(key, home)  # a reply without edges: drawn as children of the version
        depth[key] = depth.get(parent, 0) + 1
        layer = layers.setdefault(depth[key], [])
        if key in drawn or parent not in drawn or room <= 0 or len(layer) >= max_per_layer:
            if key not in drawn:
                hidden_at[depth[key]] = hidden_at.get(depth[key], 0) + 1
            continue
        layer.append(key)
        drawn.add(key)
        relation[key] = f"child of {_short(parent, home)}"
        edges.append((parent, key))
        room -= 1
    layers = {d: keys for d, keys in layers.items() if keys}
    notes = {d: f"+{n} more" for d, n in hidden_at.items() if d in layers}
    hidden_ancestors = len(ancestors) - shown_ancestors
    if hidden_ancestors:
        notes[min(layers)] = f"+{hidden_ancestors} older"
    return _place(home, layers, relation, edges, notes, max_per_layer=max_per_layer, ancestors=len(ancestors),
                  descendants=len(descendants), hidden_ancestors=hidden_ancestors,
                  hidden_descendants=sum(hidden_at.values()))


Columns = tuple[dict[_Key, int], dict[int, int]]  # each box's left edge; each row's note's


def _columns(layers: dict[int, list[_Key]], parent_of: dict[_Key, _Key], notes_at: dict[int, str],
             home_x: int, width: int | None) -> Columns:
    """Where each box of each row goes, top row first: the ancestors and the version in one column at
    ``home_x``, each parent's children side by side under it as far as the row's other boxes allow (a row
    pushed apart is moved back as far as it was pushed on average); inside ``width`` when one is given (a row
    too spread out for it packed in its middle)."""
    def packed(depth: int) -> int:
        n = len(layers[depth])
        return n * NODE_W + (n - 1) * GAP_X + (GAP_X + NOTE_W if depth in notes_at else 0)

    left: dict[_Key, int] = {}
    note_left: dict[int, int] = {}
    for depth in sorted(layers):
        keys = layers[depth]
        wanted: list[int] = []
        for i, key in enumerate(keys):
            parent = parent_of.get(key)
            if depth <= 0 or parent is None:
                wanted.append(home_x)
            elif i == 0 or parent_of.get(keys[i - 1]) != parent:  # the first of its siblings
                siblings = sum(1 for k in keys[i:] if parent_of.get(k) == parent)
                wanted.append(left[parent] + NODE_W // 2 - (siblings * (NODE_W + GAP_X) - GAP_X) // 2)
            else:
                wanted.append(wanted[-1] + NODE_W + GAP_X)
        placed: list[int] = []
        for x in wanted:
            placed.append(x if not placed else max(x, placed[-1] + NODE_W + GAP_X))
        back = sum(p - w for p, w in zip(placed, wanted, strict=True)) // len(placed)
        placed = [x - back for x in placed]
        if width is not None:
            end = placed[-1] + packed(depth) - (len(placed) - 1) * (NODE_W + GAP_X)  # with its note
            if end - placed[0] > width:
                placed = [(width - packed(depth)) // 2 + i * (NODE_W + GAP_X) for i in range(len(keys))]
            else:
                placed = [x - max(0, end - width) + max(0, -placed[0]) for x in placed]
        left.update(zip(keys, placed, strict=True))
        if depth in notes_at:
            note_left[depth] = placed[-1] + NODE_W + GAP_X
    return left, note_left


def _place(home: _Key, layers: dict[int, list[_Key]], relation: dict[_Key, str],
           edges: list[tuple[_Key, _Key]], notes_at: dict[int, str], *, max_per_layer: int, ancestors: int,
           descendants: int, hidden_ancestors: int, hidden_descendants: int) -> LineageGraph:
    """One row a generation (see ``_columns``), the picture at most as wide as a full row (``max_per_layer``
    boxes and a note) or its widest row: a tree that would spread wider is drawn in that width."""
    parent_of = {child: parent for parent, child in edges}
    left, note_left = _columns(layers, parent_of, notes_at, 0, None)
    lo = min(left.values())
    hi = max([x + NODE_W for x in left.values()] + [x + NOTE_W for x in note_left.values()])
    widest = max(len(keys) * (NODE_W + GAP_X) - GAP_X + (GAP_X + NOTE_W if d in notes_at else 0)
                 for d, keys in layers.items())
    width = max(widest, min(hi - lo, max_per_layer * (NODE_W + GAP_X) + NOTE_W))
    if hi - lo > width:
        home_x = (-lo) * (width - NODE_W) // max(hi - lo - NODE_W, 1)  # where it was, in proportion
        left, note_left = _columns(layers, parent_of, notes_at, home_x, width)
        lo = 0
    left = {k: x - lo for k, x in left.items()}
    note_left = {d: x - lo for d, x in note_left.items()}
    top = min(layers)

    def row_y(depth: int) -> int:
        return PAD + (depth - top) * (NODE_H + GAP_Y)

    nodes: list[GraphNode] = []
    for depth in sorted(layers):
        for key in layers[depth]:
            model = key.model if key.project == home.project else f"{key.project}/{key.model}"
            name = str(key) if key == home else f"{key}, {relation[key]}"
            public = key.public()
            nodes.append(GraphNode(key=public, depth=depth, x=left[key] + PAD, y=row_y(depth), number=f"v{key.number}",
                                   model=_clip(model), name=name, url=None if key == home else version_url(public)))
    notes = [GraphNote(x=x + PAD, y=row_y(depth) + NODE_H // 2, text=notes_at[depth])
             for depth, x in note_left.items()]
    at = {_Key.of(n.key): n for n in nodes}
    lines = []
    for parent, child in edges:
        p, c = at[parent], at[child]
        y1, y2 = p.y + NODE_H, c.y
        middle = (y1 + y2) // 2
        lines.append(GraphEdge(parent=p.key, child=c.key,
                               path=f"M{p.cx},{y1} C{p.cx},{middle} {c.cx},{middle} {c.cx},{y2}"))
    return LineageGraph(nodes=nodes, edges=lines, notes=notes, width=width + 2 * PAD,
                        height=row_y(max(layers)) + NODE_H + PAD, ancestors=ancestors, descendants=descendants,
                        hidden_ancestors=hidden_ancestors, hidden_descendants=hidden_descendants)
