"""End to end: Node-RED + the tap plugin -> Mosquitto -> ``nodered-causal record`` -> the store.

Uses the topology flow of the plugin's own tests (junction, switch with two outputs, link out/in,
a subflow, a function building new objects, a delay): the store must hold exactly the expected
deliveries per edge, every (src, dst) must be an edge of the importer's DAG that the run noted,
and the parent links must lead from each sink delivery back to its inject.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from nodered_causal.collector import Store

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

try:  # the plugin's test module defines the flow and what it must produce
    from nodered_causal.flows import to_causal_dag  # noqa: F401
    from nodered_causal.nodered import LocalNodeRed
    from nodered_causal.nodered.runtime import PLUGIN_DIR
    from tests.integration.test_tap_plugin import (
        SINK_PATHS,
        N,
        expected_edges,
        tap_config,
        topology_flow,
    )
    from tests.mqtt_helpers import free_port
except ImportError as exc:  # pragma: no cover - until the importer and plugin are on this branch
    pytest.skip(f"needs the importer and the plugin: {exc}", allow_module_level=True)


def _rows(cols: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(cols, values, strict=True)) for values in zip(*cols.values(), strict=True)]


@pytest.mark.parametrize("transport", ["mqtt", "http"])
def test_node_red_tap_record_store(tmp_path: Path, mqtt_prefix: str, transport: str) -> None:
    db = tmp_path / "runs.db"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if transport == "mqtt":
        settings = tap_config(mqtt_prefix)
        where = [
            "--mqtt",
            "mqtt://127.0.0.1:1883",
            "--topic",
            f"nodered-causal/{mqtt_prefix}/records",
        ]
    else:  # the tap retries with backoff until the collector listens
        port = free_port()
        settings = tap_config(mqtt_prefix, transport="http", url=f"http://127.0.0.1:{port}")
        where = ["--http", f"127.0.0.1:{port}"]
    with LocalNodeRed(
        "4", flows=topology_flow(mqtt_prefix), plugins=[PLUGIN_DIR], settings=settings
    ) as nr:
        _, rev = nr.client.get_flows()
        args = ["--url", nr.url, *where, "--run", "e2e", "--seconds", "3", "--grace", "1.5"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "nodered_causal", "record", *args, "--store", str(db), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            assert "recording run 'e2e'" in line, line + proc.stderr.read()
            for _ in range(N):
                nr.client.inject("inj")
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert report["ok"] is True and report["lost"] == 0, report
    (stream,) = report["completeness"]
    assert (stream["tap"], stream["gaps"], stream["dropped"], stream["rejected"]) == (
        mqtt_prefix,
        0,
        0,
        0,
    )

    with Store(db, create=False) as store:
        run = store.run("e2e")
        rows = _rows(store.record_columns(run))
    assert run.flow_rev == rev
    assert run.taps == (mqtt_prefix,)
    delivers = [r for r in rows if r["kind"] == "deliver"]
    assert Counter((r["src"], r["port"], r["dst"]) for r in delivers) == expected_edges(N)
    dag_edges = {(e["source"], e["target"]) for e in run.dag["edges"]}
    assert {(r["src"], r["dst"]) for r in delivers} <= dag_edges

    by_seq = {r["seq"]: r for r in delivers}
    sinks = [r for r in delivers if r["dst"] in SINK_PATHS]
    assert len(sinks) == 2 * N
    for sink in sinks:
        chain = [sink]
        while chain[-1]["parent"] is not None:
            chain.append(by_seq[chain[-1]["parent"]])
        chain.reverse()
        path, value_of = SINK_PATHS[sink["dst"]]
        assert [chain[0]["src"]] + [c["dst"] for c in chain] == path
        assert {c["trace"] for c in chain} == {chain[0]["seq"]}
        v = chain[1]["payload.v"]  # the generator's output value
        assert (sink["payload"] if sink["payload"] is not None else sink["payload.v"]) == value_of(
            v
        )
