"""Fault injection on a live Node-RED through the tap plugin; exact restore, also after a crash."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from nodered_causal.errors import TapError, UnknownNodeError
from nodered_causal.faults.inject import FaultInjector, state_path
from nodered_causal.faults.spec import parse_fault
from nodered_causal.nodered.runtime import PLUGIN_DIR, LocalNodeRed

pytestmark = pytest.mark.integration

FLOW: list[dict[str, Any]] = [
    {"id": "t1", "type": "tab", "label": "Faults"},
    {"id": "tick", "type": "inject", "z": "t1", "name": "tick", "props": [{"p": "payload"}],
     "repeat": "0.02", "once": True, "onceDelay": "0.1", "payload": "10", "payloadType": "num",
     "x": 100, "y": 60, "wires": [["gain"]]},
    {"id": "gain", "type": "function", "z": "t1", "name": "gain",
     "func": "return {payload: msg.payload * 2};", "outputs": 1, "x": 260, "y": 60,
     "wires": [["keep"]]},
    {"id": "keep", "type": "function", "z": "t1", "name": "keep",
     "func": "const a = global.get('seen') || []; a.push(msg.payload);"
             " global.set('seen', a.slice(-500)); return msg;",
     "outputs": 1, "x": 420, "y": 60, "wires": [[]]},
    {"id": "get", "type": "http in", "z": "t1", "name": "", "url": "/seen", "method": "get",
     "x": 100, "y": 140, "wires": [["reply"]]},
    {"id": "reply", "type": "function", "z": "t1", "name": "reply",
     "func": "msg.payload = global.get('seen') || []; global.set('seen', []); return msg;",
     "outputs": 1, "x": 260, "y": 140, "wires": [["resp"]]},
    {"id": "resp", "type": "http response", "z": "t1", "name": "", "x": 420, "y": 140,
     "wires": []},
    # an object payload (the README's walk-through case) and a node that never sends
    {"id": "tick2", "type": "inject", "z": "t1", "props": [{"p": "payload"}], "repeat": "0.05",
     "once": True, "onceDelay": "0.1", "payload": "", "payloadType": "date", "x": 100, "y": 220,
     "wires": [["bill"]]},
    {"id": "bill", "type": "function", "z": "t1", "name": "bill", "outputs": 1,
     "func": "return {payload: {name: 'x', lines: [{qty: 2}], total: 5, tax: 1}};",
     "x": 260, "y": 220, "wires": [["sink"]]},
    {"id": "quiet", "type": "function", "z": "t1", "name": "quiet", "func": "return msg;",
     "outputs": 1, "x": 260, "y": 300, "wires": [["sink"]]},
    {"id": "sink", "type": "debug", "z": "t1", "active": False, "x": 420, "y": 220, "wires": []},
]  # fmt: skip


def _seen(url: str, wait: float = 0.5) -> list[float]:
    requests.get(url + "/seen", timeout=5)  # reset
    time.sleep(wait)
    return [float(v) for v in requests.get(url + "/seen", timeout=5).json()]


@pytest.fixture(scope="module")
def nodered() -> Any:
    with LocalNodeRed("4", flows=FLOW, plugins=[PLUGIN_DIR]) as nr:
        yield nr


def test_bias_applies_then_restore_is_exact(nodered: Any, tmp_path: Path) -> None:
    flows_before, rev_before = nodered.client.get_flows()
    assert set(_seen(nodered.url)) == {20.0}
    injector = FaultInjector(nodered.client, state_dir=tmp_path)
    doc = injector.inject("gain", parse_fault("bias:3"))
    assert doc["node"] == "gain" and doc["kind"] == "bias"
    assert injector.state_file.exists()  # kept until restore, for crash recovery
    assert set(_seen(nodered.url)) == {23.0}
    assert [f["node"] for f in injector.active()] == ["gain"]
    report = injector.restore()
    assert [f["node"] for f in report.removed] == ["gain"]
    assert report.flows_unchanged is True
    assert not injector.state_file.exists()
    assert set(_seen(nodered.url)) == {20.0}
    flows_after, rev_after = nodered.client.get_flows()
    assert rev_after == rev_before
    assert json.dumps(flows_after, sort_keys=True) == json.dumps(flows_before, sort_keys=True)


def test_drop_fraction_is_close_to_requested(nodered: Any, tmp_path: Path) -> None:
    injector = FaultInjector(nodered.client, state_dir=tmp_path)
    injector.inject("gain", parse_fault("drop:0.5"), seed=4)
    try:
        during = len(_seen(nodered.url, wait=1.0))
    finally:
        injector.restore()
    after = len(_seen(nodered.url, wait=1.0))
    assert after > 20
    assert 0.25 * after < during < 0.75 * after


def test_unknown_node_is_refused_and_leaves_nothing(nodered: Any, tmp_path: Path) -> None:
    injector = FaultInjector(nodered.client, state_dir=tmp_path)
    with pytest.raises(UnknownNodeError, match="cannot inject bias:1 at node 'nope'"):
        injector.inject("nope", parse_fault("bias:1"))
    assert injector.active() == []
    assert not injector.state_file.exists()


def test_restore_after_the_cli_was_killed(nodered: Any, run_cli: Any, tmp_path: Path) -> None:
    env = {"NODERED_CAUSAL_CACHE": str(tmp_path)}
    proc = run_cli("inject", "--url", nodered.url, "--node", "gain", "--fault", "scale:0.5",
                   "--json", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["kind"] == "scale"
    assert set(_seen(nodered.url)) == {10.0}
    # the process that injected is gone; a new one restores from the state on disk
    assert state_path(nodered.url, tmp_path / "faults").exists()
    proc = run_cli("restore", "--url", nodered.url, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["from_state_file"] is True and out["flows_unchanged"] is True
    assert [f["node"] for f in out["removed"]] == ["gain"]
    assert set(_seen(nodered.url)) == {20.0}


def test_instance_without_plugin_gives_clear_error(tmp_path: Path) -> None:
    with (
        LocalNodeRed("4", flows=FLOW) as nr,
        pytest.raises(TapError, match="has no causal-tap plugin"),
    ):
        FaultInjector(nr.client, state_dir=tmp_path).inject("gain", parse_fault("bias:1"))


def test_inject_proves_the_fault_applied(nodered: Any, run_cli: Any, tmp_path: Path) -> None:
    """Issue 12: scale:2 on a node whose payload is an object used to report 'injected' while
    the tap counted seen 113, applied 0. Now the field resolves to the first numeric leaf."""
    env = {"NODERED_CAUSAL_CACHE": str(tmp_path)}
    _, rev = nodered.client.get_flows()
    proc = run_cli("inject", "--url", nodered.url, "--node", "bill", "--fault", "scale:2",
                   "--json", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["field"] == "payload.total" and doc["applied"] >= 1
    assert run_cli("restore", "--url", nodered.url, env=env).returncode == 0
    text = run_cli("inject", "--url", nodered.url, "--node", "gain", "--fault", "bias:1", env=env)
    assert text.returncode == 0 and "injected bias:1 on payload at gain" in text.stdout
    assert "applied to" in text.stdout
    assert run_cli("restore", "--url", nodered.url, env=env).returncode == 0
    assert nodered.client.get_flows()[1] == rev


def test_a_fault_that_cannot_apply_is_removed_and_says_why(
    nodered: Any, run_cli: Any, tmp_path: Path
) -> None:
    env = {"NODERED_CAUSAL_CACHE": str(tmp_path)}
    faults = f"{nodered.url}/causal-tap/faults"
    proc = run_cli("inject", "--url", nodered.url, "--node", "bill", "--fault", "bias:1",
                   "--field", "payload", "--wait", "5", env=env)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "FaultNotAppliedError: fault bias:1 at node 'bill'" in proc.stderr
    assert (
        ", applied 0: payload is an object; numeric leaves: payload.total, payload.tax, "
        "payload.lines[0].qty); it was removed again" in proc.stderr
    )
    assert requests.get(faults, timeout=5).json()["faults"] == []
    assert not state_path(nodered.url, tmp_path / "faults").exists()
    quiet = run_cli("inject", "--url", nodered.url, "--node", "quiet", "--fault", "drop:1",
                    "--wait", "0.5", env=env)  # fmt: skip
    assert quiet.returncode == 1
    assert "(seen 0, applied 0: the node sent no message in 0.5 s" in quiet.stderr
    assert requests.get(faults, timeout=5).json()["faults"] == []
    unknown = run_cli("inject", "--url", nodered.url, "--node", "nope", "--fault", "bias:1",
                      env=env)  # fmt: skip
    assert unknown.returncode == 2 and unknown.stderr.startswith("UnknownNodeError: ")
