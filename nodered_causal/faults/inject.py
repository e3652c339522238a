"""Inject faults into a live flow through the tap plugin, and restore it exactly.

Why the plugin and not a flow rewrite: the plugin's ``/causal-tap/faults`` endpoint transforms
the chosen node's outgoing messages in a ``preRoute`` hook, so nothing is redeployed — runtime
ids stay the ones the user sees, node state (contexts, timers, joins) is not reset by a restart,
credentials are never re-sent, and restoring is removing the hook. The deployed flows and their
``rev`` are the same before, during and after; :meth:`FaultInjector.restore` checks that.

Crash safety: before a fault is sent, a state file records the instance, the fault and the
deployed ``rev`` (``<cache>/faults/<host_port>.json``). If the tool dies mid-injection, the next
``restore`` for that URL finds it, removes every fault on the instance, and deletes the file.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nodered_causal.errors import (
    FaultNotAppliedError,
    InjectionError,
    TapError,
    UnknownNodeError,
)
from nodered_causal.faults.spec import Fault
from nodered_causal.nodered.client import NodeRedClient
from nodered_causal.nodered.install import cache_dir

__all__ = ["FaultInjector", "RestoreReport", "state_path"]

logger = logging.getLogger(__name__)

FAULTS_PATH = "/causal-tap/faults"


def state_path(url: str, state_dir: Path | None = None) -> Path:
    """Where the pending-fault state of the instance at ``url`` is kept."""
    folder = state_dir if state_dir is not None else cache_dir() / "faults"
    return folder / (re.sub(r"[^A-Za-z0-9]+", "_", url.split("://", 1)[-1]).strip("_") + ".json")


@dataclass(frozen=True)
class RestoreReport:
    """What :meth:`FaultInjector.restore` removed, and whether the flows stayed untouched."""

    url: str
    removed: list[dict[str, Any]] = field(default_factory=list)
    rev_before: str | None = None
    rev_after: str | None = None
    from_state_file: bool = False

    @property
    def flows_unchanged(self) -> bool | None:
        if self.rev_before is None:
            return None
        return self.rev_before == self.rev_after


class FaultInjector:
    """Inject and restore faults on one Node-RED instance that runs the causal-tap plugin."""

    def __init__(self, client: NodeRedClient, *, state_dir: str | Path | None = None) -> None:
        self.client = client
        self.state_file = state_path(client.url, Path(state_dir) if state_dir else None)

    def active(self) -> list[dict[str, Any]]:
        """The faults active on the instance now."""
        _, data = self._call("GET", FAULTS_PATH, "list faults")
        return list(data.get("faults", [])) if isinstance(data, dict) else []

    def inject(self, node_id: str, fault: Fault, *, seed: int | None = None) -> dict[str, Any]:
        """Apply ``fault`` to ``node_id``'s outgoing messages; returns the plugin's fault doc."""
        self.active()  # fails clearly when the plugin is missing
        _, rev = self.client.get_flows()
        self._save_state(node_id, fault, rev)
        status, data = self._call(
            "POST", FAULTS_PATH, f"inject {fault} at {node_id}",
            body=fault.plugin_body(node_id, seed=seed), ok=(400, 404),
        )  # fmt: skip
        if status in (400, 404):
            reason = data.get("error") if isinstance(data, dict) else data
            if not self.active():
                self.state_file.unlink(missing_ok=True)
            message = f"cannot inject {fault} at node {node_id!r} on {self.client.url}: {reason}"
            if status == 404:
                raise UnknownNodeError(message, node_id=node_id)
            raise InjectionError(message)
        logger.info("injected %s at %s on %s", fault, node_id, self.client.url)
        return dict(data.get("fault", {})) if isinstance(data, dict) else {}

    def inject_verified(
        self,
        node_id: str,
        fault: Fault,
        *,
        seed: int | None = None,
        wait: float = 10.0,
        resolve_field: bool = False,
        poll: float = 0.1,
    ) -> dict[str, Any]:
        """Inject ``fault`` and wait (up to ``wait`` s) until the tap reports it applied to at
        least one message; otherwise remove it again and raise
        :class:`~nodered_causal.errors.FaultNotAppliedError` saying what the tap saw.

        With ``resolve_field`` (no field was chosen), a value fault whose field turns out not to
        be a number moves to the first numeric leaf the tap found below it (``payload.total``),
        as campaigns pick a node's first numeric leaf. Returns the plugin's fault document
        (``seen``, ``applied``, ``field``, ...).
        """
        self.inject(node_id, fault, seed=seed)
        deadline = time.monotonic() + wait
        doc = self._wait_applied(node_id, fault, deadline, poll, stop_on_skip=resolve_field)
        skip = doc.get("last_skip") or {}
        if resolve_field and not doc.get("applied") and fault.changes_field and skip.get("leaves"):
            fault = replace(fault, field=str(skip["leaves"][0]))
            logger.info("%s at %s: %s is %s; using %s", fault.kind, node_id, skip.get("field"),
                        skip.get("type"), fault.field)  # fmt: skip
            self.inject(node_id, fault, seed=seed)
            doc = self._wait_applied(node_id, fault, deadline, poll, stop_on_skip=False)
        if doc.get("applied"):
            return doc
        self._remove(node_id)
        seen = int(doc.get("seen") or 0)
        raise FaultNotAppliedError(
            f"fault {fault} at node {node_id!r} on {self.client.url} changed no message in "
            f"{wait:g} s (seen {seen}, applied 0{_why(fault, doc, wait)}); it was removed again",
            seen=seen,
            applied=0,
            detail=_why(fault, doc, wait).removeprefix(": "),
        )

    def _wait_applied(
        self, node_id: str, fault: Fault, deadline: float, poll: float, *, stop_on_skip: bool
    ) -> dict[str, Any]:
        """The node's fault document once it applied (or the deadline passed; or, with
        ``stop_on_skip``, a value fault found a non-number it can describe)."""
        while True:
            doc = next((f for f in self.active() if f.get("node") == node_id), None)
            if doc is None:
                raise InjectionError(f"the fault at {node_id!r} disappeared (someone restored it)")
            if doc.get("applied"):
                return doc
            skipped_all = doc.get("seen") and doc.get("skipped") == doc.get("seen")
            if stop_on_skip and fault.changes_field and skipped_all and doc.get("last_skip"):
                return doc
            if skipped_all and int(doc["seen"]) >= _ENOUGH_SKIPS:
                return doc
            if time.monotonic() >= deadline:
                return doc
            time.sleep(poll)

    def _remove(self, node_id: str) -> None:
        self._call("DELETE", f"{FAULTS_PATH}/{quote(node_id, safe='')}", "remove fault", ok=(404,))
        if not self.active():
            self.state_file.unlink(missing_ok=True)

    def restore(self) -> RestoreReport:
        """Remove every fault on the instance, check the flows' rev, forget the state file."""
        saved = self._load_state()
        _, removed = self._call("DELETE", FAULTS_PATH, "remove faults")
        _, rev_after = self.client.get_flows()
        rev_before = saved.get("rev") if saved else None
        if rev_before is not None and rev_before != rev_after:
            logger.warning(
                "flows on %s were redeployed during the injection (rev %s -> %s); they were not "
                "touched by nodered-causal",
                self.client.url, rev_before, rev_after,
            )  # fmt: skip
        self.state_file.unlink(missing_ok=True)
        return RestoreReport(
            url=self.client.url,
            removed=list(removed.get("removed", [])) if isinstance(removed, dict) else [],
            rev_before=rev_before,
            rev_after=rev_after,
            from_state_file=saved is not None,
        )

    # -- internals ----------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, action: str, *, body: Any = None, ok: tuple[int, ...] = ()
    ) -> tuple[int, Any]:
        status, data = self.client.request_json(
            method, path, action=action, body=body, ok=(*ok, 404)
        )
        if status == 404 and 404 not in ok:
            raise TapError(
                f"{action}: {self.client.url} has no causal-tap plugin (or its faults are off): "
                "install it with 'nodered-causal tap install'"
            )
        return status, data

    def _save_state(self, node_id: str, fault: Fault, rev: str) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        saved = self._load_state() or {"url": self.client.url, "rev": rev, "faults": []}
        saved["faults"].append({"node": node_id, "fault": str(fault), "field": fault.field})
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(saved, indent=1))
        os.replace(tmp, self.state_file)

    def _load_state(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise InjectionError(f"{self.state_file} is corrupt: {exc}; delete it") from exc
        return data if isinstance(data, dict) else None


#: After this many messages that a value fault had to skip (and none applied), stop waiting.
_ENOUGH_SKIPS = 20


def _why(fault: Fault, doc: dict[str, Any], wait: float) -> str:
    """``: payload is an object; numeric leaves: payload.total, ...`` and the like."""
    seen = int(doc.get("seen") or 0)
    if seen == 0:
        return f": the node sent no message in {wait:g} s (is its flow running, does it send?)"
    skip = doc.get("last_skip") or {}
    if fault.changes_field and skip:
        leaves = [str(x) for x in skip.get("leaves") or []]
        listed = f"numeric leaves: {', '.join(leaves)}" if leaves else "no numeric leaves"
        return f": {skip.get('field', fault.field)} is {skip.get('type', 'not a number')}; {listed}"
    probability = doc.get("probability")
    if isinstance(probability, int | float) and probability < 1:
        return f": it applies to a fraction {probability:g} of messages (wait longer: --wait)"
    return ""
