"""Tuning of the attribution (:class:`AttributionConfig`): every field validated where it is set.

A bad value raises :class:`ValueError` naming the field, its allowed range and the value given; no
field silently changes another (``mechanisms="auto"`` needs ``engine="dowhy"`` or ``"dowhy-full"``
and says so instead of switching the engine behind the caller's back).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields
from typing import Literal, get_args, get_origin, get_type_hints

__all__ = ["AttributionConfig"]


@dataclass(frozen=True)
class AttributionConfig:
    """Tuning of the attribution; every field has a sensible default.

    ``alpha``: family-wise significance of the mechanism-change tests (Bonferroni over variables).
    ``min_effect``: smallest material mechanism change, in baseline residual sds (mean) or
    ``|log sd ratio|`` (spread). ``min_share``: a blamed node explains at least this share of the
    total score, or its mechanism alone would move the target by this share of the total.
    ``min_total``: the target must move by at least this many nats (0.001 ≈ a 0.045 sd
    mean shift). ``n_bootstrap``/``confidence``: percentile intervals. ``engine``/``mechanisms``:
    see :mod:`.attribution`. ``difference``: ``"hellinger"`` (squared Hellinger distance of the
    target's variables, summed; bounded, so one nearly deterministic variable cannot dwarf the
    rest), ``"kl"`` (dowhy's default, nats) or ``"mean"`` (signed change of the target's mean).
    ``num_samples``, ``change_test``, ``shapley``, ``n_jobs``: the dowhy engines' knobs.
    ``window_s``/``field``: how records become windows.
    ``fields``: with ``"all"`` (and no ``field``), a node whose messages carry several numeric
    leaves gets one variable per leaf (at most ``max_fields``); ``"one"`` keeps one leaf per node.
    ``induced``: a changed node whose inputs left the baseline's range while an ancestor changed
    is not a player (its apparent change is extrapolation). ``baro_z``: the BARO baseline blames a
    node whose robust z-score reaches this. ``z_threshold``: anomaly — a node's noise must be at
    least this many sds off; ``target_z``: the target itself at least this many sds off.
    ``min_rows``: fewer complete rows than this and a mechanism is not tested. ``view``:
    ``"auto"`` tests the value mechanisms of nodes with inputs on their messages paired by
    lineage where the records carry it (:mod:`.messages`), the rest on windows; ``"windows"``
    tests everything on windows; with lineage a node's age is tested on its own latency per
    message, and a change of less than ``min_latency_s`` seconds is no change. ``regressor``: how
    a message-level test models a node: ``"auto"`` keeps, per mechanism, the linear, spline or
    gradient-boosting model with the lowest held-out error on the baseline (:mod:`.nonlinear`);
    ``"linear"`` only the linear one.
    """

    alpha: float = 0.01
    min_effect: float = 0.1
    min_share: float = 0.01
    min_total: float = 0.001
    n_bootstrap: int = 50
    confidence: float = 0.95
    seed: int = 0
    engine: Literal["fast", "dowhy", "dowhy-full"] = "fast"
    mechanisms: Literal["linear", "auto"] = "linear"
    difference: Literal["hellinger", "kl", "mean"] = "hellinger"
    max_exact: int = 12
    num_samples: int = 500
    change_test: Literal["local", "regression", "kernel"] = "local"
    shapley: Literal["auto", "exact", "permutation", "early_stopping", "subset_sampling"] = "auto"
    n_jobs: int = 1
    window_s: float = 1.0
    field: str | None = None
    fields: Literal["all", "one"] = "all"
    max_fields: int = 6
    z_threshold: float = 3.0
    induced: bool = True
    target_z: float = 0.5
    min_rows: int = 8
    baro_z: float = 3.0
    view: Literal["auto", "windows"] = "auto"
    min_latency_s: float = 0.005
    regressor: Literal["auto", "linear"] = "auto"

    def __post_init__(self) -> None:
        _open_unit = ("alpha", "confidence")
        for name in _open_unit:
            _check(name, getattr(self, name), lambda v: 0 < v < 1, "a number in (0, 1)")
        _check("min_share", self.min_share, lambda v: 0 <= v < 1, "a number in [0, 1)")
        for name in ("min_effect", "min_total", "min_latency_s"):
            _check(name, getattr(self, name), lambda v: v >= 0, "a finite number >= 0")
        for name in ("z_threshold", "target_z", "baro_z"):
            _check(name, getattr(self, name), lambda v: v > 0, "a finite number > 0")
        _check("window_s", self.window_s, lambda v: v >= 1e-3, "a number of seconds >= 0.001")
        for name, low in (
            ("n_bootstrap", 0), ("max_exact", 1), ("num_samples", 10), ("n_jobs", -1),
            ("max_fields", 1), ("min_rows", 3), ("seed", 0),
        ):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        for name, allowed in _choices().items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {', '.join(map(str, allowed))}, "
                    f"got {getattr(self, name)!r}"
                )
        if self.mechanisms == "auto" and self.engine == "fast":
            raise ValueError(
                "mechanisms='auto' needs engine='dowhy' or 'dowhy-full' (the fast engine has "
                "closed forms for linear mechanisms only)"
            )
        if self.field is not None and not (isinstance(self.field, str) and self.field):
            raise ValueError(f"field must be a payload path or None, got {self.field!r}")


@functools.cache
def _choices() -> dict[str, tuple[object, ...]]:
    """The allowed values of every ``Literal`` field."""
    hints = get_type_hints(AttributionConfig)
    return {
        f.name: get_args(hints[f.name])
        for f in fields(AttributionConfig)
        if get_origin(hints[f.name]) is Literal
    }


def _check(name: str, value: object, ok: object, what: str) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not (number and math.isfinite(float(value)) and ok(value)):  # type: ignore[operator,arg-type]
        raise ValueError(f"{name} must be {what}, got {value!r}")
