"""Contrib node modules for a managed Node-RED, and which node types a flow still lacks.

``LocalNodeRed(..., modules=["node-red-dashboard@3"])`` installs npm modules into its throw-away
userDir the way the editor's palette does (an npm install whose ``node_modules`` Node-RED scans),
once per set of specs into the cache (:func:`nodered_causal.nodered.runtime.install_plugins`).
Before Node-RED starts, the flow's node types are compared with what the runtime will provide:
the core nodes of the installed Node-RED plus every module in the userDir's ``node_modules``
whose ``package.json`` has a ``"node-red": {"nodes": ...}`` section (their types are the names
given to ``registerType`` in each node file and its ``.html``). A flow that needs more gets one
:class:`~nodered_causal.errors.MissingNodeTypesError` listing the missing types with a hint at
the module that usually provides them::

    flows/quake-dashboard.json uses node types that neither Node-RED 4 nor the installed modules
    provide: ui_chart, ui_group, ui_tab (node-red-dashboard); add --install MODULE for each
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodered_causal.errors import MissingNodeTypesError

__all__ = [
    "MODULE_HINTS",
    "ModuleSpec",
    "check_flow_types",
    "core_node_types",
    "module_hint",
    "module_node_types",
    "parse_module_spec",
    "userdir_node_types",
]

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$")
_VERSION = re.compile(r"^[A-Za-z0-9.^~<>=*|+ _-]+$")
_REGISTER = re.compile(r"""registerType\(\s*(['"`])([^'"`]+)\1""")

#: Node-type patterns -> the npm module that usually provides them (a hint, not a guarantee).
MODULE_HINTS: tuple[tuple[str, str], ...] = (
    (r"^ui_", "node-red-dashboard"),
    (r"^ui-", "@flowfuse/node-red-dashboard"),
    (r"^worldmap", "node-red-contrib-web-worldmap"),
    (r"^(serial in|serial out|serial request|serial-port)$", "node-red-node-serialport"),
    (r"^sqlite(db)?$", "node-red-node-sqlite"),
    (r"^(e-?mail|e-?mail in|e-?mail-mta)$", "node-red-node-email"),
    (r"^ping$", "node-red-node-ping"),
    (r"^smooth$", "node-red-node-smooth"),
    (r"^random$", "node-red-node-random"),
    (r"^tail$", "node-red-node-tail"),
    (r"^openweathermap", "node-red-node-openweathermap"),
    (r"^rpi-", "node-red-node-pi-gpio"),
    (r"^influxdb", "node-red-contrib-influxdb"),
    (r"^modbus-", "node-red-contrib-modbus"),
    (r"^(postgresql|postgreSQLConfig)$", "node-red-contrib-postgresql"),
    (r"^telegram", "node-red-contrib-telegrambot"),
    (r"^(api-|ha-|server-state-changed|server$)", "node-red-contrib-home-assistant-websocket"),
    (r"^msg-profiler", "node-red-contrib-msg-profiler"),
    (r"^table$", "node-red-node-ui-table"),
)


@dataclass(frozen=True)
class ModuleSpec:
    """An npm module to install: ``name`` and an optional ``version`` (a version or range)."""

    name: str
    version: str | None = None

    def __str__(self) -> str:
        return f"{self.name}@{self.version}" if self.version else self.name


def parse_module_spec(text: str) -> ModuleSpec:
    """``node-red-dashboard``, ``node-red-dashboard@3.6.6``, ``@flowfuse/node-red-dashboard@1``.

    >>> parse_module_spec("node-red-dashboard@3")
    ModuleSpec(name='node-red-dashboard', version='3')

    ``ValueError`` for anything npm would not read as a registry package name (paths, URLs,
    git specs, upper case, spaces).
    """
    text = text.strip()
    at = text.find("@", 1)  # a leading @ is a scope
    name, version = (text[:at], text[at + 1 :]) if at > 0 else (text, None)
    if not name or len(name) > 214 or not _NAME.match(name):
        raise ValueError(
            "must be an npm module name like node-red-dashboard or @scope/name, optionally @VERSION"
        )
    if version is not None and (not version.strip() or not _VERSION.match(version)):
        raise ValueError("the version after @ must be a version or range like 3 or 3.6.6")
    return ModuleSpec(name, version.strip() if version is not None else None)


def _registered(path: Path) -> set[str]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return set()
    return {m.group(2) for m in _REGISTER.finditer(text)}


def module_node_types(package_dir: Path) -> set[str]:
    """Node types a Node-RED node module registers: for each file of ``"node-red".nodes`` in its
    ``package.json``, the ``registerType`` names in it and in its ``.html`` twin. Empty for a
    package that is not a node module (a plugin, a library)."""
    try:
        manifest = json.loads((package_dir / "package.json").read_text())
    except (OSError, ValueError):
        return set()
    nodes = manifest.get("node-red", {}).get("nodes") if isinstance(manifest, dict) else None
    if not isinstance(nodes, Mapping):
        return set()
    types: set[str] = set()
    for rel in nodes.values():
        if not isinstance(rel, str):
            continue
        js = package_dir / rel
        types |= _registered(js) | _registered(js.with_suffix(".html"))
    return types


def _packages(node_modules: Path) -> Iterable[Path]:
    if not node_modules.is_dir():
        return
    for entry in sorted(node_modules.iterdir()):
        if entry.name.startswith("@"):
            yield from sorted(p for p in entry.iterdir() if p.is_dir())
        elif entry.is_dir() and not entry.name.startswith("."):
            yield entry


def userdir_node_types(user_dir: Path) -> dict[str, set[str]]:
    """``{module name: node types}`` of the node modules in ``user_dir/node_modules``."""
    found: dict[str, set[str]] = {}
    for pkg in _packages(user_dir / "node_modules"):
        types = module_node_types(pkg)
        if types:
            found[pkg.relative_to(user_dir / "node_modules").as_posix()] = types
    return found


def core_node_types(node_red_home: Path) -> set[str]:
    """Node types of the core nodes (``@node-red/nodes``) of a Node-RED installed at
    ``node_red_home`` (the directory holding ``node_modules/node-red``)."""
    core = node_red_home / "node_modules" / "@node-red" / "nodes" / "core"
    types: set[str] = set()
    for path in core.rglob("*"):
        if path.suffix in (".js", ".html"):
            types |= _registered(path)
    return types


def module_hint(node_type: str) -> str | None:
    """The npm module that usually provides ``node_type`` (:data:`MODULE_HINTS`), or None."""
    for pattern, module in MODULE_HINTS:
        if re.search(pattern, node_type):
            return module
    return None


def check_flow_types(
    flows: Sequence[Mapping[str, Any]],
    provided: set[str],
    *,
    where: str,
    runtime: str,
    installed: Sequence[str] = (),
) -> None:
    """Raise :class:`MissingNodeTypesError` when ``flows`` need node types outside ``provided``.

    ``where`` names the flow (a file), ``runtime`` the Node-RED (``Node-RED 4``), ``installed``
    the modules given to install; the message lists the missing types grouped by the module that
    usually provides them.
    """
    from nodered_causal.nodered.client import flow_node_types

    missing = sorted(flow_node_types(flows) - provided)
    if not missing:
        return
    by_module: dict[str | None, list[str]] = {}
    for node_type in missing:
        by_module.setdefault(module_hint(node_type), []).append(node_type)
    parts = [
        f"{', '.join(types)} ({module})" if module else f"{', '.join(types)} (module unknown)"
        for module, types in sorted(by_module.items(), key=lambda kv: kv[1][0])
    ]
    hints = sorted(m for m in by_module if m and m not in installed)
    fix = (
        " ".join(f"--install {m}" for m in hints)
        if hints
        else "--install MODULE with the module that provides them"
    )
    got = f" (installed: {', '.join(installed)})" if installed else ""
    raise MissingNodeTypesError(
        f"{where} uses node types that neither {runtime} nor the installed modules{got} "
        f"provide: {'; '.join(parts)}. Nothing was started; add {fix}",
        missing=missing,
        action="check the flow's node types",
    )
