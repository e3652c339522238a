"""The bundled flows in flows/ are valid: core nodes only, self-driving, listed in flows/README.md,
parsed by the importer without warnings, and deployed on a real Node-RED 4 every node handles
messages, the sinks are reached and the log has no error.

Liveness is observed through Node-RED's own metric log events (``logging.console.metrics``): one
``node.<type>.receive`` / ``node.<type>.send`` line per message per node, with runtime ids.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodered_causal import config
from nodered_causal.experiment.bundled import MODULES
from nodered_causal.experiment.fixtures import flow_fixtures
from nodered_causal.nodered import LocalNodeRed
from nodered_causal.nodered.modules import module_hint

REPO = Path(__file__).resolve().parents[2]
FLOWS_DIR = REPO / "flows"
FLOW_FILES = sorted(FLOWS_DIR.glob("*.json"))
FLOW_IDS = [p.stem for p in FLOW_FILES]

#: Core Node-RED node types the bundled flows may use.
CORE_TYPES = {
    "tab", "subflow", "inject", "debug", "function", "change", "switch", "split", "join", "delay",
    "trigger", "link in", "link out", "link call", "junction", "catch", "mqtt in", "mqtt out",
    "mqtt-broker", "batch", "range", "http request", "json",
}  # fmt: skip
#: Startup warnings every fresh Node-RED 4 userDir prints; anything else is a failure.
BENIGN_WARNINGS = (
    "Projects disabled",
    "Using unencrypted credentials",
    "Encrypted credentials not found",
)
METRICS_SETTINGS = {"logging": {"console": {"level": "info", "metrics": True, "audit": False}}}
METRIC_RE = re.compile(r"\[metric\] (\{.*\})\s*$")


def _load(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text())
    assert isinstance(data, list)
    return data


def _flow_nodes(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nodes placed on a tab (not config nodes, not subflow internals)."""
    tabs = {n["id"] for n in nodes if n["type"] == "tab"}
    return [n for n in nodes if n.get("z") in tabs and "x" in n and "y" in n]


def _behind_catch(nodes: list[dict[str, Any]]) -> set[str]:
    """Ids only reachable from catch nodes: silent unless something fails."""
    by_id = {n["id"]: n for n in nodes}
    todo = [t for n in nodes if n["type"] == "catch" for port in n["wires"] for t in port]
    seen: set[str] = set()
    while todo:
        nid = todo.pop()
        if nid in seen or nid not in by_id:
            continue
        seen.add(nid)
        todo.extend(t for port in by_id[nid].get("wires", []) for t in port)
    return seen


def _readme_rows() -> dict[str, str]:
    """flow file name -> the README row's text."""
    rows = {}
    for line in (FLOWS_DIR / "README.md").read_text().splitlines():
        m = re.match(r"\|\s*`([\w.-]+\.json)`\s*\|(.*)", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


# --------------------------------------------------------------------------- static checks


def test_at_least_eight_flows_are_bundled() -> None:
    assert len(FLOW_FILES) >= 8, FLOW_IDS


@pytest.mark.parametrize("path", FLOW_FILES, ids=FLOW_IDS)
def test_flow_uses_core_nodes_and_drives_itself(path: Path) -> None:
    nodes = _load(path)
    ids = [n["id"] for n in nodes]
    assert len(ids) == len(set(ids)), "duplicate ids"
    types = {n["type"] for n in nodes}
    unknown = {t for t in types if t not in CORE_TYPES and not t.startswith("subflow:")}
    # contrib nodes only from the modules the flow declares (bundled.MODULES, --install)
    declared = {m.split("@", 1)[0] for m in MODULES.get(path.stem, ())}
    unknown = {t for t in unknown if module_hint(t) not in declared}
    assert not unknown, f"non-core node types {unknown}"
    injects = [n for n in nodes if n["type"] == "inject"]
    assert injects, "no source"
    for n in injects:
        assert n["once"] is True
        assert 0.02 <= float(n["repeat"]) <= 0.05, f"{n['id']} repeats every {n['repeat']} s"
    assert any(n["type"] == "debug" for n in nodes), "no debug sink"
    known = set(ids)
    for n in nodes:
        for port in n.get("wires", []):
            assert set(port) <= known, f"{n['id']} wires to a missing node"


def test_flows_cover_the_structures_experiments_need() -> None:
    everything = [n for p in FLOW_FILES for n in _load(p)]
    types = Counter(n["type"] for n in everything)
    for needed in ("switch", "join", "split", "junction", "link in", "link out", "link call",
                   "mqtt in", "mqtt out", "delay", "trigger", "catch", "subflow", "batch",
                   "range"):  # fmt: skip
        assert types[needed] > 0, f"no flow has a {needed} node"
    assert any(t.startswith("subflow:") for t in types)
    fan_out = [n["id"] for n in everything if any(len(port) > 1 for port in n.get("wires", []))]
    assert fan_out
    objects = [n for n in everything if n["type"] == "function" and "payload = {" in n["func"]]
    assert len(objects) >= 3
    # a rate limit (delay in rate mode), a sliding window (batch with overlap), a switch on
    # value ranges with more than two outputs
    assert any(n["type"] == "delay" and n["pauseType"] == "rate" for n in everything)
    assert any(n["type"] == "batch" and int(n["overlap"]) > 0 for n in everything)
    assert any(n["type"] == "switch" and n["outputs"] >= 3 for n in everything)


@pytest.mark.parametrize("path", FLOW_FILES, ids=FLOW_IDS)
def test_flow_has_a_default_target(path: Path) -> None:
    from nodered_causal.experiment.bundled import TARGETS

    row = _readme_rows()[path.name]
    assert TARGETS.get(path.stem) == re.findall(r"`(\w+)`", row.split("|")[1])[0]


@pytest.mark.parametrize("path", FLOW_FILES, ids=FLOW_IDS)
def test_readme_lists_flow_with_an_existing_target(path: Path) -> None:
    row = _readme_rows().get(path.name)
    assert row is not None, f"{path.name} has no line in flows/README.md"
    cells = [c.strip() for c in row.split("|")]
    targets = re.findall(r"`(\w+)`", cells[1])
    assert targets, f"no --target in {row}"
    ids = {n["id"] for n in _load(path)}
    assert set(targets) <= ids, f"README targets {targets} not all in {path.name}"
    nodes = _flow_nodes(_load(path))
    assert any(n["id"] == targets[0] and n["type"] not in ("debug", "inject") for n in nodes)


def test_mqtt_flow_takes_broker_and_topic_from_the_environment() -> None:
    nodes = _load(FLOWS_DIR / "pump-telemetry-mqtt.json")
    tab = next(n for n in nodes if n["type"] == "tab")
    env_values = " ".join(e["value"] for e in tab["env"])
    assert config.FLOW_MQTT_PREFIX.name in env_values
    assert config.FLOW_MQTT_BROKER.name in env_values
    broker = next(n for n in nodes if n["type"] == "mqtt-broker")
    assert broker["broker"] == "${MQTT_BROKER}"
    assert {n["topic"] for n in nodes if n["type"] in ("mqtt in", "mqtt out")} == {"${MQTT_TOPIC}"}


@pytest.mark.parametrize("path", FLOW_FILES, ids=FLOW_IDS)
def test_importer_parses_without_warnings(path: Path) -> None:
    flows = pytest.importorskip("nodered_causal.flows")
    if not hasattr(flows, "load_flow"):
        pytest.skip("importer (nodered_causal.flows.load_flow) not on this branch yet")
    flow = flows.load_flow(path)
    assert list(flow.warnings) == []
    dag = flows.to_causal_dag(flow)
    sinks = {n["id"] for n in _load(path) if n["type"] == "debug"}
    assert sinks <= set(dag.nodes)


#: flow -> (target, (ancestor, payload leaf the target never reads), nodes off the target's path
#: fed by its sources): the places for an "irrelevant" change (flows/README.md, notes).
IRRELEVANT = {
    "line-merge": ("lm_heater", ("lm_scan", "door_open"), ["lm_door", "lm_uniformity"]),
    "quality-routing": ("qr_dose", ("qr_stamp", "ambient_c"), ["qr_rework"]),
    "sensor-retry": ("sr_volume", ("sr_poll", "temp_c"), ["sr_giveup", "sr_offline"]),
}


@pytest.mark.parametrize("name", sorted(IRRELEVANT))
def test_flow_has_a_change_the_target_does_not_see(name: str) -> None:
    import networkx as nx

    flows = pytest.importorskip("nodered_causal.flows")
    path = FLOWS_DIR / f"{name}.json"
    target, (node, leaf), off_path = IRRELEVANT[name]
    dag = flows.to_causal_dag(flows.load_flow(path))
    ancestors = nx.ancestors(dag, target)
    by_id = {n["id"]: n for n in _load(path)}
    assert node in ancestors
    assert leaf in by_id[node]["func"]
    # no function between the node and the target (nor the target) reads the leaf
    between = (nx.descendants(dag, node) & ancestors) | {target}
    readers = {n for n in between if leaf in by_id[n].get("func", "")}
    assert not readers, f"{sorted(readers)} read {leaf}"
    for other in off_path:
        assert other not in ancestors
        assert nx.ancestors(dag, other) & ancestors, f"{other} is not fed by the target's sources"


# --------------------------------------------------------------------------- on Node-RED


class _Metrics:
    """Per-node message counts parsed from a Node-RED log with metrics on."""

    def __init__(self, log: str) -> None:
        self.active: Counter[str] = Counter()
        for line in log.splitlines():
            m = METRIC_RE.search(line)
            if m:
                event = json.loads(m.group(1))
                if event["event"].endswith((".receive", ".send")):
                    self.active[event["nodeid"]] += 1

    def silent(self, ids: set[str]) -> set[str]:
        return {i for i in ids if self.active[i] == 0}


def _problems(log: str) -> list[str]:
    return [
        line
        for line in log.splitlines()
        if ("[error]" in line or "[warn]" in line) and not any(b in line for b in BENIGN_WARNINGS)
    ]


@pytest.fixture
def mqtt_messages(mqtt_prefix: str) -> Iterator[list[dict[str, Any]]]:
    """Payloads published under the test's prefix, collected by a paho subscriber."""
    import paho.mqtt.client as mqtt

    received: list[dict[str, Any]] = []
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *_: c.subscribe(f"{mqtt_prefix}/#", qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, m: received.append(json.loads(m.payload))
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    try:
        assert subscribed.wait(10), "could not subscribe on 127.0.0.1:1883"
        yield received
    finally:
        client.loop_stop()
        client.disconnect()


@pytest.mark.integration
@pytest.mark.parametrize("path", FLOW_FILES, ids=FLOW_IDS)
def test_flow_runs_on_node_red(
    path: Path, mqtt_prefix: str, mqtt_messages: list[dict[str, Any]]
) -> None:
    nodes = _load(path)
    quiet = _behind_catch(nodes) | {n["id"] for n in nodes if n["type"] == "catch"}
    expected = {n["id"] for n in _flow_nodes(nodes)} - quiet
    env = {config.FLOW_MQTT_PREFIX.name: mqtt_prefix}
    modules = MODULES.get(path.stem, ())
    with (
        flow_fixtures(path) as fixture_env,
        LocalNodeRed(
            "4", flows=nodes, settings=METRICS_SETTINGS, env={**env, **fixture_env},
            modules=modules,
        ) as nr,
    ):  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            metrics = _Metrics(nr.log_text())
            silent = metrics.silent(expected)
            if not silent or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        log = nr.log_text()
    assert not silent, f"nodes that never handled a message: {sorted(silent)}"
    assert not _problems(log), "\n".join(_problems(log))
    if any(n["type"] == "mqtt out" for n in nodes):
        # the flow published under the test's own prefix, through the real broker
        assert mqtt_messages, f"nothing published under {mqtt_prefix}/#"
        first = mqtt_messages[0]
        assert set(first) == {"rpm", "flow_lpm", "pressure_bar", "power_kw", "station"}
        assert first["station"] == 7
        assert 1300 < first["rpm"] < 1600
