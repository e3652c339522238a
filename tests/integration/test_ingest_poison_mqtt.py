"""Poison over MQTT, with real Mosquitto brokers and the real ``collect`` process.

- A poisoned backlog: bad records first, 1,000 good behind them, the collector restarted twice
  (SIGKILL, SIGTERM): all 1,000 stored, the bad ones set aside with their reasons.
- Hostile payloads (seeded hypothesis) published to an in-process collector: every message
  acked and every good record stored.
- The store's disk full (a small tmpfs): ``collect`` exits 1 with a clear error, nothing
  half-written, nothing acked that was not stored; with room again, the broker redelivers it all.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
from pathlib import Path

import pytest

from nodered_causal.collector import Collector, Store, parse_mqtt_url
from tests.collector_records import body, rec
from tests.hostile_ingest import CLASSES, MqttTarget, run_classes
from tests.integration.test_collector_mqtt import _start_collect, stored_seqs, wait_for
from tests.mqtt_helpers import Mosquitto, Publisher, discard_session
from tests.unit.test_ingest_hostile import errors_logged

pytestmark = pytest.mark.integration
PER_CLASS = 30

POISON = [  # (payload, reason, the seq kept with the rejected record)
    (body([rec(10**29, tap="t")]), "seq must be an integer in [0, 2**63)", None),
    (body([rec(5000, tap="t", ts_ns=2**63 + 1)]), "ts_ns must be an integer in [0, 2**63)", 5000),
    (b"[" * 200_000 + b"]" * 200_000, "record nested deeper than 32 levels", None),
    (body([rec(-3, tap="t")]), "seq must be an integer in [0, 2**63)", None),
]


def _stop(proc: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str]:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_poisoned_backlog_survives_two_restarts(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path, "max_queued_messages 0").start()
    db, topic = tmp_path / "runs.db", "nc/+/records"
    proc = _start_collect(db, topic, broker.port)
    try:
        assert _stop(proc, signal.SIGINT)[0] == 0  # subscribed: the broker queues from here on
        publisher = Publisher(broker.port)
        publisher.publish_all("nc/t/records", [p for p, _, _ in POISON])
        publisher.publish_all("nc/t/records", [body([rec(i, tap="t")]) for i in range(1, 1001)])
        publisher.close()
        progress = []
        for until, sig in ((100, signal.SIGKILL), (500, signal.SIGTERM), (1000, signal.SIGINT)):
            proc = _start_collect(db, topic, broker.port)
            wait_for(lambda n=until: len(stored_seqs(db, "live")) >= n, what=f"{until} stored")
            code, err = _stop(proc, sig)
            assert code == (-9 if sig == signal.SIGKILL else 0), err
            assert "Traceback" not in err, err
            progress.append(len(stored_seqs(db, "live")))
        assert stored_seqs(db, "live") == list(range(1, 1001))
        with Store(db, create=False) as store:
            reasons = {(r.reason, r.seq) for r in store.rejected("live")}
            (c,) = store.completeness("live")
        assert reasons == {(why, seq) for _, why, seq in POISON}
        assert (c.received, c.gaps, c.transport_loss) == (1000, 0, 0)
        assert progress[0] < 1000 or progress == [1000] * 3
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        broker.stop()


def test_hostile_mqtt_payloads(
    tmp_path: Path, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="nodered_causal")
    settings_ = parse_mqtt_url(
        "mqtt://127.0.0.1:1883", topic=f"{mqtt_prefix}/+/records", client_id=f"nrc-{mqtt_prefix}"
    )
    publisher = Publisher()
    try:
        with Store(tmp_path / "runs.db") as store:
            store.start_run("r")
            with Collector(store, "r", mqtt=settings_) as collector:
                target = MqttTarget(collector, publisher, f"{mqtt_prefix}/t/records")
                run_classes(target.send, PER_CLASS)
                assert collector.counts().failed_batches == 0  # every message stored and acked
            assert target.tally.failures == []
            assert target.tally.lost(store, "r") == []  # none lost, none blocked
        assert len(target.tally.good) > PER_CLASS
        assert target.tally.cases == dict.fromkeys(CLASSES, PER_CLASS)
        assert errors_logged(caplog) == []
    finally:
        publisher.close()
        discard_session(settings_.client_id)


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )


def test_disk_full_stops_collect_and_loses_nothing(tmp_path: Path) -> None:
    """The store on a 512 KiB tmpfs: ``collect`` fills it, exits 1 naming the full disk, has
    stored only whole batches and acked nothing else; with room again, everything arrives."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "512k"):
        pytest.skip("cannot mount a tmpfs here (needs root); test_ingest_poison covers SQLITE_FULL")
    broker = Mosquitto(tmp_path, "max_queued_messages 0").start()
    db, topic, per_batch, batches = disk / "runs.db", "nc/+/records", 20, 250
    proc = _start_collect(db, topic, broker.port)
    try:
        values = {f"k{j}": float(j) for j in range(30)}
        payloads = [
            body([rec(i * per_batch + j, tap="t", values=values) for j in range(per_batch)])
            for i in range(batches)
        ]
        publisher = Publisher(broker.port)
        publisher.publish_all("nc/t/records", payloads)
        publisher.close()
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, err
        assert "StoreWriteError: recording stopped: " in err and "database or disk is full" in err
        assert "Traceback" not in err
        stored = set(stored_seqs(db, "live"))
        assert 0 < len(stored) < batches * per_batch  # it really filled up
        for i in range(batches):  # whole batches or nothing
            batch = set(range(i * per_batch, (i + 1) * per_batch))
            assert batch <= stored or not batch & stored, f"batch {i} half-written"
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        proc = _start_collect(db, topic, broker.port)
        wait_for(lambda: len(stored_seqs(db, "live")) == batches * per_batch, what="redelivery")
        code, err = _stop(proc, signal.SIGTERM)
        assert code == 0, err
        assert stored_seqs(db, "live") == list(range(batches * per_batch))
        with Store(db, create=False) as store:
            assert json.loads(json.dumps(store.counts("live")))["rejected"] == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        broker.stop()
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, check=False)
