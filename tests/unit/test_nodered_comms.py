"""RuntimeWatcher against a scripted fake websocket (no Node-RED)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import websocket

from nodered_causal.errors import AuthError, NodeRedConnectionError
from nodered_causal.nodered import _comms
from nodered_causal.nodered._comms import RuntimeState, RuntimeWatcher


class FakeWS:
    def __init__(self, frames: list[Any]) -> None:
        self.frames = [json.dumps(f) for f in frames]
        self.sent: list[Any] = []
        self.closed = False

    def send(self, data: str) -> None:
        self.sent.append(json.loads(data))

    def settimeout(self, t: float) -> None:
        pass

    def recv(self) -> str:
        if not self.frames:
            raise websocket.WebSocketTimeoutException("timed out")
        return self.frames.pop(0)

    def close(self) -> None:
        self.closed = True


def note(topic: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"topic": f"notification/{topic}", "data": data}


class Server:
    """Each websocket connection gets the next list of frames from ``script``."""

    def __init__(self) -> None:
        self.script: list[list[Any]] = []
        self.made: list[FakeWS] = []

    def create_connection(self, url: str, timeout: float) -> FakeWS:
        ws = FakeWS(self.script.pop(0))
        self.made.append(ws)
        return ws


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Server:
    fake = Server()
    monkeypatch.setattr(_comms.websocket, "create_connection", fake.create_connection)
    return fake


def test_waits_for_start_of_the_deployed_rev(server: Server) -> None:
    server.script.append(
        [
            {"auth": "ok"},
            [note("runtime-state", {"state": "stop", "deploy": True})],
            [note("runtime-deploy", {"revision": "old"}), note("node/x", {"a": 1})],
            [note("runtime-state", {"state": "start", "deploy": True})],
            [note("runtime-deploy", {"revision": "new"})],
        ]
    )
    with RuntimeWatcher("ws://h/comms", token="tok") as watcher:
        state = watcher.wait(rev="new", timeout=1)
    assert state == RuntimeState(state="start", revision="new", started=True)
    ws = server.made[0]
    assert ws.sent == [{"auth": "tok"}, {"subscribe": "notification/#"}]
    assert ws.closed


def test_missing_types_end_the_wait(server: Server) -> None:
    payload = {"state": "stop", "error": "missing-types", "types": ["acme"]}
    server.script.append([[note("runtime-state", payload)]])
    with RuntimeWatcher("ws://h/comms") as watcher:
        state = watcher.wait(rev=None, timeout=5)
    assert state == RuntimeState(state="stop", error="missing-types", types=("acme",))


def test_timeout_returns_the_last_state(server: Server) -> None:
    server.script.append([[note("runtime-state", {"state": "start"})]])
    with RuntimeWatcher("ws://h/comms") as watcher:
        state = watcher.wait(rev="never", timeout=0.05)
    assert state.started and state.revision is None


def test_refused_token(server: Server) -> None:
    server.script.append([{"auth": "fail"}])
    with pytest.raises(AuthError, match="refused the access token"):
        RuntimeWatcher("ws://h/comms", token="bad").__enter__()
    assert server.made[0].closed


def test_no_websocket(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(url: str, timeout: float) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(_comms.websocket, "create_connection", refuse)
    with pytest.raises(NodeRedConnectionError, match="cannot use the websocket ws://h/comms"):
        RuntimeWatcher("ws://h/comms").__enter__()
