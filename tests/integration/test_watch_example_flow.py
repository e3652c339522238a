"""docs/examples/watch-incidents.json on a real Node-RED: an incident document published as
watch publishes it (MQTT, QoS 1, retained) becomes the alert text of its debug node."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import pytest
import websocket
from paho.mqtt.enums import CallbackAPIVersion

from nodered_causal.nodered import LocalNodeRed

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_the_example_flow_turns_an_incident_into_an_alert(mqtt_prefix: str) -> None:
    flows = json.loads((REPO / "docs" / "examples" / "watch-incidents.json").read_text())
    doc = {
        "id": f"20261206-040000-{uuid.uuid4().hex[:8]}", "state": "open", "target": "sink",
        "target_name": "dashboard", "signal": "value:payload.comfort",
        "changed_at": "2026-12-06T04:00:00.000Z", "verdict": "blamed: calibrate",
        "ranking": [{"node": "calibrate", "name": "calibrate", "score": 1.0, "low": 0.8,
                     "high": 1.2, "blamed": True}],
        "blamed": ["calibrate"],
    }  # fmt: skip
    topic = f"nodered-causal/{mqtt_prefix}/incidents"
    with LocalNodeRed("4", flows=flows) as nr:
        ws = websocket.create_connection(nr.url.replace("http", "ws", 1) + "/comms", timeout=5)
        try:
            ws.send(json.dumps({"subscribe": "debug"}))
            client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{mqtt_prefix}-pub")
            client.connect("127.0.0.1", 1883)
            client.loop_start()
            time.sleep(1.0)  # the flow's mqtt in subscribes once its broker connects
            client.publish(topic, json.dumps(doc), qos=1, retain=True).wait_for_publish(5)
            deadline, seen = time.monotonic() + 20, []
            while time.monotonic() < deadline:
                try:
                    packet = json.loads(ws.recv())
                except websocket.WebSocketTimeoutException:
                    continue
                for item in packet if isinstance(packet, list) else [packet]:
                    data = item.get("data") or {}
                    if item.get("topic") == "debug" and doc["id"] in str(data.get("topic")):
                        seen.append(data)
                if seen:
                    break
            client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
            client.loop_stop()
            client.disconnect()
        finally:
            ws.close()
    assert seen, "no alert from the example flow"
    assert seen[0]["topic"] == f"incident {doc['id']} open"
    assert "dashboard (value:payload.comfort) changed at 2026-12-06T04:00:00.000Z" in seen[0]["msg"]
    assert "first: calibrate" in seen[0]["msg"]
