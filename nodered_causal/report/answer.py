"""An answer people read: what was asked, which nodes explain it, and how the values moved.

One :class:`Answer` feeds both the report page (:func:`nodered_causal.report.page.render_answer`)
and the Node-RED editor (pushed to the tap plugin's ``POST /causal-tap/results``; see
:mod:`nodered_causal.report.push`). Its JSON (:meth:`Answer.to_dict`, schema ``v: 1``)::

    {"v": 1, "id": "attr-...", "kind": "attribution" | "explanation" | "incident" | "experiment",
     "title": "...", "question": "...", "verdict": "...",
     "target": "<runtime id>", "target_name": "score",
     "ranking": [{"node": id, "name": "calibrate", "score": 1.2, "low": 0.9, "high": 1.5,
                  "share": 0.92, "share_low": 0.85, "share_high": 0.97, "blamed": true}, ...],
     "blamed": [id, ...],
     "series": [{"node": id, "name": "score", "what": "average payload per 1 s window",
                 "before_label": "baseline", "after_label": "incident",
                 "before": [[seconds, value], ...], "after": [[seconds, value], ...],
                 "mark": [x, y] | null}, ...],
     "facts": [["Compared", "run base with run inc"], ...], "notes": ["..."],
     "created_at": ISO-8601 UTC, "tool_version": "0.1.0", "flow_rev": "..." | null,
     "state": "open" | "update" | "closed" | null,          # incidents
     "detected_at": ISO | null, "changed_at": ISO | null}

Node names come first everywhere (``name``; an unnamed node shows its type, a node inside a
subflow instance adds "in <instance name>"); runtime ids (``node``) are for machines and hover.
``share`` is the node's part of the whole explanation (score / sum of |scores|).
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "KINDS",
    "METRIC_WORDS",
    "Answer",
    "Ranked",
    "Series",
    "display_name",
    "new_answer_id",
    "now_iso",
    "shares",
    "tool_version",
]

#: What an answer can be.
KINDS: tuple[str, ...] = ("attribution", "explanation", "incident", "experiment")

#: Plain words for the metrics of :func:`nodered_causal.analysis.datasets.windowed`.
METRIC_WORDS: Mapping[str, str] = {
    "all": "behaviour (values, throughput, message age, errors)",
    "value": "average value",
    "value_p50": "median value",
    "value_p95": "95th-percentile value",
    "throughput": "messages per window",
    "latency": "processing time (s)",
    "errors": "errors per window",
}

_ID_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_MAX_POINTS = 240


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds (``2025-01-31T12:00:00Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_answer_id(kind: str) -> str:
    """A fresh id: ``<kind>-<UTC time>-<random>``, safe in URLs and file names."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{kind}-{stamp}-{secrets.token_hex(3)}"


def tool_version() -> str:
    """This package's version (``unknown`` when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nodered-causal")
    except PackageNotFoundError:
        return "unknown"


def display_name(attrs: Mapping[str, Any], instances: Mapping[str, Mapping[str, Any]]) -> str:
    """A node as people know it: its name, else its type; inside a subflow instance "… in
    <instance name>" (outermost instance first). ``instances`` maps instance ids to their attrs.

    >>> display_name({"name": "", "type": "function", "subflow_path": ["i1"]},
    ...              {"i1": {"name": "filter", "type": "subflow:ab"}})
    'function in filter'
    """
    name = str(attrs.get("name") or attrs.get("type") or "node")
    path = attrs.get("subflow_path") or ()
    if isinstance(path, str):
        path = (path,) if path else ()
    outer = [
        str(instances.get(str(p), {}).get("name") or instances.get(str(p), {}).get("type") or p)
        for p in path
    ]
    return f"{name} in {' › '.join(outer)}" if outer else name


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


@dataclass(frozen=True)
class Ranked:
    """One node's part in an answer: its score, interval, share of the whole, blamed or not."""

    node: str
    name: str
    score: float
    low: float | None = None
    high: float | None = None
    blamed: bool = False
    share: float | None = None
    share_low: float | None = None
    share_high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "name": self.name,
            "score": _num(self.score),
            "low": _num(self.low),
            "high": _num(self.high),
            "share": _num(self.share),
            "share_low": _num(self.share_low),
            "share_high": _num(self.share_high),
            "blamed": self.blamed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Ranked:
        node = str(data["node"])
        return cls(
            node=node,
            name=str(data.get("name") or node),
            score=_num(data.get("score")) or 0.0,
            low=_num(data.get("low")),
            high=_num(data.get("high")),
            blamed=bool(data.get("blamed", False)),
            share=_num(data.get("share")),
            share_low=_num(data.get("share_low")),
            share_high=_num(data.get("share_high")),
        )


def _points(values: Iterable[Sequence[Any]]) -> tuple[tuple[float, float], ...]:
    """Finite (x, y) pairs, thinned to at most ``_MAX_POINTS`` evenly spaced ones."""
    pts = [(float(x), float(y)) for x, y in ((p[0], p[1]) for p in values)]
    pts = [(x, y) for x, y in pts if math.isfinite(x) and math.isfinite(y)]
    if len(pts) <= _MAX_POINTS:
        return tuple(pts)
    step = len(pts) / _MAX_POINTS
    return tuple(pts[int(i * step)] for i in range(_MAX_POINTS))


@dataclass(frozen=True)
class Series:
    """One node's values before and after (x in seconds from each period's start, or message
    number); ``mark`` is one highlighted point (the message an explanation is about)."""

    node: str
    name: str
    what: str
    before: tuple[tuple[float, float], ...] = ()
    after: tuple[tuple[float, float], ...] = ()
    before_label: str = "before"
    after_label: str = "after"
    mark: tuple[float, float] | None = None

    @classmethod
    def of(
        cls,
        node: str,
        name: str,
        what: str,
        before: Iterable[Sequence[Any]],
        after: Iterable[Sequence[Any]],
        **extra: Any,
    ) -> Series:
        """Build one, dropping NaNs and thinning long series."""
        return cls(node, name, what, _points(before), _points(after), **extra)

    @staticmethod
    def mean(points: Sequence[tuple[float, float]]) -> float | None:
        return sum(y for _, y in points) / len(points) if points else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "name": self.name,
            "what": self.what,
            "before_label": self.before_label,
            "after_label": self.after_label,
            "before": [list(p) for p in self.before],
            "after": [list(p) for p in self.after],
            "mark": list(self.mark) if self.mark else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Series:
        mark = data.get("mark")
        return cls.of(
            str(data["node"]),
            str(data.get("name") or data["node"]),
            str(data.get("what") or ""),
            data.get("before") or (),
            data.get("after") or (),
            before_label=str(data.get("before_label") or "before"),
            after_label=str(data.get("after_label") or "after"),
            mark=(float(mark[0]), float(mark[1])) if mark else None,
        )


@dataclass(frozen=True)
class Answer:
    """Everything a person (or the editor sidebar) needs to read one result; see the module doc."""

    kind: str
    id: str
    title: str
    target: str
    target_name: str
    ranking: tuple[Ranked, ...]
    blamed: tuple[str, ...]
    verdict: str
    question: str = ""
    series: tuple[Series, ...] = ()
    facts: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    created_at: str = field(default_factory=now_iso)
    tool_version: str = field(default_factory=tool_version)
    flow_rev: str | None = None
    state: str | None = None
    detected_at: str | None = None
    changed_at: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not _ID_OK.match(self.id):
            raise ValueError(
                f"id must be 1-128 characters of letters, digits and . _ : - "
                f"(starting with a letter or digit), got {self.id!r}"
            )

    @property
    def names(self) -> dict[str, str]:
        """Runtime id → display name, for every node the answer mentions."""
        out = {r.node: r.name for r in self.ranking}
        out.update({s.node: s.name for s in self.series})
        out.setdefault(self.target, self.target_name)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": 1,
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "question": self.question,
            "verdict": self.verdict,
            "target": self.target,
            "target_name": self.target_name,
            "ranking": [r.to_dict() for r in self.ranking],
            "blamed": list(self.blamed),
            "series": [s.to_dict() for s in self.series],
            "facts": [list(f) for f in self.facts],
            "notes": list(self.notes),
            "created_at": self.created_at,
            "tool_version": self.tool_version,
            "flow_rev": self.flow_rev,
            "state": self.state,
            "detected_at": self.detected_at,
            "changed_at": self.changed_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Answer:
        """Read :meth:`to_dict` output (or the plugin's stored copy); ValueError when malformed."""
        try:
            target = str(data["target"])
            ranking = tuple(Ranked.from_dict(r) for r in data.get("ranking") or ())
            return cls(
                kind=str(data.get("kind") or "attribution"),
                id=str(data["id"]),
                title=str(data.get("title") or ""),
                target=target,
                target_name=str(data.get("target_name") or target),
                ranking=ranking,
                blamed=tuple(str(b) for b in data.get("blamed") or ()),
                verdict=str(data.get("verdict") or ""),
                question=str(data.get("question") or ""),
                series=tuple(Series.from_dict(s) for s in data.get("series") or ()),
                facts=tuple((str(k), str(v)) for k, v in data.get("facts") or ()),
                notes=tuple(str(n) for n in data.get("notes") or ()),
                created_at=str(data.get("created_at") or now_iso()),
                tool_version=str(data.get("tool_version") or "unknown"),
                flow_rev=None if data.get("flow_rev") is None else str(data["flow_rev"]),
                state=data.get("state"),
                detected_at=data.get("detected_at"),
                changed_at=data.get("changed_at"),
            )
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"not an answer document: {exc!r}") from exc


def shares(
    scores: Mapping[str, float], intervals: Mapping[str, tuple[float, float]]
) -> dict[str, tuple[float | None, float | None, float | None]]:
    """Each node's share of the sum of |scores|, and its interval on the same scale.

    >>> shares({"a": 3.0, "b": 1.0}, {"a": (2.0, 4.0)})
    {'a': (0.75, 0.5, 1.0), 'b': (0.25, None, None)}
    """
    total = sum(abs(v) for v in scores.values() if math.isfinite(v))
    out: dict[str, tuple[float | None, float | None, float | None]] = {}
    for node, score in scores.items():
        if total <= 0 or not math.isfinite(score):
            out[node] = (None, None, None)
            continue
        low, high = intervals.get(node, (math.nan, math.nan))
        out[node] = (
            score / total,
            low / total if math.isfinite(low) else None,
            high / total if math.isfinite(high) else None,
        )
    return out
