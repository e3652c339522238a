"""The fast engine: closed-form linear mechanisms, exact Shapley over the changed nodes, and the
bootstrap that gives every score its interval (pure; see :mod:`.attribution` for the pipeline).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from nodered_causal.analysis import baselines as baselines_mod
from nodered_causal.analysis import linear
from nodered_causal.analysis.config import AttributionConfig
from nodered_causal.analysis.messages import MessageTest

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ShiftRun", "bootstrap", "intervals", "shift"]


@dataclass(frozen=True)
class ShiftRun:
    tests: dict[int, linear.NodeTest]
    changed: tuple[int, ...]
    scores: np.ndarray
    total: float
    #: per variable, the target's difference with its mechanism alone changed (0: not a player)
    alone: np.ndarray | None = None


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
) -> tuple[np.ndarray, float, np.ndarray]:
    """Shapley values of ``players``, the total, and each player's value alone."""
    import numpy as np

    k = len(players)
    if k == 0:
        return np.zeros(0), 0.0, np.zeros(0)
    if k <= cfg.max_exact:
        values = linear.kl_set_values(s, old, new, players, cfg.difference)
        alone = np.asarray([values[1 << j] for j in range(k)], dtype=float)
        return linear.shapley_exact(values, k), float(values[-1]), alone
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
    eye = np.eye(k, dtype=np.int8)
    alone = np.asarray(linear.kl_set_values(s, old, new, players, cfg.difference, eye), dtype=float)
    return np.asarray(phi, dtype=float), set_func(np.ones(k, dtype=np.int8)), alone


def shift(
    s: linear.Structure,
    x0: np.ndarray,
    x1: np.ndarray,
    cfg: AttributionConfig,
    base: dict[int, linear.NodeTest] | None = None,
    players: tuple[int, ...] | None = None,
    overrides: Mapping[int, MessageTest] | None = None,
) -> ShiftRun:
    """Test every node (Bonferroni) and score the changed ones; with ``players`` (a bootstrap
    replicate) only refit and score those nodes, the changed set staying the main run's.
    ``overrides``: variable -> (p-value, effect) of a better test of its mechanism (the
    message-level one, :mod:`.messages`), used in place of the window test's."""
    import numpy as np

    m = len(s.nodes)
    tests = dict(base or {})
    tests.update(_test_nodes(s, x0, x1, range(m) if players is None else players, cfg.min_rows))
    for i, t in (overrides or {}).items():
        if players is None:
            tests[i] = replace(tests[i], p_value=t.p_value, effect=t.effect)
    if players is None:
        threshold = cfg.alpha / m
        players = tuple(
            i
            for i in range(m)
            if tests[i].p_value <= threshold and tests[i].effect >= cfg.min_effect
        )
        if cfg.induced:
            threshold = cfg.alpha / m
            own = {
                i
                for i, t in (overrides or {}).items()
                if t.p_in_range is not None
                and t.p_in_range <= threshold
                and (t.effect_in_range or 0.0) >= cfg.min_effect
            }
            players = _drop_induced(s, x0, x1, players, own)
    old, new = linear.mechanisms_from(tests, set(players), m)
    phi, total, alone = _shapley(s, old, new, players, cfg)
    scores = np.zeros(m)
    scores[list(players)] = phi
    solo = np.zeros(m)
    solo[list(players)] = alone
    return ShiftRun(tests, players, scores, total, solo)


#: A changed node counts as induced by a changed ancestor when at least this share of its incident
#: rows has a parent value outside the baseline's range (widened by 10 % on each side).
_OUTSIDE_SHARE = 0.5


def _drop_induced(
    s: linear.Structure,
    x0: np.ndarray,
    x1: np.ndarray,
    changed: tuple[int, ...],
    own: set[int] | frozenset[int] = frozenset(),
) -> tuple[int, ...]:
    """Leave out changed nodes whose change a changed ancestor can explain: their inputs moved
    outside the range the baseline saw, where a linear fit of a non-linear node (a comfort index of
    temperature and humidity) is extrapolation, so its "change" is no evidence of its own. One root
    cause upstream explains both; the node stays changed if no ancestor changed, or with evidence
    of its own: ``own`` (its messages whose inputs stayed in range changed too) or a change too
    large for curvature (:func:`_own_evidence`)."""
    import numpy as np

    ancestors = baselines_mod.ancestor_sets(s)
    keep = []
    for i in changed:
        ps = list(s.parents[i])
        if not ps or not (ancestors[i] & set(changed)) or i in own:
            keep.append(i)
            continue
        lo, hi = np.nanmin(x0[:, ps], axis=0), np.nanmax(x0[:, ps], axis=0)
        pad = 0.1 * (hi - lo)
        rows = x1[:, ps]
        outside = ((rows < lo - pad) | (rows > hi + pad)).any(axis=1)
        if float(np.mean(outside)) < _OUTSIDE_SHARE or _own_evidence(x0, x1, i, ps):
            keep.append(i)
    return tuple(keep)


#: A node whose inputs left the baseline's range still changed by itself when its incident
#: residuals (under the baseline's linear fit) exceed this many times what curvature could explain.
_OWN_FACTOR = 3.0


def _own_evidence(x0: np.ndarray, x1: np.ndarray, i: int, ps: list[int]) -> bool:
    """Is the change too large for extrapolation to explain? Residuals of the incident rows under
    the baseline's linear fit, against how far a quadratic fit of the same baseline extrapolates
    away from the linear one there (plus the baseline's own noise): a non-linear node pushed out
    of range errs by about that much; a node that scales or shifts its output by itself by far
    more."""
    import numpy as np

    def design(x: np.ndarray, quad: bool) -> np.ndarray:
        cols = [np.ones(len(x)), *x.T] + ([*(x.T**2)] if quad else [])
        return np.column_stack(cols)

    ok0 = ~np.isnan(x0[:, [i, *ps]]).any(axis=1)
    ok1 = ~np.isnan(x1[:, [i, *ps]]).any(axis=1)
    if ok0.sum() < 2 * len(ps) + 3 or ok1.sum() < 3:
        return False
    y0, p0, y1, p1 = x0[ok0, i], x0[ok0][:, ps], x1[ok1, i], x1[ok1][:, ps]
    lin = np.linalg.lstsq(design(p0, False), y0, rcond=None)[0]
    quad = np.linalg.lstsq(design(p0, True), y0, rcond=None)[0]
    noise = float(np.std(y0 - design(p0, False) @ lin))
    residual = np.abs(y1 - design(p1, False) @ lin)
    bend = np.abs(design(p1, True) @ quad - design(p1, False) @ lin)
    return float(np.median(residual)) > _OWN_FACTOR * (float(np.median(bend)) + noise)


def bootstrap(
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


def intervals(samples: np.ndarray, cfg: AttributionConfig) -> np.ndarray:
    import numpy as np

    tail = (1 - cfg.confidence) / 2
    return np.asarray(np.quantile(samples, [tail, 1 - tail], axis=0).T)
