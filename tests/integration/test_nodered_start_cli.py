"""``nodered-causal nodered start`` as a user runs it: start, use the API, Ctrl-C, clean exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

FLOW = [
    {"id": "t1", "type": "tab", "label": "CLI"},
    {"id": "i1", "type": "inject", "z": "t1", "x": 100, "y": 60, "props": [], "wires": [[]]},
]
TAP_FLOW = [
    FLOW[0],
    {**FLOW[1], "wires": [["d1"]]},
    {"id": "d1", "type": "debug", "z": "t1", "x": 300, "y": 60, "active": False, "wires": []},
]


@pytest.mark.parametrize("version", ["4", "5"])
def test_start_serves_flows_and_stops_cleanly_on_sigint(version: str, tmp_path: Path) -> None:
    flows = tmp_path / "flows.json"
    flows.write_text(json.dumps(FLOW))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "nodered_causal", "nodered", "start", "--nodered-version"]
    cmd.append(version)
    proc = subprocess.Popen(
        [*cmd, "--flow", str(flows), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["url"] == f"http://127.0.0.1:{info['port']}"
        assert info["version"].startswith(f"{version}.")
        user_dir = Path(info["user_dir"])
        assert user_dir.is_dir()
        resp = requests.get(f"{info['url']}/flows", timeout=10)
        assert resp.json() == FLOW
        assert requests.post(f"{info['url']}/inject/i1", timeout=10).status_code == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert err.strip().endswith("stopped")
    assert not user_dir.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(info["url"], timeout=2)


@pytest.mark.skipif(
    not (REPO / "plugin" / "package.json").exists(), reason="plugin/ is not on this branch yet"
)
def test_tap_option_loads_the_plugin_and_records_arrive(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    batches: list[list[dict[str, Any]]] = []

    def collect(request: Request) -> Response:
        batches.append(json.loads(request.get_data()))
        return Response("", status=204)

    httpserver.expect_request("/v1/records", method="POST").respond_with_handler(collect)
    collector = httpserver.url_for("/").rstrip("/")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "nodered_causal", "nodered", "start", "--json"]
    flows = tmp_path / "flows.json"
    flows.write_text(json.dumps(TAP_FLOW))
    proc = subprocess.Popen(
        [*cmd, "--flows", str(flows), "--tap", collector, "--tap-instance", "cli-smoke"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert requests.post(f"{info['url']}/inject/i1", timeout=10).status_code == 200
        deadline = time.monotonic() + 20
        delivers: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not delivers:
            delivers = [r for b in batches for r in b if r.get("kind") == "deliver"]
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "warning: --flows is deprecated: use --flow" in err  # the old spelling still works
    assert [(r["tap"], r["src"], r["port"], r["dst"]) for r in delivers] == [
        ("cli-smoke", "i1", 0, "d1")
    ]
