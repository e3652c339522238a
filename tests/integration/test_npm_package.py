"""The npm package as Node-RED's packaging guidelines ask (a scoped name, LICENSE, repository,
``examples/``), made by ``tap pack`` and uploaded through the palette (``POST /nodes`` with the
tarball) into running Node-RED 4 and 5: it starts without a restart and its examples are the
bundled flows, listed under Import -> Examples."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from nodered_causal.nodered.runtime import LocalNodeRed
from tests.conftest import run_cli_process

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NAME = "@nodered-causal/node-red-causal-tap"
FLOW = [
    {"id": "t", "type": "tab", "label": "T"},
    {"id": "a", "type": "inject", "z": "t", "repeat": "0.1", "once": True, "payload": "1",
     "payloadType": "num", "x": 100, "y": 40, "wires": [["b"]]},
    {"id": "b", "type": "debug", "z": "t", "active": False, "x": 300, "y": 40, "wires": []},
]  # fmt: skip


@pytest.fixture(scope="module")
def tgz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pack") / "causal-tap.tgz"
    proc = run_cli_process("tap", "pack", "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"packed": str(out)}
    return out


def test_the_tarball_is_a_scoped_palette_package(tgz: Path) -> None:
    with tarfile.open(tgz) as tar:
        names = set(tar.getnames())
        meta = json.load(tar.extractfile("package/package.json"))  # type: ignore[arg-type]
        example = json.load(tar.extractfile("package/examples/bottling-line.json"))  # type: ignore[arg-type]
    assert meta["name"] == NAME
    assert meta["license"] == "Apache-2.0" and "package/LICENSE" in names
    assert meta["repository"]["url"].startswith("git+https://")
    assert "node-red" in meta["keywords"] and meta["node-red"]["plugins"] == {
        "causal-tap": "tap.js"
    }
    flows = sorted(p.name for p in (REPO / "flows").glob("*.json"))
    assert sorted(n.removeprefix("package/examples/") for n in names if "/examples/" in n) == flows
    assert example == json.loads((REPO / "flows" / "bottling-line.json").read_text())
    assert not any("/test/" in n or "node_modules" in n for n in names)


@pytest.mark.parametrize("version", ["4", "5"])
def test_palette_upload_starts_it_and_lists_the_examples(tgz: Path, version: str) -> None:
    with LocalNodeRed(version, flows=FLOW) as nr:
        info = nr.client.install_module(tgz)
        assert info["name"] == NAME and info["version"] == "0.1.0"
        status, stats = nr.client.request_json("GET", "/causal-tap/stats", action="tap stats")
        assert status == 200 and stats["boot"], stats
        base = f"/library/examples/flows/{NAME}"
        _, modules = nr.client.request_json("GET", "/library/examples/flows/", action="examples")
        assert NAME in modules
        _, listing = nr.client.request_json("GET", base, action="examples of the tap")
        assert {"fn": "bottling-line"} in listing, listing
        _, flow = nr.client.request_json("GET", f"{base}/bottling-line", action="an example")
        assert flow == json.loads((REPO / "flows" / "bottling-line.json").read_text())
