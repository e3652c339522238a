"""Scenario classes on a real flow (bottling-line on Node-RED 4 + tap + collector): a delay found
through the age of messages, an irrelevant change the heuristic blames but we do not, a harmless
change that blames nothing, and the survey that finds the irrelevant leaf in the first place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nodered_causal.experiment.campaign import run_campaign
from nodered_causal.experiment.plan import IRRELEVANT_FAULT, CaseSpec

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FLOW = REPO / "flows" / "bottling-line.json"
TARGET = "bt_score"
SECONDS = 8.0


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from nodered_causal.analysis import AttributionConfig
    from nodered_causal.collector.recording import snapshot_of
    from nodered_causal.collector.store import Store
    from nodered_causal.experiment.live import LiveLab, _free_port
    from nodered_causal.flows import load_flow, to_causal_dag
    from nodered_causal.nodered.runtime import PLUGIN_DIR, LocalNodeRed, tap_settings

    out = tmp_path_factory.mktemp("scenarios")
    port = _free_port()
    settings = tap_settings(f"http://127.0.0.1:{port}", flushMs=100)
    with (
        LocalNodeRed("4", flows=str(FLOW), plugins=[PLUGIN_DIR], settings=settings) as nr,
        Store(out / "s.db") as store,
    ):
        flows, rev = nr.client.get_flows()
        flow = load_flow(flows)
        runtime = to_causal_dag(flow)
        with LiveLab(
            nr.client, store, snapshot_of(flow, rev, runtime), to_causal_dag(flow, condensed=True),
            stream="scenarios", http=("127.0.0.1", port), target=TARGET,
            config=AttributionConfig(window_s=0.5),
        ) as live:  # fmt: skip
            live.restore()
            live.runtime = runtime
            yield live


def test_the_survey_finds_the_leaf_the_score_ignores(lab: Any) -> None:
    from nodered_causal.experiment.plan import PASS_THROUGH_TYPES
    from nodered_causal.experiment.survey import survey

    lab.record("survey", SECONDS)
    found = survey(lab.columns("survey"), lab.runtime, TARGET, pass_through=PASS_THROUGH_TYPES)
    # the line speed goes to its own sink; the score never reads it
    assert ("bt_sensors", "payload.speed_bpm") in found.irrelevant
    assert not any(leaf == "payload.fill_ml" for _, leaf in found.irrelevant)
    assert {"bt_sensors", "bt_fill", "bt_join"} <= set(found.active)
    assert "bt_speed" not in found.active  # not an ancestor of the score


def test_delay_irrelevant_and_harmless_cases(lab: Any) -> None:
    plan = [
        CaseSpec("delay", "bt_fill", "delay:30", 11, injections=(("bt_fill", "delay:30", None),),
                 culprits=("bt_fill",)),
        CaseSpec("irrelevant", "bt_pressure", "scale:2", 12, scenario="irrelevant",
                 injections=(("bt_pressure", "scale:2", None),
                             ("bt_sensors", IRRELEVANT_FAULT, "payload.speed_bpm")),
                 culprits=("bt_pressure",), irrelevant="bt_sensors"),
        CaseSpec("harmless", None, None, 13, scenario="harmless",
                 injections=(("bt_sensors", IRRELEVANT_FAULT, "payload.speed_bpm"),),
                 irrelevant="bt_sensors"),
    ]  # fmt: skip
    result = run_campaign(lab, plan, target=TARGET, seconds=SECONDS)
    (lab.store.path.parent / "result.json").write_text(json.dumps(result.to_json()))  # to debug
    delay, irrelevant, harmless = result.cases
    # a delay changes no value: only the age of the messages behind it shows it
    assert delay.blamed[:1] == ["bt_fill"], delay.ranking[:3]
    # the real fault first, the irrelevant change not blamed; "most upstream changed node"
    # names the irrelevant one (it is upstream of the fault), as it must by construction
    assert irrelevant.blamed[:1] == ["bt_pressure"] and not irrelevant.irrelevant_blamed
    assert irrelevant.injections[1][2] == "payload.speed_bpm"
    assert irrelevant.baseline_rankings["most_upstream"][0] == "bt_sensors"
    # the irrelevant change alone: nothing at the target moved, nothing is blamed
    assert harmless.blamed == [] and harmless.symptom is False
    classes = result.summary()["classes"]
    assert classes["irrelevant"]["right"] == 1.0
    assert classes["irrelevant"]["baselines"]["upstream"]["right"] == 0.0
    assert classes["harmless"]["specificity"] == 1.0
