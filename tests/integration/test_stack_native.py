"""The demo stack's configuration, run natively (there is no Docker engine here).

docker/mosquitto/mosquitto.conf in a local Mosquitto (own port and data directory): a persistent
QoS 1 session keeps a backlog far above Mosquitto's default limit of 1000, across a broker
restart; with the limit line removed the same test loses messages, so the setting is what works.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "docker" / "mosquitto" / "mosquitto.conf"
BACKLOG = 3000

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _local_conf(tmp: Path, port: int, *, drop: str | None = None) -> Path:
    """The stack's config with the listener and data directory moved to this machine."""
    lines = []
    for line in CONF.read_text().splitlines():
        if line.startswith("listener "):
            line = f"listener {port} 127.0.0.1"
        elif line.startswith("persistence_location "):
            line = f"persistence_location {tmp}/"
        elif drop and line.startswith(drop):
            continue
        lines.append(line)
    lines.append(f"user {getpass.getuser()}")  # as root, mosquitto would switch to `mosquitto`
    path = tmp / "mosquitto.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def _mosquitto(conf: Path, port: int) -> Iterator[None]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with open(conf.parent / "mosquitto.log", "a") as log:
        proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError((conf.parent / "mosquitto.log").read_text()) from None
                    time.sleep(0.05)
            yield
        finally:
            proc.terminate()  # SIGTERM: mosquitto saves its persistence file
            proc.wait(10)


def _client(client_id: str, port: int, on_message=None):  # type: ignore[no-untyped-def]
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    if on_message is not None:
        client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def _backlog_delivered(tmp: Path, *, drop: str | None = None) -> int:
    """Queue BACKLOG QoS 1 messages for an offline persistent subscriber, restart the broker,
    reconnect the subscriber: how many arrive."""
    port = _free_port()
    conf = _local_conf(tmp, port, drop=drop)
    topic = f"nrc-test-{uuid.uuid4().hex[:12]}/records"
    sub_id = f"nrc-collector-{uuid.uuid4().hex[:8]}"
    with _mosquitto(conf, port):
        sub = _client(sub_id, port)
        sub.subscribe(topic, qos=1)
        time.sleep(0.3)
        sub.disconnect()
        sub.loop_stop()
        pub = _client(f"nrc-tap-{uuid.uuid4().hex[:8]}", port)
        infos = [pub.publish(topic, f"{i}", qos=1) for i in range(BACKLOG)]
        for info in infos:
            info.wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()
    got: set[int] = set()
    done = threading.Event()

    def on_message(_c, _u, msg):  # type: ignore[no-untyped-def]
        got.add(int(msg.payload))
        if len(got) == BACKLOG:
            done.set()

    with _mosquitto(conf, port):
        sub = _client(sub_id, port, on_message)
        deadline, seen = time.monotonic() + 20, -1
        while not done.wait(1.0) and len(got) != seen and time.monotonic() < deadline:
            seen = len(got)  # stop once nothing arrived for a second
        time.sleep(0.3)  # anything beyond the backlog would show up now
        sub.disconnect()
        sub.loop_stop()
    return len(got)


def test_mosquitto_conf_keeps_a_large_qos1_backlog_across_restarts(tmp_path: Path) -> None:
    assert _backlog_delivered(tmp_path) == BACKLOG


def test_without_the_raised_limit_the_backlog_is_cut(tmp_path: Path) -> None:
    delivered = _backlog_delivered(tmp_path, drop="max_queued_messages")
    assert 900 <= delivered <= 1200  # Mosquitto's default 1000 (+ in-flight)


# --------------------------------------------------------------------------- the whole stack


def _compose_env(service: str) -> dict[str, str]:
    import yaml

    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return {str(k): str(v) for k, v in data["services"][service]["environment"].items()}


def _docker_settings() -> dict[str, object]:
    """docker/nodered/settings.js as Node-RED would load it (minus what LocalNodeRed owns)."""
    import json

    script = "process.stdout.write(JSON.stringify(require(process.argv[1])))"
    path = str(REPO / "docker" / "nodered" / "settings.js")
    out = subprocess.run(["node", "-e", script, path], capture_output=True, text=True, check=True)
    settings: dict[str, object] = json.loads(out.stdout)
    for owned in ("uiPort", "flowFile", "credentialSecret"):
        settings.pop(owned)
    return settings


def _natively(env: dict[str, str], broker_port: int, **paths: str) -> dict[str, str]:
    """Compose values rewritten for this machine: service names -> 127.0.0.1, /data -> tmp."""
    out = {}
    for key, value in env.items():
        value = value.replace("mosquitto:1883", f"127.0.0.1:{broker_port}")
        if value == "mosquitto":
            value = "127.0.0.1"
        for old, new in paths.items():
            value = value.replace(old, new)
        out[key] = value
    return out


def test_nodered_with_the_stack_settings_taps_the_demo_flow_into_mosquitto(
    tmp_path: Path,
) -> None:
    """nodered service natively: settings.js, the compose env, the plugin, the demo flow; its tap
    records arrive at the stack's Mosquitto on nodered-causal/<instance>/records."""
    import json

    from nodered_causal import config
    from nodered_causal.nodered import LocalNodeRed

    if not (REPO / "plugin" / "package.json").exists():
        pytest.skip("plugin/ is not on this branch yet")
    port = _free_port()
    env = _natively(_compose_env("nodered"), port)
    instance = f"nrc-test-{uuid.uuid4().hex[:8]}"  # the shared-broker rule, even on our own broker
    env[config.TAP_INSTANCE.name] = instance
    assert env[config.DEMO_FLOW.name] == "bottling-line", "the checks below know this flow"
    flow = REPO / "flows" / f"{env[config.DEMO_FLOW.name]}.json"
    flow_ids = {n["id"] for n in json.loads(flow.read_text())}
    records: list[dict[str, object]] = []

    def on_message(_c, _u, msg):  # type: ignore[no-untyped-def]
        records.extend(json.loads(msg.payload))

    with _mosquitto(_local_conf(tmp_path, port), port):
        sub = _client(f"nrc-collector-{uuid.uuid4().hex[:8]}", port, on_message)
        sub.subscribe(f"nodered-causal/{instance}/records", qos=1)
        try:
            with LocalNodeRed(
                "4", flows=flow, plugins=[REPO / "plugin"], settings=_docker_settings(), env=env
            ) as nr:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    if sum(r["kind"] == "deliver" for r in list(records)) >= 200:
                        break
                    time.sleep(0.2)
                log = nr.log_text()
        finally:
            sub.disconnect()
            sub.loop_stop()
    delivers = [r for r in records if r["kind"] == "deliver"]
    assert len(delivers) >= 200, log[-3000:]
    assert {r["tap"] for r in records} == {instance}
    # runtime ids: subflow internals appear as <instance>-<inner>
    ends = {r["src"] for r in delivers} | {r["dst"] for r in delivers}
    assert ends <= flow_ids | {f"{i}-sf_cal_fn" for i in ("bt_cal_temp", "bt_cal_psi")}
    assert {"bt_sensors", "bt_join", "bt_score", "bt_cal_temp-sf_cal_fn"} <= ends

    def values(src: str, path: str) -> list[float]:
        return [r["payload"]["values"][path] for r in delivers if r["src"] == src]  # type: ignore[index]

    fills = values("bt_sensors", "payload.fill_ml")
    assert fills and all(480 < v < 520 for v in fills)
    # the join combined the three channels of one bottle: the score is a finite number near 95
    scores = values("bt_score", "payload.score")
    assert scores and all(70 < v <= 100 for v in scores)
    assert 90 < sum(scores) / len(scores) < 98


def test_analyzer_with_the_compose_env_runs_the_demo_against_the_native_stack(
    tmp_path: Path,
) -> None:
    """The analyzer service natively: its entry point's two commands (watch, demo) with the
    compose environment, against the nodered service (stack settings) and the stack's broker."""
    import json
    import os
    import sys

    from nodered_causal import config
    from nodered_causal.nodered import LocalNodeRed

    port = _free_port()
    paths = {"/data": str(tmp_path / "data")}
    nr_env = _natively(_compose_env("nodered"), port)
    nr_env[config.TAP_INSTANCE.name] = f"nrc-test-{uuid.uuid4().hex[:8]}"
    an_env = _natively(_compose_env("analyzer"), port, **paths)
    flow = REPO / "flows" / f"{nr_env[config.DEMO_FLOW.name]}.json"
    os.makedirs(an_env[config.REPORT_DIR.name], exist_ok=True)
    with (
        _mosquitto(_local_conf(tmp_path, port), port),
        LocalNodeRed(
            "4", flows=flow, plugins=[REPO / "plugin"], settings=_docker_settings(), env=nr_env
        ) as nr,
    ):
        env = {**os.environ, **an_env, config.NODERED_URL.name: nr.url, "PYTHONPATH": str(REPO)}
        cli = [sys.executable, "-m", "nodered_causal"]
        collect = subprocess.Popen(
            [*cli, "watch", "--url", nr.url, "--mqtt", an_env[config.MQTT_URL.name], "--store",
             an_env[config.STORE.name], "--report-dir", an_env[config.REPORT_DIR.name]],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            report = Path(an_env[config.REPORT_DIR.name]) / "demo.html"
            demo = subprocess.run(
                [*cli, "demo", "--url", nr.url, "--store", an_env[config.STORE.name],
                 "--report", str(report), "--json"],
                env=env, capture_output=True, text=True, timeout=600, check=False,
            )  # fmt: skip
        finally:
            collect.terminate()
            collect_err = collect.communicate(timeout=30)[1]
    assert demo.returncode == 0, demo.stderr[-3000:]
    out = json.loads(demo.stdout)
    assert out["target"] == "bt_score"
    assert out["cases"][0]["rank_of_true"] == 1, out["cases"]
    assert out["no_fault"][0]["blamed"] == []
    assert report.exists() and out["report"] == str(report)
    assert collect.returncode == 0, collect_err[-2000:]
    runs = subprocess.run(
        [*cli, "runs", "list", "--store", an_env[config.STORE.name], "--json"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert len(json.loads(runs)) >= 2  # watch's run and the demo's
