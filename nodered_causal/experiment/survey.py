"""What a campaign may fault, read off one fault-free recording of the live flow (pure).

- **Active ancestors**: the target's ancestors that carried traffic toward it — the node sent or
  received messages, and a path of such nodes leads from it to the target (pass-through nodes
  count as carrying traffic: link and junction hops are not always deliveries the tap sees). A
  dashboard button nobody pressed, an inject for manual tests, the branch behind a switch port
  that passes nothing are **idle**: a fault there cannot show, so campaigns list them instead of
  counting them as misses.
- **Irrelevant leaves**: ``(node, leaf)`` pairs of an active node whose numeric leaf the target
  does not depend on: over the messages the lineage pairs (same trace), the leaf's rank
  correlation with every leaf of the target's messages, plain and partial (given the node's
  other leaves: a small real dependence behind a large one shows only then), stays below chance
  level (:math:`3/\\sqrt{n}`, about three standard errors of a zero correlation), with at least
  ``min_pairs`` pairs, and its values do not decide whether a message reaches the target at all
  (a switch on it). A large bias on such a leaf changes the node without reaching the target.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import networkx as nx
    import pandas as pd

__all__ = ["Survey", "survey"]

#: Fewer (leaf, target) message pairs than this and a leaf is not judged irrelevant.
MIN_PAIRS = 40


@dataclass(frozen=True)
class Survey:
    """What :func:`survey` found (module docstring)."""

    active: tuple[str, ...]
    idle: tuple[str, ...]
    irrelevant: tuple[tuple[str, str], ...]
    pairs: Mapping[str, int]  # "node::leaf" -> message pairs the judgement rests on

    def to_json(self) -> dict[str, Any]:
        return {
            "active": list(self.active),
            "idle": list(self.idle),
            "irrelevant": [list(p) for p in self.irrelevant],
            "pairs": dict(self.pairs),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Survey:
        return cls(
            tuple(data["active"]),
            tuple(data["idle"]),
            tuple((str(n), str(leaf)) for n, leaf in data["irrelevant"]),
            dict(data.get("pairs", {})),
        )


def survey(
    columns: Any,
    runtime: nx.DiGraph,
    target: str,
    *,
    pass_through: Iterable[str] = (),
    min_pairs: int = MIN_PAIRS,
) -> Survey:
    """Active/idle ancestors of ``target`` and irrelevant leaves in ``columns`` (records of one
    fault-free recording, ``Store.record_columns``)."""
    import networkx as nx

    from nodered_causal.analysis import datasets

    frame = datasets.records_frame(columns)
    rows = datasets._node_rows(frame)
    busy = set(rows["node"].astype(str)) | set(frame["src"].astype(str))
    if "dst" in frame:
        busy |= set(frame["dst"].dropna().astype(str))
    through = {n for n in runtime.nodes if runtime.nodes[n].get("type") in set(pass_through)}
    ancestors = nx.ancestors(runtime, target)
    carrying = runtime.subgraph([n for n in runtime.nodes if n in busy or n in through])
    reach = nx.ancestors(carrying, target) if target in carrying else set()
    active = tuple(sorted(n for n in ancestors if n in reach and n in busy))
    idle = tuple(sorted(n for n in ancestors if n not in set(active) and n not in through))
    irrelevant, pairs = _irrelevant_leaves(frame, rows, active, target, min_pairs)
    return Survey(active, idle, irrelevant, pairs)


def _irrelevant_leaves(
    frame: pd.DataFrame, rows: pd.DataFrame, active: Iterable[str], target: str, min_pairs: int
) -> tuple[tuple[tuple[str, str], ...], dict[str, int]]:
    import numpy as np

    from nodered_causal.analysis import datasets

    if "trace" not in rows or not bool(rows["trace"].notna().any()):
        return (), {}
    leaves = datasets.value_fields(frame)
    theirs = leaves.get(target, [])
    if not theirs:
        return (), {}
    keys = [k for k in ("tap", "boot") if k in rows] + ["trace"]
    rows = rows[rows["trace"].notna()]
    node = rows["node"].astype(str).to_numpy()

    def per_trace(name: str, leaf_list: list[str]) -> pd.DataFrame:
        mine = rows[node == name]
        return mine.groupby(keys, observed=True)[leaf_list].mean()

    at_target = per_trace(target, theirs)
    found: list[tuple[str, str]] = []
    pairs: dict[str, int] = {}
    for name in active:
        if name == target or name not in leaves:
            continue
        at_node = per_trace(name, leaves[name])
        joined = at_node.merge(
            at_target, left_index=True, right_index=True, suffixes=("@node", "@target")
        )
        mine = {
            leaf: joined[f"{leaf}@node" if leaf in theirs else leaf].to_numpy(dtype=float)
            for leaf in leaves[name]
        }
        for leaf in leaves[name]:
            x = mine[leaf]
            best, n_best = 0.0, 0
            for other in theirs:
                y = joined[f"{other}@target" if other in leaves[name] else other]
                ok = ~np.isnan(x) & ~np.isnan(y.to_numpy(dtype=float))
                n = int(ok.sum())
                if n < min_pairs or np.std(x[ok]) == 0:
                    best, n_best = math.inf, n  # too little to judge: never irrelevant
                    break
                yv = y.to_numpy(dtype=float)[ok]
                given = [v[ok] for k, v in mine.items() if k != leaf and not np.isnan(v[ok]).any()]
                rho = 1.0 if np.std(yv) == 0 else _dependence(x[ok], yv, given)
                best, n_best = max(best, rho), n
            pairs[f"{name}::{leaf}"] = n_best
            if n_best and best < 3 / math.sqrt(n_best) and not _routes(at_node[leaf], at_target):
                found.append((name, leaf))
    return tuple(found), pairs


def _routes(values: pd.Series, at_target: pd.DataFrame) -> bool:
    """Does the leaf decide whether a message reaches the target (a switch on it)? Its values
    on the traces that reached the target differ from the others' (Mann-Whitney, p < 0.01)."""
    import numpy as np
    from scipy import stats

    reached = values.index.isin(at_target.index)
    a = values[reached].dropna().to_numpy(dtype=float)
    b = values[~reached].dropna().to_numpy(dtype=float)
    if min(len(a), len(b)) < 10 or (np.std(a) == 0 and np.std(b) == 0):
        return False
    return bool(stats.mannwhitneyu(a, b).pvalue < 0.01)


def _dependence(x: Any, y: Any, given: list[Any]) -> float:
    """The larger of |Spearman(x, y)| and the partial rank correlation of x and y given the
    node's other leaves: a small real dependence hidden behind a large one (fee = amount x rate,
    where amounts vary far more than rates) shows once the other leaves are accounted for. A leaf
    the others determine (R² > 0.99 on ranks) cannot be judged apart from them: 1.0."""
    import numpy as np
    from scipy import stats

    marginal = abs(_spearman(x, y))
    if not given:
        return marginal
    design = np.column_stack([np.ones(len(x)), *(stats.rankdata(g) for g in given)])

    def residual(v: Any) -> Any:
        r = stats.rankdata(v)
        coef, *_ = np.linalg.lstsq(design, r, rcond=None)
        return r - design @ coef

    rx, ry = residual(x), residual(y)
    spread = np.var(stats.rankdata(x))
    if spread == 0 or np.var(rx) < 0.01 * spread:
        return 1.0
    if np.std(ry) == 0:
        return marginal
    return max(marginal, abs(float(np.corrcoef(rx, ry)[0, 1])))


def _spearman(x: Any, y: Any) -> float:
    import numpy as np
    from scipy import stats

    rho = stats.spearmanr(x, y).statistic
    return 0.0 if np.isnan(rho) else float(rho)
