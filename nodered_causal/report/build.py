"""Turn an :class:`~nodered_causal.analysis.result.Attribution` into an :class:`Answer` (pure).

The words are for people: node names (ids stay in the data and on hover), "explains 92 % of the
change", the metric in plain words (:data:`~nodered_causal.report.answer.METRIC_WORDS`).

An incident report is the same page::

    answer = answer_from_attribution(
        result, dag, kind="incident", answer_id=incident_id, state="open",
        detected_at="2025-06-01T10:15:02Z", changed_at="2025-06-01T10:14:55Z",
        series=[Series.of(target, name, "average payload.score", before, after)],
    )
    write_answer_report("incident.html", dag, answer)       # + .svg, + .png with graphviz
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nodered_causal.report.answer import (
    METRIC_WORDS,
    Answer,
    Ranked,
    Series,
    display_name,
    new_answer_id,
    shares,
)
from nodered_causal.report.draw import Blame, GraphLike

if TYPE_CHECKING:
    from nodered_causal.analysis.result import Attribution

__all__ = [
    "answer_blame",
    "answer_from_attribution",
    "graph_names",
    "named",
    "pct",
    "quoted",
]


def graph_names(graph: GraphLike) -> dict[str, str]:
    """Display name (:func:`display_name`) of every node of a flow graph."""
    attrs = {str(n): a for n, a in graph.nodes(data=True)}
    return {n: display_name(a, attrs) for n, a in attrs.items()}


def named(text: str, names: Mapping[str, str]) -> str:
    """``text`` with every runtime id (of at least 3 characters, as a whole word) replaced by the
    node's quoted name: analysis notes are written with ids.

    >>> named("b7c2: changed; b7c2x stays", {"b7c2": "calibrate"})
    '“calibrate”: changed; b7c2x stays'
    """
    ids = sorted((n for n in names if len(n) >= 3), key=len, reverse=True)
    if not ids:
        return text
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, ids)) + r")(?![\w-])")
    return pattern.sub(lambda m: quoted(names[m.group(1)]), text)


def pct(share: float | None) -> str:
    """``0.923`` → ``"92 %"``; ``None`` → ``"–"``.

    >>> pct(0.923), pct(-0.05), pct(None)
    ('92 %', '-5 %', '–')
    """
    return "–" if share is None else f"{share * 100:.0f} %"


def quoted(name: str) -> str:
    return f"“{name}”"


def _ranked(result: Attribution, names: Mapping[str, str], top: int) -> tuple[Ranked, ...]:
    share = shares(result.scores, result.intervals)
    out = []
    for node in result.ranking[:top]:
        low, high = result.intervals.get(node, (None, None))
        s, s_low, s_high = share.get(node, (None, None, None))
        out.append(
            Ranked(
                node=node,
                name=names.get(node, node),
                score=float(result.scores.get(node, 0.0)),
                low=low,
                high=high,
                blamed=node in result.blamed,
                share=s,
                share_low=s_low,
                share_high=s_high,
            )
        )
    return tuple(out)


def _verdict(result: Attribution, ranking: Sequence[Ranked], what: str, target: str) -> str:
    blamed = [r for r in ranking if r.blamed]
    change = (
        "why " + what + f" at {quoted(target)} was unusual"
        if result.method == "anomaly"
        else (f"the change in {what} at {quoted(target)}")
    )
    if not blamed:
        if result.method == "anomaly":
            return f"Nothing upstream explains {change}."
        return (
            f"No significant change: nothing upstream explains a change in {what} at "
            f"{quoted(target)}."
        )
    if len(blamed) == 1 and (blamed[0].share or 0.0) >= 0.995:
        return f"{quoted(blamed[0].name)} explains all of {change}."
    if len(blamed) == 1:
        r = blamed[0]
        interval = (
            f" (interval {pct(r.share_low)} to {pct(r.share_high)})"
            if r.share_low is not None and r.share_high is not None
            else ""
        )
        return f"{quoted(r.name)} explains {pct(r.share)} of {change}{interval}."
    parts = [f"{quoted(r.name)} ({pct(r.share)})" for r in blamed]
    return f"{', '.join(parts[:-1])} and {parts[-1]} explain {change}."


def answer_from_attribution(
    result: Attribution,
    graph: GraphLike,
    *,
    kind: str = "attribution",
    what: str | None = None,
    question: str | None = None,
    facts: Sequence[tuple[str, str]] = (),
    series: Sequence[Series] = (),
    flow_rev: str | None = None,
    answer_id: str | None = None,
    top: int = 12,
    **incident: Any,
) -> Answer:
    """The answer for ``result``; ``graph`` (the flow DAG) gives the names. ``what`` names the
    compared quantity ("the average value", default from the metric); ``incident`` passes
    ``state``, ``detected_at``, ``changed_at`` through for incidents."""
    names = graph_names(graph)
    target_name = names.get(result.target, result.target)
    what = what or f"the {METRIC_WORDS.get(result.metric, result.metric)}"
    if result.metric == "all" and what.startswith("the behaviour"):
        what = ""  # "Why did “x” change?": every signal of it was compared
    ranking = _ranked(result, names, top)
    if question is None:
        question = (
            f"Why was {what} at {quoted(target_name)} unusual?"
            if result.method == "anomaly"
            else f"Why did {what} at {quoted(target_name)} change?"
            if what
            else f"Why did {quoted(target_name)} change?"
        )
    return Answer(
        kind=kind,
        id=answer_id or new_answer_id(kind),
        title=question,
        question=question,
        target=result.target,
        target_name=target_name,
        ranking=ranking,
        blamed=tuple(result.blamed),
        verdict=_verdict(result, ranking, what, target_name),
        series=tuple(series),
        facts=tuple(facts),
        notes=tuple(named(n, names) for n in result.notes),
        flow_rev=flow_rev,
        **incident,
    )


def answer_blame(answer: Answer) -> dict[str, Blame]:
    """The answer's ranking as drawing colours, each node captioned with its share and interval."""
    out = {}
    for r in answer.ranking:
        if not r.blamed and abs(r.share or r.score) < 0.005:
            out[r.node] = Blame(0.0)
            continue
        caption = pct(r.share)
        if r.share_low is not None and r.share_high is not None:
            caption += f" ({pct(r.share_low)}–{pct(r.share_high)})"
        out[r.node] = Blame(
            r.share if r.share is not None else r.score,
            r.share_low,
            r.share_high,
            r.blamed,
            caption=caption if r.share is not None else "",
        )
    return out
