"""Read a flow export (file, stdin, or decoded data) and run the passes: the only I/O of flows/."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from nodered_causal.errors import FlowParseError, UnknownWireTargetError
from nodered_causal.flows._gc import gc_paused
from nodered_causal.flows.ir import Flow
from nodered_causal.flows.parse import parse_flow
from nodered_causal.flows.passes import RULES, STRICT_CODES, apply_rules

__all__ = ["STDIN", "load_flow", "read_flow_json"]

logger = logging.getLogger(__name__)

#: The path that means "read standard input".
STDIN = "-"


def read_flow_json(path: str | os.PathLike[str]) -> tuple[Any, str]:
    """Decode the JSON of a flow file (``"-"`` = stdin); returns ``(data, source name)``."""
    if str(path) == STDIN:
        source = "<stdin>"
        text = sys.stdin.read()
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except FileNotFoundError as exc:
            raise FlowParseError(f"{source} does not exist", path=source) from exc
        except IsADirectoryError as exc:
            raise FlowParseError(f"{source} is a directory, not a flow file", path=source) from exc
        except UnicodeDecodeError as exc:
            raise FlowParseError(f"{source} is not JSON: not UTF-8 text", path=source) from exc
        except OSError as exc:
            raise FlowParseError(f"{source} cannot be read: {exc.strerror}", path=source) from exc
    try:
        return json.loads(text), source
    except json.JSONDecodeError as exc:
        raise FlowParseError(
            f"{source} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", path=source
        ) from exc


def load_flow(
    path_or_data: str | os.PathLike[str] | list[Any] | dict[str, Any],
    *,
    strict: bool = False,
    source: str | None = None,
) -> Flow:
    """Load a Node-RED flow export into the runtime-view IR.

    ``path_or_data`` is a file path (``"-"`` reads stdin), a decoded export (a list of node
    objects) or the Admin API v2 shape ``{"flows": [...], "rev": "..."}``. ``source`` names the
    input in messages (default: the path, ``<stdin>`` or ``<data>``).

    Malformed input raises :class:`~nodered_causal.errors.FlowParseError`. Wires to ids that do
    not exist are dropped with a warning in ``Flow.warnings``; with ``strict=True`` the first one
    raises :class:`~nodered_causal.errors.UnknownWireTargetError` instead.
    """
    if isinstance(path_or_data, str | os.PathLike):
        data, name = read_flow_json(path_or_data)
        name = source or name
    else:
        data = path_or_data
        name = source or "<data>"
    with gc_paused():
        flow = apply_rules(parse_flow(data, source=name), RULES)
    for found in flow.warnings:
        if strict and found.code in STRICT_CODES:
            raise UnknownWireTargetError(
                found.message,
                path=found.path,
                node_id=found.node_id,
                node_type=found.node_type,
                tab=found.tab,
            )
        logger.info("%s", found.message)
    return flow
