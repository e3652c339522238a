"""Shared helpers of the analysis tests: the causal DAG of a real bundled flow."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx

FLOWS = Path(__file__).resolve().parents[2] / "flows"
SENSOR = FLOWS / "sensor-pipeline.json"
#: Nodes of flows/sensor-pipeline.json upstream of the dashboard sink that send messages.
SENSOR_SENDERS = (
    "src_tick",
    "read_sensor",
    "calibrate",
    "to_fahrenheit",
    "humidity_check",
    "comfort",
)


def flow_dag(path: Path = SENSOR) -> nx.DiGraph:
    """The causal DAG via the importer (``to_causal_dag``), or from the wires until it lands."""
    try:
        from nodered_causal.flows import load_flow, to_causal_dag  # type: ignore[attr-defined]
    except ImportError:
        data = json.loads(path.read_text())
        dag = nx.DiGraph()
        for node in data:
            if "x" in node and "y" in node:
                dag.add_node(
                    node["id"], id=node["id"], type=node["type"], name=node.get("name", "")
                )
        for node in data:
            for port, targets in enumerate(node.get("wires") or []):
                for target in targets:
                    dag.add_edge(node["id"], target, port=port, kind="wire")
        return dag
    return to_causal_dag(load_flow(path), condensed=True)
