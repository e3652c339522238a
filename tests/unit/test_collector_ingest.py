"""Writer and HTTP ingest against a real store file (HTTP on 127.0.0.1, a free port)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests

from nodered_causal.collector import (
    Collector,
    HttpIngest,
    Store,
    Writer,
    parse_address,
    parse_mqtt_url,
)
from nodered_causal.errors import StoreError, TransportError
from tests.collector_records import body, rec, stats


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "runs.db")
    s.start_run("r")
    yield s
    s.close()


def test_writer_stores_batches_and_calls_back_after_the_write(store: Store) -> None:
    writer = Writer(store, "r", known_nodes={"a1", "b2"})
    seen: list[tuple[bool, int, int, int]] = []
    done = threading.Event()

    def callback(result) -> None:  # type: ignore[no-untyped-def]
        # the batch is already readable from the store when the callback runs
        seen.append(
            (result.ok, result.records, result.rejected, len(store.record_columns("r")["seq"]))
        )
        done.set()

    writer.submit(body([rec(1), rec(2, src="ghost")]), callback)
    assert done.wait(10)
    writer.submit(body([rec(3), stats(4)]))
    writer.submit(b"{{")
    assert writer.shutdown(10)
    assert seen == [(True, 1, 1, 1)]
    counts = writer.counts()
    assert (counts.batches, counts.records, counts.rejected, counts.pending) == (3, 3, 2, 0)
    assert store.record_columns("r")["seq"] == [1, 3]
    with pytest.raises(StoreError, match="shut down"):
        writer.submit(body([rec(5)]))


def test_writer_reports_a_failing_store(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from nodered_causal.collector import writer as writer_module

    monkeypatch.setattr(writer_module, "_RETRY_DELAYS", (0.01,))
    calls = []

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        raise StoreError("disk full")

    monkeypatch.setattr(store, "insert", broken)
    writer = Writer(store, "r")
    result = writer.write(body([rec(1)]), timeout=10)
    assert (result.ok, result.error) == (False, "disk full")
    assert len(calls) == 2  # one retry
    assert str(writer.error) == "disk full"
    assert writer.counts().failed_batches == 1
    writer.shutdown()


@pytest.fixture
def http(store: Store) -> HttpIngest:
    ingest = HttpIngest(Writer(store, "r", known_nodes={"a1", "b2"})).start()
    yield ingest
    ingest.shutdown()


def test_http_ingest_answers_after_the_write(http: HttpIngest, store: Store) -> None:
    with requests.Session() as session:  # keep-alive: both requests on one connection
        r1 = session.post(http.url, data=body([rec(1), rec(2)]), timeout=10)
        assert (r1.status_code, r1.json()) == (200, {"accepted": 2, "rejected": 0})
        assert store.record_columns("r")["seq"] == [1, 2]
        r2 = session.post(http.url, data=body([rec(3, v=2), rec(4, dst="nowhere")]), timeout=10)
        assert (r2.status_code, r2.json()) == (200, {"accepted": 0, "rejected": 2})
    reasons = [row.reason for row in store.rejected("r")]
    assert reasons == [
        "unsupported schema version 2 (expected 1)",
        "unknown node id 'nowhere' (dst) for this run's flow",
    ]


def test_http_ingest_rejects_bad_bodies_and_paths(http: HttpIngest, store: Store) -> None:
    bad = requests.post(http.url, data=b"<html>", timeout=10)
    assert bad.status_code == 400
    assert store.rejected("r")[0].raw == "<html>"
    assert (
        requests.post(http.url.replace("/v1/records", "/v2/x"), data=b"[]", timeout=10).status_code
        == 404
    )
    assert requests.put(http.url, data=b"[]", timeout=10).status_code == 405
    health = requests.get(http.url.replace("/v1/records", "/v1/health"), timeout=10)
    assert health.status_code == 200 and health.json()["ok"] is True


def test_http_ingest_503_when_the_store_fails(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nodered_causal.collector import writer as writer_module

    monkeypatch.setattr(writer_module, "_RETRY_DELAYS", ())
    monkeypatch.setattr(
        store, "insert", lambda *a, **k: (_ for _ in ()).throw(StoreError("locked"))
    )
    ingest = HttpIngest(Writer(store, "r")).start()
    try:
        resp = requests.post(ingest.url, data=body([rec(1)]), timeout=10)
        assert (resp.status_code, resp.json()) == (503, {"error": "locked"})
    finally:
        ingest.shutdown()


def test_http_port_in_use_is_a_transport_error(http: HttpIngest, store: Store) -> None:
    host, port = http.address
    with pytest.raises(TransportError, match=f"cannot listen on 127.0.0.1:{port}"):
        HttpIngest(Writer(store, "r"), host, port)


def test_collector_over_http(store: Store) -> None:
    with Collector(store, "r", http=("127.0.0.1", 0)) as collector:
        assert collector.http is not None
        requests.post(
            collector.http.url, data=body([rec(i) for i in range(5)]), timeout=10
        ).raise_for_status()
    assert store.record_columns("r")["seq"] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8765", ("127.0.0.1", 8765)),
        (":9000", ("127.0.0.1", 9000)),
        ("8765", ("127.0.0.1", 8765)),
    ],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


def test_parse_address_errors() -> None:
    with pytest.raises(TransportError, match="not a HOST:PORT address: 'x:y'"):
        parse_address("x:y")


def test_parse_mqtt_url() -> None:
    s = parse_mqtt_url("mqtt://u:p%40ss@broker:1884", topic="t/+/records", client_id="c")
    assert (s.host, s.port, s.username, s.password, s.topic, s.client_id, s.tls) == (
        "broker",
        1884,
        "u",
        "p@ss",
        "t/+/records",
        "c",
        False,
    )
    assert parse_mqtt_url("mqtts://h").port == 8883
    assert parse_mqtt_url("127.0.0.1").port == 1883
    with pytest.raises(TransportError, match="not an MQTT broker URL: 'http://h'"):
        parse_mqtt_url("http://h")
