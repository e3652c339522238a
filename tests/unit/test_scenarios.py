"""Scenario classes of a campaign (plan.py, scoring.class_metrics): which faults go where and how
each class is scored, for ours and the baselines, with a lab that knows the truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodered_causal.errors import ExperimentError
from nodered_causal.experiment.campaign import LabAttribution, run_campaign
from nodered_causal.experiment.plan import IRRELEVANT_FAULT, SCENARIOS, plan_cases
from nodered_causal.faults.spec import Fault

# src -> gen -> calib -> out; tick triggers src
CANDIDATES = [
    ("tick", "inject", False),
    ("src", "function", True),
    ("gen", "function", False),
    ("calib", "function", False),
]
ANCESTORS = {"src": {"tick"}, "gen": {"tick", "src"}, "calib": {"tick", "src", "gen"}}
ORDER = ["tick", "src", "gen", "calib"]
IRRELEVANT = [("src", "payload.unused")]


def _plan(**kw: object) -> list:  # type: ignore[type-arg]
    args = dict(
        n_cases=6, faults=["bias:2sd", "drop:0.5", "delay:30"], n_no_fault=2, seed=3,
        scenarios=SCENARIOS, irrelevant=IRRELEVANT, ancestors=ANCESTORS, roots=["tick"],
    )  # fmt: skip
    args.update(kw)
    return plan_cases(CANDIDATES, **args)  # type: ignore[arg-type]


def test_every_class_is_planned_as_it_should_be() -> None:
    plan = _plan()
    assert plan == _plan()  # reproducible
    assert len({c.key for c in plan}) == len(plan)
    by = {s: [c for c in plan if c.scenario == s] for s in [*SCENARIOS, "no_fault"]}
    assert {s: len(v) for s, v in by.items()} == {
        "single": 6, "double": 6, "irrelevant": 6, "harmless": 6, "shift": 6, "no_fault": 2,
    }  # fmt: skip
    for c in by["double"]:
        (a, _, _), (b, _, _) = c.injections
        assert a != b and c.culprits == (a, b)
    for c in by["irrelevant"]:
        real, other = c.injections
        assert other == ("src", IRRELEVANT_FAULT, "payload.unused") and c.irrelevant == "src"
        # the real fault lies downstream of the irrelevant change: "most upstream" is wrong
        assert "src" in ANCESTORS[real[0]] and c.culprits == (real[0],)
    for c in by["harmless"]:
        assert c.node is None and c.culprits == () and len(c.injections) == 1
    assert {c.injections[0][0] for c in by["shift"]} == {"src"}  # the only source
    assert {c.fault for c in by["shift"]} == {"shift:mean:3sd", "shift:scale:2", "shift:noise:2sd"}
    delays = [c for c in plan if c.fault == "delay:30"]
    assert delays and all(c.node != "tick" for c in delays)


def test_unknown_scenario_and_missing_irrelevant_changes() -> None:
    with pytest.raises(ExperimentError, match="unknown scenario 'triple'"):
        _plan(scenarios=["triple"])
    plan = _plan(irrelevant=[])  # nothing irrelevant found: those classes are left out
    assert {c.scenario for c in plan} == {"single", "double", "shift", "no_fault"}


class TruthLab:
    """Records which nodes are faulted; ours blames the faulted nodes that reach the target
    (not the irrelevant leaf); the 'upstream' baseline names every changed node, upstream
    first, as the heuristic does."""

    def __init__(self) -> None:
        self.active: list[tuple[str, Fault]] = []
        self.runs: dict[str, list[tuple[str, Fault]]] = {}

    def record(self, run: str, seconds: float) -> None:
        self.runs[run] = list(self.active)

    def inject(self, node: str, fault: Fault, *, seed: int) -> None:
        self.active.append((node, fault))
        self.injected_field = fault.field

    def restore(self) -> None:
        self.active = []

    def aliases(self, node: str) -> list[str]:
        return [node]

    def attribute(
        self, baseline: str, incident: str, target: str, *, metric: str, seed: int
    ) -> LabAttribution:
        faults = self.runs[incident]
        real = [n for n, f in faults if f.field != "payload.unused"]
        changed = sorted({n for n, _ in faults}, key=ORDER.index)
        return LabAttribution(
            ranking=[(n, 1.0, 0.5, 1.5) for n in real] + [("gen", 0.0, 0.0, 0.0)],
            blamed=real,
            baselines={"most_upstream": changed},
            baseline_blamed={"most_upstream": changed},
            symptom=bool(real),
            seconds=0.25,
        )


def test_classes_score_ours_and_the_baselines(tmp_path: Path) -> None:
    plan = _plan()
    result = run_campaign(TruthLab(), plan, target="out", seconds=1.0,
                          state_path=tmp_path / "s.json")  # fmt: skip
    summary = result.summary()
    classes = summary["classes"]
    assert set(classes) == {*SCENARIOS, "no_fault"}
    assert classes["single"]["ac1"] == 1.0 and classes["single"]["score"] == 1.0
    assert classes["double"]["both_top3"] == 1.0
    assert classes["irrelevant"]["right"] == 1.0
    assert classes["irrelevant"]["irrelevant_not_blamed"] == 1.0
    assert classes["harmless"]["specificity"] == 1.0 and classes["no_fault"]["specificity"] == 1.0
    upstream = {k: v["baselines"]["upstream"] for k, v in classes.items()}
    assert upstream["single"]["ac1"] == 1.0
    # the irrelevant change is upstream of the real fault: the heuristic names it first
    assert upstream["irrelevant"]["ac1"] == 0.0 and upstream["irrelevant"]["right"] == 0.0
    assert upstream["irrelevant"]["irrelevant_not_blamed"] == 0.0
    assert upstream["harmless"]["specificity"] == 0.0
    assert upstream["no_fault"]["specificity"] == 1.0
    case = next(c for c in result.cases if c.scenario == "irrelevant")
    assert case.irrelevant_blamed is False and case.culprit_ranks == {case.culprits[0]: 1}
    assert [row[2] for row in case.injections][1] == "payload.unused"
    assert summary["analysis_s_median"] == 0.25
    # the state file resumes a finished campaign without running anything again
    again = run_campaign(TruthLab(), plan, target="out", seconds=1.0,
                         state_path=tmp_path / "s.json")  # fmt: skip
    assert again.summary()["classes"] == classes


def test_the_report_lists_the_idle_ancestors(tmp_path: Path) -> None:
    import networkx as nx

    from nodered_causal.experiment.report import render_campaign

    plan = _plan(n_cases=1, n_no_fault=1)
    result = run_campaign(TruthLab(), plan, target="out", seconds=1.0)
    graph = nx.DiGraph([("tick", "src"), ("src", "gen"), ("gen", "calib"), ("calib", "out"),
                        ("button", "calib")])  # fmt: skip
    page = render_campaign(graph, result, title="t", idle=["button"])
    assert "carried no traffic toward the target" in page and "button" in page
    assert "carried no traffic" not in render_campaign(graph, result, title="t")


def test_a_campaign_cut_by_its_time_budget_has_every_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nodered_causal.experiment.campaign as campaign

    plan = _plan()
    now = [1000.0]
    monkeypatch.setattr(campaign.time, "time", lambda: now[0])

    class Ticking(TruthLab):
        def record(self, run: str, seconds: float) -> None:
            super().record(run, seconds)
            now[0] += seconds

    # two recordings of 1 s per case: a 13 s budget lets 7 cases start (the last at t = 12)
    result = run_campaign(Ticking(), plan, target="out", seconds=1.0, stop_at=1013.0,
                          state_path=tmp_path / "s.json")  # fmt: skip
    done = [*result.cases, *result.no_fault]
    assert len(done) == 7
    # one of each of the six classes first, then the next single: an even share
    assert sorted(c.scenario for c in done) == sorted([*SCENARIOS, "no_fault", "single"])
    assert result.summary()["classes"]["single"]["n"] == 2
    # run again without a budget: it resumes and finishes, the same seven kept
    full = run_campaign(TruthLab(), plan, target="out", seconds=1.0,
                        state_path=tmp_path / "s.json")  # fmt: skip
    assert len(full.cases) + len(full.no_fault) == len(plan)
    assert {c.key for c in done} <= {c.key for c in [*full.cases, *full.no_fault]}


def test_a_combination_no_node_fits_is_skipped_not_the_end_of_the_class(tmp_path: Path) -> None:
    faults = ["bias:2sd", "drop:0.5", "delay:30", "shift:mean:3sd"]
    plan = _plan(faults=faults, n_cases=8)
    irrelevant = [c for c in plan if c.scenario == "irrelevant"]
    # the 4th kind (a shift) fits only src, where the irrelevant change goes: skipped each time
    assert len(irrelevant) == 8 and not any("shift" in str(c.fault) for c in irrelevant)
    assert len({c.key for c in plan}) == len(plan)
    # the cases before the first skip are the ones an older planner made (same keys, same rest)
    first = [c.key for c in irrelevant[:3]]
    assert first == [c.key for c in irrelevant if int(c.key[1:4]) < 3]
    # a campaign whose plan grew resumes from its state file; another plan does not
    small = [c for c in plan if not (c.scenario == "irrelevant" and int(c.key[1:4]) > 3)]
    run_campaign(TruthLab(), small, target="out", seconds=1.0, state_path=tmp_path / "s.json")
    lab = TruthLab()
    grown = run_campaign(lab, plan, target="out", seconds=1.0, state_path=tmp_path / "s.json")
    assert len(grown.cases) + len(grown.no_fault) == len(plan)
    assert len(lab.runs) == 2 * (len(plan) - len(small))  # only the new cases recorded
    with pytest.raises(ExperimentError, match="different campaign plan"):
        run_campaign(TruthLab(), _plan(seed=99), target="out", seconds=1.0,
                     state_path=tmp_path / "s.json")  # fmt: skip
