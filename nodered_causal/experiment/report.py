"""Turn a scored campaign into the HTML page and PNG people look at (pure, but for ``write``)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nodered_causal.errors import ReportError
from nodered_causal.experiment.campaign import CampaignResult, CaseResult
from nodered_causal.report import Blame, render_html, render_png, write_atomic
from nodered_causal.report.answer import Answer, Ranked, new_answer_id
from nodered_causal.report.build import graph_names
from nodered_causal.report.draw import GraphLike

__all__ = [
    "campaign_answer",
    "campaign_blame",
    "case_blame",
    "plain_summary",
    "render_campaign",
    "write_campaign_report",
]

logger = logging.getLogger(__name__)

CASE_COLUMNS = (
    "key", "node", "fault", "leaf", "metric", "symptom", "rank_of_true", "blamed", "seconds",
)  # fmt: skip
#: What people read for each case column and summary key (ids and keys stay in the JSON).
CASE_WORDS = {
    "key": "case",
    "node": "faulted node",
    "fault": "fault",
    "leaf": "faulted field",
    "metric": "compared",
    "symptom": "showed at the target",
    "rank_of_true": "rank of the faulted node",
    "blamed": "blamed",
    "seconds": "seconds",
}
SUMMARY_WORDS = {
    "ac1": "faulted node named first (AC@1)",
    "ac3": "faulted node among the first three named (AC@3)",
    "ac1_ranked": "faulted node ranked first, blamed or not",
    "ac3_ranked": "faulted node among the first three ranked, blamed or not",
    "specificity": "no-fault cases with nothing blamed (specificity)",
    "n_cases": "fault cases",
    "n_no_fault": "no-fault cases",
    "ac1_symptom": "named first, of the faults that showed at the target",
    "ac3_symptom": "among the first three, of the faults that showed at the target",
    "n_symptom": "faults that showed at the target",
    "seconds": "time spent (s)",
}
_RATES = {"ac1", "ac3", "ac1_ranked", "ac3_ranked", "specificity", "ac1_symptom", "ac3_symptom"}


def _rate(value: Any) -> Any:
    return f"{value * 100:.0f} %" if isinstance(value, int | float) else value


#: What the headline score of each scenario class means, in words.
CLASS_WORDS = {
    "single": "one fault: the faulted node named first",
    "double": "two faults at once: both among the first three",
    "irrelevant": "a fault plus a change that cannot reach the target: the fault named first "
    "and the other change not blamed",
    "harmless": "only a change that cannot reach the target: nothing blamed",
    "shift": "a data shift at a source: the source named first",
    "no_fault": "no fault: nothing blamed",
}
BASELINE_WORDS = {
    "upstream": "most upstream changed node",
    "marginal": "largest shift",
    "baro": "BARO",
}


def plain_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The campaign summary with words for keys and percentages for rates; per scenario class
    ours beside every simple method."""
    out = {
        SUMMARY_WORDS.get(k, k): _rate(v) if k in _RATES else v
        for k, v in summary.items()
        if k not in ("baselines", "classes")
    }
    for name, scores in summary["baselines"].items():
        what = BASELINE_WORDS.get(name, name)
        out[f"simple method “{what}”: faulted node named first"] = _rate(scores["ac1"])
    for name, c in summary.get("classes", {}).items():
        others = ", ".join(
            f"{BASELINE_WORDS.get(b, b)} {_rate(v['score'])}" for b, v in c["baselines"].items()
        )
        out[f"{CLASS_WORDS.get(name, name)} ({c['n']} cases)"] = (
            f"ours {_rate(c['score'])}; {others}" if others else f"ours {_rate(c['score'])}"
        )
    return out


def case_blame(case: CaseResult) -> dict[str, Blame]:
    """One case's attribution as drawing colours: score, interval, blamed or not."""
    blamed = set(case.blamed)
    return {
        str(node): Blame(float(score), lo, hi, node in blamed)
        for node, score, lo, hi in (tuple(r) for r in case.ranking)
    }


def campaign_blame(result: CampaignResult) -> dict[str, Blame]:
    """Per faulted node, the share of its cases in which it was ranked first (AC@1 per node)."""
    hits: dict[str, list[bool]] = defaultdict(list)
    for case in result.cases:
        if case.node is not None:
            hits[case.node].append(case.rank_of_true == 1)
    return {node: Blame(sum(h) / len(h), None, None, any(h)) for node, h in sorted(hits.items())}


def render_campaign(
    graph: GraphLike, result: CampaignResult, *, title: str, idle: Sequence[str] = ()
) -> str:
    """The campaign's HTML page; ``idle``: the target's ancestors that carried no traffic toward
    it in the survey (not faulted: no fault there could show), listed by name."""
    names = graph_names(graph)

    def name(node: str | None) -> str:
        return names.get(node, node) if node else "–"

    rows: list[dict[str, Any]] = []
    for case in [*result.cases, *result.no_fault]:
        row: dict[str, Any] = {CASE_WORDS[k]: getattr(case, k) for k in CASE_COLUMNS}
        row[CASE_WORDS["node"]] = (
            name(case.node)
            if case.node
            else f"harmless change at {name(case.irrelevant)}"
            if case.irrelevant
            else "no fault"
        )
        row[CASE_WORDS["blamed"]] = ", ".join(name(b) for b in case.blamed) or "nothing"
        row[CASE_WORDS["symptom"]] = (
            "–" if case.symptom is None else "yes" if case.symptom else "no"
        )
        hit = case.rank_of_true == 1 if case.node else not case.blamed
        if case.irrelevant and case.node:
            hit = hit and not case.irrelevant_blamed
        row["_class"] = "hit" if hit else "miss"
        rows.append(row)
    details = [
        (
            f"{c.key}: {c.fault or 'no fault'} at {name(c.node)} → blamed "
            f"{', '.join(name(b) for b in c.blamed) or 'nothing'}",
            case_blame(c),
            [c.node] if c.node else [],
        )
        for c in [*result.cases, *result.no_fault]
    ]
    return render_html(
        graph,
        title=title,
        blame=campaign_blame(result),
        highlight=sorted({c.node for c in result.cases if c.node}),
        summary=plain_summary(result.summary()),
        cases=rows,
        case_columns=[CASE_WORDS[k] for k in CASE_COLUMNS],
        details=details,
        notes=[
            "Flow colours: share of the cases faulted at that node in which it was ranked first.",
            "A case counts as a hit only if the true node is blamed (interval excludes zero).",
            *(
                [
                    "Not faulted, because they carried no traffic toward the target in the "
                    "survey recording: " + ", ".join(name(n) for n in idle) + "."
                ]
                if idle
                else []
            ),
        ],
        data=result.to_json(),
    )


def campaign_answer(graph: GraphLike, result: CampaignResult, *, flow: str = "") -> Answer:
    """The campaign as an answer for the editor sidebar: per faulted node, the share of its cases
    in which it was named first; the verdict in words."""
    names = graph_names(graph)
    summary = result.summary()
    n, n_free = summary["n_cases"], summary["n_no_fault"]
    hits = sum(c.rank_of_true == 1 for c in result.cases)
    top3 = sum(c.rank_of_true is not None and c.rank_of_true <= 3 for c in result.cases)
    quiet = sum(not c.blamed for c in result.no_fault)
    target = names.get(result.target, result.target)
    parts = [f"Named the faulted node first in {hits} of {n} fault cases"]
    if n:
        parts[0] += f" ({hits / n:.0%}), among the first three in {top3} ({top3 / n:.0%})"
    if n_free:
        parts.append(f"blamed nothing in {quiet} of {n_free} no-fault cases")
    ranking = tuple(
        Ranked(node=node, name=names.get(node, node), score=b.score, share=b.score)
        for node, b in sorted(campaign_blame(result).items(), key=lambda kv: -kv[1].score)
    )
    return Answer(
        kind="experiment",
        id=new_answer_id("experiment"),
        title=f"Does the analysis name an injected fault at “{target}”?",
        question=f"Does the analysis name an injected fault at “{target}”?",
        target=result.target,
        target_name=target,
        ranking=ranking,
        blamed=(),
        verdict="; ".join(parts) + ".",
        facts=(("Flow", flow),) if flow else (),
    )


def write_campaign_report(
    graph: GraphLike,
    result: CampaignResult,
    html_path: str | Path,
    *,
    title: str,
    idle: Sequence[str] = (),
) -> tuple[Path, Path | None]:
    """Write the HTML page and a PNG of its flow drawing next to it (``.png``).

    The PNG needs graphviz; without it the page is still written and the PNG is ``None``.
    """
    page = write_atomic(html_path, render_campaign(graph, result, title=title, idle=idle))
    try:
        png = render_png(
            graph,
            page.with_suffix(".png"),
            campaign_blame(result),
            highlight=sorted({c.node for c in result.cases if c.node}),
        )
    except ReportError as exc:
        logger.warning("no PNG next to %s: %s", page, exc)
        return page, None
    return page, png
