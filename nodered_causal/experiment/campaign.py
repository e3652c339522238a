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
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nodered_causal.errors import ExperimentError
from nodered_causal.experiment.scoring import ac_at_k, rank_of_true, specificity
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

#: Node types that only forward messages: faulting them is faulting their upstream node.
PASS_THROUGH_TYPES = frozenset({"junction", "link out", "link in", "link call"})
#: Fault kinds an ``inject`` node cannot show: its payload is usually a timestamp nobody reads,
#: and a root node has no receive-to-send latency. Injects only get ``drop`` and ``error``.
TRIGGER_ONLY_KINDS = frozenset({"drop", "error"})
#: Fault kinds only a node that receives messages can show: latency is receive-to-send, so a
#: delay at a node without inputs (an ``mqtt in``) is seen by no metric of any node.
NEEDS_INPUT_KINDS = frozenset({"delay"})
#: Short names of the analysis' baselines in a campaign summary.
BASELINE_NAMES = {"marginal_shift": "marginal", "most_upstream": "upstream"}
#: Metric the analysis should look at for each fault kind. Noise widens a node's distribution
#: but leaves its window means alone: the 95th percentile per window shows it.
METRIC_FOR_KIND = {
    "bias": "value", "scale": "value", "noise": "value_p95", "constant": "value",
    "drop": "throughput", "error": "throughput", "delay": "latency",
}  # fmt: skip


def metric_for(fault: Fault) -> str:
    return METRIC_FOR_KIND[fault.kind]


@dataclass(frozen=True)
class LabAttribution:
    """What a campaign needs from an attribution: blamed nodes first, then the rest."""

    ranking: Sequence[tuple[str, float, float | None, float | None]]  # (node, score, lo, hi)
    blamed: Sequence[str]
    baselines: Mapping[str, Sequence[str]] = field(default_factory=dict)  # name -> ranking
    symptom: bool | None = None  # did the target itself change (None: not known)


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
class CaseSpec:
    key: str  # stable id used to resume, e.g. "f03-calibrate-bias:2"
    node: str | None  # None for a no-fault case
    fault: str | None
    seed: int
    metric: str = "value"


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


@dataclass(frozen=True)
class CampaignResult:
    target: str
    cases: list[CaseResult]
    no_fault: list[CaseResult]

    def summary(self) -> dict[str, Any]:
        ranks = [c.rank_of_true for c in self.cases]
        names = sorted({n for c in self.cases for n in c.baseline_ranks})
        baselines = {
            BASELINE_NAMES.get(n, n): {
                "ac1": ac_at_k([c.baseline_ranks.get(n) for c in self.cases], 1),
                "ac3": ac_at_k([c.baseline_ranks.get(n) for c in self.cases], 3),
            }
            for n in names
        }
        ranked = [c.rank_in_ranking for c in self.cases]
        showed = [c.rank_of_true for c in self.cases if c.symptom]
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
            "n_symptom": sum(bool(c.symptom) for c in self.cases),
            "seconds": round(sum(c.seconds for c in [*self.cases, *self.no_fault]), 1),
            "baselines": baselines,
        }

    def to_json(self, **extra: Any) -> dict[str, Any]:
        return {
            **extra,
            "target": self.target,
            "cases": [asdict(c) for c in self.cases],
            "no_fault": [asdict(c) for c in self.no_fault],
            "summary": self.summary(),
        }


def plan_cases(
    candidates: Iterable[tuple[str, str, bool]],
    *,
    n_cases: int,
    faults: Sequence[str],
    n_no_fault: int,
    seed: int,
    field: str = "payload",
    roots: Iterable[str] = (),
) -> list[CaseSpec]:
    """Draw ``n_cases`` (node, fault) pairs and ``n_no_fault`` no-fault cases, reproducibly.

    ``candidates`` are ``(node_id, type, is_source)`` of the target's ancestors; pass-through nodes
    are skipped, ``inject`` triggers only get ``drop``/``error`` faults, ``shift:...`` faults
    only go to sources, and ``delay`` never goes to ``roots`` (nodes without inputs). Fault kinds
    are cycled so every kind gets its share, nodes are drawn without replacement until each was
    used once.
    """
    candidates = list(candidates)
    pool = sorted((n, s) for n, t, s in candidates if t not in PASS_THROUGH_TYPES)
    triggers = {n for n, t, _ in candidates if t == "inject"}
    if not pool:
        raise ExperimentError("no node to fault: the target has no ancestors that transform data")
    no_input = set(roots)

    def eligible_for(fault: Fault) -> list[str]:
        return [
            n
            for n, is_source in pool
            if (is_source or not fault.source_only)
            and (fault.kind in TRIGGER_ONLY_KINDS or n not in triggers)
            and (fault.kind not in NEEDS_INPUT_KINDS or n not in no_input)
        ]

    parsed: list[tuple[str, Fault]] = []
    skipped: list[tuple[str, Fault]] = []
    for text in faults:
        fault = parse_fault(text, field=field)
        (parsed if eligible_for(fault) else skipped).append((text, fault))
    for text, fault in skipped:
        need = (
            "a source node" if fault.source_only
            else "a node that receives messages" if fault.kind in NEEDS_INPUT_KINDS
            else "a node that is not an inject"
        )  # fmt: skip
        logger.warning("fault %r needs %s among the target's ancestors: left out", text, need)
    if not parsed:
        raise ExperimentError(
            f"no fault of {', '.join(faults)} fits a node among the target's ancestors"
        )
    rng = random.Random(seed)
    specs: list[CaseSpec] = []
    bags: dict[tuple[str, ...], list[str]] = {}  # eligible nodes -> those not yet drawn
    for i in range(n_cases):
        text, fault = parsed[i % len(parsed)]
        eligible = eligible_for(fault)
        bag = bags.setdefault(tuple(eligible), [])
        if not bag:
            bag.extend(rng.sample(eligible, len(eligible)))
        node = bag.pop()
        specs.append(CaseSpec(f"f{i:03d}-{node}-{text}", node, text, seed + i, metric_for(fault)))
    specs += [CaseSpec(f"n{i:03d}", None, None, seed + 10_000 + i) for i in range(n_no_fault)]
    return specs


def _load_state(path: Path | None, plan: Sequence[CaseSpec]) -> dict[str, CaseResult]:
    if path is None or not path.exists():
        return {}
    data = json.loads(path.read_text())
    keys = {c.key for c in plan}
    if set(data.get("plan", [])) != keys:
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
    if case.node is not None and case.fault is not None:
        lab.inject(case.node, parse_fault(case.fault), seed=case.seed)
        try:
            lab.record(incident, seconds)
        finally:
            lab.restore()
    else:
        lab.record(incident, seconds)
    attr = lab.attribute(base, incident, target, metric=case.metric, seed=case.seed)
    ranking = [list(r) for r in attr.ranking]
    blamed_order = [r[0] for r in attr.ranking if r[0] in set(attr.blamed)]
    truth = lab.aliases(case.node) if case.node else None
    slices = getattr(lab, "slices", {})  # live labs: run -> (start_ns, end_ns)
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
        leaf=getattr(lab, "injected_field", None) if case.node else None,
        symptom=attr.symptom,
        spans={
            role: list(slices[run])
            for role, run in (("baseline", base), ("incident", incident))
            if run in slices
        },
    )


def run_campaign(
    lab: Lab,
    plan: Sequence[CaseSpec],
    *,
    target: str,
    seconds: float,
    state_path: str | Path | None = None,
    progress: Callable[[int, int, CaseResult], None] | None = None,
) -> CampaignResult:
    """Run every case of ``plan`` not already in the state file; return the scored campaign."""
    path = Path(state_path) if state_path is not None else None
    done = _load_state(path, plan)
    for i, case in enumerate(plan, start=1):
        if case.key not in done:
            logger.info("case %s: fault %s at %s", case.key, case.fault, case.node)
            done[case.key] = _run_case(lab, case, target, seconds)
            _save_state(path, plan, done)
        if progress is not None:
            progress(i, len(plan), done[case.key])
    results = [done[c.key] for c in plan]
    return CampaignResult(
        target=target,
        cases=[r for r in results if r.node is not None],
        no_fault=[r for r in results if r.node is None],
    )
