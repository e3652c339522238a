"""SIGTERM (docker stop, systemd, ``timeout``) cleans up exactly like Ctrl-C, in every
long-running command: the real console script is started, SIGTERM is sent once it is working,
and the test checks the exit code, that no child process is left, that no temporary directory
is left, and that faults are removed from a live flow (its ``rev`` unchanged)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from nodered_causal.nodered.runtime import PLUGIN_DIR, LocalNodeRed, tap_settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FLOW: list[dict[str, Any]] = [
    {"id": "t1", "type": "tab", "label": "SIGTERM"},
    {"id": "tick", "type": "inject", "z": "t1", "props": [{"p": "payload"}], "repeat": "0.05",
     "once": True, "onceDelay": "0.1", "payload": "", "payloadType": "date", "x": 100, "y": 60,
     "wires": [["gain"]]},
    {"id": "gain", "type": "function", "z": "t1", "name": "gain",
     "func": "return {payload: (msg.payload % 1000) / 10};", "outputs": 1, "x": 260, "y": 60,
     "wires": [["sink"]]},
    {"id": "sink", "type": "function", "z": "t1", "name": "sink", "func": "return msg;",
     "outputs": 1, "x": 420, "y": 60, "wires": [[]]},
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (also those that moved to their own session)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Cli:
    """The console script in its own TMPDIR; collects stderr lines in the background."""

    def __init__(self, args: list[str], tmp: Path) -> None:
        self.tmpdir = tmp / "tmpdir"
        self.tmpdir.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("NODERED_CAUSAL_")}
        env.update(
            PYTHONPATH=str(REPO),
            TMPDIR=str(self.tmpdir),
            NODERED_CAUSAL_CACHE=os.environ.get("NODERED_CAUSAL_CACHE", ""),
        )
        script = Path(sys.executable).parent / "nodered-causal"
        cmd = [str(script)] if script.exists() else [sys.executable, "-m", "nodered_causal"]
        self.log = tmp / "stderr.txt"
        with self.log.open("w") as err:
            self.proc = subprocess.Popen(
                [*cmd, *args],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=env,
                cwd=tmp,
            )

    def wait_for(self, ready: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            assert self.proc.poll() is None, f"exited early: {self.log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"not ready: {self.log.read_text()[-2000:]}"
            time.sleep(0.05)

    def stderr_has(self, text: str) -> Callable[[], bool]:
        return lambda: text in self.log.read_text()

    def terminate(self) -> tuple[int, set[int]]:
        """SIGTERM; (exit code, the processes below it just before)."""
        below = _descendants(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return self.proc.returncode, below

    def check_clean(self, below: set[int]) -> None:
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in below) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p for p in below if _alive(p)] == [], "child processes left behind"
        assert sorted(p.name for p in self.tmpdir.iterdir()) == [], "temporary files left"
        assert "Traceback" not in self.log.read_text()


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Callable[..., Cli]]:
    started: list[Cli] = []

    def start(*args: str) -> Cli:
        started.append(Cli(list(args), tmp_path))
        return started[-1]

    yield start
    for c in started:  # a failed test: stop it the clean way first, leave nothing running
        below = _descendants(c.proc.pid)
        if c.proc.poll() is None:
            c.proc.terminate()
            try:
                c.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                c.proc.kill()
                c.proc.wait()
        for pid in below:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if c.proc.stdout is not None:
            c.proc.stdout.close()


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[LocalNodeRed, int]]:
    """A Node-RED with the tap shipping over HTTP to a port the commands under test listen on."""
    port = _free_port()
    settings = tap_settings(f"http://127.0.0.1:{port}", flushMs=100)
    with LocalNodeRed("4", flows=FLOW, plugins=[PLUGIN_DIR], settings=settings) as nr:
        yield nr, port


def test_nodered_start(cli: Callable[..., Cli], tmp_path: Path) -> None:
    (tmp_path / "flow.json").write_text(json.dumps(FLOW))
    c = cli("nodered", "start", "--flow", "flow.json", "--json")
    assert c.proc.stdout is not None
    info = json.loads(c.proc.stdout.readline())
    assert requests.get(f"{info['url']}/flows", timeout=10).status_code == 200
    code, below = c.terminate()
    assert code == 0 and c.log.read_text().strip().endswith("stopped")
    assert below, "Node-RED should have been a child"
    c.check_clean(below)
    with pytest.raises(requests.ConnectionError):
        requests.get(info["url"], timeout=2)


def test_collect(cli: Callable[..., Cli], tmp_path: Path) -> None:
    c = cli("collect", "--http", "127.0.0.1:0", "--store", "c.db", "--run", "night")
    c.wait_for(c.stderr_has("collecting run 'night'"))
    code, below = c.terminate()
    assert code == 0
    assert "stopped: 0 records stored" in c.log.read_text()
    c.check_clean(below)
    with sqlite3.connect(tmp_path / "c.db") as db:
        assert db.execute("SELECT end_ns IS NOT NULL FROM runs WHERE name='night'").fetchone() == (
            1,
        )


def test_record(cli: Callable[..., Cli], live: tuple[LocalNodeRed, int], tmp_path: Path) -> None:
    nr, port = live
    c = cli("record", "--url", nr.url, "--http", f"127.0.0.1:{port}", "--run", "r1",
            "--seconds", "600", "--store", "r.db")  # fmt: skip
    c.wait_for(c.stderr_has("recording run 'r1'"))
    time.sleep(0.5)  # some records arrive
    code, below = c.terminate()
    assert code == 143 and "terminated" in c.log.read_text()
    c.check_clean(below)
    with sqlite3.connect(tmp_path / "r.db") as db:  # the run was ended, as after Ctrl-C
        ended, n = db.execute(
            "SELECT r.end_ns IS NOT NULL, count(x.id) FROM runs r LEFT JOIN records x "
            "ON x.run_id = r.id WHERE r.name = 'r1'"
        ).fetchone()
    assert ended == 1 and n > 0


def test_experiment_on_a_live_flow_removes_its_fault(
    cli: Callable[..., Cli], live: tuple[LocalNodeRed, int]
) -> None:
    nr, port = live
    _, rev = nr.client.get_flows()
    c = cli("experiment", "--url", nr.url, "--http", f"127.0.0.1:{port}", "--target", "sink",
            "--cases", "1", "--no-fault-cases", "0", "--faults", "bias:5", "--seconds", "1",
            "-o", "e.json")  # fmt: skip

    def faulted() -> bool:
        return bool(requests.get(f"{nr.url}/causal-tap/faults", timeout=5).json()["faults"])

    c.wait_for(faulted)
    code, below = c.terminate()
    assert code == 143, c.log.read_text()
    c.check_clean(below)
    assert requests.get(f"{nr.url}/causal-tap/faults", timeout=5).json()["faults"] == []
    assert nr.client.get_flows()[1] == rev  # never redeployed


@pytest.mark.parametrize("command", ["experiment", "demo"])
def test_local_node_red_is_stopped_and_removed(
    cli: Callable[..., Cli], tmp_path: Path, command: str
) -> None:
    (tmp_path / "flow.json").write_text(json.dumps(FLOW))
    if command == "experiment":
        c = cli("-v", "experiment", "flow.json", "--target", "sink", "--cases", "1",
                "--seconds", "30", "-o", "e.json")  # fmt: skip
    else:
        c = cli("demo", "--flow", "flow.json", "--target", "sink", "--node", "gain", "--seconds",
                "30", "--store", "d.db")  # fmt: skip

    def node_red_runs() -> bool:
        dirs = list(c.tmpdir.glob("nodered-causal-4-*"))
        return bool(dirs) and (dirs[0] / "settings.js").exists() and bool(_descendants(c.proc.pid))

    c.wait_for(node_red_runs)
    c.wait_for(c.stderr_has("recording"))
    code, below = c.terminate()
    assert code == 143, c.log.read_text()[-2000:]
    c.check_clean(below)
