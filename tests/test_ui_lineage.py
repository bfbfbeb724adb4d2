"""The version page's lineage graph (``modelreg.server.ui.lineage``): where each version goes and what is left out.

The page itself is checked in a browser by tests/test_dashboard.py; these check the placement for shapes the
demo data does not have.
"""

from __future__ import annotations

from itertools import pairwise

from modelreg.server.ui.lineage import (
    GAP_X,
    MAX_NODES,
    MAX_PER_LAYER,
    NODE_H,
    NODE_W,
    NOTE_W,
    PAD,
    LineageGraph,
    lineage_graph,
    version_url,
)
from modelreg.types import Lineage, LineageEdge, VersionKey


def key(text: str) -> VersionKey:
    """``project/model:N``."""
    name, _, number = text.partition(":")
    project, _, model = name.partition("/")
    return VersionKey(project=project, model=model, number=int(number))


def tree(version: str, ancestors: list[str], edges: list[tuple[str, str]]) -> Lineage:
    """A lineage as the service returns it: ``edges`` (parent, child) breadth first."""
    return Lineage(version=str(key(version)), ancestors=[key(a) for a in ancestors],
                   descendants=[key(c) for _, c in edges],
                   edges=[LineageEdge(parent=key(p), child=key(c)) for p, c in edges])


def at(graph: LineageGraph) -> dict[str, tuple[int, int, int]]:
    """reference -> (depth, x, y) of each drawn version."""
    return {f"{n.key.project}/{n.key.model}:{n.key.number}": (n.depth, n.x, n.y) for n in graph.nodes}


def assert_tidy(graph: LineageGraph) -> None:
    """Every box inside the picture, none overlapping another of its row, every note right of its row."""
    for n in graph.nodes:
        assert n.x >= PAD and n.x + NODE_W <= graph.width - PAD, n
        assert n.y >= PAD and n.y + NODE_H <= graph.height - PAD, n
    rows: dict[int, list[int]] = {}
    for n in graph.nodes:
        rows.setdefault(n.y, []).append(n.x)
    for xs in rows.values():
        xs.sort()
        assert all(b - a >= NODE_W + GAP_X for a, b in pairwise(xs)), xs
    for note in graph.notes:
        assert note.x >= max(rows[note.y - NODE_H // 2]) + NODE_W and note.x < graph.width


def test_a_version_with_no_lineage_is_drawn_alone() -> None:
    graph = lineage_graph(tree("p/m:1", [], []))
    assert at(graph) == {"p/m:1": (0, PAD, PAD)}
    assert graph.edges == [] and graph.notes == [] and graph.hidden == 0
    assert (graph.ancestors, graph.descendants) == (0, 0)
    assert graph.nodes[0].url is None and graph.nodes[0].name == "p/m:v1"
    assert_tidy(graph)


def test_a_chain_across_two_models_and_projects() -> None:
    """q/seg:2 was derived from p/det:5, itself from p/det:4; it has one child in its own model."""
    graph = lineage_graph(tree("q/seg:2", ["p/det:5", "p/det:4"], [("q/seg:2", "q/seg:3")]))
    assert at(graph) == {"p/det:4": (-2, PAD, PAD), "p/det:5": (-1, PAD, PAD + NODE_H + 30),
                         "q/seg:2": (0, PAD, PAD + 2 * (NODE_H + 30)), "q/seg:3": (1, PAD, PAD + 3 * (NODE_H + 30))}
    names = {n.name for n in graph.nodes}
    assert names == {"p/det:v4, parent of p/det v5", "p/det:v5, parent of v2", "q/seg:v2", "q/seg:v3, child of v2"}
    labels = [(n.number, n.model) for n in graph.nodes]
    assert labels == [("v4", "p/det"), ("v5", "p/det"), ("v2", "seg"), ("v3", "seg")]  # the project when it differs
    assert [n.url for n in graph.nodes] == ["/v/p/det/4", "/v/p/det/5", None, "/v/q/seg/3"]
    assert [(str(e.parent), str(e.child)) for e in graph.edges] == [
        ("p/det:v5", "q/seg:v2"), ("p/det:v4", "p/det:v5"), ("q/seg:v2", "q/seg:v3")]
    # A line leaves its parent's bottom middle and reaches its child's top middle.
    first = graph.edges[0].path
    assert first.startswith(f"M{PAD + NODE_W // 2},{PAD + 2 * NODE_H + 30} ")
    assert first.endswith(f" {PAD + NODE_W // 2},{PAD + 2 * (NODE_H + 30)}")
    assert_tidy(graph)


def test_two_children_sit_side_by_side_under_their_parent() -> None:
    """m:1 has children m:2 and m:3; m:3 has two children of its own, m:4 and m:5."""
    graph = lineage_graph(tree("p/m:1", [], [("p/m:1", "p/m:2"), ("p/m:1", "p/m:3"), ("p/m:3", "p/m:4"),
                                             ("p/m:3", "p/m:5")]))
    placed = at(graph)
    assert {ref: depth for ref, (depth, _, _) in placed.items()} == {"p/m:1": 0, "p/m:2": 1, "p/m:3": 1, "p/m:4": 2,
                                                                    "p/m:5": 2}
    middle = {ref: x + NODE_W // 2 for ref, (_, x, _) in placed.items()}
    assert placed["p/m:2"][2] == placed["p/m:3"][2] and middle["p/m:2"] < middle["p/m:3"]
    assert middle["p/m:1"] == (middle["p/m:2"] + middle["p/m:3"]) // 2  # the parent over its two children
    assert abs(middle["p/m:3"] - (middle["p/m:4"] + middle["p/m:5"]) / 2) <= 1  # and so on down
    assert {n.name for n in graph.nodes if n.depth == 2} == {"p/m:v4, child of v3", "p/m:v5, child of v3"}
    assert 2 * NODE_W + GAP_X < graph.width - 2 * PAD < 3 * NODE_W + 2 * GAP_X  # m:5 sticks out a little
    assert_tidy(graph)


def test_more_than_the_cap_is_counted_not_drawn() -> None:
    """60 children of one version and a chain of 50 under the first: rows and the whole are capped."""
    children = [("p/m:1", f"p/kid:{i}") for i in range(1, 61)]
    chain = [("p/kid:1" if i == 1 else f"p/chain:{i - 1}", f"p/chain:{i}") for i in range(1, 51)]
    graph = lineage_graph(tree("p/m:1", [], children + chain))
    assert len(graph.nodes) == MAX_NODES
    assert sum(1 for n in graph.nodes if n.depth == 1) == MAX_PER_LAYER
    assert (graph.descendants, graph.hidden_descendants, graph.hidden_ancestors) == (110, 110 - MAX_NODES + 1, 0)
    assert [n.text for n in graph.notes] == [f"+{60 - MAX_PER_LAYER} more"]  # the chain's rows hold one each
    assert max(n.depth for n in graph.nodes) == 1 + MAX_NODES - 1 - MAX_PER_LAYER
    assert len(graph.edges) == MAX_NODES - 1  # every drawn version but the page's own, from its parent
    assert graph.width == 2 * PAD + MAX_PER_LAYER * (NODE_W + GAP_X) + NOTE_W  # a full row and its note
    assert_tidy(graph)


def test_a_tree_that_would_spread_wider_is_drawn_in_the_width_of_a_full_row() -> None:
    """Seven children; the first and the last have four each: under their parents they would stick out."""
    kids = [("p/m:1", f"p/kid:{i}") for i in range(1, 8)]
    grandchildren = [(f"p/kid:{k}", f"p/g{k}:{i}") for k in (1, 7) for i in range(1, 5)]
    graph = lineage_graph(tree("p/m:1", [], kids + grandchildren))
    assert graph.width == 2 * PAD + MAX_PER_LAYER * (NODE_W + GAP_X) + NOTE_W
    assert sum(1 for n in graph.nodes if n.depth == 2) == MAX_PER_LAYER and graph.hidden_descendants == 1
    assert_tidy(graph)


def test_a_child_is_drawn_only_with_its_parent() -> None:
    """Children of a version left out of a full row are left out too, and counted."""
    kids = [("p/m:1", f"p/kid:{i}") for i in range(1, 10)]
    grandchildren = [("p/kid:9", "p/late:1"), ("p/kid:1", "p/early:1")]
    graph = lineage_graph(tree("p/m:1", [], kids + grandchildren), max_per_layer=3)
    assert {r for r, (d, _, _) in at(graph).items() if d > 0} == {"p/kid:1", "p/kid:2", "p/kid:3", "p/early:1"}
    assert graph.hidden_descendants == 7
    assert [n.text for n in graph.notes] == ["+6 more", "+1 more"]  # p/late:1 is counted in its row
    assert_tidy(graph)


def test_a_long_ancestry_keeps_the_nearest() -> None:
    ancestors = [f"p/m:{n}" for n in range(59, 0, -1)]  # m:60's parent is m:59, … the root m:1
    graph = lineage_graph(tree("p/m:60", ancestors, []))
    assert len(graph.nodes) == MAX_NODES
    assert min(n.depth for n in graph.nodes) == -(MAX_NODES - 1)
    assert graph.nodes[0].key.number == 60 - (MAX_NODES - 1)  # the oldest drawn, at the top
    assert graph.hidden_ancestors == 59 - (MAX_NODES - 1)
    assert [n.text for n in graph.notes] == [f"+{graph.hidden_ancestors} older"]
    # With descendants to draw, the ancestors keep a quarter of the room.
    kids = [("p/m:60", f"p/kid:{i}") for i in range(1, 6)] + [(f"p/kid:{i}", f"p/g:{i}") for i in range(1, 6)]
    graph = lineage_graph(tree("p/m:60", ancestors, kids))
    assert sum(1 for n in graph.nodes if n.depth < 0) == MAX_NODES - 1 - 10
    assert graph.hidden_descendants == 0
    assert_tidy(graph)


def test_a_reply_without_edges_draws_descendants_as_children() -> None:
    """A server that predates ``edges`` says who descends, not from whom: they hang under the version."""
    lineage = Lineage(version="p/m:v1", ancestors=[], descendants=[key("p/m:2"), key("p/m:3")])
    graph = lineage_graph(lineage)
    assert {r: d for r, (d, _, _) in at(graph).items()} == {"p/m:1": 0, "p/m:2": 1, "p/m:3": 1}
    assert len(graph.edges) == 2
    assert_tidy(graph)


def test_long_names_are_clipped_and_urls_quoted() -> None:
    long_name = "a-model-with-a-rather-long-name"
    graph = lineage_graph(tree("p/m:1", [], [("p/m:1", f"q/{long_name}:2")]))
    child = graph.nodes[1]
    assert child.model == "q/a-model-with-a-…" and len(child.model) == 18
    assert child.name == f"q/{long_name}:v2, child of v1"  # the full name for screen readers and the tooltip
    assert version_url(VersionKey(project="p q", model="m/x", number=3)) == "/v/p%20q/m%2Fx/3"
