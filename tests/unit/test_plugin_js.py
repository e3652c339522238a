"""The tap plugin's pure-JavaScript tests (plugin/test/*.test.js, Node's built-in runner)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from nodered_causal.nodered.runtime import PLUGIN_DIR


def test_plugin_js_unit_tests() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH")
    proc = subprocess.run(
        [node, "--test", "test/"],
        cwd=PLUGIN_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout
