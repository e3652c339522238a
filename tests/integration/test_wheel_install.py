"""From a wheel, outside the checkout: build the sdist and the wheel (the wheel from the sdist, as
``python -m build`` does), install the wheel with its dependencies into a fresh virtualenv, and run
a short ``demo`` and ``tap install`` from a directory that is not this repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PLUGIN_FILES = ("package.json", "tap.js", "tap.html", "lib/recorder.js", "lib/transport/mqtt.js")


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """(venv bin, a work dir outside the checkout, env) with the freshly built wheel installed."""
    root = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    dist = root / "dist"
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)], root, env, 300)
    (sdist,) = dist.glob("nodered_causal-*.tar.gz")
    (wheel,) = dist.glob("nodered_causal-*.whl")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    with zipfile.ZipFile(wheel) as whl:
        names_whl = set(whl.namelist())
    flows = [f"flows/{p.name}" for p in (REPO / "flows").glob("*.json")]
    for name in (*(f"plugin/{f}" for f in PLUGIN_FILES), *flows):
        assert f"nodered_causal/package-data/{name}" in names, name
        assert f"nodered_causal/package-data/{name}" in names_whl, name
    assert "LICENSE" in names
    # every data file of the package (not code) is shipped: package-data is listed in pyproject
    listed = subprocess.run(
        ["git", "ls-files", "nodered_causal"], cwd=REPO, capture_output=True, text=True, check=False
    )
    tracked = listed.stdout.split() if listed.returncode == 0 else []  # not a git checkout
    data = [f for f in tracked if not f.endswith(".py") and not (REPO / f).is_symlink()]
    assert [f for f in data if f not in names_whl] == []
    assert not any("node_modules" in n or "/test/" in n for n in names | names_whl)
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], root, env, 120)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    _run([*pip, "install", "-q", "--no-compile", str(wheel)], root, env, 300)
    work = root / "work"
    work.mkdir()
    return venv / "bin", work, env


def test_the_wheel_carries_the_plugin_and_the_flows(
    installed: tuple[Path, Path, dict[str, str]],
) -> None:
    bin_dir, work, env = installed
    script = (
        "import json, nodered_causal\n"
        "from nodered_causal.resources import plugin_dir, flows_dir\n"
        "print(json.dumps([nodered_causal.__file__, str(plugin_dir()),"
        " sorted(p.name for p in flows_dir().glob('*.json'))]))"
    )
    where, plugin, flows = json.loads(_run([str(bin_dir / "python"), "-c", script], work, env, 60))
    assert Path(where).is_relative_to(bin_dir.parent), where  # the wheel, not the checkout
    assert Path(plugin, "package.json").is_file() and Path(plugin, "lib", "worker.js").is_file()
    assert flows == sorted(p.name for p in (REPO / "flows").glob("*.json"))
    graph = [str(bin_dir / "nodered-causal"), "graph", "bottling-line", "--format", "json"]
    assert "bt_score" in {n["id"] for n in json.loads(_run(graph, work, env, 60))["nodes"]}


def test_demo_runs_from_the_wheel(installed: tuple[Path, Path, dict[str, str]]) -> None:
    bin_dir, work, env = installed
    cmd = [str(bin_dir / "nodered-causal"), "demo", "--seconds", "4", "--json"]
    out = json.loads(_run(cmd, work, env, 240))
    assert Path(out["flow"]).is_relative_to(bin_dir.parent), out["flow"]
    assert out["target"] == "bt_score"
    # the loop ran (whether it blamed the right node is test_demo.py's, with longer recordings)
    assert out["cases"][0]["fault"] == "bias:3" and out["cases"][0]["ranking"], out["cases"][0]
    assert (work / "demo" / "report.html").stat().st_size > 1000
    assert (work / "demo" / "runs.db").exists()


def test_tap_install_from_the_wheel(installed: tuple[Path, Path, dict[str, str]]) -> None:
    bin_dir, work, env = installed
    user_dir = work / "nr"
    user_dir.mkdir()
    cmd = [str(bin_dir / "nodered-causal"), "tap", "install", "--user-dir", str(user_dir), "--json"]
    out = json.loads(_run(cmd, work, env, 180))
    assert out["restart_needed"] is True
    name = json.loads((REPO / "plugin" / "package.json").read_text())["name"]
    installed_pkg = json.loads((user_dir / "node_modules" / name / "package.json").read_text())
    assert installed_pkg["node-red"]["plugins"] == {"causal-tap": "tap.js"}
    assert (user_dir / "node_modules" / "mqtt" / "package.json").is_file()  # its dependency
