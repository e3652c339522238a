"""Faults of the world during ``record``, with real components: a real Node-RED with the tap
publishing to a private Mosquitto, the collector recording from it.

- The broker is killed (SIGKILL, no persistence) and restarted mid-recording: every loss counted
  and reported (the truth is the number of injected messages: two deliveries each); restarted
  cleanly with persistence on: nothing lost.
- Node-RED restarts mid-recording: the tap's new boot is a new stream, not a loss.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodered_causal.collector import Store, flow_snapshot, parse_mqtt_url, record
from nodered_causal.collector.recording import Recording
from nodered_causal.nodered import LocalNodeRed
from nodered_causal.nodered.runtime import PLUGIN_DIR
from tests.mqtt_helpers import Mosquitto, free_port

pytestmark = pytest.mark.integration


def _flow() -> list[dict[str, Any]]:
    def n(id_: str, type_: str, wires: list[list[str]], **kw: Any) -> dict[str, Any]:
        return {"id": id_, "type": type_, "z": "t1", "x": 100, "y": 100, "wires": wires, **kw}

    return [
        {"id": "t1", "type": "tab", "label": "world faults"},
        n("inj", "inject", [["fn"]], props=[{"p": "payload"}], payloadType="date", repeat=""),
        n("fn", "function", [["out"]], func="msg.payload = {v: msg.payload % 997};\nreturn msg;"),
        n("out", "debug", [], active=False),
    ]


class Lab:
    """A private broker and a Node-RED whose tap publishes to it (both restartable)."""

    def __init__(self, tmp: Path) -> None:
        self.tap = f"wf-{uuid.uuid4().hex[:8]}"
        self.broker = Mosquitto(tmp, "max_queued_messages 0").start()
        self.user_dir, self.port = tmp / "userdir", free_port()
        self.settings = {
            "causalTap": {
                "instance": self.tap,
                "url": f"mqtt://127.0.0.1:{self.broker.port}",
                "flushMs": 50,
            }
        }
        self.nr = LocalNodeRed(
            "4",
            flows=_flow(),
            plugins=[PLUGIN_DIR],
            port=self.port,
            user_dir=self.user_dir,
            settings=self.settings,
        )
        self.nr.start()
        self.mqtt = parse_mqtt_url(
            f"mqtt://127.0.0.1:{self.broker.port}",
            topic=f"nodered-causal/{self.tap}/records",
            client_id=f"nrc-{self.tap}",
        )

    def restart_node_red(self) -> None:
        """Stop Node-RED (SIGTERM: the tap drains and closes) and start it again on the same
        userDir (flows and plugin already there) and port."""
        self.nr.stop()
        self.nr = LocalNodeRed("4", port=self.port, user_dir=self.user_dir, settings=self.settings)
        self.nr.start()

    def inject(self, n: int) -> None:
        for _ in range(n):
            self.nr.client.inject("inj")
            time.sleep(0.02)

    def recording(self, store: Store, name: str, seconds: float, faults: Any) -> Recording:
        """Record ``seconds`` (+ 2.5 s grace) while ``faults(started)`` runs in this thread."""
        snapshot = flow_snapshot(self.nr.url)
        started = threading.Event()
        out: list[Recording | BaseException] = []

        def run() -> None:
            try:
                out.append(
                    record(
                        store,
                        name,
                        seconds=seconds,
                        grace=2.5,
                        mqtt=self.mqtt,
                        snapshot=snapshot,
                        on_started=lambda _: started.set(),
                    )
                )
            except BaseException as exc:  # reraised below
                out.append(exc)
                started.set()

        thread = threading.Thread(target=run)
        thread.start()
        assert started.wait(30)
        faults()
        thread.join(120)
        (result,) = out
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        self.nr.stop()
        self.broker.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("world"))
    yield lab
    lab.close()


def _delivers(store: Store, run: str) -> int:
    cols = store.record_columns(run)
    return sum(1 for k, d in zip(cols["kind"], cols["dst"], strict=True) if k == "deliver" and d)


def _broker_restart(lab: Lab, tmp_path: Path, *, kill: bool) -> tuple[int, Recording]:
    def faults() -> None:
        lab.inject(20)
        time.sleep(1.2)  # past the broker's autosave interval (persistence on)
        lab.broker.stop(kill=kill)
        lab.inject(20)  # the tap holds these while the broker is away
        time.sleep(1.0)
        lab.broker.start()
        time.sleep(2.0)  # tap and collector reconnect (1 s periods)
        lab.inject(20)

    with Store(tmp_path / "runs.db") as store:
        result = lab.recording(store, "broker", 6.0, faults)
        return _delivers(store, "broker"), result


SENT = 2 * 60  # inject -> fn -> out: two deliveries per message


def test_broker_killed_during_record_every_loss_counted(lab: Lab, tmp_path: Path) -> None:
    lab.broker.configure(persistence=False)
    delivered, result = _broker_restart(lab, tmp_path, kill=True)
    print(f"broker killed: {delivered} of {SENT} delivered, {result.lost} counted lost")
    assert delivered <= SENT  # nothing twice
    assert delivered >= 2 * 20  # the collector came back: the last messages are there
    assert SENT - delivered <= result.lost, (delivered, result.as_dict())  # every loss counted
    if delivered < SENT:
        assert not result.ok and any("lost in transport" in p for p in result.problems)
    else:
        assert result.ok, result.problems


def test_broker_restarted_with_persistence_loses_nothing(lab: Lab, tmp_path: Path) -> None:
    lab.broker.stop()
    lab.broker.configure(persistence=True)
    lab.broker.start()
    delivered, result = _broker_restart(lab, tmp_path, kill=False)
    assert (delivered, result.lost, result.ok) == (SENT, 0, True), result.problems


def test_node_red_restart_during_record_is_a_new_boot_not_loss(lab: Lab, tmp_path: Path) -> None:
    def faults() -> None:
        lab.inject(20)
        time.sleep(0.5)
        lab.restart_node_red()
        lab.inject(20)

    with Store(tmp_path / "runs.db") as store:
        result = lab.recording(store, "restart", 10.0, faults)
        delivered = _delivers(store, "restart")
    boots = {c.boot for c in result.completeness}
    assert len(boots) == 2, result.as_dict()  # one stream per tap boot
    assert all(c.tap == lab.tap and c.gaps == 0 for c in result.completeness), result.as_dict()
    assert delivered == 2 * 40
    assert (result.lost, result.ok) == (0, True), result.problems
