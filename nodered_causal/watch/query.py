"""Questions after the fact on a continuous recording: attribute a time range against another.

>>> from nodered_causal.collector import open_store                 # doctest: +SKIP
>>> with open_store("runs.db") as store:                             # doctest: +SKIP
...     answer = attribute_range(store, "sink", since="-15m", until="now")
...     print(answer.result.to_text())
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nodered_causal.errors import MissingDataError, UsageError
from nodered_causal.watch.timeparse import format_ns, parse_time

__all__ = ["RangeAttribution", "attribute_range", "resolve_range"]


@dataclass(frozen=True)
class RangeAttribution:
    """The attribution of ``target`` between two time ranges, and what it was computed from."""

    result: Any
    dag: Any
    reference: Mapping[str, list[Any]]
    incident: Mapping[str, list[Any]]
    reference_ns: tuple[int, int]
    incident_ns: tuple[int, int]
    run: str | None
    flow_rev: str | None


def resolve_range(
    since: str | int,
    until: str | int | None = None,
    reference_since: str | int | None = None,
    reference_until: str | int | None = None,
    *,
    now_ns: int | None = None,
) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((ref_since, ref_until), (since, until))`` in ns. Without a reference: the span of the
    same length right before ``since``; ``until`` defaults to now."""

    def ns(value: str | int | None, default: int) -> int:
        if value is None:
            return default
        return value if isinstance(value, int) else parse_time(value, now_ns=now_ns)

    import time

    now = time.time_ns() if now_ns is None else now_ns
    start = ns(since, now)
    end = ns(until, now)
    if end <= start:
        raise UsageError(
            f"the incident range is empty: --until {format_ns(end)} is not after "
            f"--since {format_ns(start)}"
        )
    ref_end = ns(reference_until, start)
    ref_start = ns(reference_since, ref_end - (end - start))
    if ref_end <= ref_start:
        raise UsageError(
            f"the reference range is empty: {format_ns(ref_start)} to {format_ns(ref_end)}"
        )
    return (ref_start, ref_end), (start, end)


def _run_for(store: Any, run: str | None, since_ns: int, until_ns: int) -> Any:
    if run is not None:
        return store.run(run)
    covering = [
        r
        for r in store.runs()
        if r.dag and r.start_ns < until_ns and (r.end_ns is None or r.end_ns >= since_ns)
    ]
    covering = covering or [r for r in store.runs() if r.dag]  # else the latest flow known
    if not covering:
        raise MissingDataError(
            f"no run in the store has a flow DAG (needed for {format_ns(since_ns)} to "
            f"{format_ns(until_ns)}; record with 'nodered-causal watch' or 'record', which "
            "store the deployed flow)"
        )
    return covering[-1]


def attribute_range(
    store: Any,
    target: str,
    *,
    since: str | int,
    until: str | int | None = None,
    reference_since: str | int | None = None,
    reference_until: str | int | None = None,
    run: str | None = None,
    metric: str = "value",
    config: Any = None,
    now_ns: int | None = None,
) -> RangeAttribution:
    """Attribute the change of ``target`` from the reference range to ``[since, until)``.

    Times are ns since the epoch or text (``-15m``, ISO 8601, ``now``); see :func:`resolve_range`.
    Records come from ``run`` (default: every run, with the DAG of the latest run that covers
    the incident range)."""
    from nodered_causal.analysis import attribute_shift
    from nodered_causal.analysis.graph import analysis_dag

    (r0, r1), (i0, i1) = resolve_range(
        since, until, reference_since, reference_until, now_ns=now_ns
    )
    chosen = _run_for(store, run, i0, i1)
    if not chosen.dag:
        raise MissingDataError(f"run {chosen.name!r} has no flow DAG stored")
    dag = analysis_dag(chosen.dag)
    scope = chosen.name if run is not None else None
    reference = store.record_columns(scope, since_ns=r0, until_ns=r1)
    incident = store.record_columns(scope, since_ns=i0, until_ns=i1)
    sides = (("reference", reference, (r0, r1)), ("incident", incident, (i0, i1)))
    for name, cols, (a, b) in sides:
        if not cols["ts_ns"]:
            raise MissingDataError(
                f"no records in the {name} range {format_ns(a)} to {format_ns(b)} in "
                f"{store.location}"
            )
    result = attribute_shift(dag, reference, incident, target, metric=metric, config=config)
    return RangeAttribution(
        result, dag, reference, incident, (r0, r1), (i0, i1), chosen.name, chosen.flow_rev
    )
