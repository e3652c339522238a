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
least ``min_effect`` residual sds, (2) its bootstrap interval excludes zero and its score is at
least ``min_share`` of the total — or its mechanism alone would move the target by that share (a
second cause whose Shapley value the first one's saturation or offset leaves near 0) — and (3) the
target itself moved by at least ``min_total`` nats. Otherwise the verdict is "no significant
change". With the tap's lineage (``view="auto"``), value mechanisms are tested on messages
(:mod:`.messages`; per mechanism a linear, spline or boosting model by held-out error,
:mod:`.nonlinear`), and the leaves those fits do not read are no parents in the window model.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import networkx as nx

from nodered_causal.analysis import baselines as baselines_mod
from nodered_causal.analysis import fast, linear, signals
from nodered_causal.analysis import graph as g
from nodered_causal.analysis import prepare as prep_mod
from nodered_causal.analysis.config import AttributionConfig
from nodered_causal.analysis.messages import MessageTest
from nodered_causal.analysis.prepare import ALL
from nodered_causal.analysis.result import Attribution
from nodered_causal.errors import MissingDataError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ALL", "AttributionConfig", "attribute_anomaly", "attribute_shift"]


logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- result assembly


def _assemble(
    *,
    dag: nx.DiGraph,
    prep: prep_mod.Prepared,
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
    alone: np.ndarray | None = None,
) -> Attribution:
    """The :class:`Attribution`. A changed node is blamed when its share is material and its
    interval excludes 0, or, its share being about 0 or negative, when by itself (``alone``: the
    target's difference with only that node's mechanism changed) it would move the target by a
    material share of the total: two faults that each saturate the difference split it
    unevenly, and the second's Shapley value can be about 0 though it alone would have done as
    much. A large share whose interval includes 0 stays unblamed."""
    import numpy as np

    s = prep.structure
    m = len(s.nodes)
    intervals = fast.intervals(boot, cfg) if boot is not None and len(boot) else None
    magnitude = float(np.sum(np.abs(scores))) or 1.0
    blamed = []
    for i in changed:
        excludes = intervals is None or intervals[i, 0] > 0 or intervals[i, 1] < 0
        material = abs(scores[i]) >= cfg.min_share * magnitude and scores[i] * sign > 0
        # a share about 0 (not one that is large but uncertain) is rescued by the node alone
        by_itself = alone is not None and alone[i] * sign >= cfg.min_share * abs(total) > 0
        if ((excludes and material) or (by_itself and not material)) and total_ok:
            blamed.append(i)
    upstream = _flow_order(dag, s.nodes)

    def first(i: int) -> tuple[float, int, float, str]:
        # scores equal to 0.1 % of the total are a tie (a saturated difference splits evenly
        # between a root cause and the node it pushed off its range): upstream first; nodes
        # without a score by their test's p-value
        share = round(abs(scores[i]) / magnitude, 3)
        return (-share, upstream[i] if share else 0, p_values.get(i, 1.0), s.nodes[i])

    blamed.sort(key=first)
    ranking = sorted(range(m), key=first)
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


def _flow_order(dag: nx.DiGraph, nodes: tuple[str, ...]) -> list[int]:
    """Each of ``nodes``' position in a topological order of ``dag`` (a cycle's members share
    one); nodes not in it keep their own order, after the rest."""
    condensed = nx.condensation(dag)
    rank = {c: k for k, c in enumerate(nx.topological_sort(condensed))}
    order = {n: rank[c] for n, c in condensed.graph["mapping"].items()}
    return [order.get(n, len(rank) + i) for i, n in enumerate(nodes)]


def _upstream_variables(
    dag: nx.DiGraph, s: linear.Structure, owner: tuple[str, ...]
) -> list[set[int]]:
    """Per variable, the variables of every node upstream of its node in the flow's graph."""
    nodes = owner or s.nodes
    by_node: dict[str, set[int]] = {}
    for i, n in enumerate(nodes):
        by_node.setdefault(n, set()).add(i)
    out = []
    for n in nodes:
        up = nx.ancestors(dag, n) if n in dag else set()
        out.append(set().union(*(by_node.get(str(a), set()) for a in up)))
    return out


def _message_overrides(
    dag: nx.DiGraph,
    s: linear.Structure,
    baseline: Any,
    incident: Any,
    metric: str,
    cfg: AttributionConfig,
    sizes: dict[str, int],
    notes: list[str],
) -> dict[int, MessageTest]:
    """Message-level tests (:mod:`.messages`) of the value variables of nodes with inputs, where
    the records carry lineage (``view="auto"``); variable index -> (p-value, effect)."""
    from nodered_causal.analysis import messages

    if metric != ALL or cfg.view != "auto":
        return {}
    if not (messages.has_lineage(baseline) and messages.has_lineage(incident)):
        return {}

    found = messages.message_tests(
        baseline, incident, s.nodes, min_rows=cfg.min_rows, mechanism=cfg.regressor, seed=cfg.seed
    )
    timed = {signals.node_of(v) for v in s.nodes if signals.family(v) == signals.AGE}
    latency = messages.latency_tests(
        baseline, incident, timed, min_shift_s=cfg.min_latency_s, min_rows=cfg.min_rows
    )
    found.update({f"{node}{signals.SEP}{signals.AGE}": t for node, t in latency.items()})
    index = {v: i for i, v in enumerate(s.nodes)}
    if found:
        sizes["message_pairs"] = sum(t.rows for t in found.values())
        notes.append(
            f"{len(found) - len(latency)} value variables tested on their messages paired by "
            f"lineage ({sizes['message_pairs']} pairs) and {len(latency)} ages on the nodes' own "
            "latency per message; the rest on windows"
        )
        curved = [t.model for t in found.values() if t.model != "linear"]
        if curved:
            notes.append(
                f"{len(curved)} of them modelled non-linearly (lower held-out error than a "
                f"linear fit on the baseline): {', '.join(sorted(set(curved)))}"
            )
    return {index[v]: t for v, t in found.items() if v in index}


def _total_ok(total: float, cfg: AttributionConfig, target_sd: float) -> bool:
    if cfg.difference == "mean":
        return abs(total) / (target_sd or 1.0) >= math.sqrt(2 * cfg.min_total)
    if cfg.difference == "hellinger":  # a small mean shift d: KL = d^2/2, Hellinger^2 = d^2/8
        return total >= cfg.min_total / 4
    return total >= cfg.min_total


# --------------------------------------------------------------------------- public API


def _shift_data(
    dag: nx.DiGraph, baseline: Any, incident: Any, target: str, metric: str, cfg: AttributionConfig
) -> tuple[prep_mod.Prepared, str]:
    """Both recordings as the analysis' variables over the target's ancestors, and the metric
    really used (``all`` on a frame of one column per node means its values)."""
    import pandas as pd

    from nodered_causal.analysis import datasets

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
    d0 = prep_mod.metric_data(baseline, metric, cfg, variables, dag)
    d1 = prep_mod.metric_data(incident, metric, cfg, variables, dag)
    if metric == ALL:
        d0, d1 = signals.align(d0, d1)
    prep = prep_mod.prepare(
        dag, target, [d0, d1], metric, ("baseline", "incident"), expand=variables
    )
    return prep, metric


#: The dowhy baselines: ``gcm.distribution_change`` with its own defaults (kernel mechanism-change
#: test, sampled KL, its Shapley settings), on our linear mechanisms and on mechanisms chosen by
#: ``gcm.auto.assign_causal_mechanisms``.
DOWHY_BASELINES: dict[str, dict[str, Any]] = {
    "dowhy": {"mechanisms": "linear"},
    "dowhy_auto": {"mechanisms": "auto"},
}


def dowhy_baselines(
    dag: nx.DiGraph,
    baseline: Any,
    incident: Any,
    target: str,
    *,
    metric: str = ALL,
    config: AttributionConfig | None = None,
    which: tuple[str, ...] = tuple(DOWHY_BASELINES),
) -> dict[str, tuple[tuple[str, ...], tuple[str, ...], float]]:
    """``gcm.distribution_change`` itself (:data:`DOWHY_BASELINES`) on the same variables as
    :func:`attribute_shift`: per baseline, nodes ranked by their attribution, the nodes it blames
    (flagged changed by its test, positive attribution, the target moved) and its seconds."""
    from nodered_causal.analysis import gcm_engine

    cfg = config or AttributionConfig()
    target = g.resolve(dag, str(target))
    prep, metric = _shift_data(dag, baseline, incident, target, metric, cfg)
    s = prep.structure
    x0 = prep.frames[0].to_numpy(dtype=float)
    x1 = prep.frames[1].to_numpy(dtype=float)
    marginal = baselines_mod.marginal_tests(x0, x1, cfg)
    moved = baselines_mod.target_p_value(s, marginal) <= cfg.alpha
    owner = dict(zip(s.nodes, prep.owner or s.nodes, strict=True))
    out = {}
    for name in which:
        started = time.perf_counter()
        variant = replace(
            cfg, engine="dowhy-full", change_test="kernel", n_bootstrap=0, num_samples=2000,
            shapley="early_stopping", **DOWHY_BASELINES[name],
        )  # fmt: skip
        res = gcm_engine.shift(s, x0, x1, variant, None)
        order = sorted(range(len(s.nodes)), key=lambda i: (-float(res.scores[i]), s.nodes[i]))
        blamed = [i for i in order if i in set(res.changed) and res.scores[i] > 0] if moved else []
        ranked = prep_mod.first_mentions(
            {"r": tuple(s.nodes[i] for i in order), "b": tuple(s.nodes[i] for i in blamed)}, owner
        )
        out[name] = (ranked["r"], ranked["b"], time.perf_counter() - started)
    return out


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

    cfg = config or AttributionConfig()
    started = time.perf_counter()
    target = g.resolve(dag, str(target))
    prep, metric = _shift_data(dag, baseline, incident, target, metric, cfg)
    s = prep.structure
    x0 = prep.frames[0].to_numpy(dtype=float)
    x1 = prep.frames[1].to_numpy(dtype=float)
    notes = list(prep.notes)
    sizes = {"baseline": len(x0), "incident": len(x1), "nodes": len(s.nodes)}
    marginal = baselines_mod.marginal_tests(x0, x1, cfg)
    target_p = baselines_mod.target_p_value(s, marginal)
    answers = baselines_mod.run_baselines(
        s, x0, x1, cfg, marginal, target_moved=target_p <= cfg.alpha,
        upstream_of=_upstream_variables(dag, s, prep.owner),
    )  # fmt: skip
    baselines = {name: tuple(s.nodes[i] for i in b.ranking) for name, b in answers.items()}
    baseline_blamed = {name: tuple(s.nodes[i] for i in b.blamed) for name, b in answers.items()}
    if cfg.engine == "fast":
        overrides = _message_overrides(dag, s, baseline, incident, metric, cfg, sizes, notes)
        wired = prep_mod.prune_by_messages(s, overrides)
        run = fast.shift(wired, x0, x1, cfg, overrides=overrides)
        p_values = {i: t.p_value for i, t in run.tests.items()}
        boot = None
        if cfg.n_bootstrap and run.changed:
            boot = fast.bootstrap(
                lambda b0, b1: fast.shift(wired, b0, b1, cfg, run.tests, run.changed).scores,
                x0,
                x1,
                cfg,
                len(s.nodes),
            )
        elif cfg.n_bootstrap:
            boot = np.zeros((cfg.n_bootstrap, len(s.nodes)))
        scores, changed, total = run.scores, run.changed, run.total
        alone = run.alone
    else:
        from nodered_causal.analysis import gcm_engine

        alone = None
        out = gcm_engine.shift(prep.structure, x0, x1, cfg, notes)
        scores, changed, total, p_values = out.scores, out.changed, out.total, out.p_values
        boot = None
        if cfg.n_bootstrap:
            quiet = replace(cfg, n_bootstrap=0)
            boot = fast.bootstrap(
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
        baselines = prep_mod.first_mentions(baselines, owner)
        baseline_blamed = prep_mod.first_mentions(baseline_blamed, owner)
        prep, scores, boot, changed, p_values, alone = prep_mod.by_node(
            prep, scores, boot, changed, p_values, alone
        )
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
        alone=alone,
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
    d_norm, d_anom = (
        prep_mod.metric_data(normal, metric, cfg),
        prep_mod.metric_data(rows, metric, cfg),
    )
    if len(d_anom) == 0:
        raise MissingDataError("no anomalous rows given", node_id=target)
    prep = prep_mod.prepare(
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
