"""Open a real report in headless Chromium (Debian's package) and check what a person would see."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import networkx as nx
import pytest

from nodered_causal.report import Blame, render_html, write_atomic

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    path = shutil.which("chromium")
    assert path, "chromium missing: scripts/setup.sh --system installs Debian's chromium"
    return path


def _page(tmp_path: Path) -> Path:
    g = nx.DiGraph()
    for i in range(6):
        g.add_node(f"n{i}", name=f"node {i}", type="function", tab="Main", x=100 + 180 * i, y=80)
        if i:
            g.add_edge(f"n{i - 1}", f"n{i}", kind="wire", port=0)
    page = render_html(
        g,
        title="nodered-causal report",
        blame={"n3": Blame(2.0, 1.2, 2.8, True), "n1": Blame(0.1, -0.2, 0.3, False)},
        highlight=["n3"],
        summary={"ac1": 0.95, "specificity": 1.0},
        cases=[{"node": "n3", "fault": "bias:2", "rank_of_true": 1, "_class": "hit"}],
    )
    return write_atomic(tmp_path / "report.html", page)


def test_report_renders_every_node_and_the_summary(tmp_path: Path) -> None:
    page = _page(tmp_path)
    dom = subprocess.run(
        [_chromium(), *FLAGS, "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    rendered = re.search(r'data-rendered-nodes="(\d+)"', dom)
    assert rendered and int(rendered.group(1)) == 6, dom[-500:]
    assert "<td>specificity</td><td>1</td>" in dom
    assert 'data-id="n3" data-blamed="true"' in dom


def test_report_screenshot(tmp_path: Path) -> None:
    page = _page(tmp_path)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report-chromium.png"
    shot.unlink(missing_ok=True)
    subprocess.run(
        [_chromium(), *FLAGS, f"--screenshot={shot}", "--window-size=1280,900", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 900)
    assert len(data) > 10_000  # a blank page compresses to a few hundred bytes
