"""The typed IR of a Node-RED flow: frozen dataclasses, no raw dicts.

:func:`nodered_causal.flows.parse.parse_flow` builds a definition-level :class:`Flow` (nodes as in
the export); the passes in :mod:`nodered_causal.flows.passes` rewrite it into the *runtime* view:
subflow instances expanded to runtime ids, link wires resolved, every hop the runtime can make an
:class:`Edge`. Node ids in the runtime view are the ids the Node-RED runtime (and our tap) uses::

    <id>                           a node on a tab
    <instanceId>-<innerId>         a node inside a subflow instance (nested: prefixed again)
    <instanceId>:status            the subflow's status output of one instance

Edge kinds (``Edge.kind``):

``wire``
    an ordinary wire between two nodes of the same flow (or tab to tab);
``link``
    ``link out`` (mode link) to its ``link in`` targets — a normal send at runtime;
``subflow``
    a wire that crosses a subflow boundary: instance node to the subflow's entry nodes, inner
    node to the instance's outer targets (subflow outputs are not a hop), instance straight to
    outer targets (an input wired to an output), inner node to ``<instanceId>:status``;
``link-call`` / ``link-return``
    ``link call`` to its static ``link in`` target and a ``return`` link out back to the calling
    ``link call`` (both delivered with ``receive()``, no send hook);
``catch`` / ``status`` / ``complete``
    a node to the catch/status/complete node whose scope it is in (no port).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, Literal

__all__ = [
    "EDGE_KINDS",
    "WIRE_KINDS",
    "ConfigNode",
    "Edge",
    "EdgeKind",
    "Flow",
    "FlowNode",
    "FlowWarning",
    "Group",
    "PortRef",
    "Scope",
    "SubflowDef",
    "Tab",
    "Wire",
]

EdgeKind = Literal[
    "wire", "link", "subflow", "link-call", "link-return", "catch", "status", "complete"
]

#: Every edge kind, in the order the CLI lists them.
EDGE_KINDS: tuple[str, ...] = (
    "wire",
    "link",
    "subflow",
    "link-call",
    "link-return",
    "catch",
    "status",
    "complete",
)
#: Kinds that carry the message itself from a node's output port (a send at runtime).
WIRE_KINDS: frozenset[str] = frozenset({"wire", "link", "subflow"})

#: Scope of a catch/status/complete node: ``None`` (whole flow), ``"group"``, or node ids.
Scope = str | tuple[str, ...] | None

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


@dataclass(frozen=True, slots=True)
class Tab:
    """A flow tab. ``implicit`` tabs were not in the export (see ``assign_implicit_tab``)."""

    id: str
    label: str
    disabled: bool = False
    implicit: bool = False
    info: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    """A group box; ``g`` is the enclosing group (groups nest). Needed for catch/status scopes."""

    id: str
    z: str
    g: str | None = None
    name: str = ""


@dataclass(frozen=True, slots=True)
class PortRef:
    """One wire of a subflow port: node ``id`` (or the subflow's own id), output ``port``."""

    id: str
    port: int = 0


@dataclass(frozen=True, slots=True)
class ConfigNode:
    """A config node (no x/y): kept in the IR, never a node of the causal graph."""

    id: str
    type: str
    name: str = ""
    z: str | None = None
    config: Mapping[str, Any] = field(default_factory=_empty, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class FlowNode:
    """A flow node (one with x and y), at definition level or as a runtime node.

    ``wires[port]`` are the ids the runtime sends to from output ``port``. ``tab`` is the id of
    the tab the node runs on (``""`` for a node of a subflow definition); ``z`` its container at
    runtime (tab id, or the instance id for a node inside a subflow instance); ``subflow_path``
    the instance ids from the outermost in; ``alias`` the id in the subflow definition;
    ``subflow`` the definition id when the node is a subflow instance. ``scope`` and ``links``
    are the (remapped) properties of catch/status/complete and link nodes. ``disabled`` means
    the node does not run (``d: true``, or its tab is disabled).
    """

    id: str
    type: str
    name: str = ""
    z: str = ""
    tab: str = ""
    x: float | None = None
    y: float | None = None
    wires: tuple[tuple[str, ...], ...] = ()
    disabled: bool = False
    g: str | None = None
    subflow_path: tuple[str, ...] = ()
    alias: str | None = None
    subflow: str | None = None
    scope: Scope = None
    links: tuple[str, ...] = ()
    config: Mapping[str, Any] = field(default_factory=_empty, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class SubflowDef:
    """A subflow definition: its ports and its own (definition-level) nodes."""

    id: str
    name: str
    inputs: tuple[tuple[str, ...], ...] = ()
    outputs: tuple[tuple[PortRef, ...], ...] = ()
    status: tuple[PortRef, ...] | None = None
    nodes: tuple[FlowNode, ...] = ()
    config_nodes: tuple[ConfigNode, ...] = ()
    groups: tuple[Group, ...] = ()


@dataclass(frozen=True, slots=True)
class Edge:
    """One hop the runtime can make: ``source`` output ``port`` to ``target``."""

    source: str
    target: str
    port: int | None
    kind: EdgeKind


#: The runtime calls a hop a wire; both names mean :class:`Edge`.
Wire = Edge


@dataclass(frozen=True, slots=True)
class FlowWarning:
    """Something in the export that the runtime tolerates but a careful user wants to know.

    ``code`` is stable (``unknown-wire-target``, ``dynamic-link-call``, ...); ``message`` names
    the node, its type, tab and the file.
    """

    code: str
    message: str
    node_id: str | None = None
    node_type: str | None = None
    tab: str | None = None
    path: str | None = None
    target: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class Flow:
    """A parsed flow export.

    After :func:`~nodered_causal.flows.load.load_flow` ``nodes`` are the runtime nodes (subflow
    instances expanded, disabled ones kept with ``disabled=True``) and ``edges`` every hop.
    ``notes`` say what was excluded or assumed; ``warnings`` what looks wrong.
    """

    source: str = "<data>"
    rev: str | None = None
    tabs: tuple[Tab, ...] = ()
    subflows: tuple[SubflowDef, ...] = ()
    groups: tuple[Group, ...] = ()
    nodes: tuple[FlowNode, ...] = ()
    config_nodes: tuple[ConfigNode, ...] = ()
    edges: tuple[Edge, ...] = ()
    warnings: tuple[FlowWarning, ...] = ()
    notes: tuple[str, ...] = ()

    @cached_property
    def node_by_id(self) -> Mapping[str, FlowNode]:
        return MappingProxyType({n.id: n for n in self.nodes})

    @cached_property
    def tab_by_id(self) -> Mapping[str, Tab]:
        return MappingProxyType({t.id: t for t in self.tabs})

    @cached_property
    def subflow_by_id(self) -> Mapping[str, SubflowDef]:
        return MappingProxyType({s.id: s for s in self.subflows})

    @property
    def active_nodes(self) -> tuple[FlowNode, ...]:
        """The nodes that run (not disabled)."""
        return tuple(n for n in self.nodes if not n.disabled)

    def tab_label(self, tab_id: str) -> str:
        """The label of tab ``tab_id`` (its id when it has none)."""
        tab = self.tab_by_id.get(tab_id)
        return (tab.label or tab.id) if tab else tab_id
