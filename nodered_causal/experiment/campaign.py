"""Experiment campaigns: inject known faults, attribute, score how often the right node is named.

The loop is pure orchestration over a :class:`Lab` (something that can record a run, inject and
restore a fault, and attribute a change), so it is unit-tested with a fake lab and run for real by
:class:`nodered_causal.experiment.live.LiveLab` (Node-RED + tap plugin + collector + dowhy).

A campaign is a list of :class:`CaseSpec` from :func:`plan_cases`: fault cases (node x fault kind,
nodes drawn from the target's ancestors) and no-fault cases (two baseline recordings). Each finished
case is appended to a JSON state file at once (atomically), so an interrupted campaign resumes where
it stopped when run again with the same plan.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nodered_causal.errors import ExperimentError
from nodered_causal.experiment.plan import (
    PASS_THROUGH_TYPES,
    CaseSpec,
    metric_for,
    plan_cases,
)
from nodered_causal.experiment.scoring import ac_at_k, class_metrics, rank_of_true, specificity
from nodered_causal.faults.spec import Fault, parse_fault

__all__ = [
    "PASS_THROUGH_TYPES",
    "CampaignResult",
    "CaseResult",
    "CaseSpec",
    "Lab",
    "LabAttribution",
    "metric_for",
    "plan_cases",
    "run_campaign",
]

logger = logging.getLogger(__name__)

#: Short names of the analysis' baselines in a campaign summary.
BASELINE_NAMES = {
    "marginal_shift": "marginal", "most_upstream": "upstream", "baro": "baro",
    "dowhy": "dowhy", "dowhy_auto": "dowhy_auto",
}  # fmt: skip


@dataclass(frozen=True)
class LabAttribution:
    """What a campaign needs from an attribution: blamed nodes first, then the rest."""

    ranking: Sequence[tuple[str, float, float | None, float | None]]  # (node, score, lo, hi)
    blamed: Sequence[str]
    baselines: Mapping[str, Sequence[str]] = field(default_factory=dict)  # name -> ranking
    symptom: bool | None = None  # did the target itself change (None: not known)
    baseline_blamed: Mapping[str, Sequence[str]] = field(default_factory=dict)  # name -> blamed
    seconds: float | None = None  # how long the attribution took


class Lab(Protocol):
    """Where a campaign runs: a live flow with a tap, or a simulation in tests."""

    def record(self, run: str, seconds: float) -> None: ...
    def inject(self, node: str, fault: Fault, *, seed: int) -> None: ...
    def restore(self) -> None: ...
    def attribute(
        self, baseline: str, incident: str, target: str, *, metric: str, seed: int
    ) -> LabAttribution: ...
    def aliases(self, node: str) -> list[str]:
        """Ids standing for ``node`` in rankings (itself, or the cycle it was condensed into)."""
        ...


@dataclass(frozen=True)
class CaseResult:
    key: str
    node: str | None
    fault: str | None
    metric: str
    ranking: list[list[Any]]  # [[node, score, lo, hi], ...]
    blamed: list[str]
    rank_of_true: int | None
    baseline_ranks: dict[str, int | None]
    seconds: float
    rank_in_ranking: int | None = None  # position in the full ranking, blamed or not
    leaf: str | None = None  # the payload leaf a value fault changed (live labs)
    spans: dict[str, list[int]] = field(default_factory=dict)  # run -> [start_ns, end_ns]
    symptom: bool | None = None  # the target's own distribution changed (the fault showed)
    scenario: str = "single"  # a class of plan.SCENARIOS, or "no_fault"
    injections: list[list[Any]] = field(default_factory=list)  # [node, fault, leaf]
    culprits: list[str] = field(default_factory=list)  # what a right answer names
    culprit_ranks: dict[str, int | None] = field(default_factory=dict)  # among the blamed
    irrelevant: str | None = None  # the node changed in a way that cannot reach the target
    irrelevant_blamed: bool | None = None
    baseline_rankings: dict[str, list[str]] = field(default_factory=dict)
    baseline_blamed: dict[str, list[str]] = field(default_factory=dict)
    analysis_s: float | None = None  # seconds the attribution took
    aliases: dict[str, list[str]] = field(default_factory=dict)  # node -> ids standing for it
    seed: int = 0  # the case's seed (faults and analysis)
    baseline_seconds: dict[str, float] = field(default_factory=dict)  # the slow baselines' time


@dataclass(frozen=True)
class CampaignResult:
    target: str
    cases: list[CaseResult]
    no_fault: list[CaseResult]

    def summary(self) -> dict[str, Any]:
        """Top-level AC@k over every case with a culprit, specificity over the no-fault cases,
        the baselines beside them, and the same per scenario class under ``classes``."""
        ranks = [c.rank_of_true for c in self.cases if c.culprits or c.node]
        with_culprit = [c for c in self.cases if c.culprits or c.node]
        names = sorted({n for c in [*self.cases, *self.no_fault] for n in c.baseline_rankings}
                       or {n for c in self.cases for n in c.baseline_ranks})  # fmt: skip
        baselines = {
            BASELINE_NAMES.get(n, n): {
                "ac1": ac_at_k(
                    [c.baseline_ranks[n] for c in with_culprit if n in c.baseline_ranks], 1
                ),
                "ac3": ac_at_k(
                    [c.baseline_ranks[n] for c in with_culprit if n in c.baseline_ranks], 3
                ),
            }
            for n in names
        }
        ranked = [c.rank_in_ranking for c in with_culprit]
        showed = [c.rank_of_true for c in with_culprit if c.symptom]
        times = [c.analysis_s for c in [*self.cases, *self.no_fault] if c.analysis_s is not None]
        return {
            "ac1": ac_at_k(ranks, 1),
            "ac3": ac_at_k(ranks, 3),
            "ac1_ranked": ac_at_k(ranked, 1),
            "ac3_ranked": ac_at_k(ranked, 3),
            "specificity": specificity([c.blamed for c in self.no_fault]),
            "n_cases": len(self.cases),
            "n_no_fault": len(self.no_fault),
            # cases whose fault showed at the target (its own distribution changed): the ones an
            # analysis of the target can be asked about; None where the lab does not tell
            "ac1_symptom": ac_at_k(showed, 1) if showed else None,
            "ac3_symptom": ac_at_k(showed, 3) if showed else None,
            "n_symptom": sum(bool(c.symptom) for c in with_culprit),
            "seconds": round(sum(c.seconds for c in [*self.cases, *self.no_fault]), 1),
            "analysis_s_median": sorted(times)[len(times) // 2] if times else None,
            "analysis_s_max": max(times) if times else None,
            "baselines": baselines,
            "classes": class_metrics(
                [*self.cases, *self.no_fault], [BASELINE_NAMES.get(n, n) for n in names], names
            ),
        }

    def to_json(self, **extra: Any) -> dict[str, Any]:
        return {
            **extra,
            "target": self.target,
            "cases": [asdict(c) for c in self.cases],
            "no_fault": [asdict(c) for c in self.no_fault],
            "summary": self.summary(),
        }


def _load_state(path: Path | None, plan: Sequence[CaseSpec]) -> dict[str, CaseResult]:
    if path is None or not path.exists():
        return {}
    data = json.loads(path.read_text())
    keys = {c.key for c in plan}
    if not set(data.get("plan", [])) <= keys:  # a plan that grew resumes; another one does not
        raise ExperimentError(
            f"{path} belongs to a different campaign plan: delete it or use another --state"
        )
    return {r["key"]: CaseResult(**r) for r in data.get("done", [])}


def _save_state(
    path: Path | None, plan: Sequence[CaseSpec], done: Mapping[str, CaseResult]
) -> None:
    if path is None:
        return
    from nodered_causal.report.write import write_atomic

    state = {"plan": [c.key for c in plan], "done": [asdict(r) for r in done.values()]}
    write_atomic(path, json.dumps(state, indent=1))


def _run_case(lab: Lab, case: CaseSpec, target: str, seconds: float) -> CaseResult:
    started = time.monotonic()
    base, incident = f"{case.key}-base", f"{case.key}-incident"
    lab.record(base, seconds)
    injected: list[list[Any]] = []
    if case.all_injections():
        try:
            for node, text, leaf in case.all_injections():
                fault = parse_fault(text) if leaf is None else parse_fault(text, field=leaf)
                lab.inject(node, fault, seed=case.seed)
                injected.append([node, text, getattr(lab, "injected_field", leaf)])
            lab.record(incident, seconds)
        finally:
            lab.restore()
    else:
        lab.record(incident, seconds)
    attr = lab.attribute(base, incident, target, metric=case.metric, seed=case.seed)
    ranking = [list(r) for r in attr.ranking]
    blamed_order = [r[0] for r in attr.ranking if r[0] in set(attr.blamed)]
    culprits = list(case.culprits or ([case.node] if case.node else []))
    aliases = {c: lab.aliases(c) for c in culprits}
    truth = [a for c in culprits for a in aliases[c]]
    slices = getattr(lab, "slices", {})  # live labs: run -> (start_ns, end_ns)
    irrelevant = lab.aliases(case.irrelevant) if case.irrelevant else None
    return CaseResult(
        key=case.key,
        node=case.node,
        fault=case.fault,
        metric=case.metric,
        ranking=ranking,
        blamed=blamed_order,
        rank_of_true=rank_of_true(blamed_order, truth) if truth else None,
        baseline_ranks={
            name: rank_of_true(list(r), truth) if truth else None
            for name, r in attr.baselines.items()
        },
        seconds=round(time.monotonic() - started, 2),
        rank_in_ranking=rank_of_true([str(r[0]) for r in ranking], truth) if truth else None,
        # live labs: the leaf faulted and the recordings' time slices, to re-analyse the case
        leaf=injected[0][2] if injected and case.node else None,
        symptom=attr.symptom,
        spans={
            role: list(slices[run])
            for role, run in (("baseline", base), ("incident", incident))
            if run in slices
        },
        scenario=case.scenario,
        injections=injected,
        culprits=culprits,
        culprit_ranks={c: rank_of_true(blamed_order, aliases[c]) for c in culprits},
        irrelevant=case.irrelevant,
        irrelevant_blamed=(
            None if irrelevant is None else any(n in set(irrelevant) for n in blamed_order)
        ),
        baseline_rankings={n: list(r) for n, r in attr.baselines.items()},
        baseline_blamed={n: list(r) for n, r in attr.baseline_blamed.items()},
        analysis_s=None if attr.seconds is None else round(attr.seconds, 3),
        seed=case.seed,
        aliases={
            n: [a for a in lab.aliases(n) if a != n]
            for n in [*culprits, *([case.irrelevant] if case.irrelevant else [])]
        },
    )


def interleaved(plan: Sequence[CaseSpec]) -> list[CaseSpec]:
    """``plan`` in turns over its scenario classes, each class in its own order."""
    by_class: dict[str, list[CaseSpec]] = {}
    for case in plan:
        by_class.setdefault(case.scenario, []).append(case)
    queues = list(by_class.values())
    return [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]


def run_campaign(
    lab: Lab,
    plan: Sequence[CaseSpec],
    *,
    target: str,
    seconds: float,
    state_path: str | Path | None = None,
    progress: Callable[[int, int, CaseResult], None] | None = None,
    stop_at: float | None = None,
) -> CampaignResult:
    """Run every case of ``plan`` not already in the state file; return the scored campaign.

    Cases run in turns over the scenario classes (one of each class, then the next of each), so
    a campaign stopped early, or cut by ``stop_at`` (a ``time.time()``: no case starts after it),
    has an even share of every class; the result then holds the cases done so far."""
    path = Path(state_path) if state_path is not None else None
    done = _load_state(path, plan)
    order = interleaved(plan)
    for i, case in enumerate(order, start=1):
        if case.key not in done:
            if stop_at is not None and time.time() >= stop_at:
                left = sum(c.key not in done for c in order)
                logger.warning("time budget spent: %d of %d cases not run", left, len(order))
                break
            logger.info("case %s: fault %s at %s", case.key, case.fault, case.node)
            done[case.key] = _run_case(lab, case, target, seconds)
            _save_state(path, plan, done)
        if progress is not None:
            progress(i, len(order), done[case.key])
    results = [done[c.key] for c in plan if c.key in done]
    return CampaignResult(
        target=target,
        cases=[r for r in results if r.scenario != "no_fault" and (r.node or r.injections)],
        no_fault=[r for r in results if r.scenario == "no_fault" or not (r.node or r.injections)],
    )
