"""Every environment variable documented in ``nodered_causal/config.py`` takes effect.

The test walks ``config.ENV_VARS``: each variable has a check below that sets it and observes the
effect (a command reaches the URL, store, broker or address it names; an option's default is its
value; the plugin's resolved config carries it; the bundled flows or docker scripts read it).
A variable added to config.py without a check fails ``test_every_documented_variable_is_checked``.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from nodered_causal import config
from nodered_causal.cli import build_parser, main
from nodered_causal.collector.store import Store
from tests.hostile_cli import closed_port

REPO = Path(__file__).resolve().parents[2]
Check = Callable[[pytest.MonkeyPatch, Path, HTTPServer], None]
CHECKS: dict[str, Check] = {}


def check(*names: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        for name in names:
            CHECKS[name] = fn
        return fn

    return register


def _run(monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@check("NODERED_CAUSAL_CACHE")
def _cache(mp: pytest.MonkeyPatch, tmp: Path, _: HTTPServer) -> None:
    from nodered_causal.nodered.install import cache_dir

    mp.setenv("NODERED_CAUSAL_CACHE", str(tmp / "cache"))
    assert cache_dir() == tmp / "cache" and (tmp / "cache").is_dir()


@check("NODERED_CAUSAL_NODERED_URL")
def _url(mp: pytest.MonkeyPatch, tmp: Path, _: HTTPServer) -> None:
    port = closed_port()
    mp.setenv("NODERED_CAUSAL_NODERED_URL", f"http://127.0.0.1:{port}")
    for argv in (["tap", "status"], ["graph"], ["restore"]):
        code, _, err = _run(mp, *argv)
        assert code == 1 and f"http://127.0.0.1:{port}" in err, (argv, err)


def _tap_status_server(server: HTTPServer, token: str) -> None:
    server.expect_request(
        "/causal-tap/stats", headers={"Authorization": f"Bearer {token}"}
    ).respond_with_json({"recorded": 7})


@check("NODERED_CAUSAL_NODERED_TOKEN")
def _token(mp: pytest.MonkeyPatch, tmp: Path, server: HTTPServer) -> None:
    _tap_status_server(server, "tok-from-env")
    mp.setenv("NODERED_CAUSAL_NODERED_TOKEN", "tok-from-env")
    code, out, err = _run(mp, "tap", "status", "--url", server.url_for("/").rstrip("/"))
    assert code == 0 and json.loads(out) == {"recorded": 7}, err


@check("NODERED_CAUSAL_NODERED_USERNAME", "NODERED_CAUSAL_NODERED_PASSWORD")
def _login(mp: pytest.MonkeyPatch, tmp: Path, server: HTTPServer) -> None:
    server.expect_request(
        "/auth/token", method="POST",
        data="client_id=node-red-admin&grant_type=password&scope=%2A&username=env-user"
        "&password=env-pass",
    ).respond_with_json({"access_token": "tok-login", "token_type": "Bearer"})  # fmt: skip
    _tap_status_server(server, "tok-login")
    mp.setenv("NODERED_CAUSAL_NODERED_USERNAME", "env-user")
    mp.setenv("NODERED_CAUSAL_NODERED_PASSWORD", "env-pass")
    code, out, err = _run(mp, "tap", "status", "--url", server.url_for("/").rstrip("/"))
    assert code == 0 and json.loads(out) == {"recorded": 7}, err


@check("NODERED_CAUSAL_MQTT_URL")
def _mqtt(mp: pytest.MonkeyPatch, tmp: Path, _: HTTPServer) -> None:
    port = closed_port()
    mp.setenv("NODERED_CAUSAL_MQTT_URL", f"mqtt://127.0.0.1:{port}")
    code, _, err = _run(mp, "collect", "--store", str(tmp / "c.db"))  # no --mqtt, no --http
    assert code == 1 and f"127.0.0.1:{port}" in err, err
    args = build_parser().parse_args(["record", "--run", "r", "--mqtt"])  # a bare --mqtt
    assert args.mqtt == f"mqtt://127.0.0.1:{port}"


@check("NODERED_CAUSAL_HTTP_ADDR")
def _http(mp: pytest.MonkeyPatch, tmp: Path, _: HTTPServer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        mp.setenv("NODERED_CAUSAL_HTTP_ADDR", f"127.0.0.1:{port}")
        code, _, err = _run(mp, "collect", "--http", "--store", str(tmp / "c.db"))
    assert code == 1 and f"cannot listen on 127.0.0.1:{port}" in err, err


@check("NODERED_CAUSAL_STORE")
def _store(mp: pytest.MonkeyPatch, tmp: Path, _: HTTPServer) -> None:
    with Store(tmp / "env.db") as store:
        store.start_run("from-env")
    mp.setenv("NODERED_CAUSAL_STORE", str(tmp / "env.db"))
    mp.chdir(tmp)
    code, out, err = _run(mp, "runs", "list", "--json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == ["from-env"], err
    from nodered_causal.cli.demo import paths

    assert paths(build_parser().parse_args(["demo"]))[0] == tmp / "env.db"


@check("NODERED_CAUSAL_REPORT_DIR")
def _reports(mp: pytest.MonkeyPatch, tmp: Path, _: HTTPServer) -> None:
    from nodered_causal.cli.demo import paths
    from nodered_causal.cli.experiment import _check

    mp.setenv("NODERED_CAUSAL_REPORT_DIR", str(tmp / "reports"))
    assert paths(build_parser().parse_args(["demo"]))[1] == tmp / "reports" / "demo.html"
    args = build_parser().parse_args(["experiment", "--url", "http://h:1", "--target", "a/b",
                                      "--report"])  # fmt: skip
    _check(args)
    assert args.report == str(tmp / "reports" / "experiment-a_b.html")


@check("NODERED_CAUSAL_DEMO_FLOW", "NODERED_CAUSAL_DEMO_TARGET", "NODERED_CAUSAL_SEED")
def _demo(mp: pytest.MonkeyPatch, tmp: Path, _: HTTPServer) -> None:
    mp.setenv("NODERED_CAUSAL_DEMO_FLOW", "sensor-pipeline")
    mp.setenv("NODERED_CAUSAL_DEMO_TARGET", "comfort")
    mp.setenv("NODERED_CAUSAL_SEED", "42")
    args = build_parser().parse_args(["demo"])
    assert (args.flow, args.target, args.seed) == ("sensor-pipeline", "comfort", 42)
    assert build_parser().parse_args(["experiment", "--target", "x"]).seed == 42


def _plugin_config(env: dict[str, str]) -> dict[str, object]:
    script = (
        "const {resolveConfig, publicConfig} = require('./lib/config');"
        "const cfg = resolveConfig({}, process.env, {uiPort: 1880});"
        "process.stdout.write(JSON.stringify({...publicConfig(cfg), enabled: cfg.enabled}));"
    )
    path = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    proc = subprocess.run(["node", "-e", script], cwd=REPO / "plugin", env={**env, **path},
                          capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    return dict(json.loads(proc.stdout))


PLUGIN_VALUES = {
    "NODERED_CAUSAL_TAP_ENABLED": ("false", "enabled", False),
    "NODERED_CAUSAL_TAP_INSTANCE": ("line-7", "instance", "line-7"),
    "NODERED_CAUSAL_TAP_TRANSPORT": ("http", "transport", "http"),
    "NODERED_CAUSAL_TAP_URL": ("mqtt://broker.example:1999", "url", "mqtt://broker.example:1999"),
    "NODERED_CAUSAL_TAP_TOPIC": ("plant/x/records", "topic", "plant/x/records"),
    "NODERED_CAUSAL_TAP_BATCH_SIZE": ("77", "batchSize", 77),
    "NODERED_CAUSAL_TAP_FLUSH_MS": ("333", "flushMs", 333),
    "NODERED_CAUSAL_TAP_QUEUE_MAX": ("12345", "queueMax", 12345),
    "NODERED_CAUSAL_TAP_LINEAGE": ("false", "lineage", False),
    "NODERED_CAUSAL_TAP_SAMPLE": ("0.25", "sample", 0.25),
}


def _plugin(name: str) -> Check:
    def run(mp: pytest.MonkeyPatch, tmp: Path, _: HTTPServer) -> None:
        value, key, expected = PLUGIN_VALUES[name]
        assert _plugin_config({name: value})[key] == expected
        assert _plugin_config({})[key] != expected  # the default differs: the variable did it

    return run


for _name in PLUGIN_VALUES:
    CHECKS[_name] = _plugin(_name)


@pytest.mark.parametrize("name", sorted(config.ENV_VARS))
def test_variable_takes_effect(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, httpserver: HTTPServer
) -> None:
    var = config.ENV_VARS[name]
    if var.reader in ("flows", "docker"):
        # read by Node-RED's own ${VAR} substitution in the bundled flows, or by the stack's
        # shell scripts: the check is that they do read it (test_bundled_flows runs the flows
        # with a unique NODERED_CAUSAL_FLOW_MQTT_PREFIX and sees the messages under it)
        files = (
            sorted((REPO / "flows").glob("*.json"))
            if var.reader == "flows"
            else sorted((REPO / "docker").rglob("*.sh"))
        )
        texts = [json.dumps(json.loads(f.read_text())) if f.suffix == ".json" else f.read_text()
                 for f in files]  # fmt: skip
        reads = (f"${{{name}", f'env.get(\\"{name}\\")', f'$env(\\"{name}\\")')
        assert any(r in text for r in reads for text in texts), name
        return
    CHECKS[name](monkeypatch, tmp_path, httpserver)


def test_every_documented_variable_is_checked() -> None:
    cli_or_plugin = {n for n, v in config.ENV_VARS.items() if v.reader in ("cli", "plugin")}
    assert cli_or_plugin == set(CHECKS)
