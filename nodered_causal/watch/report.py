"""An incident document as the report people read (:class:`~nodered_causal.report.Answer`):
the flow coloured by blame, the ranking with intervals, the target's signal before and after."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["answer_from_incident"]


def answer_from_incident(doc: Mapping[str, Any]) -> Any:
    """The :class:`~nodered_causal.report.Answer` (kind ``incident``) of an incident document."""
    from nodered_causal.report.answer import METRIC_WORDS, Answer, Ranked, Series, shares

    ranking = list(doc.get("ranking") or [])
    scores = {r["node"]: float(r.get("score") or 0.0) for r in ranking}
    intervals = {
        r["node"]: (float(r["low"]), float(r["high"]))
        for r in ranking
        if r.get("low") is not None and r.get("high") is not None
    }
    share = shares(scores, intervals)
    ranked = tuple(
        Ranked(
            node=r["node"], name=r.get("name") or r["node"], score=scores[r["node"]],
            low=r.get("low"), high=r.get("high"), blamed=bool(r.get("blamed")),
            share=share[r["node"]][0], share_low=share[r["node"]][1],
            share_high=share[r["node"]][2],
        )
        for r in ranking
    )  # fmt: skip
    series = doc.get("series") or {}
    changed = int(series.get("changed_ns") or doc["changed_ns"])
    pairs = list(zip(series.get("t_ns", []), series.get("values", []), strict=False))
    before = [p for p in pairs if p[0] < changed]
    t0 = before[0][0] if before else changed
    signal = str(doc.get("signal") or "")
    metric = str(doc.get("metric") or "value")
    what = METRIC_WORDS.get(metric, metric)
    if signal.startswith("value:"):
        what = f"{what} of {signal.split(':', 1)[1]}"
    target_name = str(doc.get("target_name") or doc["target"])
    size = doc.get("size") or {}
    facts = [
        ("Signal", f"{what} per window"),
        ("Changed at", str(doc.get("changed_at"))),
        ("Detected at", str(doc.get("detected_at"))),
        ("State", f"{doc.get('state')} (updates: {doc.get('updates', 0)})"),
    ]
    if size.get("before") is not None and size.get("after") is not None:
        facts.append(
            (
                "Size",
                f"{size['before']:.4g} → {size['after']:.4g} "
                f"({(size.get('change_sd') or 0):+.1f} reference sd)",
            )
        )
    for d in doc.get("deploys") or []:
        touched = ", ".join(d.get("upstream_names") or []) or "nothing upstream"
        facts.append(("Deploy", f"{d.get('at')} rev {d.get('rev')}: changed {touched}"))
    question = f"Why did the {what} at “{target_name}” change?"
    return Answer(
        kind="incident",
        id=str(doc["id"]),
        title=question,
        question=question,
        target=str(doc["target"]),
        target_name=target_name,
        ranking=ranked,
        blamed=tuple(doc.get("blamed") or ()),
        verdict=str(doc.get("verdict") or ""),
        series=(
            Series.of(
                str(doc["target"]),
                target_name,
                f"{what} per window",
                [((t - t0) / 1e9, v) for t, v in before],
                [((t - changed) / 1e9, v) for t, v in pairs if t >= changed],
                before_label="before the change",
                after_label="after the change",
            ),
        ),  # fmt: skip
        facts=tuple(facts),
        notes=tuple(doc.get("notes") or ()),
        flow_rev=doc.get("flow_rev"),
        state=doc.get("state"),
        detected_at=doc.get("detected_at"),
        changed_at=doc.get("changed_at"),
    )
