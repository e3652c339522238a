"""Hostile HTTP bodies and framing against a real HttpIngest and store (seeded hypothesis).

Every case is one request on a keep-alive session; after each: the answer is one the contract
allows (never 5xx), the collector is healthy, nothing was logged as an error, and every good
record of an accepted body is stored. The case counts per class are asserted at the end.
"""

from __future__ import annotations

import itertools
import logging
import socket
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodered_causal.collector import HttpIngest, Store, Writer
from tests.collector_records import body, rec
from tests.hostile_ingest import CLASSES, GOOD_TAP, Case, Tally, cases, check_answer

PER_CLASS = 60
SETTINGS = settings(
    max_examples=PER_CLASS,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def ingest(tmp_path: Path) -> HttpIngest:
    store = Store(tmp_path / "runs.db")
    store.start_run("r")
    ingest = HttpIngest(Writer(store, "r"), write_timeout=20).start()
    yield ingest
    ingest.shutdown()
    store.close()


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or (r.exc_info and r.levelno > logging.DEBUG)
    ]


def test_hostile_http_bodies(ingest: HttpIngest, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="nodered_causal")
    tally, seqs, stored = Tally(), itertools.count(1), []
    health = ingest.url.replace("/v1/records", "/v1/health")
    with requests.Session() as session:

        def send(case: Case) -> None:
            body_, goods = case.body(seqs)
            resp = session.post(ingest.url, data=body_, timeout=30)
            problem = check_answer(case, resp.status_code, resp.json(), goods)
            if resp.status_code == 200:
                stored.extend(goods)
            if problem:
                tally.failures.append(problem)
            if not ingest.writer.healthy or session.get(health, timeout=10).status_code != 200:
                tally.failures.append(f"{case.cls}: collector unhealthy after {body_[:200]!r}")
            tally.cases[case.cls] += 1
            tally.good_sent += len(goods)

        for cls in CLASSES:
            settings(SETTINGS, max_examples=PER_CLASS)(given(case=cases(cls))(send))()
    assert tally.failures == []
    assert _errors(caplog) == []
    cols = ingest.writer.store.record_columns("r", kinds=("deliver", "stats"))
    good = sorted(s for t, s in zip(cols["tap"], cols["seq"], strict=True) if t == GOOD_TAP)
    assert good == sorted(stored) and len(good) == tally.good_sent  # none lost, none blocked
    assert tally.cases == dict.fromkeys(CLASSES, PER_CLASS)


# -- framing: Content-Length, chunked, truncated -----------------------------------------------

_STATUSES = {200, 400, 411, 413, 415, 501}


@st.composite
def framings(draw: st.DrawFn) -> tuple[str, bytes]:
    """A request with hostile framing: (class, raw bytes)."""
    payload = body([rec(draw(st.integers(1, 10**6)), tap="framing")])
    how = draw(st.sampled_from(["length", "chunked", "encoding", "truncated"]))
    head = b"POST /v1/records HTTP/1.1\r\nHost: x\r\n"
    if how == "length":
        value = draw(
            st.sampled_from(["-1", "+5", " 5", "1_0", "0x10", "", "99999999999999999999", "5, 5"])
            | st.integers(-(2**64), 2**64).map(str)
        )
        return how, head + f"Content-Length: {value}\r\n\r\n".encode() + payload
    if how == "chunked":
        sizes = draw(
            st.lists(
                st.sampled_from([f"{len(payload):x}", "0", "-1", "zz", "fffffffffffffffffff", ""])
                | st.integers(0, 2**40).map(lambda n: f"{n:x}"),
                min_size=1,
                max_size=3,
            )
        )
        chunks = b"".join(s.encode() + b"\r\n" + payload + b"\r\n" for s in sizes)
        return how, head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    if how == "encoding":
        value = draw(st.sampled_from(["gzip", "br", "identity", "chunked, gzip", "x" * 100]))
        name = draw(st.sampled_from(["Content-Encoding", "Transfer-Encoding"]))
        length = f"Content-Length: {len(payload)}\r\n"
        return how, head + f"{name}: {value}\r\n{length}\r\n".encode() + payload
    cut = draw(st.integers(0, len(payload) - 1))
    return how, head + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload[:cut]


def _send_raw(address: tuple[str, int], data: bytes) -> int | None:
    """Send ``data``, close the write side, return the answer's status (None: no answer)."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def test_hostile_http_framing(ingest: HttpIngest, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="nodered_causal")
    seen: dict[str, int] = {}
    failures: list[str] = []

    @settings(SETTINGS, max_examples=80)
    @given(case=framings())
    def send(case: tuple[str, bytes]) -> None:
        how, data = case
        status = _send_raw(ingest.address, data)
        if status not in _STATUSES:
            failures.append(f"{how}: status {status} for {data[:300]!r}")
        seen[how] = seen.get(how, 0) + 1

    send()
    assert failures == []
    assert _errors(caplog) == []
    ok = requests.post(ingest.url, data=body([rec(1, tap="after")]), timeout=10)
    assert (ok.status_code, ok.json()) == (200, {"accepted": 1, "rejected": 0})
    assert sum(seen.values()) == 80 and min(seen.values()) >= 10
