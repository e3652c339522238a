"""Records to the analysis' variables and structure (pure): one column per node (or per
variable, ``node::signal``), the target's ancestors only, nodes without data, constant or
clock-like left out with a note, and the DAG expanded to variables (:mod:`.signals`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import networkx as nx

from nodered_causal.analysis import graph as g
from nodered_causal.analysis import linear, signals
from nodered_causal.analysis.config import AttributionConfig
from nodered_causal.analysis.messages import IN_SEP, MessageTest
from nodered_causal.errors import MissingDataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["ALL", "Prepared", "by_node", "first_mentions", "metric_data", "prepare"]

#: The ``metric`` that analyses every signal of every node at once (:mod:`.signals`).
ALL = "all"


def metric_data(
    data: Any,
    metric: str,
    cfg: AttributionConfig,
    variables: Mapping[str, Sequence[str]] | None = None,
    dag: nx.DiGraph | None = None,
) -> pd.DataFrame:
    """A frame with one column per node for ``metric`` (one per variable for ``"all"``,
    :mod:`.signals`) from records, a windowed or a plain frame
    (plus ``node::path`` columns for ``variables``)."""
    import pandas as pd

    from nodered_causal.analysis import datasets

    if metric == ALL:
        frame = (
            data
            if isinstance(data, pd.DataFrame)
            else signals.signal_frame(
                data,
                window_s=cfg.window_s,
                field=cfg.field,
                max_fields=cfg.max_fields if cfg.fields == "all" else 1,
            )
        )
        return signals.condense(frame, dag) if dag is not None else frame
    if not isinstance(data, pd.DataFrame):
        data = datasets.windowed(data, window_s=cfg.window_s, field=cfg.field, variables=variables)
    if isinstance(data.columns, pd.MultiIndex):
        return datasets.metric_frame(data, metric)
    out = data.copy()
    out.columns = [str(c) for c in out.columns]
    return out


def _is_clock(values: np.ndarray) -> bool:
    """Strictly rising with the row index (corr > 0.999): a timestamp (an inject's default
    payload) or a counter, not a quantity with a stable distribution to compare."""
    import numpy as np

    ok = ~np.isnan(values)
    index, v = np.flatnonzero(ok).astype(float), values[ok]
    if len(v) < 8:
        return False
    index -= index.mean()
    v = v - v.mean()
    denom = math.sqrt(float(index @ index) * float(v @ v))
    return denom > 0 and float(index @ v) / denom > 0.999


@dataclass(frozen=True)
class Prepared:
    graph: nx.DiGraph
    structure: linear.Structure
    frames: tuple[pd.DataFrame, ...]
    notes: tuple[str, ...]
    off_path: tuple[str, ...] = ()
    owner: tuple[str, ...] = ()  # the node of each variable (structure.nodes); empty: itself


def prepare(
    dag: nx.DiGraph,
    target: str,
    frames: list[pd.DataFrame],
    metric: str,
    names: tuple[str, ...],
    drop_if_missing_in: pd.DataFrame | None = None,
    expand: Mapping[str, Sequence[str]] | None = None,
) -> Prepared:
    import numpy as np

    target = g.resolve(dag, str(target))
    sub = g.ancestor_graph(dag, target)
    all_signals = metric == ALL
    if all_signals:
        expand = _signal_variables(frames[0])
        for f, name in zip(frames, names, strict=True):
            mine = f[[c for c in f.columns if signals.node_of(str(c)) == target]]
            if mine.empty or bool(mine.isna().all().all()):
                raise MissingDataError(
                    f"no data for the target node {target!r} in the {name} data", node_id=target
                )
    else:
        for f, name in zip(frames, names, strict=True):
            g.require_target(g.node_columns(f, sub.subgraph([target]), metric), target, name)
    sub, owner_of = _expand(sub, frames[0], expand or {}, families=all_signals)
    targets = [v for v, n in owner_of.items() if n == target] or [target]
    cols = [g.node_columns(f, sub, metric) for f in frames]
    notes: list[str] = []
    drop: list[str] = []
    off_path: list[str] = []
    arrays = [{str(c): f[c].to_numpy(dtype=float) for c in f.columns} for f in cols]
    empty = np.full(0, np.nan)
    on_path = (
        None
        if drop_if_missing_in is None
        else {str(c) for c in drop_if_missing_in.columns if drop_if_missing_in[c].notna().any()}
    )
    for node in g.topological(sub):
        if node in targets and len(targets) == 1:
            continue
        if on_path is not None and node not in on_path:
            drop.append(node)
            off_path.append(node)
            notes.append(f"{node}: not on the anomalous message's path, left out")
            continue
        columns = [a.get(node, empty) for a in arrays]
        missing = [n for c, n in zip(columns, names, strict=True) if np.isnan(c).all()]
        if missing:
            drop.append(node)
            notes.append(f"{node}: no {metric} data in the {' and '.join(missing)} data, left out")
            continue
        values = np.concatenate(columns)
        if np.nanstd(values) == 0:
            drop.append(node)
            notes.append(f"{node}: constant {metric} ({np.nanmean(values):g}), left out")
            continue
        clocks = [_is_clock(c) for c in columns if np.count_nonzero(~np.isnan(c)) >= 8]
        is_value = signals.family(node) == "value" if all_signals else metric.startswith("value")
        if is_value and clocks and all(clocks):
            drop.append(node)
            notes.append(
                f"{node}: its {metric} only counts time (a timestamp or counter), left out"
            )
    if set(targets) <= set(drop):  # keep the target's first variable whatever it looks like
        drop.remove(targets[0])
    kept_targets = [t for t in targets if t not in drop]
    sub = g.contract(sub, drop)
    if owner_of:
        sub = prune_parents(sub, cols[0], owner_of, every_leaf=all_signals)
    order = g.topological(sub)
    index = {n: i for i, n in enumerate(order)}
    parents = tuple(tuple(sorted(index[str(p)] for p in sub.predecessors(n))) for n in order)
    outputs = tuple(sorted(index[t] for t in kept_targets))
    structure = linear.Structure(
        nodes=tuple(order),
        parents=parents,
        target=outputs[-1],
        targets=outputs if len(outputs) > 1 else (),
    )
    frames_out = tuple(f[list(order)] for f in cols)
    owner = tuple(owner_of.get(n, n) for n in order) if owner_of else ()
    return Prepared(sub, structure, frames_out, tuple(notes), tuple(off_path), owner)


def _signal_variables(frame: pd.DataFrame) -> dict[str, list[str]]:
    """node -> its signals (``payload.x``, ``#count``, ...) among ``frame``'s variables."""
    out: dict[str, list[str]] = {}
    for col in frame.columns:
        node, _, signal = str(col).rpartition(signals.SEP)
        if node:
            out.setdefault(node, []).append(signal)
    return out


def _expand(
    sub: nx.DiGraph,
    frame: pd.DataFrame,
    expand: Mapping[str, Sequence[str]],
    *,
    families: bool = False,
) -> tuple[nx.DiGraph, dict[str, str]]:
    """Replace each node with two or more value variables (``node::path`` columns of ``frame``)
    by those variables; every variable of a parent is a parent of every variable of the child.

    ``families`` (all signals): every node with any variable is replaced, and a variable's parents
    are the same kind of variable of the node's parents (:func:`_wired`)."""
    from nodered_causal.analysis.datasets import VAR_SEP

    have = {str(c) for c in frame.columns}
    variables: dict[str, list[str]] = {}
    for node in sub.nodes:
        names = [f"{node}{VAR_SEP}{p}" for p in expand.get(str(node), ())]
        names = [v for v in names if v in have]
        if len(names) >= (1 if families else 2):
            variables[str(node)] = names
    if not variables:
        return sub, {}
    out = nx.DiGraph()
    owner_of: dict[str, str] = {}
    for node, attrs in sub.nodes(data=True):
        for v in variables.get(str(node), [str(node)]):
            out.add_node(v, **attrs)
            owner_of[v] = str(node)
    for u, v in sub.edges:
        out.add_edges_from(
            (a, b)
            for a in variables.get(str(u), [str(u)])
            for b in variables.get(str(v), [str(v)])
            if not families or _wired(a, b, routes=sub.nodes[v].get("type") in ROUTING_TYPES)
        )
    if families:  # a node without any variable: nothing of it to explain, its paths stay
        out = g.contract(out, [n for n in sub.nodes if str(n) not in variables])
    return out, owner_of


#: Node types whose throughput depends on the values they see: a switch passes a message down a
#: wire by its value, a filter (rbe) by whether it changed, a range node may drop out-of-range ones.
ROUTING_TYPES = frozenset({"switch", "rbe", "filter", "range"})


def _wired(parent: str, child: str, *, routes: bool = False) -> bool:
    """Does ``parent``'s variable feed ``child``'s? Values from values, counts from counts, ages
    from ages; a routing node's count also from its inputs' values (``routes``); a node's own
    latency and errors have no parents (they are its own doing)."""
    kind, source = signals.family(child), signals.family(parent)
    if kind == signals.COUNT and routes and source == "value":
        return True
    return kind in ("value", signals.COUNT, signals.AGE) and source == kind


#: A payload-leaf variable regresses on at most this many of its parents' leaves, chosen on the
#: baseline by forward selection: each step adds the leaf that explains most of what is left, while
#: it explains at least ``_MIN_GAIN`` of it. A leaf the variable does not depend on is no parent:
#: a change of it (a field nobody downstream reads) must not look like the inputs "left the
#: baseline's range" (:func:`~.fast.drop_induced`). When nothing explains it, every wire stays.
#: Expanding nodes into leaves multiplies the candidates (six leaves per parent, three parents: 18
#: regressors on 16-40 windows; several of them copies of each other) and the mechanism test
#: loses its power with every regressor.
_MAX_PARENTS = 4
_MIN_GAIN = 0.2


def prune_parents(
    sub: nx.DiGraph,
    baseline: pd.DataFrame,
    owner_of: Mapping[str, str],
    *,
    every_leaf: bool = False,
) -> nx.DiGraph:
    """Each variable's parents chosen on the baseline (see above). ``every_leaf`` (all signals):
    a value keeps only the leaves it depends on, however few; otherwise only variables with more
    than ``_MAX_PARENTS`` candidate parents are pruned."""
    out = nx.DiGraph(sub)
    for v in list(out.nodes):
        parents = sorted(str(p) for p in out.predecessors(v))
        if len(parents) <= (1 if every_leaf else _MAX_PARENTS):
            continue
        if all(owner_of.get(p, p) == p for p in parents):
            continue
        kinds = {signals.family(p) for p in parents}
        if kinds <= {signals.COUNT, signals.AGE} and len(parents) <= 2 * _MAX_PARENTS:
            continue  # a count or an age is its inputs' (summed at a merge, the last at a join)
        keep = _forward_select(baseline, str(v), parents)
        if not keep and len(parents) <= _MAX_PARENTS:
            continue  # nothing explains it on the baseline: keep every wire, as drawn
        out.remove_edges_from((p, v) for p in parents if p not in keep)
    return out


def _forward_select(frame: pd.DataFrame, y_name: str, candidates: list[str]) -> list[str]:
    return linear.forward_select(frame, y_name, candidates, _MAX_PARENTS, _MIN_GAIN)


def by_node(
    prep: Prepared,
    scores: np.ndarray,
    boot: np.ndarray | None,
    changed: tuple[int, ...],
    p_values: Mapping[int, float],
    alone: np.ndarray | None = None,
) -> Any:
    """Variables back to nodes: scores, bootstrap replicates and ``alone`` (each variable's
    difference by itself) summed, the smallest p-value, a node changed if any of its variables
    did."""
    import numpy as np

    s = prep.structure
    nodes = list(dict.fromkeys(prep.owner))
    index = {n: i for i, n in enumerate(nodes)}
    member = np.zeros((len(s.nodes), len(nodes)))
    for i, n in enumerate(prep.owner):
        member[i, index[n]] = 1.0
    p_node: dict[int, float] = {}
    for i, p in p_values.items():
        j = index[prep.owner[i]]
        p_node[j] = min(p, p_node.get(j, 1.0))
    structure = linear.Structure(
        nodes=tuple(nodes), parents=tuple(() for _ in nodes), target=index[prep.owner[s.target]]
    )
    return (
        replace(prep, structure=structure, owner=()),
        scores @ member,
        None if boot is None else boot @ member,
        tuple(sorted({index[prep.owner[i]] for i in changed})),
        p_node,
        None if alone is None else alone @ member,
    )


def first_mentions(
    rankings: Mapping[str, tuple[str, ...]], owner: Mapping[str, str]
) -> dict[str, tuple[str, ...]]:
    """Rankings of variables as rankings of their nodes, each node where it is first named."""
    return {
        name: tuple(dict.fromkeys(owner.get(v, v) for v in ranking))
        for name, ranking in rankings.items()
    }


def prune_by_messages(s: linear.Structure, tests: Mapping[int, MessageTest]) -> linear.Structure:
    """``s`` without the value parents the message-level fits left out: where a variable's
    messages were fitted (``tests[i]``: a :class:`~.messages.MessageTest` with its ``inputs``),
    a value variable of an input node is a parent only if the fits read that
    leaf. Hundreds of paired messages say which leaves drive a node far better than a few dozen
    windows, where a leaf the node never reads (an audit field beside the ones it uses) can get a
    chance coefficient and carry a harmless change to the target. Only the leaves of an input
    node some of whose leaves the fits read are dropped: where they read none of its leaves the
    pairs may be wrong (a rate-limiting delay's queued messages carry another message's parent)
    and the wires stay. Parents of other kinds, and of nodes the messages do not name (a
    condensed cycle), stay too."""
    parents = list(s.parents)
    for i, t in tests.items():
        used = set(t.inputs)
        read = {u.split(IN_SEP)[0] for u in used}
        keep = []
        for p in parents[i]:
            node, _, leaf = s.nodes[p].rpartition(signals.SEP)
            value = not leaf.startswith("#")
            if value and node in read and f"{node}{IN_SEP}{leaf}" not in used:
                continue
            keep.append(p)
        parents[i] = tuple(keep)
    return replace(s, parents=tuple(parents))
