"""Turn a scored campaign into the HTML page and PNG people look at (pure, but for ``write``)."""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from nodered_causal.errors import ReportError
from nodered_causal.experiment.campaign import CampaignResult, CaseResult
from nodered_causal.report import Blame, render_html, render_png, write_atomic
from nodered_causal.report.draw import GraphLike

__all__ = ["campaign_blame", "case_blame", "render_campaign", "write_campaign_report"]

logger = logging.getLogger(__name__)

CASE_COLUMNS = (
    "key", "node", "fault", "leaf", "metric", "symptom", "rank_of_true", "blamed", "seconds",
)  # fmt: skip


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


def render_campaign(graph: GraphLike, result: CampaignResult, *, title: str) -> str:
    rows: list[dict[str, Any]] = []
    for case in [*result.cases, *result.no_fault]:
        row: dict[str, Any] = {k: getattr(case, k) for k in CASE_COLUMNS}
        row["blamed"] = ", ".join(case.blamed) or "nothing"
        hit = case.rank_of_true == 1 if case.node else not case.blamed
        row["_class"] = "hit" if hit else "miss"
        rows.append(row)
    summary = result.summary()
    flat = {k: v for k, v in summary.items() if k != "baselines"}
    for name, scores in summary["baselines"].items():
        flat[f"baseline {name} ac1"] = scores["ac1"]
    details = [
        (
            f"{c.key}: {c.fault or 'no fault'} at {c.node or '-'} → blamed "
            f"{', '.join(c.blamed) or 'nothing'}",
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
        summary=flat,
        cases=rows,
        case_columns=CASE_COLUMNS,
        details=details,
        notes=[
            "Flow colours: share of the cases faulted at that node in which it was ranked first.",
            "A case counts as a hit only if the true node is blamed (interval excludes zero).",
        ],
        data=result.to_json(),
    )


def write_campaign_report(
    graph: GraphLike, result: CampaignResult, html_path: str | Path, *, title: str
) -> tuple[Path, Path | None]:
    """Write the HTML page and a PNG of its flow drawing next to it (``.png``).

    The PNG needs graphviz; without it the page is still written and the PNG is ``None``.
    """
    page = write_atomic(html_path, render_campaign(graph, result, title=title))
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
