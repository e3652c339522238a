"""Local linear mechanisms: per-node fits, the mechanism-change test, closed-form Shapley.

The structural shortcut behind the fast engine. In dowhy's ``distribution_change`` a node whose
mechanism did not change is fitted on the pooled data for both the old and the new model, so it is
a dummy player of the Shapley game and gets exactly zero. Hence only the nodes that *changed* need
Shapley values, and with linear additive-noise mechanisms the target's mean and variance under any
mix of old and new mechanisms have a closed form (propagate means; variance = sum of squared total
effects times noise variances), so the set function is exact and costs O(edges) numpy operations
for all 2^k subsets at once. Roots keep their empirical mean and variance.

The test of one node (``mechanism_test``): a Chow F-test (same intercept and coefficients on the
parents in both datasets) and a Brown-Forsythe test (same residual spread), Bonferroni-combined.
It conditions on the parents, so a node that only *inherits* an upstream change is not flagged.
Windows of a time series are autocorrelated: both statistics are divided by the variance inflation
``(1 + rho) / (1 - rho)`` of the residuals' lag-1 autocorrelation, else the tests over-reject.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Mechanism",
    "NodeTest",
    "Structure",
    "all_subsets",
    "fit_linear",
    "gaussian_kl",
    "kl_set_values",
    "mechanism_test",
    "mechanisms_from",
    "shapley_exact",
    "target_moments",
]

logger = logging.getLogger(__name__)

_TINY = 1e-12


@dataclass(frozen=True)
class Structure:
    """The analysis graph as index arrays: ``order`` is topological, ``parents[i]`` index lists."""

    nodes: tuple[str, ...]
    parents: tuple[tuple[int, ...], ...]
    target: int
    #: Several target variables (one node's payload leaves): the set function sums their
    #: divergences. Empty: ``(target,)``.
    targets: tuple[int, ...] = ()

    @property
    def outputs(self) -> tuple[int, ...]:
        return self.targets or (self.target,)

    @property
    def children(self) -> list[list[int]]:
        kids: list[list[int]] = [[] for _ in self.nodes]
        for i, ps in enumerate(self.parents):
            for p in ps:
                kids[p].append(i)
        return kids


@dataclass(frozen=True)
class Mechanism:
    """``x = intercept + coef . parents + noise``, noise variance ``var`` (roots: mean, var)."""

    intercept: float
    coef: tuple[float, ...]
    var: float
    n: int


@dataclass(frozen=True)
class NodeTest:
    """Outcome of one node's mechanism-change test."""

    p_value: float
    effect: float
    old: Mechanism
    new: Mechanism
    pooled: Mechanism


def _complete(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    ok = ~np.isnan(y)
    if x.shape[1]:
        ok &= ~np.isnan(x).any(axis=1)
    return y[ok], x[ok]


def fit_linear(y: np.ndarray, x: np.ndarray) -> tuple[Mechanism, np.ndarray, int]:
    """Least squares of ``y`` on ``[1, x]``; returns the mechanism, residuals and the rank."""
    import numpy as np

    design = np.column_stack([np.ones(len(y)), x]) if x.shape[1] else np.ones((len(y), 1))
    if len(y) == 0:
        return Mechanism(math.nan, tuple([math.nan] * x.shape[1]), math.nan, 0), y, 1
    beta, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ beta
    dof = max(len(y) - int(rank), 1)
    var = float(resid @ resid) / dof
    return (
        Mechanism(float(beta[0]), tuple(float(b) for b in beta[1:]), var, len(y)),
        resid,
        int(rank),
    )


def mechanism_test(
    y0: np.ndarray, x0: np.ndarray, y1: np.ndarray, x1: np.ndarray, *, min_rows: int = 8
) -> NodeTest:
    """Did ``P(y | x)`` change between dataset 0 (baseline) and 1 (incident)? See module docstring.

    ``effect`` is the size of the change in units of the baseline residual sd: the larger of the
    incident's mean residual under the baseline fit and ``|log(sd1/sd0)|``.
    """
    import numpy as np
    from scipy import special

    y0, x0 = _complete(y0, x0)
    y1, x1 = _complete(y1, x1)
    old, r0, rank0 = fit_linear(y0, x0)
    new, r1, rank1 = fit_linear(y1, x1)
    pooled, rp, rankp = fit_linear(np.concatenate([y0, y1]), np.concatenate([x0, x1]))
    if min(len(y0), len(y1)) < min_rows:
        return NodeTest(1.0, 0.0, old, new, pooled)
    scale = float(np.std(np.concatenate([y0, y1]))) + _TINY
    rss0, rss1, rssp = float(r0 @ r0), float(r1 @ r1), float(rp @ rp)
    n = len(y0) + len(y1)
    beta0 = np.array([old.intercept, *old.coef])
    design1 = np.column_stack([np.ones(len(y1)), x1]) if x1.shape[1] else np.ones((len(y1), 1))
    shift = float(np.mean(y1 - design1 @ beta0)) if len(y1) else 0.0
    sd0, sd1 = math.sqrt(max(old.var, 0.0)), math.sqrt(max(new.var, 0.0))
    if max(sd0, sd1) <= 1e-9 * scale:  # deterministic in both runs: changed iff the map changed
        changed = math.sqrt(rssp / n) > 1e-6 * scale
        return NodeTest(0.0 if changed else 1.0, math.inf if changed else 0.0, old, new, pooled)
    k = rank0 + rank1 - rankp
    dof = max(n - rank0 - rank1, 1)
    within = (rss0 + rss1) / dof
    inflation = _inflation(r0, r1)
    if k > 0 and within > 0:
        f_stat = max(rssp - rss0 - rss1, 0.0) / k / within / inflation
        p_chow = float(special.fdtrc(k, dof, f_stat))
    else:
        p_chow = 1.0
    z0, z1 = np.abs(r0 - np.median(r0)), np.abs(r1 - np.median(r1))
    p_var = _two_group_anova(z0, z1, _inflation(z0 - z0.mean(), z1 - z1.mean()))
    p_value = min(1.0, 2.0 * min(p_chow, p_var))
    ref_sd = max(sd0, 1e-9 * scale)
    effect = max(abs(shift) / ref_sd, abs(math.log(max(sd1, 1e-9 * scale) / ref_sd)))
    return NodeTest(p_value, effect, old, new, pooled)


def _lag1(r: np.ndarray) -> float:
    import numpy as np

    if len(r) < 3:
        return 0.0
    denom = float(r @ r)
    return float(np.dot(r[1:], r[:-1]) / denom) if denom > 0 else 0.0


def _inflation(r0: np.ndarray, r1: np.ndarray) -> float:
    """Variance inflation of a mean of autocorrelated rows (windows of a time series):
    ``(1 + rho) / (1 - rho)`` for the pooled lag-1 autocorrelation ``rho`` clipped to [0, 0.9]."""
    rho = min(max((_lag1(r0) * len(r0) + _lag1(r1) * len(r1)) / (len(r0) + len(r1)), 0.0), 0.9)
    return (1 + rho) / (1 - rho)


def _two_group_anova(z0: np.ndarray, z1: np.ndarray, inflation: float) -> float:
    """One-way ANOVA p-value of two groups (Brown-Forsythe when ``z`` = |residual - median|)."""
    from scipy import special

    n0, n1 = len(z0), len(z1)
    grand = (z0.sum() + z1.sum()) / (n0 + n1)
    between = n0 * (z0.mean() - grand) ** 2 + n1 * (z1.mean() - grand) ** 2
    within = float(((z0 - z0.mean()) ** 2).sum() + ((z1 - z1.mean()) ** 2).sum()) / (n0 + n1 - 2)
    if within <= 0:
        return 0.0 if between > 0 else 1.0
    return float(special.fdtrc(1, n0 + n1 - 2, between / within / inflation))


def target_moments(
    structure: Structure,
    old: Sequence[Mechanism],
    new: Sequence[Mechanism],
    subsets: np.ndarray,
    players: Sequence[int],
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the target for every subset (rows of ``subsets`` over ``players``).

    Node ``players[j]`` uses its ``new`` mechanism where ``subsets[:, j] == 1``, else ``old``.
    """
    import numpy as np

    m = len(structure.nodes)
    which: dict[int, np.ndarray] = {p: subsets[:, j].astype(bool) for j, p in enumerate(players)}

    def pick(i: int, attr: str) -> Any:
        a, b = getattr(old[i], attr), getattr(new[i], attr)
        if i in which:
            if attr == "coef":
                return [np.where(which[i], nb, ob) for ob, nb in zip(a, b, strict=True)]
            return np.where(which[i], b, a)
        return a

    means: list[Any] = [0.0] * m
    coefs: list[Any] = [()] * m
    for i in range(m):  # nodes are in topological order
        coefs[i] = pick(i, "coef")
        mean = pick(i, "intercept")
        for p, c in zip(structure.parents[i], coefs[i], strict=True):
            mean = mean + c * means[p]
        means[i] = mean
    total: list[Any] = [0.0] * m
    total[structure.target] = 1.0
    for i in range(structure.target, -1, -1):
        if isinstance(total[i], float) and total[i] == 0.0:
            continue
        for p, c in zip(structure.parents[i], coefs[i], strict=True):
            total[p] = total[p] + c * total[i]
    var: Any = 0.0
    for i in range(structure.target + 1):
        if isinstance(total[i], float) and total[i] == 0.0:
            continue
        var = var + np.square(total[i]) * pick(i, "var")
    shape = (subsets.shape[0],)
    return np.broadcast_to(means[structure.target], shape).astype(float), np.broadcast_to(
        var, shape
    ).astype(float)


def forward_select(
    frame: Any, y_name: str, candidates: Sequence[str], max_k: int, min_gain: float
) -> list[str]:
    """Forward selection of ``y_name``'s regressors among ``candidates`` (columns of ``frame``):
    each step adds the one that explains most of what is left, while it explains at least
    ``min_gain`` of it; at most ``max_k``."""
    import numpy as np

    if not candidates:
        return []
    data = frame[[y_name, *candidates]].dropna().to_numpy(dtype=float)
    y, xs = data[:, 0], data[:, 1:]
    if len(y) < 3 or np.std(y) == 0:
        return []
    chosen: list[int] = []
    left = float(np.sum((y - y.mean()) ** 2))
    while len(chosen) < max_k and left > 1e-12 * len(y):
        best, best_rss = -1, left
        for j in range(xs.shape[1]):
            if j in chosen or np.std(xs[:, j]) == 0:
                continue
            design = np.column_stack([np.ones(len(y)), xs[:, [*chosen, j]]])
            resid = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
            rss = float(resid @ resid)
            if rss < best_rss:
                best, best_rss = j, rss
        if best < 0 or left - best_rss < min_gain * left:
            break
        chosen.append(best)
        left = best_rss
    return [candidates[j] for j in chosen]


def gaussian_hellinger2(mean0: Any, var0: Any, mean1: Any, var1: Any) -> Any:
    """Squared Hellinger distance of two normals, vectorised, in [0, 1]: bounded where the KL
    divergence of a nearly deterministic variable (a count, an age) explodes."""
    import numpy as np

    v0 = np.maximum(var0, _TINY)
    v1 = np.maximum(var1, _TINY)
    total = v0 + v1
    return 1.0 - np.sqrt(2.0 * np.sqrt(v0 * v1) / total) * np.exp(
        -np.square(mean0 - mean1) / (4.0 * total)
    )


def gaussian_kl(mean0: Any, var0: Any, mean1: Any, var1: Any) -> Any:
    """KL(N(mean0, var0) || N(mean1, var1)), vectorised; variances floored at a tiny value."""
    import numpy as np

    v0 = np.maximum(var0, _TINY)
    v1 = np.maximum(var1, _TINY)
    return 0.5 * (np.log(v1 / v0) + (v0 + np.square(mean0 - mean1)) / v1 - 1.0)


def all_subsets(k: int) -> np.ndarray:
    """Every 0/1 vector of length ``k``; row ``s`` is the binary expansion of ``s``."""
    import numpy as np

    idx = np.arange(2**k)
    return ((idx[:, None] >> np.arange(k)) & 1).astype(np.int8)


def shapley_exact(values: np.ndarray, k: int) -> np.ndarray:
    """Exact Shapley values from the set function evaluated on :func:`all_subsets` ``(k)``."""
    import numpy as np

    idx = np.arange(2**k)
    size = np.array([bin(s).count("1") for s in idx])
    weight = np.array(
        [math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k) for s in range(k)]
    )
    phi = np.zeros(k)
    for j in range(k):
        without = idx[(idx >> j) & 1 == 0]
        phi[j] = float(
            np.sum(weight[size[without]] * (values[without | (1 << j)] - values[without]))
        )
    return phi


def kl_set_values(
    structure: Structure,
    old: Sequence[Mechanism],
    new: Sequence[Mechanism],
    players: Sequence[int],
    difference: str = "kl",
    subsets: np.ndarray | None = None,
) -> np.ndarray:
    """The set function v(S) = D(target under old || target with S's mechanisms new), summed
    over the target variables (``structure.outputs``)."""
    from dataclasses import replace

    if subsets is None:
        subsets = all_subsets(len(players))
    out: Any = 0.0
    for t in structure.outputs:
        one = replace(structure, target=t, targets=())
        means, variances = target_moments(one, old, new, subsets, players)
        m0, v0 = target_moments(one, old, new, subsets[:1] * 0, players)
        if difference == "mean":
            out = out + (means - m0[0])
        elif difference == "hellinger":
            out = out + gaussian_hellinger2(m0[0], v0[0], means, variances)
        else:
            out = out + gaussian_kl(m0[0], v0[0], means, variances)
    return out  # type: ignore[no-any-return]


def mechanisms_from(
    tests: Mapping[int, NodeTest], changed: set[int], m: int
) -> tuple[list[Mechanism], list[Mechanism]]:
    """Old/new mechanisms per node: separate fits for changed nodes, the pooled fit otherwise."""
    old = [tests[i].old if i in changed else tests[i].pooled for i in range(m)]
    new = [tests[i].new if i in changed else tests[i].pooled for i in range(m)]
    return old, new
