"""Per-mechanism choice between a linear and a non-linear regressor, and the test that goes with it.

A node's output is often a curve of its inputs (a log or exponential pump law, a calibration
curve), a step (a threshold, a clamp) or a product. A linear fit of such a node "changes" whenever
the mix of its inputs moves along the curve, which is no fault of the node. So each mechanism is
fitted three ways on the baseline and the one with the lowest held-out error (k-fold, shuffled
with the analysis' seed) is kept:

- **linear** on the features forward selection chose (input leaves, squares, products);
- **splines**: additive cubic splines of the input leaves forward selection chose (knots at
  quantiles), beside the linear features, fitted by ridge;
- **boosting**: scikit-learn gradient boosting (depth 3) of every input leaf, tried only where
  neither of the others explains 99 % of the held-out variance (steps, interactions): it costs
  ~30 ms a fit.

A non-linear model must beat the linear one's held-out error by :data:`MARGIN`; an exact linear
fit (held-out R² above 1 - 1e-9: a linear map, a product the features hold) is kept without trying.

The test for a non-linear model (:func:`residual_test`) compares residuals: the baseline's
out-of-fold residuals against the incident's under the model fitted on the whole baseline — their
means (Welch) and spreads (Brown-Forsythe), Bonferroni over the two. The effect is in baseline
residual sds, with a floor of :data:`FLOOR` of the output's sd: a deterministic curve's tiny
approximation error is no unit to measure a change in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MARGIN", "Choice", "choose", "residual_test"]

#: A non-linear model is chosen when its held-out error is below (1 - MARGIN) x the linear one's.
MARGIN = 0.2
#: The residual sd used as the unit of an effect is at least this share of the output's sd.
FLOOR = 0.05
#: Fewer baseline rows than this and only the linear model is considered.
MIN_ROWS = 60
_FOLDS = 3
_LINEAR_ENOUGH = 1 - 1e-9  # held-out R² of a linear fit above which nothing else is tried
_SMOOTH_ENOUGH = 0.99  # ... of the linear or spline fit above which boosting is not tried

Kind = Literal["linear", "splines", "boosting"]


@dataclass(frozen=True)
class Choice:
    """The model kept for one mechanism, the held-out error of each model tried (mean squared,
    ``None``: not tried) and the baseline's out-of-fold residuals of the kept one."""

    kind: Kind
    errors: dict[str, float | None]
    residuals: Any  # np.ndarray
    model: Any = None  # the non-linear model fitted on the whole baseline (None for linear)


def _splines(width: int) -> Any:
    """Cubic splines (knots at quantiles) of the first ``width`` columns, the rest as they are,
    fitted by ridge on standardised columns."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import SplineTransformer, StandardScaler

    curve = make_pipeline(
        SplineTransformer(n_knots=12, degree=3, knots="quantile", extrapolation="linear"),
        StandardScaler(),
    )
    columns = ColumnTransformer([("curve", curve, list(range(width)))], remainder="passthrough")
    return make_pipeline(columns, Ridge(alpha=1e-3))


def _boosting(seed: int) -> Any:
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=seed)


class _Linear:
    """Least squares with an intercept, in the estimator shape the folds need."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Linear:
        import numpy as np

        design = np.column_stack([np.ones(len(x)), x])
        self.coef = np.linalg.lstsq(design, y, rcond=None)[0]
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        import numpy as np

        return np.asarray(np.column_stack([np.ones(len(x)), x]) @ self.coef)


def _out_of_fold(make: Any, x: np.ndarray, y: np.ndarray, folds: Any) -> np.ndarray:
    import numpy as np

    pred = np.empty(len(y))
    for train, test in folds:
        pred[test] = make().fit(x[train], y[train]).predict(x[test])
    return np.asarray(y - pred)


def choose(
    y: np.ndarray,
    features: np.ndarray,
    inputs: np.ndarray,
    *,
    curves: np.ndarray | None = None,
    seed: int = 0,
) -> Choice:
    """The model of ``y`` with the lowest held-out error on the baseline (module docstring).

    ``features``: the linear model's columns (forward selection's); ``inputs``: every raw input
    leaf (boosting's columns); ``curves``: the raw leaves the splines bend (default ``inputs``;
    the ones forward selection chose: a spline per leaf of a wide message overfits), beside
    ``features``. Rows with a missing value must have been dropped."""
    import functools

    import numpy as np
    from sklearn.model_selection import KFold

    folds = list(KFold(_FOLDS, shuffle=True, random_state=seed).split(y))
    var = float(np.var(y))
    lin_r = _out_of_fold(_Linear, features, y, folds)
    linear_error = float(np.mean(lin_r**2))
    errors: dict[str, float | None] = {"linear": linear_error, "splines": None, "boosting": None}
    if (
        len(y) < MIN_ROWS
        or not inputs.shape[1]
        or var == 0
        or linear_error <= (1 - _LINEAR_ENOUGH) * var
    ):
        return Choice("linear", errors, lin_r)
    curves = inputs if curves is None else curves
    tried: dict[str, tuple[np.ndarray, Any, np.ndarray]] = {"linear": (lin_r, _Linear, features)}
    if curves.shape[1]:
        splines = functools.partial(_splines, curves.shape[1])
        x = np.column_stack([curves, features])
        tried["splines"] = (_out_of_fold(splines, x, y, folds), splines, x)
    if min(float(np.mean(r**2)) for r, *_ in tried.values()) > (1 - _SMOOTH_ENOUGH) * var:
        boosting = functools.partial(_boosting, seed)
        tried["boosting"] = (_out_of_fold(boosting, inputs, y, folds), boosting, inputs)
    mse = {k: float(np.mean(r**2)) for k, (r, *_) in tried.items()}
    errors.update(mse)
    best = min(mse, key=mse.__getitem__)
    if best == "linear" or mse[best] >= (1 - MARGIN) * linear_error:
        return Choice("linear", errors, lin_r)
    residuals, make, x = tried[best]
    return Choice(best, errors, residuals, make().fit(x, y))  # type: ignore[arg-type]


def design(
    choice: Choice, features: np.ndarray, inputs: np.ndarray, curves: np.ndarray | None = None
) -> np.ndarray:
    """The columns ``choice``'s model reads (the arguments of :func:`choose`)."""
    import numpy as np

    if choice.kind == "splines":
        return np.column_stack([inputs if curves is None else curves, features])
    return inputs


@dataclass(frozen=True)
class ResidualTest:
    p_value: float
    effect: float


def residual_test(choice: Choice, y0: np.ndarray, y1: np.ndarray, x1: np.ndarray) -> ResidualTest:
    """Did the mechanism change? The incident's residuals under ``choice.model`` (``x1``: its
    :func:`design` columns) against the baseline's out-of-fold ones (module docstring)."""
    import numpy as np
    from scipy import special

    from nodered_causal.analysis.linear import _two_group_anova

    r0 = np.asarray(choice.residuals, dtype=float)
    r1 = np.asarray(y1 - choice.model.predict(x1), dtype=float)
    if len(r1) < 3:
        return ResidualTest(1.0, 0.0)
    floor = FLOOR * float(np.std(y0)) + 1e-12
    sd0, sd1 = max(float(np.std(r0)), floor), max(float(np.std(r1)), floor)
    shift = float(np.mean(r1) - np.mean(r0))
    se = math.sqrt(sd0**2 / len(r0) + sd1**2 / len(r1))
    p_mean = float(2 * special.ndtr(-abs(shift) / se)) if se > 0 else 1.0
    z0, z1 = np.abs(r0 - np.median(r0)), np.abs(r1 - np.median(r1))
    p_var = _two_group_anova(z0, z1, 1.0) if np.ptp(np.r_[z0, z1]) > 0 else 1.0
    p = min(1.0, 2.0 * min(p_mean, p_var))
    return ResidualTest(p, max(abs(shift) / sd0, abs(math.log(sd1 / sd0))))
