"""Real Node-RED 4 (Node 20) and 5 (Node 22): deploy, rev handling, inject, auth, missing types."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from nodered_causal.errors import (
    AuthError,
    FlowsChangedError,
    MissingNodeTypesError,
    NodeRedError,
    RuntimeStartError,
)
from nodered_causal.nodered import LocalNodeRed, NodeRedClient

pytestmark = pytest.mark.integration

VERSIONS = ["4", "5"]


def counter_flow(tab: str, *, key: str = "count", step: int = 1) -> list[dict[str, Any]]:
    """inject -> function adding ``step`` to global context ``key``: an observable effect."""
    return [
        {"id": tab, "type": "tab", "label": f"Tab {tab}", "disabled": False, "info": ""},
        {
            "id": f"{tab}-inject",
            "type": "inject",
            "z": tab,
            "name": "",
            "props": [],
            "repeat": "",
            "crontab": "",
            "once": False,
            "onceDelay": 0.1,
            "topic": "",
            "x": 100,
            "y": 80,
            "wires": [[f"{tab}-fn"]],
        },
        {
            "id": f"{tab}-fn",
            "type": "function",
            "z": tab,
            "name": "count",
            "func": f"global.set('{key}', (global.get('{key}') || 0) + {step});\nreturn msg;",
            "outputs": 1,
            "x": 300,
            "y": 80,
            "wires": [[]],
        },
    ]


def global_value(nr: LocalNodeRed, key: str, *, expect: Any, timeout: float = 10) -> Any:
    """Poll GET /context/global/<key> until it equals ``expect`` (or time out); return it."""
    value: Any = None
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {nr.client._token}"} if nr.client._token else {}
    while time.monotonic() < deadline:
        resp = requests.get(f"{nr.url}/context/global/{key}", headers=headers, timeout=5)
        resp.raise_for_status()
        body = resp.json()
        value = json.loads(body["msg"]) if body.get("msg") is not None else None
        if value == expect:
            return value
        time.sleep(0.05)
    return value


@pytest.fixture(scope="module", params=VERSIONS)
def nr(request: pytest.FixtureRequest) -> Iterator[LocalNodeRed]:
    with LocalNodeRed(request.param, flows=counter_flow("a")) as instance:
        yield instance


def test_starts_the_requested_version_with_flows_running(nr: LocalNodeRed) -> None:
    assert nr.version.split(".")[0] == nr.major
    assert nr.url == f"http://127.0.0.1:{nr.port}"
    assert nr.client.settings()["version"] == nr.version
    nr.client.deploy(counter_flow("a"))  # known state: tab a only, counter reset below
    nr.client.wait_until_started()
    before = global_value(nr, "count", expect=None, timeout=0) or 0
    nr.client.inject("a-inject")
    assert global_value(nr, "count", expect=before + 1) == before + 1
    assert "Started flows" in nr.log_text()


def test_deploy_inject_and_read_back_equal(nr: LocalNodeRed) -> None:
    client = nr.client
    _, rev = client.get_flows()
    flows = counter_flow("b", key="b_count", step=5)
    new_rev = client.deploy(flows, rev=rev)
    assert new_rev and new_rev != rev
    client.wait_until_started()
    client.inject("b-inject")
    client.inject("b-inject")
    assert global_value(nr, "b_count", expect=10) == 10
    got, got_rev = client.get_flows()
    assert got == flows
    assert json.dumps(got, sort_keys=True) == json.dumps(flows, sort_keys=True)
    assert got_rev == new_rev


def test_stale_rev_is_refused_and_nothing_overwritten(nr: LocalNodeRed) -> None:
    client = nr.client
    _, rev0 = client.get_flows()
    mine = counter_flow("c")
    rev1 = client.deploy(mine, rev=rev0)
    with pytest.raises(FlowsChangedError, match="someone deployed") as info:
        client.deploy(counter_flow("d"), rev=rev0)
    assert info.value.url == nr.url
    flows, rev = client.get_flows()
    assert (flows, rev) == (mine, rev1)
    forced = client.deploy(counter_flow("d"), rev=rev0, force=True)
    assert client.get_flows() == (counter_flow("d"), forced)


def test_partial_deploy_types(nr: LocalNodeRed) -> None:
    client = nr.client
    _, rev = client.get_flows()
    flows = counter_flow("e", key="e_count", step=3)
    rev = client.deploy(flows, rev=rev)
    client.wait_until_started()
    flows[2]["func"] = flows[2]["func"].replace("+ 3", "+ 7")
    rev2 = client.deploy(flows, rev=rev, deployment_type="nodes")
    client.wait_until_started(rev=rev2)
    client.inject("e-inject")
    assert global_value(nr, "e_count", expect=7) == 7
    with pytest.raises(ValueError, match="deployment_type"):
        client.deploy(flows, deployment_type="everything")


def test_missing_node_types_are_refused_before_deploying(nr: LocalNodeRed) -> None:
    client = nr.client
    before = client.get_flows()
    bad = counter_flow("f") + [
        {"id": "x1", "type": "no-such-node", "z": "f", "x": 1, "y": 1, "wires": []},
        {"id": "x2", "type": "subflow:nowhere", "z": "f", "x": 1, "y": 2, "wires": []},
    ]
    with pytest.raises(MissingNodeTypesError) as info:
        client.deploy(bad, rev=before[1])
    assert info.value.missing == ["no-such-node", "subflow:nowhere"]
    assert "no-such-node, subflow:nowhere" in str(info.value)
    assert client.get_flows() == before
    # Forced past the check, Node-RED answers 200 and starts nothing: the wait says why.
    client.deploy(bad, check_types=False)
    with pytest.raises(MissingNodeTypesError) as info:
        client.wait_until_started(timeout=10)
    assert sorted(info.value.missing) == ["no-such-node", "subflow:nowhere"]
    client.deploy(counter_flow("a"))
    client.wait_until_started()


def test_inject_unknown_node_fails_after_timeout(nr: LocalNodeRed) -> None:
    t0 = time.monotonic()
    with pytest.raises(Exception, match="no running inject node 'nope'"):
        nr.client.inject("nope", timeout=0.3)
    assert 0.3 <= time.monotonic() - t0 < 5


@pytest.mark.parametrize("version", VERSIONS)
def test_admin_auth(version: str) -> None:
    with LocalNodeRed(version, flows=counter_flow("g"), admin_auth=("admin", "s3cret-pw")) as nr:
        nr.client.inject("g-inject")  # the managed client logged in
        assert global_value(nr, "count", expect=1) == 1
        with pytest.raises(AuthError, match="admin auth is on") as info:
            NodeRedClient(nr.url).get_flows()
        assert info.value.url == nr.url
        with pytest.raises(AuthError, match="wrong username or password") as info:
            NodeRedClient(nr.url, username="admin", password="not-it-pw").get_flows()
        assert "not-it-pw" not in str(info.value)
        token = NodeRedClient(nr.url, username="admin", password="s3cret-pw").login()
        flows, _ = NodeRedClient(nr.url, token=token).get_flows()
        assert flows == counter_flow("g")
        with pytest.raises(AuthError):
            NodeRedClient(nr.url, token="forged").get_flows()


def test_no_admin_auth_login_is_explained(nr: LocalNodeRed) -> None:
    with pytest.raises(AuthError, match="has no admin authentication"):
        NodeRedClient(nr.url, username="u", password="p").get_flows()


def test_start_failure_shows_the_log() -> None:
    bad_env = {"NODE_OPTIONS": "--require /nonexistent-nrc.js"}
    with pytest.raises(RuntimeStartError) as info, LocalNodeRed("4", env=bad_env):
        pass
    assert "nonexistent-nrc.js" in str(info.value)
    assert "exit code" in str(info.value)


def test_user_dir_is_kept_and_temp_dir_removed(tmp_path: Path) -> None:
    with LocalNodeRed("4", user_dir=tmp_path / "ud") as nr:
        assert nr.user_dir == (tmp_path / "ud").resolve()
        temp = nr.user_dir
    assert (temp / "settings.js").exists() and (temp / "node-red.log").exists()
    with LocalNodeRed("4") as nr:
        temp = nr.user_dir
        assert temp is not None and temp.exists()
        pid_alive = nr._proc is not None and nr._proc.poll() is None
    assert pid_alive and not temp.exists()


def test_plugin_installed_with_its_dependencies(tmp_path: Path) -> None:
    pkg = tmp_path / "nrc-test-plugin"
    pkg.mkdir()
    (pkg / "package.json").write_text(
        json.dumps(
            {
                "name": "nrc-test-plugin",
                "version": "1.0.0",
                "keywords": ["node-red"],
                "node-red": {"plugins": {"nrc-test": "plugin.js"}},
                "dependencies": {"ms": "2.1.3"},
            }
        )
    )
    (pkg / "plugin.js").write_text(
        "module.exports = function (RED) {\n"
        "  const ms = require('ms');\n"
        "  RED.plugins.registerPlugin('nrc-test', { type: 'nrc-test', onadd() {\n"
        "    RED.log.info('nrc-test-plugin ms=' + ms('2s') + ' cfg=' +\n"
        "      JSON.stringify(RED.settings.nrcTest));\n"
        "  } });\n"
        "};\n"
    )
    for version in VERSIONS:
        with LocalNodeRed(version, plugins=[pkg], settings={"nrcTest": {"a": 1}}) as nr:
            assert 'nrc-test-plugin ms=2000 cfg={"a":1}' in nr.log_text()
            assert (nr.user_dir / "node_modules" / "ms" / "package.json").exists()
    assert not (pkg / "node_modules").exists()  # the package dir itself is left alone


def test_install_module_from_tgz_then_deploy(nr: LocalNodeRed, tmp_path: Path) -> None:
    pkg = tmp_path / "node-red-contrib-nrc-double"
    pkg.mkdir()
    (pkg / "package.json").write_text(
        json.dumps(
            {
                "name": "node-red-contrib-nrc-double",
                "version": "1.0.0",
                "keywords": ["node-red"],
                "node-red": {"nodes": {"nrc-double": "double.js"}},
            }
        )
    )
    (pkg / "double.js").write_text(
        "module.exports = function (RED) {\n"
        "  function Double(config) {\n"
        "    RED.nodes.createNode(this, config);\n"
        "    this.on('input', (msg, send, done) => { msg.payload *= 2; send(msg); done(); });\n"
        "  }\n"
        "  RED.nodes.registerType('nrc-double', Double);\n"
        "};\n"
    )
    (pkg / "double.html").write_text("<script>RED.nodes.registerType('nrc-double',{})</script>")
    proc = subprocess.run(
        ["npm", "pack", "--silent", "--pack-destination", str(tmp_path), str(pkg)],
        capture_output=True,
        text=True,
        check=True,
    )
    tgz = tmp_path / proc.stdout.strip().splitlines()[-1]
    flows = counter_flow("m") + [
        {"id": "m-dbl", "type": "nrc-double", "z": "m", "x": 500, "y": 80, "wires": [[]]}
    ]
    flows[1]["wires"] = [["m-dbl", "m-fn"]]
    with pytest.raises(MissingNodeTypesError, match="lacks the node types nrc-double;"):
        nr.client.deploy(flows)
    info = nr.client.install_module(tgz)
    assert info["name"] == "node-red-contrib-nrc-double"
    assert "nrc-double" in nr.client.installed_types()
    nr.client.deploy(flows)
    nr.client.wait_until_started()
    nr.client.deploy(counter_flow("a"))
    nr.client.wait_until_started()


def test_without_editor_waits_by_polling() -> None:
    with LocalNodeRed("5", flows=counter_flow("n"), settings={"disableEditor": True}) as nr:
        assert "context" not in nr.client.settings()  # no editor, so no /comms websocket
        rev = nr.client.deploy(counter_flow("o", key="o_count"))
        nr.client.wait_until_started(rev=rev)
        nr.client.inject("o-inject")
        assert global_value(nr, "o_count", expect=1) == 1
        with pytest.raises(NodeRedError, match=r"did not start within 0\.2 s"):
            nr.client.wait_until_started(rev="not-a-rev", timeout=0.2)


def test_wait_for_an_unknown_rev_times_out(nr: LocalNodeRed) -> None:
    with pytest.raises(NodeRedError, match=r"did not start within 0\.3 s \(runtime state start"):
        nr.client.wait_until_started(rev="not-a-rev", timeout=0.3)


def test_forgotten_instance_is_stopped_at_interpreter_exit() -> None:
    script = (
        "from nodered_causal.nodered import LocalNodeRed\n"
        "nr = LocalNodeRed('4')\n"
        "nr.__enter__()\n"
        "print(nr._proc.pid, nr.user_dir)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    pid, user_dir = out.stdout.split()
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid), 0)
    assert not Path(user_dir).exists()
