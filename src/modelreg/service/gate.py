"""Promotion gates: a filter expression over the candidate's metrics and its difference from the target.

Fields: ``metrics.<name>`` (the candidate's), ``delta.<name>`` (candidate minus current target),
``class_ap.<class>``, ``delta.class_ap.<class>``, and ``delta.class_ap.min|max|mean`` over the classes
both versions have; ``eval.<dataset>.<metric>`` (a metric of the candidate's evaluation on that dataset) and
``delta.eval.<dataset>.<metric>``. When there is no current target, terms on ``delta`` pass (nothing to
regress from); a term on an evaluation the candidate lacks fails, like a missing metric.

A gate is parsed by the filter parser, so it has the filter's limits (``MAX_FILTER_DEPTH`` levels of
nesting); a gate stored under an older, looser limit refuses the promotion and says how to replace it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelreg.errors import InvalidFilter
from modelreg.filters import And, Compare, Node, Not, Or, compare, gate_fields, parse_filter
from modelreg.steps import next_step
from modelreg.types import GateTerm, Version

_NO_TARGET = object()


def _class_ap(v: Version) -> dict[str, float]:
    return {c.class_name: c.ap for c in v.class_metrics if c.ap is not None}


def _eval_value(evaluations: Mapping[int, Mapping[str, Mapping[str, float]]], version: Version,
                path: str) -> float | None:
    dataset, _, metric = path.partition(".")
    return evaluations.get(version.id, {}).get(dataset, {}).get(metric)


def gate_value(name: str, candidate: Version, current: Version | None,
               evaluations: Mapping[int, Mapping[str, Mapping[str, float]]] | None = None) -> Any:
    """The value of gate field ``name``; ``evaluations``: version id -> dataset -> metric -> value."""
    evals = evaluations or {}
    if name.startswith("eval."):
        return _eval_value(evals, candidate, name.removeprefix("eval."))
    if name.startswith("metrics."):
        return candidate.metrics.get(name.removeprefix("metrics."))
    if name.startswith("class_ap."):
        return _class_ap(candidate).get(name.removeprefix("class_ap."))
    if name.startswith("delta."):
        if current is None:
            return _NO_TARGET
        rest = name.removeprefix("delta.")
        if rest.startswith("eval."):
            new_value = _eval_value(evals, candidate, rest.removeprefix("eval."))
            old_value = _eval_value(evals, current, rest.removeprefix("eval."))
            return None if new_value is None or old_value is None else new_value - old_value
        if rest.startswith("class_ap."):
            key = rest.removeprefix("class_ap.")
            new, old = _class_ap(candidate), _class_ap(current)
            deltas = {c: new[c] - old[c] for c in new if c in old}
            if key in ("min", "max", "mean"):
                if not deltas:
                    return None
                values = list(deltas.values())
                if key == "min":
                    return min(values)
                if key == "max":
                    return max(values)
                return sum(values) / len(values)
            return deltas.get(key)
        a, b = candidate.metrics.get(rest), current.metrics.get(rest)
        return None if a is None or b is None else a - b
    return None


def _parse_gate(expression: str, model: str) -> Node | None:
    try:
        return parse_filter(expression, gate_fields)
    except InvalidFilter as exc:
        raise InvalidFilter(f"the model's promotion gate cannot be evaluated: {exc.message}",
                            **{**exc.details, "step": next_step("set_promotion_gate", model=model)}) from exc


def evaluate_gate(expression: str, candidate: Version, current: Version | None,
                  evaluations: Mapping[int, Mapping[str, Mapping[str, float]]] | None = None,
                  ) -> tuple[bool, list[GateTerm]]:
    """Evaluate the gate; return whether it passes and every comparison with its outcome. ``evaluations``
    (version id -> dataset -> metric -> value) holds the candidate's and current's evaluation numbers."""
    node = _parse_gate(expression, candidate.model)
    terms: list[GateTerm] = []

    def walk(n: Node | None) -> bool:
        if n is None:
            return True
        if isinstance(n, And):
            return all([walk(i) for i in n.items])
        if isinstance(n, Or):
            return any([walk(i) for i in n.items])
        if isinstance(n, Not):
            return not walk(n.item)
        assert isinstance(n, Compare)
        name = n.field.name if n.field.kind == "path" else str(n.field)
        actual = gate_value(name, candidate, current, evaluations)
        text = f"{name} {n.op} {n.value}"
        if actual is _NO_TARGET:
            terms.append(GateTerm(term=text, passed=True, detail="no current version to compare with"))
            return True
        ok = compare(actual, n.op, n.value)
        shown = "absent" if actual is None else f"{actual:.4g}" if isinstance(actual, float) else str(actual)
        terms.append(GateTerm(term=text, passed=ok, detail=f"{name} is {shown}"))
        return ok

    return walk(node), terms
