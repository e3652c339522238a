"""Talk to Node-RED: the Admin API client and a managed local runtime."""

from __future__ import annotations

from nodered_causal.nodered.install import cache_dir, ensure_node_red, examples_dir, node_binary

__all__ = ["cache_dir", "ensure_node_red", "examples_dir", "node_binary"]
