"""Watch a Node-RED runtime's state on its editor websocket (``/comms``).

The runtime publishes retained notifications there (``@node-red/runtime/lib/api/comms.js``):
``notification/runtime-state`` (``{"state": "start"|"stop"|"safe", "error": ..., "types": [...]}``)
and ``notification/runtime-deploy`` (``{"revision": rev}``, emitted once a deploy's nodes have all
started). A new subscriber gets the retained values at once, then every change. Messages arrive
as JSON arrays of ``{"topic", "data"}``; auth is a ``{"auth": token}`` packet answered by
``{"auth": "ok"|"fail"}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import websocket

from nodered_causal.errors import AuthError, NodeRedConnectionError

__all__ = ["RuntimeState", "RuntimeWatcher"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuntimeState:
    """What the runtime last announced; ``started`` means every node of the flows is running."""

    state: str | None = None
    error: str | None = None
    types: tuple[str, ...] = ()
    revision: str | None = None
    started: bool = False


class RuntimeWatcher:
    """A subscription to ``notification/#`` on ``ws_url``; use as a context manager."""

    def __init__(self, ws_url: str, *, token: str | None = None, timeout: float = 10) -> None:
        self.ws_url = ws_url
        self._token = token
        self._timeout = timeout
        self._ws: websocket.WebSocket | None = None
        self._state: dict[str, Any] = {}
        self._revision: str | None = None

    def __enter__(self) -> RuntimeWatcher:
        action = "watch the runtime state"
        try:
            self._ws = websocket.create_connection(self.ws_url, timeout=self._timeout)
            if self._token:
                self._ws.send(json.dumps({"auth": self._token}))
                answer = self._recv_until(lambda m: isinstance(m, dict) and "auth" in m)
                if not answer or answer.get("auth") != "ok":
                    raise AuthError(
                        f"{action}: {self.ws_url} refused the access token",
                        url=self.ws_url,
                        action=action,
                    )
            self._ws.send(json.dumps({"subscribe": "notification/#"}))
        except (websocket.WebSocketException, OSError) as exc:
            self.close()
            raise NodeRedConnectionError(
                f"{action}: cannot use the websocket {self.ws_url}: {exc}",
                url=self.ws_url,
                action=action,
            ) from exc
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(websocket.WebSocketException, OSError):
                self._ws.close()
            self._ws = None

    def snapshot(self) -> RuntimeState:
        state = self._state.get("state")
        error = self._state.get("error")
        types = self._state.get("types") or ()
        return RuntimeState(
            state=state if isinstance(state, str) else None,
            error=error if isinstance(error, str) else None,
            types=tuple(str(t) for t in types),
            revision=self._revision,
            started=state == "start" and not error,
        )

    def wait(self, *, rev: str | None, timeout: float) -> RuntimeState:
        """Read notifications until the flows (of revision ``rev``) run, the runtime reports that
        they cannot start (missing types/modules, safe mode), or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while True:
            snap = self.snapshot()
            if snap.started and (rev is None or snap.revision == rev):
                return snap
            if snap.error in ("missing-types", "missing-modules", "safe-mode"):
                return snap
            left = deadline - time.monotonic()
            if left <= 0:
                return snap
            self._recv_until(lambda m: False, timeout=left)

    # -- plumbing -------------------------------------------------------------------------------

    def _recv_until(self, predicate: Any, timeout: float | None = None) -> dict[str, Any] | None:
        """Receive one websocket frame (within ``timeout``), record notifications, and return
        the first non-array message matching ``predicate``."""
        assert self._ws is not None
        self._ws.settimeout(self._timeout if timeout is None else max(timeout, 0.01))
        try:
            raw = self._ws.recv()
        except websocket.WebSocketTimeoutException:
            return None
        except websocket.WebSocketConnectionClosedException as exc:
            raise NodeRedConnectionError(
                f"watch the runtime state: {self.ws_url} closed the websocket",
                url=self.ws_url,
                action="watch the runtime state",
            ) from exc
        try:
            msg = json.loads(raw)
        except ValueError:
            logger.debug("ignoring a non-JSON comms frame from %s", self.ws_url)
            return None
        if isinstance(msg, list):
            for item in msg:
                if isinstance(item, dict):
                    self._note(item.get("topic"), item.get("data"))
            return None
        return msg if predicate(msg) else None

    def _note(self, topic: Any, data: Any) -> None:
        if topic == "notification/runtime-state":
            self._state = data if isinstance(data, dict) else {}
            logger.debug("runtime-state %s", self._state)
        elif topic == "notification/runtime-deploy" and isinstance(data, dict):
            revision = data.get("revision")
            self._revision = str(revision) if revision is not None else None
            logger.debug("runtime-deploy %s", self._revision)
