"""`nodered-causal demo` as a newcomer runs it: the whole loop, and a clean stop on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_demo_names_the_injected_node_and_writes_the_report(run_cli: Any, tmp_path: Path) -> None:
    proc = run_cli(
        "demo", "--seconds", "8", "--store", str(tmp_path / "runs.db"),
        "--report", str(tmp_path / "report.html"), "--json", timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    case = out["cases"][0]
    assert out["target"] == "bt_score" and case["fault"] == "bias:3"
    assert case["rank_of_true"] == 1, case
    assert out["no_fault"][0]["blamed"] == []
    assert Path(out["report"]).read_text().count('class="node"') >= 18
    assert Path(out["png"]).read_bytes()[:4] == b"\x89PNG"
    for step in ("starting", "recording", "[1/2] injected bias:3", "[2/2] no fault"):
        assert step in proc.stderr, step


def test_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nodered_causal", "demo", "--seconds", "30", "--store",
         str(tmp_path / "runs.db"), "--report", str(tmp_path / "r.html")],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 180
    while "recording f000" not in seen and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    running = re.search(r"running at (http://127\.0\.0\.1:\d+) \((\S+)\)", seen)
    assert running and "recording f000" in seen, seen
    url, user_dir = running.group(1), Path(running.group(2))
    assert requests.get(url + "/flows", timeout=5).status_code == 200
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/flows", timeout=5)  # Node-RED is gone
    assert not user_dir.exists()  # its temporary userDir too
    assert not (tmp_path / "r.html").exists()  # no half-written report
