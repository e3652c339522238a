"""nodered-causal: find why a Node-RED flow misbehaves.

A flow export is a complete causal graph: every wire is a known causal arrow. The pipeline is
``flows`` (export -> IR -> causal DAG) -> ``tap`` (records every wire) -> ``collector`` (durable
store) -> ``analysis`` (dowhy GCM attribution) -> ``faults``/``experiment`` -> ``report``.

Public names are re-exported here lazily so ``import nodered_causal`` stays cheap.
"""

from __future__ import annotations

from nodered_causal.errors import *  # noqa: F403
from nodered_causal.errors import __all__ as _error_names

__version__ = "0.1.0"

__all__ = sorted([*_error_names])
