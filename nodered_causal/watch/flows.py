"""What watch reads from a flow (pure): its default targets and what a deploy changed.

>>> dag = {"nodes": [{"id": "a", "type": "inject"}, {"id": "f", "type": "function"},
...                  {"id": "d", "type": "debug"}],
...        "edges": [{"source": "a", "target": "f", "kind": "wire"},
...                  {"source": "f", "target": "d", "kind": "wire"}]}
>>> default_targets(dag)
['f']
>>> diff_flows([{"id": "f", "func": "a", "x": 1}], [{"id": "f", "func": "b", "x": 1},
...            {"id": "g", "type": "debug"}])
{'changed': ['f'], 'added': ['g'], 'removed': []}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["EVENT_KINDS", "default_targets", "diff_flows"]

#: Edges that are not messages over a wire (catch/status/complete scopes).
EVENT_KINDS = frozenset({"catch", "status", "complete"})
#: Keys that move a node in the editor without changing what it does.
_LAYOUT_KEYS = frozenset({"x", "y", "w", "h", "l", "g"})


def default_targets(dag: Mapping[str, Any]) -> list[str]:
    """The flow's outputs: nodes that receive messages, are not debug nodes, and whose wires
    lead nowhere or only into debug nodes (node-link DAG as a run stores it)."""
    types = {str(n["id"]): str(n.get("type", "")) for n in dag.get("nodes", [])}
    out: dict[str, set[str]] = {n: set() for n in types}
    fed: set[str] = set()
    for e in dag.get("edges", []):
        if e.get("kind") in EVENT_KINDS:
            continue
        out[str(e["source"])].add(str(e["target"]))
        fed.add(str(e["target"]))
    return sorted(
        n
        for n, t in types.items()
        if t != "debug" and n in fed and all(types.get(s) == "debug" for s in out[n])
    )


def diff_flows(
    old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
) -> dict[str, list[str]]:
    """Node ids whose configuration changed (layout moves ignored), that were added, removed."""
    before = {str(n.get("id")): n for n in old if "id" in n}
    after = {str(n.get("id")): n for n in new if "id" in n}

    def config(node: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in node.items() if k not in _LAYOUT_KEYS}

    return {
        "changed": sorted(
            i for i in before.keys() & after.keys() if config(before[i]) != config(after[i])
        ),
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
    }
