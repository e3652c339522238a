"""Read a flow export (file, stdin, or decoded data) and run the passes: the only I/O of flows/."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any, BinaryIO

from nodered_causal.errors import FlowParseError, UnknownWireTargetError
from nodered_causal.flows._gc import gc_paused
from nodered_causal.flows.ir import Flow
from nodered_causal.flows.parse import parse_flow
from nodered_causal.flows.passes import RULES, STRICT_CODES, apply_rules

__all__ = ["MAX_FLOW_BYTES", "STDIN", "load_flow", "read_flow_json"]

logger = logging.getLogger(__name__)

#: The path that means "read standard input".
STDIN = "-"
#: The largest flow export read (bytes): a 10,000-node flow is about 5 MB, and Node-RED's Admin
#: API takes 5 MB by default (``apiMaxLength``).
MAX_FLOW_BYTES = 64 * 2**20


def read_flow_json(path: str | os.PathLike[str]) -> tuple[Any, str]:
    """Decode the JSON of a flow file (``"-"`` = stdin); returns ``(data, source name)``.

    At most :data:`MAX_FLOW_BYTES` are read (``/dev/zero`` or an endless pipe is an error, not a
    hang), and JSON nested deeper than Python's decoder goes is a :class:`FlowParseError`.
    """
    if str(path) == STDIN:
        source = "<stdin>"
        raw = _read_capped(sys.stdin.buffer, source)
    else:
        source = str(path)
        try:
            with open(path, "rb") as fh:
                raw = _read_capped(fh, source)
        except FileNotFoundError as exc:
            raise FlowParseError(f"{source} does not exist", path=source) from exc
        except IsADirectoryError as exc:
            raise FlowParseError(f"{source} is a directory, not a flow file", path=source) from exc
        except OSError as exc:
            raise FlowParseError(f"{source} cannot be read: {exc.strerror}", path=source) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FlowParseError(f"{source} is not JSON: not UTF-8 text", path=source) from exc
    try:
        return json.loads(text), source
    except json.JSONDecodeError as exc:
        raise FlowParseError(
            f"{source} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", path=source
        ) from exc
    except RecursionError as exc:
        raise FlowParseError(
            f"{source} is not a flow export: JSON nested too deeply", path=source
        ) from exc


def _read_capped(fh: BinaryIO, source: str) -> bytes:
    raw = fh.read(MAX_FLOW_BYTES + 1)
    if len(raw) > MAX_FLOW_BYTES:
        raise FlowParseError(
            f"{source} is larger than {MAX_FLOW_BYTES // 2**20} MiB: not a flow export",
            path=source,
        )
    return raw


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
