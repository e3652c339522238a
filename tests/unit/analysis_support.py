"""Shared helpers of the analysis tests: the causal DAG of a real bundled flow."""

from __future__ import annotations

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
    """The flow's condensed analysis DAG from the importer."""
    from nodered_causal.flows import load_flow, to_causal_dag

    return to_causal_dag(load_flow(path), condensed=True)
