"""``nodered-causal graph --url`` against a real Node-RED with admin auth (4 and 5)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from nodered_causal.flows import load_flow, to_causal_dag
from nodered_causal.nodered import LocalNodeRed

pytestmark = pytest.mark.integration

FLOW = Path(__file__).resolve().parents[2] / "flows" / "sensor-pipeline.json"
RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.parametrize("version", ["4", "5"])
def test_graph_of_the_deployed_flows(version: str, run_cli: RunCli) -> None:
    expected = to_causal_dag(load_flow(FLOW))
    with LocalNodeRed(version, flows=FLOW, admin_auth=("admin", "graph-pw")) as nr:
        _, rev = nr.client.get_flows()
        ok = run_cli(
            "graph",
            "--url",
            nr.url,
            "--username",
            "admin",
            "--json",
            env={"NODERED_CAUSAL_NODERED_PASSWORD": "graph-pw"},
        )
        denied = run_cli(
            "graph",
            "--url",
            nr.url,
            "--username",
            "admin",
            env={"NODERED_CAUSAL_NODERED_PASSWORD": "wrong-pw"},
        )
        anonymous = run_cli("graph", "--url", nr.url)
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["graph"]["rev"] == rev
    assert sorted(n["id"] for n in data["nodes"]) == sorted(expected.nodes)
    assert sorted((e["source"], e["target"]) for e in data["edges"]) == sorted(expected.edges)
    assert denied.returncode == 2
    assert denied.stderr.startswith("AuthError: log in to ")
    assert "wrong username or password" in denied.stderr and "wrong-pw" not in denied.stderr
    assert anonymous.returncode == 2
    assert "admin auth is on: give a token or username/password" in anonymous.stderr
