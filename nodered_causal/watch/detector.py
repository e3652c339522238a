"""Online change detection on one signal of a target: river's Page-Hinkley test on standardized
windows, calibrated for a false-alarm rate; ruptures places the change point once it fires.

**The signal** is one number per window (the mean of a payload leaf, the throughput, the mean
latency, the error count). A rolling **reference** (the last ``reference`` windows that are not
part of a change) gives its mean and standard deviation; each new window becomes
``z = (x - mean) / sd_eff``.

**The detector** is :class:`river.drift.PageHinkley` with ``alpha=1`` (no forgetting: the
two-sided CUSUM of Page 1954) on ``z``, drift allowance ``delta = k`` (in sds: shifts smaller than
``k`` sd are ignored) and threshold ``lambda = h``. It is warmed with the reference's own ``z``
values so its running mean starts at the reference's.

**Calibration** (:func:`calibrate`): for independent standard normal windows, the in-control
average run length of a one-sided CUSUM is Siegmund's approximation
``ARL0(k, h) = (exp(2 k b) - 2 k b - 1) / (2 k^2)`` with ``b = h + 1.166``. Watching ``signals``
signals, two sides each, at ``86400 / window_s`` windows a day, a rate of at most
``alarms_per_day`` false alarms per target needs
``ARL0 >= 2 * signals * (86400 / window_s) / alarms_per_day``; :func:`calibrate` solves for the
smallest such ``h`` and then asks ``margin`` (default 4) times more: the reference's mean and sd
are estimated from a few hundred windows (a mean off by 0.065 sd eats into ``k``), which on
simulated N(0, 1) windows made the detector fire 2-4x as often as the bound says; with the margin
it fired 5-8 times in 20,000 windows where 10 were allowed (tests/unit/test_watch_detector.py
measures it). Windows are not independent (bursty traffic, forward-filled readings): the
reference's lag-1 autocorrelation ``rho`` inflates the variance of a sum by ``(1 + rho) / (1 -
rho)``, so ``sd_eff = sd * sqrt((1 + rho) / (1 - rho))`` (``rho`` clipped to [0, 0.9]). A floor
keeps ``sd_eff`` away from zero on constant signals (counts: ``sqrt(mean)``, Poisson; values:
1 % of ``|mean|``; latency: 1 ms, so microsecond jitter and GC pauses are not incidents).
:func:`simulate_false_alarms` checks the bound on simulated data (unit tests).

**The change point**: once the detector fires, :func:`change_point` fits one change in mean to the
last windows with ``ruptures.Dynp`` (exact dynamic programming, least squares).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Z_CLIP",
    "Calibration",
    "SignalDetector",
    "arl0",
    "calibrate",
    "change_point",
    "simulate_false_alarms",
]

_SIEGMUND = 1.166
#: One window moves the CUSUM by at most this many sds (an outlier, a GC pause): a real shift of
#: any size still fires within ``h / (Z_CLIP - k)`` windows.
Z_CLIP = 4.0


def arl0(k: float, h: float) -> float:
    """Siegmund's in-control average run length of a one-sided CUSUM on N(0, 1) windows.

    >>> round(arl0(0.5, 4.0))
    338
    """
    b = h + _SIEGMUND
    return (math.exp(2 * k * b) - 2 * k * b - 1) / (2 * k * k)


@dataclass(frozen=True)
class Calibration:
    """The detector's threshold and what it promises."""

    k: float
    h: float
    window_s: float
    signals: int
    alarms_per_day: float
    arl0_windows: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "h": round(self.h, 4),
            "window_s": self.window_s,
            "signals": self.signals,
            "alarms_per_day": self.alarms_per_day,
            "arl0_windows": self.arl0_windows,
            "bound_false_alarms_per_day_per_target": round(
                2 * self.signals * 86400 / self.window_s / self.arl0_windows, 6
            ),
        }


def calibrate(
    *,
    k: float = 0.5,
    window_s: float = 1.0,
    signals: int = 4,
    alarms_per_day: float = 1.0,
    margin: float = 4.0,
) -> Calibration:
    """The smallest ``h`` with at most ``alarms_per_day`` false alarms per target (see module).

    >>> c = calibrate(k=0.5, window_s=1.0, signals=4, alarms_per_day=1.0)
    >>> round(c.h, 2), c.arl0_windows >= 2 * 4 * 86400
    (12.97, True)
    """
    if not (k > 0 and window_s > 0 and signals >= 1 and alarms_per_day > 0):
        raise ValueError("k, window_s and alarms_per_day must be > 0 and signals >= 1")
    need = margin * 2 * signals * (86400 / window_s) / alarms_per_day
    low, high = 0.0, 1.0
    while arl0(k, high) < need:
        high *= 2
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if arl0(k, mid) < need else (low, mid)
    return Calibration(k, high, window_s, signals, alarms_per_day, arl0(k, high))


def _autocorrelation(values: Sequence[float]) -> float:
    n = len(values)
    if n < 4:
        return 0.0
    mean = sum(values) / n
    dev = [v - mean for v in values]
    denom = sum(d * d for d in dev)
    if denom == 0:
        return 0.0
    return sum(a * b for a, b in zip(dev, dev[1:], strict=False)) / denom


def reference_stats(
    values: Sequence[float], *, count: bool = False, floor: float = 0.0
) -> tuple[float, float]:
    """(mean, effective sd) of a reference (see the module docstring for the floor and the
    autocorrelation inflation)."""
    n = len(values)
    mean = sum(values) / n if n else 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    rho = min(max(_autocorrelation(values), 0.0), 0.9)
    sd = math.sqrt(var * (1 + rho) / (1 - rho))
    least = math.sqrt(max(abs(mean), 1.0)) if count else max(0.01 * abs(mean), 1e-9)
    return mean, max(sd, least, floor)


@dataclass
class SignalDetector:
    """One signal's rolling reference and Page-Hinkley detector.

    ``feed(t_ns, x)`` takes one window; True when the detector fires. While ``frozen`` (an
    incident is open or being confirmed) windows go to ``recent`` only.
    """

    h: float
    k: float = 0.5
    warmup: int = 30
    reference_size: int = 240
    holdback: int = 60
    count: bool = False
    floor: float = 0.0
    reference: deque[float] = field(default_factory=deque)
    pending: deque[tuple[int, float]] = field(default_factory=deque)
    recent: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=600))
    frozen: bool = False
    #: the first window this detector run has seen (since the last start or resume)
    since_ns: int | None = None
    _ph: Any = None
    _stats: tuple[float, float] | None = None

    @property
    def warm(self) -> bool:
        return len(self.reference) >= self.warmup

    def stats(self) -> tuple[float, float]:
        if self._stats is None:
            self._stats = reference_stats(list(self.reference), count=self.count, floor=self.floor)
        return self._stats

    def z(self, x: float) -> float:
        mean, sd = self.stats()
        return (x - mean) / sd

    def _new_detector(self) -> None:
        from river.drift import PageHinkley

        self._ph = PageHinkley(
            min_instances=1, delta=self.k, threshold=self.h, alpha=1.0, mode="both"
        )
        for x in self.reference:  # learn the reference's mean; in control, no alarm expected
            self._ph.update(self.z(x))
        if self._ph.drift_detected:  # a reference that alarms on itself: start clean
            self._ph = PageHinkley(
                min_instances=1, delta=self.k, threshold=self.h, alpha=1.0, mode="both"
            )

    def _to_reference(self, x: float) -> None:
        self.reference.append(x)
        while len(self.reference) > self.reference_size:
            self.reference.popleft()
        self._stats = None

    def feed(self, t_ns: int, x: float) -> bool:
        """One window's value; True when the detector fires (the caller then freezes it)."""
        if not math.isfinite(x):
            return False
        self.recent.append((t_ns, x))
        if self.frozen:
            return False
        if not self.warm:
            self._to_reference(x)
            return False
        if self._ph is None:
            self._new_detector()
            self.since_ns = t_ns
        self._ph.update(min(max(self.z(x), -Z_CLIP), Z_CLIP))
        self.pending.append((t_ns, x))
        if self._ph.drift_detected:
            return True
        while len(self.pending) > self.holdback:  # old enough to be trusted as normal
            self._to_reference(self.pending.popleft()[1])
        return False

    def accept_before(self, t_ns: int) -> None:
        """After a detection: pending windows before the change point join the reference, the
        rest are dropped; the detector stays frozen until :meth:`resume`."""
        for t, x in self.pending:
            if t < t_ns:
                self._to_reference(x)
        self.pending.clear()
        self.frozen = True

    def resume(self) -> None:
        """Watch again with a fresh detector (after an incident closed or was not confirmed)."""
        self.frozen = False
        self.pending.clear()
        self._ph = None
        self.since_ns = None

    def reset(self) -> None:
        """Forget the reference (the node was redeployed): warm up again."""
        self.reference.clear()
        self.resume()
        self._stats = None

    def change_point(self, window_ns: int) -> int:
        """Where the change this run detected began: one change in mean (:func:`change_point`)
        over the windows since the run started, after the reference's last ``holdback`` values
        (so a change right at the start is found too). Earlier windows (a previous incident, its
        recovery) stay out of the search."""
        start = self.since_ns if self.since_ns is not None else self.recent[0][0]
        run = [(t, x) for t, x in self.recent if t >= start]
        tail = list(self.reference)[-self.holdback :]
        times = [start - (len(tail) - i) * window_ns for i in range(len(tail))]
        times += [t for t, _ in run]
        values = tail + [x for _, x in run]
        return max(change_point(times, values), start)

    def back_to_reference(self, since_ns: int, windows: int) -> bool:
        """The last ``windows`` windows after ``since_ns`` average within ``k`` sds of the
        reference mean."""
        tail = [x for t, x in self.recent if t >= since_ns][-windows:]
        if len(tail) < windows or not self.reference:
            return False
        return abs(sum(self.z(x) for x in tail) / len(tail)) < self.k

    def to_state(self) -> dict[str, Any]:
        return {"reference": list(self.reference), "recent": [list(p) for p in self.recent]}

    def load_state(self, state: dict[str, Any]) -> None:
        self.reference = deque(float(v) for v in state.get("reference", []))
        self.recent = deque(((int(t), float(x)) for t, x in state.get("recent", [])), maxlen=600)
        self._stats = None


def change_point(times: Sequence[int], values: Sequence[float], *, min_size: int = 2) -> int:
    """The time of the most likely single change in mean of ``values`` (``ruptures.Dynp``, l2);
    the first window after the change."""
    import numpy as np
    import ruptures as rpt

    if len(values) < 2 * min_size + 1:
        return int(times[-1])
    signal = np.asarray(values, dtype=float).reshape(-1, 1)
    (index, _end) = rpt.Dynp(model="l2", min_size=min_size, jump=1).fit(signal).predict(n_bkps=1)
    return int(times[min(index, len(times) - 1)])


def simulate_false_alarms(
    cal: Calibration, *, windows: int, seed: int = 0, warmup: int = 240
) -> int:
    """How many times the calibrated detector fires on ``windows`` independent N(0, 1) windows
    (restarting after each alarm, as watch does)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    det = SignalDetector(h=cal.h, k=cal.k, warmup=warmup, reference_size=warmup, holdback=60)
    alarms = 0
    for i, x in enumerate(rng.standard_normal(windows + warmup)):
        if det.feed(i, float(x)):
            alarms += 1
            det.accept_before(i + 1)
            det.resume()
    return alarms
