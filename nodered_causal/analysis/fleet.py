"""Fleet analysis: which instance of a fleet differs from the rest, and which node in it.

Many Node-RED instances run the same flow (one per line, site or device), each with a tap of its
own name; their records share one run (``collect --shared`` into one store). The flow's DAG is
the same everywhere, so instances are environments of one causal model: for each instance,
:func:`attribute_fleet` attributes the change of ``target`` between *the rest of the fleet*
(the reference) and *this instance* with :func:`~nodered_causal.analysis.attribute_shift`,
exactly as a baseline run against an incident run.

1. **Screen.** Every instance's windows of the target's metric (:func:`~.datasets.windowed`)
   give a mean and a spread; a robust z-score (median and MAD over the instances) of each says
   how far it sits from the fleet. Instances beyond ``suspect_z`` are left out of the other
   instances' references, so one broken instance does not make its healthy peers look changed.
2. **Attribute.** Each instance (the ``max_checked`` most deviating ones in a large fleet)
   against a reference of up to ``max_reference`` other instances (a seeded choice among the
   unsuspected). The reference's records are laid end to end in time (each instance's windows
   keep their own rows), so its windows are windows of single instances, as the incident's are.
3. **Decide.** An instance *differs* when its target changed (the attribution's target test,
   Bonferroni over the instances checked) and a node in it is blamed. Instances are ranked by that
   test's p-value.

Needs at least three instances: with two, "which one differs" has no answer.

>>> fleet = attribute_fleet(dag, store.record_columns("plant"), "sink")  # doctest: +SKIP
>>> fleet.culprit                                                          # doctest: +SKIP
('line-7', 'calibrate')
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nodered_causal.analysis.attribution import AttributionConfig, attribute_shift
from nodered_causal.analysis.datasets import metric_frame, windowed
from nodered_causal.analysis.result import Attribution
from nodered_causal.errors import MissingDataError

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["FleetAttribution", "attribute_fleet", "split_by_tap", "stack_instances"]

logger = logging.getLogger(__name__)

MIN_INSTANCES = 3


@dataclass(frozen=True)
class FleetAttribution:
    """The fleet's answer: instances ranked by how much their target differs from the rest.

    ``results[tap]``: that instance against its reference (``references[tap]``, the taps it was
    made of); ``screen[tap]``: the robust z-score of its target (largest of mean and spread);
    ``differs``: the instances whose target changed and who have a blamed node, most different
    first; ``unchecked``: instances not attributed (a large fleet, ``max_checked``).
    """

    target: str
    metric: str
    instances: tuple[str, ...]
    ranking: tuple[str, ...]
    differs: tuple[str, ...]
    results: Mapping[str, Attribution]
    screen: Mapping[str, float]
    references: Mapping[str, tuple[str, ...]]
    alpha: float
    runtime_s: float
    unchecked: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def blamed(self) -> list[tuple[str, str]]:
        """(instance, node) for every blamed node of every instance that differs."""
        return [(tap, node) for tap in self.differs for node in self.results[tap].blamed]

    @property
    def culprit(self) -> tuple[str, str] | None:
        """The most different instance and the first node blamed in it, or None."""
        return self.blamed[0] if self.blamed else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "metric": self.metric,
            "instances": list(self.instances),
            "ranking": list(self.ranking),
            "differs": list(self.differs),
            "blamed": [list(b) for b in self.blamed],
            "culprit": list(self.culprit) if self.culprit else None,
            "screen": {k: _finite(v) for k, v in self.screen.items()},
            "references": {k: list(v) for k, v in self.references.items()},
            "alpha": self.alpha,
            "unchecked": list(self.unchecked),
            "runtime_s": self.runtime_s,
            "notes": list(self.notes),
            "results": {tap: r.to_dict() for tap, r in self.results.items()},
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_text(self, *, top: int = 10) -> str:
        lines = [
            f"target {self.target}, metric {self.metric}, {len(self.instances)} instances, "
            f"{self.runtime_s:.2f} s",
            "differs: "
            + (
                ", ".join(
                    f"{tap} (blamed: {', '.join(self.results[tap].blamed)})" for tap in self.differs
                )
                or "no instance differs from the rest of the fleet"
            ),  # fmt: skip
            "",
        ]
        rows = [("rank", "instance", "target p", "total", "screen z", "blamed")]
        for rank, tap in enumerate(self.ranking[:top], start=1):
            r = self.results[tap]
            rows.append(
                (
                    str(rank),
                    tap,
                    f"{r.target_p_value:.2g}" if r.target_p_value is not None else "",
                    f"{r.total:.4g}",
                    f"{self.screen.get(tap, math.nan):.2f}",
                    ", ".join(r.blamed) + (" ***" if tap in self.differs else ""),
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
            lines.append("  ".join([*cells, row[-1]]).rstrip())
        if len(self.ranking) > top:
            lines.append(f"... {len(self.ranking) - top} more instances")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def attribute_fleet(
    dag: nx.DiGraph,
    columns: Mapping[str, Sequence[Any]],
    target: str,
    *,
    metric: str = "value",
    config: AttributionConfig | None = None,
    taps: Collection[str] | None = None,
    max_reference: int = 20,
    max_checked: int | None = 50,
    suspect_z: float = 3.5,
) -> FleetAttribution:
    """Which instance (tap) of ``columns`` differs from the rest of the fleet at ``target``,
    and which node in it explains that.

    ``columns``: record columns of many taps running the same flow (``record_columns`` of a
    run). ``taps``: the instances to compare (default: every tap with records). ``config``:
    the attribution's (its ``alpha`` is the family-wise level over the instances too).
    """
    import numpy as np

    started = time.perf_counter()
    cfg = config or AttributionConfig()
    # instances are screened on one signal of the target; "all" screens its values, then
    # explains the odd instance with every signal
    screen_metric = "value" if metric == "all" else metric
    parts = split_by_tap(columns, taps)
    if len(parts) < MIN_INSTANCES:
        raise MissingDataError(
            f"fleet analysis needs records of at least {MIN_INSTANCES} instances, got "
            f"{len(parts)} ({', '.join(parts) or 'none'}): with two, which one differs has no "
            "answer (compare them with attribute --baseline/--incident)"
        )
    screen = _screen(parts, target, screen_metric, cfg)
    suspects = {tap for tap, z in screen.items() if z > suspect_z}
    order = sorted(parts, key=lambda t: (-_nan_low(screen[t]), t))
    checked = order if max_checked is None else order[:max_checked]
    notes: list[str] = []
    if suspects:
        notes.append(
            f"left out of the references (screen z > {suspect_z:g}): {', '.join(sorted(suspects))}"
        )
    rng = np.random.default_rng(cfg.seed)
    window_ns = int(round(cfg.window_s * 1e9))
    results: dict[str, Attribution] = {}
    references: dict[str, tuple[str, ...]] = {}
    for tap in checked:
        pool = [t for t in sorted(parts) if t != tap and t not in suspects]
        if not pool:  # every other instance is suspect: compare with all of them
            pool = [t for t in sorted(parts) if t != tap]
        if len(pool) > max_reference:
            pool = sorted(rng.choice(pool, size=max_reference, replace=False).tolist())
        references[tap] = tuple(pool)
        reference = stack_instances([parts[t] for t in pool], window_ns)
        logger.info("fleet: %s against %d other instances", tap, len(pool))
        results[tap] = attribute_shift(
            dag, reference, parts[tap], target, metric=metric, config=cfg
        )
    target = next(iter(results.values())).target
    level = cfg.alpha / len(checked)
    differs = tuple(
        sorted(
            (t for t, r in results.items() if r.blamed and _changed(r, level)),
            key=lambda t: (_p(results[t]), -results[t].total, t),
        )
    )
    ranking = tuple(
        sorted(results, key=lambda t: (t not in differs, _p(results[t]), -results[t].total, t))
    )
    unchecked = tuple(t for t in order if t not in results)
    if unchecked:
        notes.append(
            f"{len(unchecked)} instances closest to the fleet were not attributed (max_checked)"
        )
    return FleetAttribution(
        target=target,
        metric=metric,
        instances=tuple(sorted(parts)),
        ranking=ranking,
        differs=differs,
        results=results,
        screen=screen,
        references=references,
        alpha=cfg.alpha,
        runtime_s=time.perf_counter() - started,
        unchecked=unchecked,
        notes=tuple(notes),
    )


def split_by_tap(
    columns: Mapping[str, Sequence[Any]], taps: Collection[str] | None = None
) -> dict[str, dict[str, list[Any]]]:
    """The record columns of each tap (instance), in tap order; ``taps`` keeps only those."""
    rows: dict[str, list[int]] = {}
    for i, tap in enumerate(columns.get("tap", ())):
        if taps is None or tap in taps:
            rows.setdefault(str(tap), []).append(i)
    return {
        tap: {key: [values[i] for i in index] for key, values in columns.items()}
        for tap, index in sorted(rows.items())
    }


def stack_instances(
    parts: Sequence[Mapping[str, Sequence[Any]]], window_ns: int
) -> dict[str, list[Any]]:
    """Lay the records of several instances end to end in time, each shifted by whole windows,
    so that every window of the result holds the records of one instance only (their windows
    stay rows of their own, aligned to the wall clock as before)."""
    keys = list(dict.fromkeys(k for part in parts for k in part))
    out: dict[str, list[Any]] = {k: [] for k in keys}
    cursor: int | None = None  # where the next instance's first window goes
    for part in parts:
        ts = part.get("ts_ns") or []
        if not ts:
            continue
        first = min(ts) // window_ns * window_ns
        cursor = first if cursor is None else cursor
        shift = cursor - first
        cursor += (max(ts) // window_ns * window_ns - first) + window_ns
        for key in keys:
            values = part.get(key)
            if key == "ts_ns":
                out[key].extend(t + shift for t in ts)
            else:
                out[key].extend(values if values is not None else [None] * len(ts))
    if cursor is None:
        raise MissingDataError("no records in the reference instances")
    return out


def _screen(
    parts: Mapping[str, Mapping[str, Sequence[Any]]],
    target: str,
    metric: str,
    cfg: AttributionConfig,
) -> dict[str, float]:
    """Robust z-score per instance: how far its target's window mean and (log) spread sit from
    the other instances' (median / MAD), the larger of the two. The scale is never below the
    statistic's own sampling error (a few instances that happen to agree closely would make the
    MAD tiny and every small difference huge)."""
    import numpy as np

    stats: dict[str, dict[str, tuple[float, float]]] = {"mean": {}, "spread": {}}
    for tap, part in parts.items():
        try:
            frame = metric_frame(windowed(part, window_s=cfg.window_s, field=cfg.field), metric)
        except MissingDataError:
            continue
        series = frame[target].dropna() if target in frame.columns else frame.iloc[:, :0]
        if len(series) < 2:
            continue
        sd, n = float(series.std(ddof=1)), len(series)
        stats["mean"][tap] = (float(series.mean()), sd / math.sqrt(n))
        stats["spread"][tap] = (math.log(sd + 1e-12), 1 / math.sqrt(2 * (n - 1)))
    out = dict.fromkeys(parts, math.nan)
    for by_tap in stats.values():
        if len(by_tap) < MIN_INSTANCES:
            continue
        values = np.array([v for v, _ in by_tap.values()])
        center = float(np.median(values))
        mad = 1.4826 * float(np.median(np.abs(values - center)))
        scale = max(mad, float(np.median([se for _, se in by_tap.values()])), 1e-12)
        for tap, (v, _) in by_tap.items():
            z = abs(v - center) / scale
            out[tap] = z if not math.isfinite(out[tap]) else max(out[tap], z)
    return out


def _changed(result: Attribution, level: float) -> bool:
    return result.target_p_value is None or result.target_p_value < level


def _p(result: Attribution) -> float:
    return 1.0 if result.target_p_value is None else float(result.target_p_value)


def _nan_low(value: float) -> float:
    return value if math.isfinite(value) else -math.inf


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
