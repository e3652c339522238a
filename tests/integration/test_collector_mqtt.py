"""The collector against real Mosquitto brokers: the shared one and private ones started here."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nodered_causal.collector import Collector, Store, default_client_id, parse_mqtt_url
from nodered_causal.errors import TransportError
from tests.collector_records import body, rec, stats
from tests.mqtt_helpers import Publisher, discard_session, free_port, mosquitto

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def stored_seqs(path: Path, run: str) -> list[int]:
    with Store(path, create=False) as store:
        return sorted(store.record_columns(run, kinds=("deliver", "stats"))["seq"])


def test_collector_receives_batches_over_mqtt(tmp_path: Path, mqtt_prefix: str) -> None:
    settings = parse_mqtt_url(
        "mqtt://127.0.0.1:1883", topic=f"{mqtt_prefix}/+/records", client_id=f"nrc-{mqtt_prefix}"
    )
    publisher = Publisher()
    try:
        with Store(tmp_path / "runs.db") as store:
            store.start_run("r")
            with Collector(store, "r", mqtt=settings) as collector:
                batches = [
                    body([rec(i * 10 + j, tap="line1") for j in range(10)]) for i in range(50)
                ]
                publisher.publish_all(f"{mqtt_prefix}/line1/records", [*batches, b"not json"])
                wait_for(lambda: collector.counts().batches == 51, what="51 batches")
            (c,) = store.completeness("r")
            assert (c.tap, c.received, c.first_seq, c.last_seq, c.gaps) == ("line1", 500, 0, 499, 0)
            assert [r.reason for r in store.rejected("r")] == [
                "batch is not JSON: Expecting value: line 1 column 1 (char 0)"
            ]
    finally:
        publisher.close()
        discard_session(settings.client_id)


def test_broker_unreachable_is_a_transport_error(tmp_path: Path) -> None:
    settings = parse_mqtt_url(f"mqtt://127.0.0.1:{free_port()}", client_id="nrc-nobody")
    with Store(tmp_path / "runs.db") as store:
        store.start_run("r")
        with pytest.raises(
            TransportError, match=r"cannot connect to MQTT broker mqtt://127\.0\.0\.1:\d+"
        ):
            Collector(store, "r", mqtt=settings).start()


def _start_collect(store: Path, topic: str, port: int = 1883) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nodered_causal",
            "collect",
            "--mqtt",
            f"mqtt://127.0.0.1:{port}",
            "--topic",
            topic,
            "--store",
            str(store),
            "--run",
            "live",
            "--status-every",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()  # printed once subscribed
    assert "collecting run 'live'" in line, line + proc.stderr.read()
    return proc


def test_collector_killed_mid_stream_loses_nothing(tmp_path: Path, mqtt_prefix: str) -> None:
    """SIGKILL the collect process while a tap publishes; restart it; every seq arrives."""
    db = tmp_path / "runs.db"
    topic = f"{mqtt_prefix}/+/records"
    client_id = default_client_id(str(db.resolve()), topic)
    batches, per_batch = 400, 10
    publisher = Publisher()
    proc = _start_collect(db, topic)
    published = threading.Event()

    def tap() -> None:  # ~2 s of traffic, one stats record per 50 batches
        for i in range(batches):
            records = [rec(i * per_batch + j) for j in range(per_batch - 1)]
            records.append(stats(i * per_batch + per_batch - 1))
            publisher.publish(f"{mqtt_prefix}/tap1/records", body(records))
            time.sleep(0.005)
        published.set()

    thread = threading.Thread(target=tap)
    try:
        thread.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)  # no chance to drain or ack
        proc.communicate(timeout=10)
        killed_with = len(stored_seqs(db, "live"))
        time.sleep(0.5)
        proc = _start_collect(db, topic)
        assert published.wait(60)
        wait_for(lambda: len(stored_seqs(db, "live")) == batches * per_batch, what="every record")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "records stored" in err
        assert 0 < killed_with < batches * per_batch  # the kill really was mid-stream
        assert stored_seqs(db, "live") == list(range(batches * per_batch))
        with Store(db, create=False) as store:
            (c,) = store.completeness("live")
            assert (c.gaps, c.dropped, c.transport_loss, c.ok) == (0, 0, 0, True)
            assert store.run("live").end_ns is not None
    finally:
        thread.join(60)
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
        publisher.close()
        discard_session(client_id)


@pytest.mark.parametrize(("limit", "lost"), [("", True), ("max_queued_messages 0", False)])
def test_offline_backlog_vs_mosquitto_queue_limit(tmp_path: Path, limit: str, lost: bool) -> None:
    """Mosquitto's default max_queued_messages (1000) drops the backlog of a stopped collector."""
    with mosquitto(tmp_path, limit) as port, Store(tmp_path / "runs.db") as store:
        store.start_run("r")
        settings = parse_mqtt_url(
            f"mqtt://127.0.0.1:{port}", topic="nc/+/records", client_id="nrc-q"
        )
        Collector(store, "r", mqtt=settings).start().shutdown()  # subscribed, then offline
        publisher = Publisher(port)
        publisher.publish_all("nc/t/records", [body([rec(i)]) for i in range(1500)])
        with Collector(store, "r", mqtt=settings) as collector:
            # the broker drops the newest: only the tap's next record reveals the gap
            publisher.publish_all("nc/t/records", [body([stats(1500)])])
            publisher.close()
            wait_for(lambda: collector.counts().records >= (1001 if lost else 1501), what="backlog")
            time.sleep(0.5)  # would anything else still come?
        (c,) = store.completeness("r")
        if lost:
            assert c.received == 1001  # exactly the queue limit, then the stats record
            assert (c.gaps, c.gap_ranges, c.transport_loss) == (500, ((1000, 1499),), 500)
        else:
            assert (c.received, c.gaps) == (1501, 0)


def _session_present(client_id: str) -> bool:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    flags: list[bool] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.on_connect = lambda c, u, f, rc, p: flags.append(bool(f.session_present))
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    wait_for(lambda: bool(flags), what="CONNACK")
    client.disconnect()
    client.loop_stop()
    discard_session(client_id)
    return flags[0]


def test_record_ends_its_mqtt_session_collect_keeps_it(tmp_path: Path, mqtt_prefix: str) -> None:
    from nodered_causal.collector import record

    topic = f"{mqtt_prefix}/+/records"
    kept = parse_mqtt_url("mqtt://127.0.0.1:1883", topic=topic, client_id=f"nrc-k-{mqtt_prefix}")
    ended = parse_mqtt_url("mqtt://127.0.0.1:1883", topic=topic, client_id=f"nrc-e-{mqtt_prefix}")
    with Store(tmp_path / "runs.db") as store:
        store.start_run("c")
        Collector(store, "c", mqtt=kept).start().shutdown()
        record(store, "r", seconds=0.1, grace=0, mqtt=ended)
    assert _session_present(kept.client_id) is True
    assert _session_present(ended.client_id) is False
