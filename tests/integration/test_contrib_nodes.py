"""Contrib nodes on the managed Node-RED: ``--install node-red-dashboard`` (real npm, cached),
the bundled quake dashboard flow under ``experiment`` and ``nodered start``, and the one
missing-types error before anything starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from nodered_causal.nodered.runtime import install_plugins

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
QUAKE = REPO / "flows" / "quake-dashboard.json"
DASHBOARD = "node-red-dashboard@3"
MISSING = (
    "MissingNodeTypesError: {flow} uses node types that neither Node-RED 4 nor the installed "
    "modules provide: ui_chart, ui_gauge, ui_group, ui_tab, ui_text (node-red-dashboard). "
    "Nothing was started; add --install node-red-dashboard\n"
)


def test_modules_install_once_into_the_cache(tmp_path: Path) -> None:
    install_plugins([], tmp_path / "a", modules=[DASHBOARD])
    chart = Path("node_modules", "node-red-dashboard", "nodes", "ui_chart.js")
    t0 = time.monotonic()
    install_plugins([], tmp_path / "b", modules=[DASHBOARD])
    assert time.monotonic() - t0 < 5  # no npm: hard links from the cache
    assert (tmp_path / "a" / chart).stat().st_ino == (tmp_path / "b" / chart).stat().st_ino
    manifest = json.loads((tmp_path / "b" / "package.json").read_text())
    assert manifest["dependencies"]["node-red-dashboard"].startswith("~3.")


def test_experiment_without_install_names_the_missing_types(
    run_cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    proc = run_cli("experiment", str(QUAKE), "--target", "qk_chart", "--cases", "1",
                   "--no-fault-cases", "0", "--seconds", "1", "-o", str(out))  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.endswith(MISSING.format(flow=QUAKE))
    assert not out.exists() and not out.with_suffix(".db").exists()


def test_experiment_runs_the_dashboard_flow_with_install(
    run_cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    proc = run_cli("experiment", str(QUAKE), "--target", "qk_chart", "--install", DASHBOARD,
                   "--cases", "1", "--faults", "delay:300", "--no-fault-cases", "0",
                   "--seconds", "2", "-o", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    data: dict[str, Any] = json.loads(out.read_text())
    (case,) = data["cases"]
    assert case["fault"] == "delay:300" and case["metric"] == "all"  # every signal at once
    ranked = [r[0] for r in case["ranking"]]
    # every ancestor of the chart got records (the dashboard node received the quakes)
    assert {"qk_build", "qk_delay", "qk_split", "qk_fetch"} <= set(ranked)
    assert case["node"] in ranked and case["rank_in_ranking"] is not None
    assert data["summary"]["n_cases"] == 1


def test_nodered_start_serves_the_dashboard(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nodered_causal",
            "nodered",
            "start",
            "--flow",
            str(QUAKE),
            "--install",
            DASHBOARD,
            "--json",
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        url = info["url"]
        nodes = requests.get(f"{url}/nodes", headers={"Accept": "application/json"}, timeout=10)
        modules = {n["module"] for n in nodes.json()}
        assert "node-red-dashboard" in modules
        assert requests.get(f"{url}/ui/", timeout=10).status_code == 200
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    log = Path(info["user_dir"]) / "node-red.log"
    assert not log.exists()  # the throw-away userDir is gone
