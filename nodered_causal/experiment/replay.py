"""Re-analyse a finished campaign from its recordings: the same cases, another analysis.

A campaign's JSON keeps, per case, the time spans of its two recordings in the store; the store
keeps every record. :func:`reanalyse` runs the attribution again on exactly those records (with
another :class:`~nodered_causal.analysis.AttributionConfig`, or after a change of the analysis)
and scores the cases again, so analyses are compared on the same recordings, never on new ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from nodered_causal.errors import ExperimentError
from nodered_causal.experiment.campaign import CampaignResult, CaseResult
from nodered_causal.experiment.scoring import rank_of_true

__all__ = ["load_campaign", "reanalyse"]


def load_campaign(path: str | Path) -> tuple[dict[str, Any], CampaignResult]:
    """The campaign JSON (``experiment -o``) and its cases."""
    data = json.loads(Path(path).read_text())
    cases = [CaseResult(**c) for c in [*data["cases"], *data["no_fault"]]]
    result = CampaignResult(
        target=data["target"],
        cases=[c for c in cases if c.scenario != "no_fault" and (c.node or c.injections)],
        no_fault=[c for c in cases if c.scenario == "no_fault" or not (c.node or c.injections)],
    )
    return data, result


def reanalyse(
    data: Mapping[str, Any],
    result: CampaignResult,
    store_path: str | Path,
    flow_path: str | Path,
    *,
    config: Any = None,
    metric: str | None = None,
    progress: Callable[[int, int, CaseResult], None] | None = None,
    dowhy_cases: int = 0,
) -> CampaignResult:
    """Every case of ``result`` attributed again on its recorded spans (module docstring).

    ``dowhy_cases``: on the first that many cases of each class, also run the dowhy baselines
    (``gcm.distribution_change`` itself, :func:`~nodered_causal.analysis.dowhy_baselines`);
    they take tens of seconds per case, so they run on a subsample."""
    from nodered_causal.analysis import AttributionConfig, attribute_shift
    from nodered_causal.analysis.attribution import dowhy_baselines
    from nodered_causal.collector.store import Store
    from nodered_causal.flows import load_flow, to_causal_dag

    flow = load_flow(str(flow_path))
    dag = to_causal_dag(flow, condensed=True)
    member_of = {m: str(n) for n, d in dag.nodes(data=True) for m in d.get("members") or ()}
    target = member_of.get(result.target, result.target)
    cfg = config or AttributionConfig(window_s=float(data.get("window_s", 0.5)))
    stream = f"experiment-{result.target}-seed{data.get('seed', 1)}"
    cases = [*result.cases, *result.no_fault]
    out: list[CaseResult] = []
    seen: dict[str, int] = {}
    with Store(store_path) as store:
        run = _run_named(store, stream)
        for i, case in enumerate(cases, start=1):
            if "baseline" not in case.spans or "incident" not in case.spans:
                raise ExperimentError(f"case {case.key} has no recorded spans to re-analyse")
            columns = [
                store.record_columns(run, since_ns=lo, until_ns=hi)
                for lo, hi in (case.spans["baseline"], case.spans["incident"])
            ]
            attr = attribute_shift(
                dag, columns[0], columns[1], target,
                metric=metric or case.metric, config=replace(cfg, seed=case.seed),
            )  # fmt: skip
            extra = {}
            seen[case.scenario] = seen.get(case.scenario, 0) + 1
            if seen[case.scenario] <= dowhy_cases:
                extra = dowhy_baselines(
                    dag, columns[0], columns[1], target,
                    metric=metric or case.metric, config=replace(cfg, seed=case.seed),
                )  # fmt: skip
            out.append(_rescored(case, attr, member_of, extra))
            if progress is not None:
                progress(i, len(cases), out[-1])
    return CampaignResult(
        target=result.target,
        cases=out[: len(result.cases)],
        no_fault=out[len(result.cases) :],
    )


def _run_named(store: Any, stream: str) -> Any:
    runs = {str(r.name): r for r in store.runs()}
    if stream not in runs:
        raise ExperimentError(f"no run {stream!r} in the store (runs: {', '.join(sorted(runs))})")
    return runs[stream].name


def _rescored(
    case: CaseResult,
    attr: Any,
    member_of: Mapping[str, str],
    extra: Mapping[str, tuple[tuple[str, ...], tuple[str, ...], float]],
) -> CaseResult:
    def ids(node: str) -> list[str]:
        return [node, member_of[node]] if node in member_of else [node]

    ranking = [[n, float(attr.scores.get(n, 0.0)), *attr.intervals.get(n, (None, None))]
               for n in attr.ranking]  # fmt: skip
    blamed = [n for n in attr.ranking if n in set(attr.blamed)]
    truth = [a for c in case.culprits for a in ids(c)]
    irrelevant = ids(case.irrelevant) if case.irrelevant else None
    fields = asdict(case)
    fields.update(
        ranking=ranking,
        blamed=blamed,
        rank_of_true=rank_of_true(blamed, truth) if truth else None,
        rank_in_ranking=rank_of_true([r[0] for r in ranking], truth) if truth else None,
        baseline_ranks={
            n: rank_of_true(list(r), truth) if truth else None
            for n, r in [*attr.baselines.items(), *((k, v[0]) for k, v in extra.items())]
        },
        culprit_ranks={c: rank_of_true(blamed, ids(c)) for c in case.culprits},
        irrelevant_blamed=None if irrelevant is None else bool(set(irrelevant) & set(blamed)),
        baseline_rankings={
            **{n: list(r) for n, r in attr.baselines.items()},
            **{n: list(r) for n, (r, _, _) in extra.items()},
        },
        baseline_blamed={
            **{n: list(r) for n, r in attr.baseline_blamed.items()},
            **{n: list(b) for n, (_, b, _) in extra.items()},
        },
        analysis_s=round(attr.runtime_s, 3),
        baseline_seconds={n: round(t, 2) for n, (_, _, t) in extra.items()},
        symptom=attr.target_p_value is not None and attr.target_p_value <= 0.01,
        metric=attr.metric,
    )
    return CaseResult(**fields)
