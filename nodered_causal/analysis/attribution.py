"""Attribute a change (baseline vs incident) or one anomalous message to upstream nodes.

Public entry points: :func:`attribute_shift` (dowhy ``gcm.distribution_change``) and
:func:`attribute_anomaly` (``gcm.attribute_anomalies`` on an invertible SCM). Both return one
:class:`~nodered_causal.analysis.result.Attribution`.

Pipeline (both): restrict the DAG to the target's ancestors (a cycle there is a
:class:`~nodered_causal.errors.CycleError`), take one column per node from the data, contract
nodes that have no data, are constant, or (anomaly) are not on the message's path (their parents
are wired to their children, so paths survive; each one is noted), then run an engine:

- ``engine="fast"`` (default, linear mechanisms): each node's mechanism is tested locally
  (:mod:`.linear`: Chow + Brown-Forsythe on a linear fit on the parents), Bonferroni over nodes;
  only the changed nodes are Shapley players (unchanged nodes are dummy players with exactly zero
  in dowhy's own formulation), and the set function is the closed-form Gaussian KL divergence of
  the target (exact Shapley for up to ``max_exact`` players, dowhy's permutation estimator above).
- ``engine="dowhy"``: the same local test, then dowhy's own machinery
  (``fit_causal_model_of_target``, ``draw_samples``, ``auto_estimate_kl_divergence``,
  ``estimate_shapley_values``) over the changed nodes only. Needed for ``mechanisms="auto"``
  (non-linear mechanisms have no closed form).
- ``engine="dowhy-full"``: ``gcm.distribution_change`` itself on the ancestor graph, with its
  mechanism-change test (``change_test``), ``num_samples`` and Shapley settings from the config.

Confidence: ``n_bootstrap`` resamples of the rows (baseline and incident independently); each
replicate refits the changed nodes' old/new mechanisms and recomputes their Shapley scores (the
changed set stays the main run's: the test, not the bootstrap, controls the family-wise error; nodes
that did not change are dummy players, score and interval exactly 0). A node is **blamed** only if
(1) its mechanism test is significant at ``alpha`` (Bonferroni over the nodes) with an effect of at
least ``min_effect`` residual sds, (2) its bootstrap interval excludes zero, (3) its score is at
least ``min_share`` of the total, and (4) the target itself moved by at least ``min_total`` nats.
Otherwise the verdict is "no significant change".
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import networkx as nx

from nodered_causal.analysis import baselines as baselines_mod
from nodered_causal.analysis import graph as g
from nodered_causal.analysis import linear, signals
from nodered_causal.analysis.config import AttributionConfig
from nodered_causal.analysis.result import Attribution
from nodered_causal.errors import MissingDataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["ALL", "AttributionConfig", "attribute_anomaly", "attribute_shift"]

#: The ``metric`` that analyses every signal of every node at once (:mod:`.signals`).
ALL = "all"

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- data preparation


def _metric_data(
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
class _Prepared:
    graph: nx.DiGraph
    structure: linear.Structure
    frames: tuple[pd.DataFrame, ...]
    notes: tuple[str, ...]
    off_path: tuple[str, ...] = ()
    owner: tuple[str, ...] = ()  # the node of each variable (structure.nodes); empty: itself


def _prepare(
    dag: nx.DiGraph,
    target: str,
    frames: list[pd.DataFrame],
    metric: str,
    names: tuple[str, ...],
    drop_if_missing_in: pd.DataFrame | None = None,
    expand: Mapping[str, Sequence[str]] | None = None,
) -> _Prepared:
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
        sub = _prune_parents(sub, cols[0], owner_of)
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
    return _Prepared(sub, structure, frames_out, tuple(notes), tuple(off_path), owner)


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
            if not families or _wired(a, b)
        )
    if families:  # a node without any variable: nothing of it to explain, its paths stay
        out = g.contract(out, [n for n in sub.nodes if str(n) not in variables])
    return out, owner_of


def _wired(parent: str, child: str) -> bool:
    """Does ``parent``'s variable feed ``child``'s? Values from values, counts from counts, ages
    from ages; a node's own latency and errors have no parents (they are its own doing)."""
    kind = signals.family(child)
    return kind in ("value", signals.COUNT, signals.AGE) and signals.family(parent) == kind


#: A payload-leaf variable regresses on at most this many of its parents' leaves, chosen on the
#: baseline by forward selection: each step adds the leaf that explains most of what is left, while
#: it explains at least ``_MIN_GAIN`` of it. Expanding nodes into leaves multiplies the candidates
#: (six leaves per parent, three parents: 18 regressors on 16-40 windows; several of them copies
#: of each other) and the mechanism test loses its power with every regressor.
_MAX_PARENTS = 4
_MIN_GAIN = 0.2


def _prune_parents(
    sub: nx.DiGraph, baseline: pd.DataFrame, owner_of: Mapping[str, str]
) -> nx.DiGraph:
    out = nx.DiGraph(sub)
    for v in list(out.nodes):
        parents = sorted(str(p) for p in out.predecessors(v))
        if len(parents) <= _MAX_PARENTS or all(owner_of.get(p, p) == p for p in parents):
            continue
        keep = _forward_select(baseline, str(v), parents)
        out.remove_edges_from((p, v) for p in parents if p not in keep)
    return out


def _forward_select(frame: pd.DataFrame, y_name: str, candidates: list[str]) -> list[str]:
    import numpy as np

    data = frame[[y_name, *candidates]].dropna().to_numpy(dtype=float)
    y, xs = data[:, 0], data[:, 1:]
    if len(y) < 3 or np.std(y) == 0:
        return []
    chosen: list[int] = []
    left = float(np.sum((y - y.mean()) ** 2))
    while len(chosen) < _MAX_PARENTS and left > 1e-12 * len(y):
        best, best_rss = -1, left
        for j in range(xs.shape[1]):
            if j in chosen or np.std(xs[:, j]) == 0:
                continue
            design = np.column_stack([np.ones(len(y)), xs[:, [*chosen, j]]])
            resid = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
            rss = float(resid @ resid)
            if rss < best_rss:
                best, best_rss = j, rss
        if best < 0 or left - best_rss < _MIN_GAIN * left:
            break
        chosen.append(best)
        left = best_rss
    return [candidates[j] for j in chosen]


def _by_node(
    prep: _Prepared,
    scores: np.ndarray,
    boot: np.ndarray | None,
    changed: tuple[int, ...],
    p_values: Mapping[int, float],
) -> Any:
    """Variables back to nodes: scores and bootstrap replicates summed, the smallest p-value,
    a node changed if any of its variables did."""
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
    )


def _first_mentions(
    rankings: Mapping[str, tuple[str, ...]], owner: Mapping[str, str]
) -> dict[str, tuple[str, ...]]:
    """Rankings of variables as rankings of their nodes, each node where it is first named."""
    return {
        name: tuple(dict.fromkeys(owner.get(v, v) for v in ranking))
        for name, ranking in rankings.items()
    }


# --------------------------------------------------------------------------- fast engine


@dataclass(frozen=True)
class _ShiftRun:
    tests: dict[int, linear.NodeTest]
    changed: tuple[int, ...]
    scores: np.ndarray
    total: float


def _test_nodes(
    s: linear.Structure,
    x0: np.ndarray,
    x1: np.ndarray,
    nodes: range | list[int] | tuple[int, ...],
    min_rows: int,
) -> dict[int, linear.NodeTest]:
    out = {}
    for i in nodes:
        ps = list(s.parents[i])
        out[i] = linear.mechanism_test(x0[:, i], x0[:, ps], x1[:, i], x1[:, ps], min_rows=min_rows)
    return out


def _shapley(
    s: linear.Structure,
    old: list[linear.Mechanism],
    new: list[linear.Mechanism],
    players: tuple[int, ...],
    cfg: AttributionConfig,
) -> tuple[np.ndarray, float]:
    import numpy as np

    k = len(players)
    if k == 0:
        return np.zeros(0), 0.0
    if k <= cfg.max_exact:
        values = linear.kl_set_values(s, old, new, players, cfg.difference)
        return linear.shapley_exact(values, k), float(values[-1])
    from dowhy.gcm.shapley import (
        ShapleyApproximationMethods,
        ShapleyConfig,
        estimate_shapley_values,
    )

    def set_func(subset: np.ndarray) -> float:
        return float(linear.kl_set_values(s, old, new, players, cfg.difference, subset[None, :])[0])

    config = ShapleyConfig(
        ShapleyApproximationMethods.PERMUTATION, num_permutations=10, n_jobs=cfg.n_jobs
    )
    phi = estimate_shapley_values(set_func, k, config)
    return np.asarray(phi, dtype=float), set_func(np.ones(k, dtype=np.int8))


def _fast_shift(
    s: linear.Structure,
    x0: np.ndarray,
    x1: np.ndarray,
    cfg: AttributionConfig,
    base: dict[int, linear.NodeTest] | None = None,
    players: tuple[int, ...] | None = None,
) -> _ShiftRun:
    """Test every node (Bonferroni) and score the changed ones; with ``players`` (a bootstrap
    replicate) only refit and score those nodes, the changed set staying the main run's."""
    import numpy as np

    m = len(s.nodes)
    tests = dict(base or {})
    tests.update(_test_nodes(s, x0, x1, range(m) if players is None else players, cfg.min_rows))
    if players is None:
        threshold = cfg.alpha / m
        players = tuple(
            i
            for i in range(m)
            if tests[i].p_value <= threshold and tests[i].effect >= cfg.min_effect
        )
        if cfg.induced:
            players = _drop_induced(s, x0, x1, players)
    old, new = linear.mechanisms_from(tests, set(players), m)
    phi, total = _shapley(s, old, new, players, cfg)
    scores = np.zeros(m)
    scores[list(players)] = phi
    return _ShiftRun(tests, players, scores, total)


#: A changed node counts as induced by a changed ancestor when at least this share of its incident
#: rows has a parent value outside the baseline's range (widened by 10 % on each side).
_OUTSIDE_SHARE = 0.5


def _drop_induced(
    s: linear.Structure, x0: np.ndarray, x1: np.ndarray, changed: tuple[int, ...]
) -> tuple[int, ...]:
    """Leave out changed nodes whose change a changed ancestor can explain: their inputs moved
    outside the range the baseline saw, where a linear fit of a non-linear node (a comfort index of
    temperature and humidity) is extrapolation, so its "change" is no evidence of its own. One root
    cause upstream explains both; the node stays changed if no ancestor changed."""
    import numpy as np

    ancestors = baselines_mod.ancestor_sets(s)
    keep = []
    for i in changed:
        ps = list(s.parents[i])
        if not ps or not (ancestors[i] & set(changed)):
            keep.append(i)
            continue
        lo, hi = np.nanmin(x0[:, ps], axis=0), np.nanmax(x0[:, ps], axis=0)
        pad = 0.1 * (hi - lo)
        rows = x1[:, ps]
        outside = ((rows < lo - pad) | (rows > hi + pad)).any(axis=1)
        if float(np.mean(outside)) < _OUTSIDE_SHARE:
            keep.append(i)
    return tuple(keep)


def _bootstrap(
    run_once: Any,
    x0: np.ndarray,
    x1: np.ndarray,
    cfg: AttributionConfig,
    m: int,
    *,
    smooth: bool = False,
) -> np.ndarray:
    """Scores of ``n_bootstrap`` replicates (rows resampled in both datasets), shape (B, m).

    ``smooth`` adds noise of 0.1 % of each column's sd to the resampled rows (a smoothed
    bootstrap): dowhy's k-NN KL estimator breaks on the exact duplicates resampling creates.
    """
    import numpy as np

    rng = np.random.default_rng(cfg.seed)
    out = np.zeros((cfg.n_bootstrap, m))
    sd0, sd1 = np.nanstd(x0, axis=0) * 1e-3, np.nanstd(x1, axis=0) * 1e-3
    for b in range(cfg.n_bootstrap):
        b0 = x0[rng.integers(0, len(x0), len(x0))]
        b1 = x1[rng.integers(0, len(x1), len(x1))]
        if smooth:
            b0 = b0 + rng.normal(size=b0.shape) * sd0
            b1 = b1 + rng.normal(size=b1.shape) * sd1
        out[b] = run_once(b0, b1)
    return out


def _intervals(samples: np.ndarray, cfg: AttributionConfig) -> np.ndarray:
    import numpy as np

    tail = (1 - cfg.confidence) / 2
    return np.asarray(np.quantile(samples, [tail, 1 - tail], axis=0).T)


# --------------------------------------------------------------------------- result assembly


def _assemble(
    *,
    dag: nx.DiGraph,
    prep: _Prepared,
    target: str,
    metric: str,
    method: str,
    cfg: AttributionConfig,
    scores: np.ndarray,
    changed: tuple[int, ...],
    p_values: Mapping[int, float],
    total: float,
    boot: np.ndarray | None,
    total_ok: bool,
    sizes: dict[str, int],
    started: float,
    notes: list[str],
    baselines: dict[str, tuple[str, ...]],
    baseline_blamed: dict[str, tuple[str, ...]] | None = None,
    sign: float = 1.0,
    target_p_value: float | None = None,
) -> Attribution:
    import numpy as np

    s = prep.structure
    m = len(s.nodes)
    intervals = _intervals(boot, cfg) if boot is not None and len(boot) else None
    magnitude = float(np.sum(np.abs(scores))) or 1.0
    blamed = []
    for i in changed:
        excludes = intervals is None or intervals[i, 0] > 0 or intervals[i, 1] < 0
        material = abs(scores[i]) >= cfg.min_share * magnitude and scores[i] * sign > 0
        if excludes and material and total_ok:
            blamed.append(i)
    blamed.sort(key=lambda i: -abs(scores[i]))
    ranking = sorted(range(m), key=lambda i: (-abs(scores[i]), p_values.get(i, 1.0), s.nodes[i]))
    if not total_ok:
        notes.append(f"the target moved too little to blame anything (total {total:.4g})")
    if intervals is None:
        notes.append("no bootstrap: blame rests on the test and the share alone")
    return Attribution(
        target=target,
        metric=metric,
        method=method,
        engine=cfg.engine,
        ranking=tuple(s.nodes[i] for i in ranking),
        scores={s.nodes[i]: float(scores[i]) for i in range(m)},
        intervals={}
        if intervals is None
        else {s.nodes[i]: (float(intervals[i, 0]), float(intervals[i, 1])) for i in range(m)},
        blamed=tuple(s.nodes[i] for i in blamed),
        changed_mechanisms=tuple(s.nodes[i] for i in changed),
        p_values={s.nodes[i]: float(p) for i, p in p_values.items()},
        total=float(total),
        dataset_sizes=sizes,
        runtime_s=time.perf_counter() - started,
        seed=cfg.seed,
        notes=tuple(notes),
        baselines=baselines,
        baseline_blamed=baseline_blamed or {},
        labels=g.node_labels(dag, s.nodes),
        target_p_value=target_p_value,
    )


def _total_ok(total: float, cfg: AttributionConfig, target_sd: float) -> bool:
    if cfg.difference == "mean":
        return abs(total) / (target_sd or 1.0) >= math.sqrt(2 * cfg.min_total)
    return total >= cfg.min_total


# --------------------------------------------------------------------------- public API


def attribute_shift(
    dag: nx.DiGraph,
    baseline: Any,
    incident: Any,
    target: str,
    *,
    metric: str = ALL,
    config: AttributionConfig | None = None,
) -> Attribution:
    """Which nodes' mechanisms explain the change of ``target``'s ``metric`` distribution?

    ``baseline``/``incident``: record columns (``Store.record_columns``), a :func:`windowed` frame,
    or a frame with one column per node id. ``dag``: the flow's causal DAG (runtime or condensed).
    """
    import numpy as np
    import pandas as pd

    from nodered_causal.analysis import datasets

    cfg = config or AttributionConfig()
    started = time.perf_counter()
    target = g.resolve(dag, str(target))
    variables = None
    if (
        cfg.fields == "all"
        and cfg.field is None
        and cfg.engine == "fast"
        and metric.startswith("value")
        and not isinstance(baseline, pd.DataFrame)
    ):
        variables = datasets.value_fields(baseline, cfg.max_fields)
    framed = isinstance(baseline, pd.DataFrame)
    if metric == ALL and framed and not any(signals.SEP in str(c) for c in baseline.columns):
        metric = "value"  # a frame of one column per node: those are the values
    d0 = _metric_data(baseline, metric, cfg, variables, dag)
    d1 = _metric_data(incident, metric, cfg, variables, dag)
    if metric == ALL:
        d0, d1 = signals.align(d0, d1)
    prep = _prepare(dag, target, [d0, d1], metric, ("baseline", "incident"), expand=variables)
    s = prep.structure
    x0 = prep.frames[0].to_numpy(dtype=float)
    x1 = prep.frames[1].to_numpy(dtype=float)
    notes = list(prep.notes)
    sizes = {"baseline": len(x0), "incident": len(x1), "nodes": len(s.nodes)}
    marginal = baselines_mod.marginal_tests(x0, x1, cfg)
    # did the target's own distribution change at all, whatever the cause (Bonferroni over its
    # variables; independent of the graph)?
    target_p = min(1.0, min(marginal[i].p_value for i in s.outputs) * len(s.outputs))
    answers = baselines_mod.run_baselines(
        s, x0, x1, cfg, marginal, target_moved=target_p <= cfg.alpha
    )
    baselines = {name: tuple(s.nodes[i] for i in b.ranking) for name, b in answers.items()}
    baseline_blamed = {name: tuple(s.nodes[i] for i in b.blamed) for name, b in answers.items()}
    if cfg.engine == "fast":
        run = _fast_shift(s, x0, x1, cfg)
        p_values = {i: t.p_value for i, t in run.tests.items()}
        boot = None
        if cfg.n_bootstrap and run.changed:
            boot = _bootstrap(
                lambda b0, b1: _fast_shift(s, b0, b1, cfg, run.tests, run.changed).scores,
                x0,
                x1,
                cfg,
                len(s.nodes),
            )
        elif cfg.n_bootstrap:
            boot = np.zeros((cfg.n_bootstrap, len(s.nodes)))
        scores, changed, total = run.scores, run.changed, run.total
    else:
        from nodered_causal.analysis import gcm_engine

        out = gcm_engine.shift(prep.structure, x0, x1, cfg, notes)
        scores, changed, total, p_values = out.scores, out.changed, out.total, out.p_values
        boot = None
        if cfg.n_bootstrap:
            quiet = replace(cfg, n_bootstrap=0)
            boot = _bootstrap(
                lambda b0, b1: gcm_engine.shift(prep.structure, b0, b1, quiet, None).scores,
                x0,
                x1,
                cfg,
                len(s.nodes),
                smooth=True,
            )
    target_sd = float(np.nanstd(x0[:, s.target]))
    if prep.owner:
        sizes["variables"] = len(s.nodes)
        owner = dict(zip(s.nodes, prep.owner, strict=True))
        baselines = _first_mentions(baselines, owner)
        baseline_blamed = _first_mentions(baseline_blamed, owner)
        prep, scores, boot, changed, p_values = _by_node(prep, scores, boot, changed, p_values)
        sizes["nodes"] = len(prep.structure.nodes)
    return _assemble(
        dag=dag,
        prep=prep,
        target=target,
        metric=metric,
        method="distribution_change",
        cfg=cfg,
        scores=scores,
        changed=changed,
        p_values=p_values,
        total=total,
        boot=boot,
        total_ok=_total_ok(total, cfg, target_sd),
        sizes=sizes,
        started=started,
        notes=notes,
        baselines=baselines,
        baseline_blamed=baseline_blamed,
        target_p_value=target_p,
    )


def attribute_anomaly(
    dag: nx.DiGraph,
    normal: Any,
    anomalous_rows: Any,
    target: str,
    *,
    metric: str = "value",
    config: AttributionConfig | None = None,
) -> Attribution:
    """Which upstream nodes explain why ``target``'s value in ``anomalous_rows`` is off?

    ``normal``: rows of normal operation (a :func:`lineage` frame, or a windowed/metric frame);
    ``anomalous_rows``: one or more rows of the same shape (a Series is one row). Nodes that are
    ``NaN`` in the anomalous rows are not on the message's path and are left out; mechanisms are
    fitted on the normal rows (each node on its own complete rows). Scores are contributions to the
    target's deviation from its normal mean (target units; they sum to the deviation).
    """
    import numpy as np
    import pandas as pd

    cfg = config or AttributionConfig()
    started = time.perf_counter()
    target = g.resolve(dag, str(target))
    rows = anomalous_rows.to_frame().T if isinstance(anomalous_rows, pd.Series) else anomalous_rows
    d_norm, d_anom = _metric_data(normal, metric, cfg), _metric_data(rows, metric, cfg)
    if len(d_anom) == 0:
        raise MissingDataError("no anomalous rows given", node_id=target)
    prep = _prepare(
        dag, target, [d_norm, d_anom], metric, ("normal", "anomalous"), drop_if_missing_in=d_anom
    )
    if prep.off_path:
        # compare with normal messages that took the same route (the off-path nodes missing too)
        same = d_norm.reindex(columns=list(prep.off_path)).isna().all(axis=1).to_numpy()
        if same.sum() >= cfg.min_rows:
            prep = replace(prep, frames=(prep.frames[0][same], *prep.frames[1:]))
            prep = replace(
                prep, notes=(*prep.notes, f"{int(same.sum())} normal rows took the same route")
            )
    s = prep.structure
    xn = prep.frames[0].to_numpy(dtype=float)
    xa = prep.frames[1].to_numpy(dtype=float)
    notes = list(prep.notes)
    sizes = {"normal": len(xn), "anomalous": len(xa), "nodes": len(s.nodes)}
    z = _noise_z(s, xn, xa, cfg)
    mean_n = np.nanmean(xn, axis=0)
    sd_n = np.nanstd(xn, axis=0) + 1e-12
    marginal = np.abs(np.nanmean(xa, axis=0) - mean_n) / sd_n
    shifted = [i for i in range(len(s.nodes)) if marginal[i] >= cfg.z_threshold]
    anc = baselines_mod.ancestor_sets(s)
    baselines = {
        "marginal_shift": tuple(
            s.nodes[i] for i in sorted(range(len(s.nodes)), key=lambda i: -marginal[i])
        ),
        "most_upstream": tuple(
            s.nodes[i] for i in sorted(shifted, key=lambda i: (bool(anc[i] & set(shifted)), i))
        ),
    }
    if cfg.engine == "fast":
        scores = _linear_anomaly_scores(s, xn, xa, cfg)
    else:
        from nodered_causal.analysis import gcm_engine

        scores = gcm_engine.anomaly(prep.structure, xn, xa, cfg, notes)
    boot = None
    if cfg.n_bootstrap:
        quiet = replace(cfg, n_bootstrap=0)
        rng = np.random.default_rng(cfg.seed)
        boot = np.zeros((cfg.n_bootstrap, len(s.nodes)))
        for b in range(cfg.n_bootstrap):
            sample = xn[rng.integers(0, len(xn), len(xn))]
            if cfg.engine == "fast":
                boot[b] = _linear_anomaly_scores(s, sample, xa, quiet)
            else:
                from nodered_causal.analysis import gcm_engine

                boot[b] = gcm_engine.anomaly(prep.structure, sample, xa, quiet, [])
    deviation = float(np.nanmean(xa[:, s.target]) - mean_n[s.target])
    changed = tuple(i for i in range(len(s.nodes)) if abs(z[i]) >= cfg.z_threshold)
    p_values = {i: float(math.erfc(abs(z[i]) / math.sqrt(2))) for i in range(len(s.nodes))}
    total_ok = abs(deviation) / sd_n[s.target] >= cfg.target_z
    if not total_ok:
        notes.append(
            f"the target is only {abs(deviation) / sd_n[s.target]:.2f} sd off its normal mean"
        )
    return _assemble(
        dag=dag,
        prep=prep,
        target=target,
        metric=metric,
        method="anomaly",
        cfg=cfg,
        scores=scores,
        changed=changed,
        p_values=p_values,
        total=deviation,
        boot=boot,
        total_ok=total_ok,
        sizes=sizes,
        started=started,
        notes=notes,
        baselines=baselines,
        sign=1.0 if cfg.engine != "fast" or deviation >= 0 else -1.0,
    )


def _fit_all(s: linear.Structure, x: np.ndarray, cfg: AttributionConfig) -> list[linear.Mechanism]:
    import numpy as np

    mechs = []
    for i in range(len(s.nodes)):
        ps = list(s.parents[i])
        y, xp = x[:, i], x[:, ps]
        ok = ~np.isnan(y) & (~np.isnan(xp).any(axis=1) if ps else True)
        if ok.sum() < cfg.min_rows:
            raise MissingDataError(
                f"node {s.nodes[i]!r} has only {int(ok.sum())} normal rows with its parents "
                f"({', '.join(s.nodes[p] for p in ps) or 'none'}); need {cfg.min_rows}",
                node_id=s.nodes[i],
            )
        mechs.append(linear.fit_linear(y[ok], xp[ok])[0])
    return mechs


def _noise(s: linear.Structure, mechs: list[linear.Mechanism], xa: np.ndarray) -> np.ndarray:
    """Noise of the anomalous rows (``x - intercept - coef . parents``), mean over rows."""
    import numpy as np

    noise = np.zeros(len(s.nodes))
    for i, mech in enumerate(mechs):
        pred = (
            mech.intercept + xa[:, list(s.parents[i])] @ np.asarray(mech.coef)
            if s.parents[i]
            else mech.intercept
        )
        noise[i] = float(np.nanmean(xa[:, i] - pred))
    return noise


def _noise_z(
    s: linear.Structure, xn: np.ndarray, xa: np.ndarray, cfg: AttributionConfig
) -> np.ndarray:
    import numpy as np

    mechs = _fit_all(s, xn, cfg)
    noise = _noise(s, mechs, xa)
    sd = np.sqrt([max(mech.var, 1e-24) for mech in mechs])
    return np.asarray(noise / sd)


def _linear_anomaly_scores(
    s: linear.Structure, xn: np.ndarray, xa: np.ndarray, cfg: AttributionConfig
) -> np.ndarray:
    """Exact Shapley contributions to ``target - E[target]`` of a linear SCM: ``c_j * noise_j``."""
    import numpy as np

    mechs = _fit_all(s, xn, cfg)
    noise = _noise(s, mechs, xa)
    total = np.zeros(len(s.nodes))
    total[s.target] = 1.0
    for i in range(s.target, -1, -1):
        for p, c in zip(s.parents[i], mechs[i].coef, strict=True):
            total[p] += c * total[i]
    return total * noise  # type: ignore[no-any-return]
