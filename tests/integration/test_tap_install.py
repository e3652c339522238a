"""Installing the plugin the two ways a user would: into a userDir, or through the Admin API."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from nodered_causal.nodered.runtime import LocalNodeRed

pytestmark = pytest.mark.integration

FLOW = [
    {"id": "t", "type": "tab", "label": "T"},
    {"id": "a", "type": "inject", "z": "t", "repeat": "0.05", "once": True, "payload": "1",
     "payloadType": "num", "x": 100, "y": 40, "wires": [["b"]]},
    {"id": "b", "type": "debug", "z": "t", "active": False, "x": 300, "y": 40, "wires": []},
]  # fmt: skip


def _stats(run_cli: Any, url: str) -> dict[str, Any]:
    proc = run_cli("tap", "status", "--url", url)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_install_into_a_userdir_then_start(run_cli: Any, tmp_path: Path) -> None:
    user_dir = tmp_path / "nr"
    user_dir.mkdir()
    proc = run_cli("tap", "install", "--user-dir", str(user_dir), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["restart_needed"] is True
    assert json.loads(proc.stdout)["user_dir"] == str(user_dir)
    manifest = json.loads((user_dir / "package.json").read_text())
    tgz = "nodered-causal-node-red-causal-tap-0.1.0.tgz"  # kept in the userDir, not the cache
    assert manifest["dependencies"]["@nodered-causal/node-red-causal-tap"] == f"file:{tgz}"
    assert (user_dir / tgz).is_file()
    assert (user_dir / "node_modules" / "mqtt" / "package.json").exists()  # deps installed
    with LocalNodeRed("4", flows=FLOW, user_dir=user_dir) as nr:
        time.sleep(1.5)
        stats = _stats(run_cli, nr.url)
        assert stats["recorded"] > 0, stats


def test_install_through_the_admin_api(run_cli: Any) -> None:
    with LocalNodeRed("4", flows=FLOW) as nr:
        missing = run_cli("tap", "status", "--url", nr.url)
        assert missing.returncode == 1
        assert "has no causal-tap plugin" in missing.stderr
        proc = run_cli("tap", "install", "--url", nr.url)
        assert proc.returncode == 0, proc.stderr
        assert "installed nodered-causal-node-red-causal-tap-0.1.0.tgz" in proc.stdout
        assert _stats(run_cli, nr.url)["boot"]
