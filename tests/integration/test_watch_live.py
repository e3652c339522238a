"""watch on a real Node-RED (flows/sensor-pipeline.json, the tap over the machine's Mosquitto).

- a bias injected into ``calibrate`` (the tap plugin's fault endpoint) at a random moment yields
  an incident on MQTT ``nodered-causal/<tap>/incidents`` that names ``calibrate`` first; watch is
  then killed with SIGKILL mid-incident and restarted: the same incident resumes (no second one,
  nothing lost) and closes once the fault is removed;
- a fault-free period yields no incident, and a redeploy of a changed function node is reported
  as the change (the incident lists the deploy and the node it changed).
"""

from __future__ import annotations

import copy
import json
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from nodered_causal.faults.inject import FaultInjector
from nodered_causal.faults.spec import parse_fault
from nodered_causal.nodered import LocalNodeRed
from nodered_causal.nodered.runtime import PLUGIN_DIR

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
BROKER = "mqtt://127.0.0.1:1883"


def _flows(func_bias: float = 0.0) -> list[dict[str, Any]]:
    flows: list[dict[str, Any]] = json.loads((REPO / "flows" / "sensor-pipeline.json").read_text())
    flows = copy.deepcopy(flows)
    for node in flows:
        if node["id"] == "src_tick":
            node["repeat"] = "0.02"  # 50 messages/s
        if node["id"] == "calibrate" and func_bias:
            node["func"] = f"msg.payload.temperature += {func_bias};\n" + node["func"]
    return flows


class Watch:
    """``nodered-causal watch`` as a user runs it, its stderr collected in the background."""

    def __init__(self, tmp: Path, url: str, prefix: str, *extra: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        args = [
            sys.executable, "-m", "nodered_causal", "watch", "--url", url, "--mqtt", BROKER,
            "--topic", f"nodered-causal/{prefix}/records", "--store", str(tmp / "w.db"),
            "--target", "sink", "--window", "0.5", "--warmup", "24", "--min-incident", "8",
            "--update-every", "3", "--poll", "1", "--json", *extra,
        ]  # fmt: skip
        self.lines: list[str] = []
        self.out = ""
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"watch never said {text!r}:\n{''.join(self.lines)[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(30)
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.out = self.proc.stdout.read()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return code


class Alerts:
    """A subscriber to the tap's incidents topic."""

    def __init__(self, prefix: str) -> None:
        self.docs: queue.Queue[dict[str, Any]] = queue.Queue()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{prefix}-alerts")
        self.client.on_message = lambda c, u, m: self.docs.put(json.loads(m.payload))
        self.client.connect("127.0.0.1", 1883)
        self.client.subscribe(f"nodered-causal/{prefix}/incidents", qos=1)
        self.client.loop_start()

    def next(self, timeout: float, state: str | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no incident {state or ''} within {timeout} s")
            try:
                doc = self.docs.get(timeout=left)
            except queue.Empty:
                continue
            if state is None or doc["state"] == state:
                return doc


@pytest.fixture
def live(mqtt_prefix: str) -> Iterator[LocalNodeRed]:
    settings = {
        "causalTap": {"instance": mqtt_prefix, "transport": "mqtt", "url": BROKER, "flushMs": 100}
    }
    with LocalNodeRed("4", flows=_flows(), plugins=[PLUGIN_DIR], settings=settings) as nr:
        yield nr


def _clear_retained(prefix: str) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{prefix}-clear")
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    topic = f"nodered-causal/{prefix}/incidents"
    client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def test_fault_is_an_incident_that_survives_sigkill(
    live: LocalNodeRed, tmp_path: Path, mqtt_prefix: str
) -> None:
    alerts = Alerts(mqtt_prefix)
    watch = Watch(tmp_path, live.url, mqtt_prefix)
    injector = FaultInjector(live.client, state_dir=tmp_path)
    try:
        watch.wait_for("watching sink")
        time.sleep(12 + 3 + random.Random(13).uniform(0, 5))  # warm-up, then a random moment
        assert alerts.docs.empty(), "an incident before any fault"
        faulted_at = time.time()
        injector.inject("calibrate", parse_fault("bias:3", field="payload.temperature"))
        opened = alerts.next(30, "open")
        delay = time.time() - faulted_at
        print(f"opened {delay:.1f} s after the fault: {json.dumps(opened)[:600]}")
        assert opened["target"] == "sink" and opened["tap"] == mqtt_prefix
        assert opened["ranking"][0]["node"] == "calibrate", opened["ranking"]
        assert opened["blamed"][0] == "calibrate"
        for key in ("id", "detected_at", "changed_at", "signal", "size", "flow_rev"):
            assert opened[key], key
        assert {"node", "name", "score", "low", "high"} <= set(opened["ranking"][0])
        assert abs(opened["changed_ns"] / 1e9 - faulted_at) < 3.0

        assert watch.stop(signal.SIGKILL) == -signal.SIGKILL
        watch = Watch(tmp_path, live.url, mqtt_prefix)
        watch.wait_for("1 open incident(s) resumed")
        update = alerts.next(20, "update")
        assert update["id"] == opened["id"] and update["ranking"][0]["node"] == "calibrate"

        injector.restore()
        closed = alerts.next(40, "closed")
        assert closed["id"] == opened["id"]
        assert watch.stop() == 0
        with sqlite3.connect(tmp_path / "w.db") as db:
            rows = db.execute("SELECT id, state FROM incidents").fetchall()
        assert rows == [(opened["id"], "closed")]
        report = subprocess.run(
            [sys.executable, "-m", "nodered_causal", "incidents", "report", opened["id"][:18],
             "--store", str(tmp_path / "w.db"), "--out", str(tmp_path / "incident.html")],
            capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        assert report.returncode == 0, report.stderr
        page = (tmp_path / "incident.html").read_text()
        assert "calibrate" in page and "dashboard" in page and "before the change" in page
    finally:
        injector.restore()
        watch.stop(signal.SIGKILL)
        alerts.client.loop_stop()
        alerts.client.disconnect()
        _clear_retained(mqtt_prefix)


def test_quiet_then_a_redeploy_is_reported_as_the_change(
    live: LocalNodeRed, tmp_path: Path, mqtt_prefix: str
) -> None:
    alerts = Alerts(mqtt_prefix)
    watch = Watch(tmp_path, live.url, mqtt_prefix)
    try:
        watch.wait_for("watching sink")
        time.sleep(12 + 15)  # warm-up, then 15 s of detection on a fault-free flow
        assert alerts.docs.empty(), alerts.docs.get_nowait()
        _, rev = live.client.get_flows()
        deployed_at = time.time()
        new_rev = live.client.deploy(_flows(func_bias=3.0), rev=rev, deployment_type="nodes")
        opened = alerts.next(30, "open")
        print(f"opened {time.time() - deployed_at:.1f} s after the deploy: {opened['deploys']}")
        doc = opened
        if not any("calibrate" in d["upstream"] for d in doc["deploys"]):
            doc = alerts.next(15, "update")  # the poll may see the deploy after the incident opened
        assert [d["upstream"] for d in doc["deploys"]] == [["calibrate"]], doc["deploys"]
        assert doc["deploys"][0]["rev"] == new_rev
        assert doc["ranking"][0]["node"] == "calibrate", doc["ranking"]
        assert watch.stop() == 0
        assert '"state": "open"' in watch.out
    finally:
        watch.stop(signal.SIGKILL)
        alerts.client.loop_stop()
        alerts.client.disconnect()
        _clear_retained(mqtt_prefix)
