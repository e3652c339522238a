"""The dowhy engines (``engine="dowhy"`` and ``"dowhy-full"``); imported only when used.

dowhy's failures (bare ``RuntimeError``/``ValueError``/``KeyError`` for cycles, missing columns,
unfitted mechanisms) are translated into :class:`~nodered_causal.errors.AnalysisError` naming the
node where that is known.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import networkx as nx

from nodered_causal.analysis import linear
from nodered_causal.errors import AnalysisError, MissingDataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from nodered_causal.analysis.config import AttributionConfig

__all__ = ["ShiftOutput", "anomaly", "set_linear_mechanisms", "shift"]

logger = logging.getLogger(__name__)

_DOWHY_ERRORS = (RuntimeError, ValueError, KeyError, IndexError, ArithmeticError)


@dataclass(frozen=True)
class ShiftOutput:
    scores: np.ndarray
    changed: tuple[int, ...]
    total: float
    p_values: dict[int, float]


@contextlib.contextmanager
def _dowhy_errors(what: str, node: str | None) -> Iterator[None]:
    try:
        yield
    except _DOWHY_ERRORS as exc:
        owner = node.rpartition("::")[0] if node and "::" in node else node
        where = f" at node {owner!r}" if owner is not None else ""
        if owner != node:
            where += f" ({node})"
        raise AnalysisError(f"dowhy failed to {what}{where}: {exc}", node_id=owner) from exc


def _seed(cfg: AttributionConfig) -> None:
    import numpy as np
    from dowhy.gcm import config
    from dowhy.gcm.util.general import set_random_seed

    config.disable_progress_bars()
    set_random_seed(cfg.seed)
    np.random.seed(cfg.seed)


def _graph(s: linear.Structure) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(s.nodes)
    graph.add_edges_from((s.nodes[p], s.nodes[i]) for i, ps in enumerate(s.parents) for p in ps)
    return graph


def _complete_frame(
    s: linear.Structure, x: np.ndarray, which: str, notes: list[str] | None
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    ok = ~np.isnan(x).any(axis=1)
    if notes is not None and not ok.all():
        notes.append(
            f"dowhy engine: {int((~ok).sum())} {which} rows with a missing node value left out"
        )
    if ok.sum() < 2:
        raise MissingDataError(f"no complete {which} rows over the target's ancestors for dowhy")
    return pd.DataFrame(x[ok], columns=list(s.nodes))


def _model(
    s: linear.Structure,
    data: pd.DataFrame,
    cfg: AttributionConfig,
    *,
    invertible: bool,
    notes: list[str] | None,
) -> Any:
    from dowhy import gcm

    graph = _graph(s)
    model = (
        gcm.InvertibleStructuralCausalModel(graph)
        if invertible
        else gcm.ProbabilisticCausalModel(graph)
    )
    if cfg.mechanisms == "auto":
        with _dowhy_errors("assign causal mechanisms", None):
            gcm.auto.assign_causal_mechanisms(model, data, quality=gcm.auto.AssignmentQuality.GOOD)
        if notes is not None:
            with _dowhy_errors("evaluate the causal model", None):
                gcm.fit(model, data)
                summary = gcm.evaluate_causal_model(
                    model,
                    data,
                    compare_mechanism_baselines=False,
                    evaluate_invertibility_assumptions=False,
                    evaluate_overall_kl_divergence=False,
                    evaluate_causal_structure=False,
                )
            notes.append("auto mechanisms (gcm.evaluate_causal_model): " + _summary(model, summary))
        return model
    set_linear_mechanisms(model)
    return model


def set_linear_mechanisms(model: Any) -> None:
    """Empirical distributions at the roots, linear additive-noise models everywhere else."""
    from dowhy import gcm

    graph = model.graph
    for node in graph.nodes:
        if graph.in_degree(node) == 0:
            model.set_causal_mechanism(node, gcm.EmpiricalDistribution())
        else:
            model.set_causal_mechanism(
                node, gcm.AdditiveNoiseModel(gcm.ml.create_linear_regressor())
            )


def _summary(model: Any, evaluation: Any) -> str:
    """One line per node: the assigned mechanism and its CRPS / KL (roots) from the evaluation."""
    parts = []
    for node, perf in (evaluation.mechanism_performances or {}).items():
        mech = type(model.causal_mechanism(node)).__name__
        inner = getattr(model.causal_mechanism(node), "prediction_model", None)
        if inner is not None:
            inner = getattr(inner, "sklearn_model", inner)
            mech += f"({type(inner).__name__})"
        quality = f"KL {perf.kl_divergence:.3g}" if perf.is_root else f"CRPS {perf.crps:.3g}"
        parts.append(f"{node}: {mech}, {quality}")
    return "; ".join(parts)


def _shapley_config(cfg: AttributionConfig) -> Any:
    from dowhy.gcm.shapley import ShapleyApproximationMethods, ShapleyConfig

    method = getattr(ShapleyApproximationMethods, cfg.shapley.upper())
    return ShapleyConfig(approximation_method=method, n_jobs=cfg.n_jobs)


def _float_kl(a: np.ndarray, b: np.ndarray) -> float:
    """dowhy's own KL estimator, as a float: an exact 0 comes back as an int from the discrete
    estimator, and dowhy's Shapley estimators then accumulate into an int array and fail."""
    from dowhy.gcm.divergence import auto_estimate_kl_divergence

    return float(auto_estimate_kl_divergence(a, b))


def _local_test_adapter(cfg: AttributionConfig) -> Callable[..., float]:
    """Our linear mechanism test in the shape of a dowhy (conditional) independence test."""
    import numpy as np

    def test(x: np.ndarray, labels: np.ndarray, z: np.ndarray | None = None) -> float:
        first = labels == labels[0]
        y = np.asarray(x, dtype=float).reshape(len(x), -1)[:, 0]
        parents = (
            np.zeros((len(y), 0)) if z is None else np.asarray(z, dtype=float).reshape(len(y), -1)
        )
        out = linear.mechanism_test(
            y[first], parents[first], y[~first], parents[~first], min_rows=cfg.min_rows
        )
        return 0.0 if out.p_value <= cfg.alpha and out.effect >= cfg.min_effect else out.p_value

    return test


def shift(
    s: linear.Structure,
    x0: np.ndarray,
    x1: np.ndarray,
    cfg: AttributionConfig,
    notes: list[str] | None,
) -> ShiftOutput:
    """Attribute the target's distribution change with dowhy (see the attribution module)."""
    import numpy as np
    from dowhy import gcm

    _seed(cfg)
    d0 = _complete_frame(s, x0, "baseline", notes)
    d1 = _complete_frame(s, x1, "incident", notes)
    target = s.nodes[s.target]
    m = len(s.nodes)
    if cfg.engine == "dowhy-full":
        model = _model(s, d0, cfg, invertible=False, notes=notes)
        tests: dict[str, Any] = {}
        if cfg.change_test == "regression":
            tests = {
                "independence_test": gcm.regression_based,
                "conditional_independence_test": gcm.regression_based,
            }
        elif cfg.change_test == "local":
            local = _local_test_adapter(cfg)
            tests = {"independence_test": local, "conditional_independence_test": local}
        with _dowhy_errors("attribute the distribution change", target):
            attributions, flags, _, _ = gcm.distribution_change(
                model,
                d0,
                d1,
                target,
                num_samples=cfg.num_samples,
                shapley_config=_shapley_config(cfg),
                return_additional_info=True,
                mechanism_change_test_significance_level=cfg.alpha,
                difference_estimation_func=_float_kl,
                **tests,
            )
        scores = np.array([float(attributions.get(n, 0.0)) for n in s.nodes])
        changed = tuple(i for i, n in enumerate(s.nodes) if flags.get(n))
        # dowhy's mechanism-change test gives a verdict per node, not a p-value: report none
        return ShiftOutput(scores, changed, float(scores.sum()), {})

    node_tests = {}
    for i in range(m):
        ps = list(s.parents[i])
        node_tests[i] = linear.mechanism_test(
            x0[:, i], x0[:, ps], x1[:, i], x1[:, ps], min_rows=cfg.min_rows
        )
    threshold = cfg.alpha / m
    changed = tuple(
        i
        for i in range(m)
        if node_tests[i].p_value <= threshold and node_tests[i].effect >= cfg.min_effect
    )
    p_values = {i: t.p_value for i, t in node_tests.items()}
    scores = np.zeros(m)
    if not changed:
        return ShiftOutput(scores, changed, 0.0, p_values)
    old = _model(s, d0, cfg, invertible=False, notes=notes)
    new = _model(s, d0, cfg, invertible=False, notes=None)
    import pandas as pd

    pooled = pd.concat([d0, d1], ignore_index=True)
    from dowhy.gcm.fitting_sampling import fit_causal_model_of_target

    for i, node in enumerate(s.nodes):
        with _dowhy_errors("fit the mechanism", node):
            if i in changed:
                fit_causal_model_of_target(old, node, d0)
                fit_causal_model_of_target(new, node, d1)
            else:
                fit_causal_model_of_target(old, node, pooled)
                new.graph.nodes[node].update(old.graph.nodes[node])
    scores[list(changed)], total = _sampled_shapley(s, old, new, changed, cfg)
    return ShiftOutput(scores, changed, total, p_values)


def _sampled_shapley(
    s: linear.Structure, old: Any, new: Any, players: tuple[int, ...], cfg: AttributionConfig
) -> tuple[np.ndarray, float]:
    """dowhy's set function (sample the target, KL vs the old target), over ``players`` only."""
    import numpy as np
    from dowhy import gcm
    from dowhy.gcm.divergence import auto_estimate_kl_divergence
    from dowhy.gcm.fitting_sampling import draw_samples
    from dowhy.gcm.shapley import estimate_shapley_values

    target = s.nodes[s.target]
    reference = draw_samples(old, cfg.num_samples)[target].to_numpy()
    mixed = gcm.ProbabilisticCausalModel(nx.DiGraph(old.graph))

    def set_func(subset: np.ndarray) -> float:
        if not subset.any():
            return 0.0
        chosen = {s.nodes[p] for p, flag in zip(players, subset, strict=True) if flag}
        for node in s.nodes:
            source = new if node in chosen else old
            mixed.graph.nodes[node].update(source.graph.nodes[node])
        with _dowhy_errors("sample the mixed model", target):
            samples = draw_samples(mixed, cfg.num_samples)[target].to_numpy()
        if cfg.difference == "mean":
            return float(samples.mean() - reference.mean())
        return float(auto_estimate_kl_divergence(reference, samples))

    config = _shapley_config(cfg)
    phi = estimate_shapley_values(set_func, len(players), config)
    return np.asarray(phi, dtype=float), set_func(np.ones(len(players), dtype=np.int8))


def anomaly(
    s: linear.Structure,
    xn: np.ndarray,
    xa: np.ndarray,
    cfg: AttributionConfig,
    notes: list[str] | None,
) -> np.ndarray:
    """``gcm.attribute_anomalies`` on an invertible SCM; mean contribution over the rows."""
    import numpy as np
    import pandas as pd
    from dowhy import gcm

    _seed(cfg)
    normal = _complete_frame(s, xn, "normal", notes)
    model = _model(s, normal, cfg, invertible=True, notes=notes)
    for node in s.nodes:
        with _dowhy_errors("fit the mechanism", node):
            gcm.fitting_sampling.fit_causal_model_of_target(model, node, normal)
    complete = ~np.isnan(xa).any(axis=1)
    if not complete.any():
        raise MissingDataError(
            "no anomalous row has a value at every node on its path", node_id=None
        )
    if notes is not None and not complete.all():
        notes.append(f"dowhy engine: {int((~complete).sum())} anomalous rows with a gap left out")
    rows = pd.DataFrame(xa[complete], columns=list(s.nodes))
    target = s.nodes[s.target]
    with _dowhy_errors("attribute the anomaly", target):
        contributions = gcm.attribute_anomalies(
            model,
            target,
            anomaly_samples=rows,
            num_distribution_samples=cfg.num_samples,
            shapley_config=_shapley_config(cfg),
        )
    return np.array([float(np.mean(contributions.get(n, [0.0]))) for n in s.nodes])
