from __future__ import annotations

import json
from pathlib import Path

import pytest

from nodered_causal.errors import ExperimentError
from nodered_causal.experiment.campaign import (
    CaseSpec,
    LabAttribution,
    plan_cases,
    run_campaign,
)
from nodered_causal.faults.spec import Fault

CANDIDATES = [
    ("tick", "inject", True),
    ("src", "function", True),
    ("gen", "function", False),
    ("calib", "function", False),
    ("j1", "junction", False),
    ("route", "switch", False),
]


class FakeLab:
    """Blames the faulted node (or ``wrong`` instead, for the listed case seeds)."""

    def __init__(
        self,
        wrong_seeds: set[int] = frozenset(),
        fail_at: int | None = None,
        quiet_seeds: set[int] = frozenset(),
    ) -> None:
        self.quiet_seeds = quiet_seeds  # faults that do not show at the target: nothing blamed
        self.active: tuple[str, Fault] | None = None
        self.runs: dict[str, str | None] = {}
        self.calls: list[str] = []
        self.wrong_seeds = wrong_seeds
        self.fail_at = fail_at

    def record(self, run: str, seconds: float) -> None:
        self.calls.append(f"record {run}")
        self.runs[run] = self.active[0] if self.active else None

    def inject(self, node: str, fault: Fault, *, seed: int) -> None:
        self.calls.append(f"inject {node} {fault}")
        injections = sum(1 for c in self.calls if c.startswith("inject"))
        if self.fail_at is not None and injections > self.fail_at:
            raise KeyboardInterrupt
        self.active = (node, fault)

    def aliases(self, node: str) -> list[str]:
        return [node]

    def restore(self) -> None:
        self.calls.append("restore")
        self.active = None

    def attribute(
        self, baseline: str, incident: str, target: str, *, metric: str, seed: int
    ) -> LabAttribution:
        culprit = self.runs[incident]
        if culprit is None:
            return LabAttribution(ranking=[("gen", 0.01, -0.1, 0.1)], blamed=[])
        if seed in self.quiet_seeds:
            return LabAttribution(ranking=[("gen", 0.0, 0.0, 0.0)], blamed=[], symptom=False)
        if seed in self.wrong_seeds:
            culprit = "route" if culprit != "route" else "gen"
        ranking = [(culprit, 1.0, 0.8, 1.2), ("src", 0.1, -0.1, 0.2)]
        return LabAttribution(
            ranking=ranking,
            blamed=[culprit],
            baselines={"marginal_shift": ["src", culprit]},
            symptom=True,
        )


def test_plan_is_reproducible_and_respects_kinds() -> None:
    plan = plan_cases(
        CANDIDATES, n_cases=8, faults=["bias:2", "shift:mean:3"], n_no_fault=3, seed=7
    )
    again = plan_cases(
        CANDIDATES, n_cases=8, faults=["bias:2", "shift:mean:3"], n_no_fault=3, seed=7
    )
    assert plan == again
    faulted = [c for c in plan if c.node]
    assert len(faulted) == 8 and len(plan) == 11
    assert all(c.node == "src" for c in faulted if c.fault == "shift:mean:3")
    assert "j1" not in {c.node for c in faulted}  # pass-through nodes are never faulted
    assert {c.node for c in faulted if c.fault == "bias:2"} == {"src", "gen", "calib", "route"}
    assert {c.metric for c in plan} == {"all"}  # every signal at once, whatever the fault
    noisy = plan_cases(
        CANDIDATES, n_cases=1, faults=["noise:1"], n_no_fault=0, seed=7, metric="per-fault"
    )
    assert noisy[0].metric == "value_p95"
    drops = plan_cases(CANDIDATES, n_cases=5, faults=["drop:0.5"], n_no_fault=0, seed=7)
    assert {c.node for c in drops} == {"tick", "src", "gen", "calib", "route"}  # injects too
    for seed in range(20):  # kinds with different eligible nodes never share a draw
        mixed = plan_cases(CANDIDATES, n_cases=8, faults=["drop:0.5", "delay:9"], n_no_fault=0,
                           seed=seed)  # fmt: skip
        assert "tick" not in {c.node for c in mixed if c.fault == "delay:9"}, seed


def test_delay_never_goes_to_a_node_without_inputs() -> None:
    plan = plan_cases(
        CANDIDATES, n_cases=12, faults=["delay:30", "bias:1"], n_no_fault=0, seed=4, roots=["src"]
    )
    delayed = {c.node for c in plan if c.fault == "delay:30"}
    assert "src" not in delayed and delayed == {"gen", "calib", "route"}
    assert "src" in {c.node for c in plan if c.fault == "bias:1"}  # other kinds still go there


def test_plan_without_candidates_is_an_error() -> None:
    with pytest.raises(ExperimentError, match="no node to fault"):
        plan_cases([("j", "junction", False)], n_cases=1, faults=["bias"], n_no_fault=0, seed=0)


def test_campaign_scores_hits_misses_and_specificity(tmp_path: Path) -> None:
    plan = plan_cases(CANDIDATES, n_cases=4, faults=["bias:2", "drop:0.5"], n_no_fault=2, seed=1)
    wrong = {plan[0].seed}
    lab = FakeLab(wrong_seeds=wrong)
    result = run_campaign(lab, plan, target="out", seconds=1.0, state_path=tmp_path / "s.json")
    summary = result.summary()
    assert summary["n_cases"] == 4 and summary["n_no_fault"] == 2
    assert summary["ac1"] == 0.75
    assert summary["specificity"] == 1.0
    assert result.cases[0].rank_of_true is None  # the wrong node alone was blamed
    # the fake ranks "src" second behind a wrong culprit: in the full ranking the true node is
    # then 2nd if it is src, absent otherwise; the right cases rank it 1st
    first = result.cases[0]
    assert first.rank_in_ranking == (2 if first.node == "src" else None)
    assert [c.rank_in_ranking for c in result.cases[1:]] == [1, 1, 1]
    assert summary["ac1_ranked"] == 0.75
    assert summary["ac3_ranked"] == (1.0 if first.node == "src" else 0.75)
    assert result.cases[1].metric == "all"
    # every injection is followed by a restore, before attribution
    assert lab.calls.count("restore") == sum(1 for c in lab.calls if c.startswith("inject"))
    data = result.to_json(flow="f.json")
    assert data["flow"] == "f.json" and data["summary"]["ac1"] == 0.75
    assert data["cases"][1]["ranking"][0][0] == plan[1].node
    # the fake marginal baseline ranks "src" first: right exactly when src was faulted
    src_share = sum(c.node == "src" for c in plan if c.node) / 4
    assert summary["baselines"]["marginal"]["ac1"] == src_share


def test_faults_that_did_not_show_at_the_target_are_scored_apart() -> None:
    plan = plan_cases(CANDIDATES, n_cases=5, faults=["bias:2"], n_no_fault=0, seed=2)
    seeds = [c.seed for c in plan]
    lab = FakeLab(wrong_seeds={seeds[0]}, quiet_seeds={seeds[1], seeds[2]})
    summary = run_campaign(lab, plan, target="out", seconds=1.0).summary()
    assert summary["ac1"] == 0.4  # 2 of 5: one wrong, two quiet
    assert summary["n_symptom"] == 3
    assert summary["ac1_symptom"] == pytest.approx(2 / 3)  # of the 3 that showed, 2 right
    assert summary["ac3_symptom"] == pytest.approx(2 / 3)


def test_interrupted_campaign_resumes_without_redoing_cases(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    plan = plan_cases(CANDIDATES, n_cases=4, faults=["bias:2"], n_no_fault=1, seed=3)
    with pytest.raises(KeyboardInterrupt):
        run_campaign(FakeLab(fail_at=2), plan, target="t", seconds=1, state_path=state)
    done = json.loads(state.read_text())["done"]
    # in turns over the classes (fault, no-fault, fault, ...): the third injection failed
    assert [d["key"] for d in done] == [plan[0].key, plan[-1].key, plan[1].key]
    lab = FakeLab()
    result = run_campaign(lab, plan, target="t", seconds=1, state_path=state)
    assert sum(1 for c in lab.calls if c.startswith("inject")) == 2  # only the missing ones
    assert [c.key for c in result.cases] == [c.key for c in plan if c.node]


def test_state_of_another_plan_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"plan": ["other"], "done": []}))
    plan = [CaseSpec("n000", None, None, 1)]
    with pytest.raises(ExperimentError, match="different campaign plan"):
        run_campaign(FakeLab(), plan, target="t", seconds=1, state_path=state)


def test_campaign_report_colours_hits_and_lists_every_case(tmp_path: Path) -> None:
    import networkx as nx

    from nodered_causal.experiment.report import campaign_blame, write_campaign_report

    g = nx.DiGraph()
    for i, (node, _, _) in enumerate(CANDIDATES):
        g.add_node(node, name=node, type="function", tab="Main", x=100 + 160 * i, y=60)
    g.add_edges_from([("src", "gen"), ("gen", "calib"), ("calib", "j1"), ("j1", "route")])
    plan = plan_cases(CANDIDATES, n_cases=4, faults=["bias:2"], n_no_fault=1, seed=2)
    result = run_campaign(FakeLab(wrong_seeds={plan[0].seed}), plan, target="route", seconds=1)
    blame = campaign_blame(result)
    assert blame[plan[0].node].score == 0.0 and not blame[plan[0].node].blamed
    assert blame[plan[1].node].score == 1.0 and blame[plan[1].node].blamed
    page, png = write_campaign_report(g, result, tmp_path / "r.html", title="t")
    text = page.read_text()
    assert text.count("<details>") == 5
    assert text.count('<tr class="miss">') == 1 and text.count('<tr class="hit">') == 4
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_campaign_report_without_graphviz_still_writes_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import networkx as nx

    import nodered_causal.report.write as write
    from nodered_causal.experiment.report import write_campaign_report

    monkeypatch.setattr(write.shutil, "which", lambda name: None)
    g = nx.DiGraph([("src", "gen")])
    plan = plan_cases(CANDIDATES, n_cases=1, faults=["bias:2"], n_no_fault=0, seed=2)
    result = run_campaign(FakeLab(), plan, target="route", seconds=1)
    page, png = write_campaign_report(g, result, tmp_path / "r.html", title="t")
    assert png is None and page.exists()
    assert not (tmp_path / "r.png").exists()


def test_a_fault_no_node_can_take_is_left_out_of_the_plan(caplog: pytest.LogCaptureFixture) -> None:
    # an mqtt in feeding the target: nothing receives a message, so no delay can show
    cands = [("tick", "inject", True), ("sub", "mqtt in", True)]
    roots = ["tick", "sub"]
    plan = plan_cases(cands, n_cases=4, faults=["delay:30", "bias:1"], n_no_fault=0, seed=1,
                      roots=roots)  # fmt: skip
    assert [c.fault for c in plan] == ["bias:1"] * 4 and {c.node for c in plan} == {"sub"}
    assert "'delay:30' needs a node that receives messages" in caplog.text
    with pytest.raises(ExperimentError, match="no fault of delay:30 fits a node"):
        plan_cases(cands, n_cases=1, faults=["delay:30"], n_no_fault=0, seed=1, roots=roots)


def test_campaign_answer_for_the_editor_speaks_in_words() -> None:
    import networkx as nx

    from nodered_causal.experiment.report import campaign_answer

    g = nx.DiGraph()
    for node, _, _ in CANDIDATES:
        g.add_node(node, name=f"the {node}", type="function")
    plan = plan_cases(CANDIDATES, n_cases=4, faults=["bias:2"], n_no_fault=2, seed=2)
    result = run_campaign(FakeLab(wrong_seeds={plan[0].seed}), plan, target="route", seconds=1)
    answer = campaign_answer(g, result, flow="flows/x.json")
    assert answer.kind == "experiment" and answer.target_name == "the route"
    assert answer.verdict == (
        "Named the faulted node first in 3 of 4 fault cases (75%), among the first three in "
        f"{sum(c.rank_of_true is not None and c.rank_of_true <= 3 for c in result.cases)} "
        f"({sum(c.rank_of_true is not None and c.rank_of_true <= 3 for c in result.cases) / 4:.0%})"
        "; blamed nothing in 2 of 2 no-fault cases."
    )
    assert {r.name for r in answer.ranking} == {f"the {c.node}" for c in result.cases}
    assert answer.ranking[0].share == 1.0 and answer.ranking[-1].share == 0.0


def test_experiment_push_needs_url(run_cli) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("experiment", "flows/sensor-pipeline.json", "--target", "comfort", "--push")
    assert proc.returncode == 2  # a usage error, found before anything starts
    assert proc.stderr.startswith("UsageError: --push shows the result in the editor of --url")
