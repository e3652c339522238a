"""Talk to Node-RED: the Admin API client and a managed local runtime."""

from __future__ import annotations

from nodered_causal.nodered.client import DEPLOYMENT_TYPES, NodeRedClient, flow_node_types
from nodered_causal.nodered.install import cache_dir, ensure_node_red, examples_dir, node_binary
from nodered_causal.nodered.runtime import LocalNodeRed, install_plugins, read_flows_file

__all__ = [
    "DEPLOYMENT_TYPES",
    "LocalNodeRed",
    "NodeRedClient",
    "cache_dir",
    "ensure_node_red",
    "examples_dir",
    "flow_node_types",
    "install_plugins",
    "node_binary",
    "read_flows_file",
]
