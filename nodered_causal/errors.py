"""The one exception tree of nodered-causal.

Every error the library raises on purpose derives from :class:`NoderedCausalError`; the CLI maps it
to ``ErrorName: message`` on stderr and exit code 2 (input/usage) or 1 (a run that failed)::

    NoderedCausalError
    ├── FlowError                  a flow export is malformed or inconsistent (file, node, tab)
    │   ├── FlowParseError         not JSON, not a list of nodes, no id, duplicate ids, ...
    │   └── UnknownWireTargetError a wire to a missing id, raised instead of warned under --strict
    ├── NodeRedError               talking to a Node-RED instance failed (url, action)
    │   ├── NodeRedConnectionError connection refused, timeout, not Node-RED at all
    │   ├── AuthError              admin auth needed, missing or wrong credentials
    │   ├── FlowsChangedError      someone deployed meanwhile (stale rev, HTTP 409)
    │   ├── MissingNodeTypesError  a flow uses node types the instance does not have
    │   └── RuntimeStartError      a managed local Node-RED failed to install or start
    ├── TapError                   installing or configuring the wire-tap plugin failed
    ├── TransportError             MQTT / HTTP transport to or from the collector failed
    ├── StoreError                 the record store is missing, locked, or a run is unknown
    │   ├── DataLossError          a recording lost records (gaps in seq, tap drops)
    │   ├── StoreWriteError        the collector stopped storing (disk full, I/O, a bug)
    │   └── UnstorableRecordError  the store cannot take a record (the collector sets it aside)
    ├── AnalysisError              attribution could not run (node, reason)
    │   ├── CycleError             the analysis graph has a cycle (lists it)
    │   └── MissingDataError       no records / columns for a node the analysis needs
    ├── ExperimentError            fault injection, restore or an experiment campaign failed
    │   └── InjectionError         a fault could not be injected or restored
    └── ReportError                a report could not be drawn or written (e.g. no graphviz)

Errors carry the details as attributes too (``path``, ``node_id``, ``node_type``, ``tab``), like
sqlglot's ``ParseError.errors``, so callers never parse messages.
"""

from __future__ import annotations

__all__ = [
    "AnalysisError",
    "AuthError",
    "CycleError",
    "DataLossError",
    "ExperimentError",
    "FlowError",
    "FlowParseError",
    "FlowsChangedError",
    "InjectionError",
    "MissingDataError",
    "MissingNodeTypesError",
    "NodeRedConnectionError",
    "NodeRedError",
    "NoderedCausalError",
    "ReportError",
    "RuntimeStartError",
    "StoreError",
    "StoreWriteError",
    "TapError",
    "TransportError",
    "UnknownWireTargetError",
    "UnstorableRecordError",
]


class NoderedCausalError(Exception):
    """Base class of every error nodered-causal raises on purpose."""

    #: Process exit code the CLI uses for this error (2 = bad input or usage, 1 = a run failed).
    exit_code: int = 1


class FlowError(NoderedCausalError):
    """A flow export is malformed or inconsistent.

    ``path`` is the file (or ``"<stdin>"``, ``"<data>"``, a URL), ``node_id``/``node_type``/``tab``
    locate the offending node where there is one.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        node_id: str | None = None,
        node_type: str | None = None,
        tab: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.node_id = node_id
        self.node_type = node_type
        self.tab = tab


class FlowParseError(FlowError):
    """The input is not a valid Node-RED flow export."""


class UnknownWireTargetError(FlowError):
    """A wire targets a node id that does not exist (an error only under ``strict``)."""


class NodeRedError(NoderedCausalError):
    """Talking to a Node-RED instance failed; ``url`` and ``action`` say where and what."""

    def __init__(self, message: str, *, url: str | None = None, action: str | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.action = action


class NodeRedConnectionError(NodeRedError):
    """The instance could not be reached, timed out, or is not a Node-RED Admin API."""


class AuthError(NodeRedError):
    """The Admin API needs credentials that are missing or wrong."""

    exit_code = 2


class FlowsChangedError(NodeRedError):
    """The deployed flows changed since they were read (stale ``rev``); nothing was overwritten."""


class MissingNodeTypesError(NodeRedError):
    """A flow uses node types that the instance does not have installed."""

    exit_code = 2

    def __init__(
        self, message: str, *, missing: list[str], url: str | None = None, action: str | None = None
    ) -> None:
        super().__init__(message, url=url, action=action)
        self.missing = missing


class RuntimeStartError(NodeRedError):
    """A managed local Node-RED failed to install or start; the message carries its log tail."""


class TapError(NoderedCausalError):
    """Installing or configuring the wire-tap plugin failed."""


class TransportError(NoderedCausalError):
    """Shipping or receiving records over MQTT or HTTP failed."""


class StoreError(NoderedCausalError):
    """The record store is missing, unreadable, locked, or a named run does not exist."""

    exit_code = 2


class DataLossError(StoreError):
    """A recording lost records: gaps in ``seq`` or drops reported by the tap."""

    exit_code = 1


class StoreWriteError(StoreError):
    """The collector stopped storing (disk full, I/O error, a bug in the writer); whatever was
    not stored was not acknowledged either (MQTT redelivers it, HTTP got 503)."""

    exit_code = 1


class UnstorableRecordError(StoreError):
    """The store cannot take a record (a value outside what it stores); the collector sets the
    record aside as rejected instead of retrying it."""


class AnalysisError(NoderedCausalError):
    """Attribution could not run; ``node_id`` names the node where it applies."""

    def __init__(self, message: str, *, node_id: str | None = None) -> None:
        super().__init__(message)
        self.node_id = node_id


class CycleError(AnalysisError):
    """The graph handed to the analysis has a cycle; ``cycle`` lists its edges."""

    def __init__(self, message: str, *, cycle: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.cycle = cycle


class MissingDataError(AnalysisError):
    """There is no data (records, columns) for a node the analysis needs."""

    exit_code = 2


class ExperimentError(NoderedCausalError):
    """Fault injection, restore or an experiment campaign failed."""


class InjectionError(ExperimentError):
    """A fault could not be injected into, or restored from, a live flow."""


class ReportError(NoderedCausalError):
    """A report could not be drawn or written (graphviz missing, unwritable path)."""
