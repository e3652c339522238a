"""Collectors sharing one MQTT 5 subscription into PostgreSQL (a private Mosquitto per test)."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from nodered_causal.collector import Collector, PostgresStore, parse_mqtt_url
from nodered_causal.errors import TransportError
from tests.collector_records import body, rec, stats
from tests.integration.test_collector_mqtt import wait_for
from tests.mqtt_helpers import Publisher, mosquitto, spawn_collect

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TAPS = ("line-1", "line-2", "line-3", "line-4")
QUEUE = "max_queued_messages 0"  # a killed collector's share waits in its session


def collect(port: int, store: str, client_id: str) -> subprocess.Popen[str]:
    """``nodered-causal collect --shared fleet`` as a user starts it; returns once subscribed."""
    args = ("--shared", "fleet", "--client-id", client_id, "--store", store, "--run", "plant")
    return spawn_collect(port, *args, json_report=True)


def stop(proc: subprocess.Popen[str]) -> dict[str, Any]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    report: dict[str, Any] = json.loads(out)
    return report


def stored(url: str) -> dict[str, list[int]]:
    with PostgresStore(url, create=False) as store:
        cols = store.record_columns("plant", kinds=("deliver", "stats"))
    out: dict[str, list[int]] = {t: [] for t in TAPS}
    for tap, seq in zip(cols["tap"], cols["seq"], strict=True):
        out[tap].append(seq)
    return out


def publish_taps(port: int, batches: int, per_batch: int, done: threading.Event) -> None:
    """Four taps, ``batches`` batches each (the last record of each batch a stats record)."""
    publisher = Publisher(port)
    try:
        infos = []
        for i in range(batches):
            for tap in TAPS:
                seqs = range(i * per_batch + 1, (i + 1) * per_batch + 1)
                records = [rec(s, tap=tap) for s in seqs[:-1]] + [stats(seqs[-1], tap=tap)]
                infos.append(publisher.publish(f"nodered-causal/{tap}/records", body(records)))
            time.sleep(0.004)
        for info in infos:  # every batch is with the broker
            info.wait_for_publish(30)
            assert info.is_published()
    finally:
        publisher.close()
        done.set()


def test_two_shared_collectors_one_killed_nothing_lost_nothing_twice(
    tmp_path: Path, pg_url: str
) -> None:
    batches, per_batch = 300, 10
    total = batches * per_batch
    with mosquitto(tmp_path, QUEUE) as port:
        a, b = collect(port, pg_url, "coll-a"), collect(port, pg_url, "coll-b")
        published = threading.Event()
        feeder = threading.Thread(target=publish_taps, args=(port, batches, per_batch, published))
        try:
            feeder.start()
            wait_for(lambda: sum(map(len, stored(pg_url).values())) > total, what="traffic")
            a.send_signal(signal.SIGKILL)  # mid-stream: no drain, no ack, no unsubscribe
            a.communicate(timeout=10)
            at_kill = sum(map(len, stored(pg_url).values()))
            time.sleep(0.5)
            grew = sum(map(len, stored(pg_url).values()))
            assert grew > at_kill  # b goes on alone
            assert published.wait(60)
            a = collect(port, pg_url, "coll-a")  # its share waited in its session
            wait_for(
                lambda: sum(map(len, stored(pg_url).values())) == len(TAPS) * total,
                what="every record",
            )
            reports = [stop(b), stop(a)]
        finally:
            feeder.join(60)
            for proc in (a, b):
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
    assert at_kill < len(TAPS) * total  # the kill really was mid-stream
    assert {tap: sorted(seqs) for tap, seqs in stored(pg_url).items()} == {
        tap: list(range(1, total + 1)) for tap in TAPS
    }  # every seq exactly once
    assert all(r["ingest"]["records"] > 0 for r in reports)  # both did share the load
    assert sum(r["ingest"]["records"] for r in reports) <= len(TAPS) * total
    completeness = reports[-1]["completeness"]
    assert [(c["tap"], c["received"], c["gaps"], c["ok"]) for c in completeness] == [
        (tap, total, 0, True) for tap in TAPS
    ]
    assert reports[-1]["run"]["end_ns"] is None  # a shared run stays open for the others


def test_a_cleanly_stopped_collector_leaves_its_share_to_the_others(
    tmp_path: Path, pg_url: str
) -> None:
    with mosquitto(tmp_path, QUEUE) as port, PostgresStore(pg_url) as store:
        store.start_run("plant")
        settings = [
            parse_mqtt_url(f"mqtt://127.0.0.1:{port}", client_id=f"c{i}", shared="fleet")
            for i in range(2)
        ]
        first = Collector(store, "plant", mqtt=settings[0]).start()
        second = Collector(store, "plant", mqtt=settings[1]).start()
        assert first.shutdown() is True  # unsubscribed, then disconnected (session kept)
        publisher = Publisher(port)
        publisher.publish_all("nodered-causal/t/records", [body([rec(i)]) for i in range(1, 201)])
        publisher.close()
        wait_for(lambda: second.counts().records == 200, what="all 200 at the second")
        second.shutdown()
        again = Collector(store, "plant", mqtt=settings[0]).start()
        time.sleep(0.5)
        assert again.mqtt is not None and again.mqtt.session_present is True
        assert again.counts().records == 0  # nothing was parked in its session
        again.shutdown()
        assert sorted(store.record_columns("plant")["seq"]) == list(range(1, 201))


def test_two_collectors_with_one_client_id_are_told_so(tmp_path: Path, pg_url: str) -> None:
    """They would take the session from each other forever: one of them stops and says why."""
    with mosquitto(tmp_path, QUEUE) as port, PostgresStore(pg_url) as store:
        store.start_run("plant")
        same = parse_mqtt_url(f"mqtt://127.0.0.1:{port}", client_id="twin", shared="fleet")
        twins = [Collector(store, "plant", mqtt=same).start() for _ in range(2)]
        wait_for(lambda: any(t.mqtt and t.mqtt.fatal for t in twins), what="a twin giving up")
        failed = [t for t in twins if t.mqtt and t.mqtt.fatal]
        assert len(failed) == 1
        with pytest.raises(TransportError, match="with client id 'twin' and took this collector"):
            failed[0].check()
        survivor = next(t for t in twins if t is not failed[0])
        time.sleep(3)  # the survivor keeps its connection now
        survivor.check()
        publisher = Publisher(port)
        publisher.publish_all("nodered-causal/t/records", [body([rec(1)])])
        publisher.close()
        wait_for(lambda: survivor.counts().records == 1, what="the survivor receiving")
        for t in twins:
            t.shutdown()


def test_shared_needs_mqtt_and_a_plain_group_name(run_cli) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("collect", "--http", "127.0.0.1:1", "--shared", "g", "--store", "x.db")
    assert proc.returncode == 2 and "--shared needs --mqtt" in proc.stderr
    with pytest.raises(TransportError, match="share group 'a/b' must be a non-empty name"):
        parse_mqtt_url("mqtt://127.0.0.1", shared="a/b")
