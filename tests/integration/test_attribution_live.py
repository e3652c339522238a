"""Real recordings: flows/sensor-pipeline.json in Node-RED with the tap, a bias in a function node.

One recording over HTTP into a Store: the flow runs clean, then ``calibrate`` is redeployed
shifting the temperature by +2 (same node ids). ``attribute_shift`` on the stored records (the DAG
the run noted) must blame ``calibrate`` at the dashboard sink when the biased part is compared
with the clean part, and nothing when two clean parts are compared.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from nodered_causal.analysis import AttributionConfig, attribute_shift, windowed
from nodered_causal.analysis.graph import analysis_dag
from nodered_causal.collector import Store, flow_snapshot, record

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SECONDS = 15.0
WINDOW = 0.5

try:
    from nodered_causal.nodered import LocalNodeRed
    from nodered_causal.nodered.runtime import PLUGIN_DIR
    from tests.mqtt_helpers import free_port
except ImportError as exc:  # pragma: no cover - until the plugin is on this branch
    pytest.skip(f"needs the runtime and the plugin: {exc}", allow_module_level=True)


def _flows(bias: float) -> list[dict[str, Any]]:
    flows: list[dict[str, Any]] = json.loads((REPO / "flows" / "sensor-pipeline.json").read_text())
    flows = copy.deepcopy(flows)
    for node in flows:
        if node["id"] == "src_tick":
            node["repeat"] = "0.01"  # 100 messages/s: enough windows in a short test
        if node["id"] == "calibrate" and bias:
            node["func"] = f"msg.payload.temperature += {bias};\n" + node["func"]
    return flows


def _split(cols: dict[str, list[Any]], start: int, end: int) -> dict[str, list[Any]]:
    keep = [start <= t < end for t in cols["ts_ns"]]
    return {k: [v for v, ok in zip(values, keep, strict=True) if ok] for k, values in cols.items()}


def test_live_bias_in_a_function_node_is_blamed(tmp_path: Path, mqtt_prefix: str) -> None:
    """One recording: SECONDS clean, then calibrate redeployed with the bias for SECONDS."""
    port = free_port()
    settings = {
        "causalTap": {
            "instance": mqtt_prefix,
            "transport": "http",
            "url": f"http://127.0.0.1:{port}",
            "flushMs": 50,
        }
    }
    switched: list[int] = []
    with (
        Store(tmp_path / "runs.db") as store,
        LocalNodeRed("4", flows=_flows(0.0), plugins=[PLUGIN_DIR], settings=settings) as nr,
    ):

        def inject_bias() -> None:
            _, rev = nr.client.get_flows()
            switched.append(time.time_ns())
            nr.client.deploy(_flows(2.0), rev=rev)

        timer = threading.Timer(2 * SECONDS, inject_bias)
        snap = flow_snapshot(nr.url)
        started = time.time_ns()
        record(
            store, "live", seconds=3 * SECONDS, http=("127.0.0.1", port), snapshot=snap,
            grace=1.5, on_started=lambda _: timer.start(),
        )  # fmt: skip
        timer.cancel()
        dag = analysis_dag(store.run("live").dag or {})
        cols = store.record_columns("live")
    assert switched, "the biased flow was never deployed"
    second = 1_000_000_000
    half = int(SECONDS * second)
    base = _split(cols, started + 2 * second, started + second + half)
    clean = _split(cols, started + second + half, switched[0])
    incident = _split(cols, switched[0] + second, switched[0] + half + 2 * second)
    temperature = ("read_sensor", "calibrate", "to_fahrenheit", "humidity_check")
    fields = {**dict.fromkeys(temperature, "payload.temperature"), "comfort": "payload.comfort",
              "sink": "payload.comfort"}  # fmt: skip
    frames = [windowed(c, window_s=WINDOW, field=fields) for c in (base, clean, incident)]
    config = AttributionConfig(window_s=WINDOW)
    result = attribute_shift(dag, frames[0], frames[2], "sink", config=config)
    print(result.to_text())
    assert result.top == "calibrate", result.to_text()
    assert "src_tick: its value only counts time (a timestamp or counter), left out" in result.notes
    quiet = attribute_shift(dag, frames[0], frames[1], "sink", config=config)
    assert quiet.blamed == (), quiet.to_text()
