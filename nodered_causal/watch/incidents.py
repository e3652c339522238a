"""Incidents: what watch says when a target shifted, as a small state machine (pure).

States: ``open`` (first attribution) → ``update`` (each re-attribution as evidence grows) →
``closed`` (the target is back at its reference). Every transition is one JSON document
(:meth:`Incident.doc`), stored, published on MQTT and POSTed to the webhook:

``id, state, target, target_name, signal, metric, tap, detected_at, changed_at, updated_at,
closed_at`` (ISO 8601 UTC) and the same as ``*_ns``; ``size`` (``before``, ``after``, ``change``,
``change_sd``: the signal's mean before and after the change point); ``ranking`` (objects
``node, name, score, low, high, blamed``), ``blamed`` (node ids), ``verdict``, ``flow_rev``,
``deploys`` (each ``at, rev, changed, added, removed`` and ``upstream``: the changed nodes that feed
the target), ``updates`` (how many re-attributions so far), ``series`` (the signal's windows:
``t_ns``, ``values``, ``changed_ns``).

>>> inc = Incident.new("sink", "value:payload.comfort", changed_ns=10, detected_ns=20)
>>> inc.state, next_state(inc.state, "update"), next_state("update", "close")
('open', 'update', 'closed')
>>> next_state("closed", "update")
Traceback (most recent call last):
...
ValueError: an incident that is closed cannot take 'update'
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from nodered_causal.watch.timeparse import format_ns

__all__ = ["STATES", "Incident", "deploy_evidence", "next_state", "ranking_of"]

STATES = ("open", "update", "closed")
_NEXT = {
    ("open", "update"): "update",
    ("update", "update"): "update",
    ("open", "close"): "closed",
    ("update", "close"): "closed",
}


def next_state(state: str, event: str) -> str:
    """The state after ``event`` (``update`` or ``close``); ValueError if not allowed."""
    try:
        return _NEXT[(state, event)]
    except KeyError:
        raise ValueError(f"an incident that is {state} cannot take {event!r}") from None


def ranking_of(result: Any, names: Mapping[str, str], top: int = 10) -> list[dict[str, Any]]:
    """An :class:`~nodered_causal.analysis.Attribution`'s ranking as the alert's objects."""
    out = []
    for node in list(result.ranking)[:top]:
        low, high = result.intervals.get(node, (math.nan, math.nan))
        out.append(
            {
                "node": node,
                "name": names.get(node, result.labels.get(node, node)),
                "score": _num(result.scores.get(node)),
                "low": _num(low),
                "high": _num(high),
                "blamed": node in result.blamed,
            }
        )
    return out


def deploy_evidence(
    deploys: Sequence[Mapping[str, Any]], upstream: set[str], names: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Deploys near a change, each with the changed nodes that feed the target (``upstream``)."""
    out = []
    for d in deploys:
        touched = [*d.get("changed", []), *d.get("added", [])]
        out.append(
            {
                "at": format_ns(int(d["ts_ns"])),
                "ts_ns": int(d["ts_ns"]),
                "rev": d.get("rev"),
                "previous_rev": d.get("previous_rev"),
                "changed": list(d.get("changed", [])),
                "added": list(d.get("added", [])),
                "removed": list(d.get("removed", [])),
                "upstream": [n for n in touched if n in upstream],
                "upstream_names": [names.get(n, n) for n in touched if n in upstream],
            }
        )
    return out


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Incident:
    """One incident at one state; transitions return a new value."""

    id: str
    target: str
    signal: str
    state: str
    changed_ns: int
    detected_ns: int
    updated_ns: int
    closed_ns: int | None = None
    metric: str = "value"
    target_name: str = ""
    tap: str | None = None
    size: Mapping[str, float | None] = field(default_factory=dict)
    ranking: tuple[Mapping[str, Any], ...] = ()
    blamed: tuple[str, ...] = ()
    verdict: str = ""
    flow_rev: str | None = None
    deploys: tuple[Mapping[str, Any], ...] = ()
    updates: int = 0
    series: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @classmethod
    def new(cls, target: str, signal: str, *, changed_ns: int, detected_ns: int) -> Incident:
        digest = hashlib.sha1(f"{target}|{signal}|{changed_ns}".encode()).hexdigest()[:8]
        stamp = format_ns(changed_ns) or ""
        ident = f"{stamp[:10].replace('-', '')}-{stamp[11:19].replace(':', '')}-{digest}"
        return cls(ident, target, signal, "open", changed_ns, detected_ns, detected_ns)

    def update(self, now_ns: int, **evidence: Any) -> Incident:
        """The next re-attribution (``update``), with the new evidence."""
        return replace(
            self,
            state=next_state(self.state, "update"),
            updated_ns=now_ns,
            updates=self.updates + 1,
            **evidence,
        )

    def close(self, now_ns: int, **evidence: Any) -> Incident:
        return replace(
            self, state=next_state(self.state, "close"), updated_ns=now_ns, closed_ns=now_ns,
            **evidence,
        )  # fmt: skip

    def with_evidence(self, **evidence: Any) -> Incident:
        return replace(self, **evidence)

    @property
    def open(self) -> bool:
        return self.state != "closed"

    def doc(self) -> dict[str, Any]:
        """The JSON document of this state (module docstring)."""
        return {
            "id": self.id,
            "state": self.state,
            "target": self.target,
            "target_name": self.target_name or self.target,
            "signal": self.signal,
            "metric": self.metric,
            "tap": self.tap,
            "detected_at": format_ns(self.detected_ns),
            "changed_at": format_ns(self.changed_ns),
            "updated_at": format_ns(self.updated_ns),
            "closed_at": format_ns(self.closed_ns),
            "detected_ns": self.detected_ns,
            "changed_ns": self.changed_ns,
            "updated_ns": self.updated_ns,
            "closed_ns": self.closed_ns,
            "size": dict(self.size),
            "ranking": [dict(r) for r in self.ranking],
            "blamed": list(self.blamed),
            "verdict": self.verdict,
            "flow_rev": self.flow_rev,
            "deploys": [dict(d) for d in self.deploys],
            "updates": self.updates,
            "series": dict(self.series),
            "notes": list(self.notes),
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Incident:
        return cls(
            id=str(doc["id"]),
            target=str(doc["target"]),
            signal=str(doc.get("signal") or ""),
            state=str(doc["state"]),
            changed_ns=int(doc["changed_ns"]),
            detected_ns=int(doc["detected_ns"]),
            updated_ns=int(doc.get("updated_ns") or doc["detected_ns"]),
            closed_ns=None if doc.get("closed_ns") is None else int(doc["closed_ns"]),
            metric=str(doc.get("metric") or "value"),
            target_name=str(doc.get("target_name") or ""),
            tap=doc.get("tap"),
            size=dict(doc.get("size") or {}),
            ranking=tuple(doc.get("ranking") or ()),
            blamed=tuple(doc.get("blamed") or ()),
            verdict=str(doc.get("verdict") or ""),
            flow_rev=doc.get("flow_rev"),
            deploys=tuple(doc.get("deploys") or ()),
            updates=int(doc.get("updates") or 0),
            series=dict(doc.get("series") or {}),
            notes=tuple(doc.get("notes") or ()),
        )
