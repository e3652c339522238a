"""Hostile ingest input: hypothesis strategies and the oracle, shared by the tests and
``benchmarks/bench_hostile_ingest.py``.

A case is a list of elements, each a JSON text: good records (tap ``good``, a fresh seq each time
the case is sent) and hostile ones (a valid record with one field set to a hostile JSON value,
deleted, or with thousands of payload values; deep nesting; any JSON value), or a body that is not
a batch at all (random bytes, a truncated batch, invalid UTF-8). Hostile fragments stay JSON text,
so nesting too deep for Python's own ``json`` is sent as the bytes a tap (or an attacker) would.

The oracle: never a 5xx or a dropped connection, the collector healthy after every case, no
exception logged, and every good record of an accepted body stored — none lost, none blocked.
"""

from __future__ import annotations

import itertools
import json
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodered_causal.collector import Collector, HttpIngest, Store
from nodered_causal.collector.store import RECORD_KEYS
from tests.collector_records import rec
from tests.mqtt_helpers import Publisher

GOOD_TAP = "good"
_MARK = "\u0000HOSTILE\u0000"
_FIELDS = (  # every field a hostile value may replace (dotted: inside the payload)
    "v",
    *RECORD_KEYS,
    "payload",
    "payload.type",
    "payload.len",
    "payload.values",
    "payload.values_cut",
    "payload.values.payload",
    "extra",
    "payload.extra",
)
_NUMBERS = [
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "1" + "0" * 29,
    "-1",
    "-9223372036854775809",
    "1e400",
    "-1e400",
    "1E-400",
    "-0",
    "0.5",
    "NaN",
    "Infinity",
    "-Infinity",
    "1" + "0" * 5000,
]
_TEXTS = ['""', '"\\ud800"', '"\\udfff\\ud800x"', '"\\u0000"', '"\\uffff"', '"x\\u2028y"']


@st.composite
def deep_fragments(draw: st.DrawFn) -> str:
    """Arrays or objects nested around the limit, past Python's recursion limit, or far past."""
    depth = draw(st.sampled_from([31, 33, 200, 990, 5000, 100_000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    return opener * depth + "1" + closer * depth


@st.composite
def fragments(draw: st.DrawFn) -> str:
    """One hostile JSON value, as text."""
    kind = draw(st.sampled_from(["number", "int", "float", "text", "deep", "json", "literal"]))
    if kind == "number":
        return draw(st.sampled_from(_NUMBERS))
    if kind == "int":
        return str(draw(st.integers(min_value=-(2**70), max_value=2**70)))
    if kind == "float":
        return json.dumps(draw(st.floats(allow_nan=True, allow_infinity=True)))
    if kind == "text":
        if draw(st.booleans()):
            return draw(st.sampled_from(_TEXTS))
        return json.dumps(draw(st.text(max_size=40)) * draw(st.sampled_from([1, 10, 5000])))
    if kind == "deep":
        return draw(deep_fragments())
    if kind == "json":
        value = draw(
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                lambda children: (
                    st.lists(children, max_size=3)
                    | st.dictionaries(st.text(max_size=3), children, max_size=3)
                ),
                max_leaves=8,
            )
        )
        return json.dumps(value)
    return draw(st.sampled_from(["true", "false", "null", "[]", "{}"]))


@st.composite
def hostile_elements(draw: st.DrawFn) -> str:
    """One hostile batch element: a record with one bad field, or any JSON value."""
    how = draw(st.sampled_from(["set", "set", "set", "delete", "leaves", "element"]))
    if how == "element":
        return draw(fragments())
    base = rec(draw(st.integers(1, 10**6)), tap="hostile")
    if draw(st.booleans()):
        base = rec(base["seq"], tap="hostile", kind="stats")
    if how == "leaves":
        count = draw(st.sampled_from([257, 1000, 2500]))
        base["payload"] = {"type": "object", "values": {f"p{i}": float(i) for i in range(count)}}
        return json.dumps(base)
    path = draw(st.sampled_from(_FIELDS)).split(".")
    target = base
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {"values": {}} if key == "payload" else {}
        target = target[key]
    if how == "delete":
        target.pop(path[-1], None)
        return json.dumps(base)
    target[path[-1]] = _MARK
    return json.dumps(base).replace(json.dumps(_MARK), draw(fragments()))


@dataclass(frozen=True)
class Case:
    """What to send: ``elements`` (None: ``raw`` is the whole body) with the goods' positions."""

    cls: str
    elements: tuple[str | None, ...] = ()
    raw: bytes = b""

    def body(self, seqs: itertools.count[int]) -> tuple[bytes, list[int]]:
        """The body with fresh seqs for its good records, and those seqs."""
        if not self.elements:
            return self.raw, []
        texts, goods = [], []
        for element in self.elements:
            if element is None:
                seq = next(seqs)
                goods.append(seq)
                texts.append(json.dumps(rec(seq, tap=GOOD_TAP)))
            else:
                texts.append(element)
        return ("[" + ",".join(texts) + "]").encode(), goods


#: The classes of :func:`cases`.
CLASSES = ("mixed", "deep", "not a batch")


@st.composite
def cases(draw: st.DrawFn, cls: str) -> Case:
    """A hostile body of class ``cls``: good and bad records mixed, deep nesting beside good
    records, or something that is no batch at all."""
    if cls == "not a batch":
        how = draw(st.sampled_from(["bytes", "truncated", "scalar", "utf8"]))
        if how == "bytes":
            return Case(cls, raw=draw(st.binary(max_size=200)))
        if how == "truncated":
            text = json.dumps([rec(1, tap="hostile"), rec(2, tap="hostile")])
            return Case(cls, raw=text[: draw(st.integers(1, len(text) - 1))].encode())
        if how == "scalar":
            return Case(cls, raw=draw(fragments()).encode())
        return Case(cls, raw=b'[{"v": 1, "tap": "\xff\xfe"}]')
    bad = hostile_elements() if cls == "mixed" else deep_fragments()
    goods = draw(st.integers(0, 3))
    elements = [None] * goods + draw(st.lists(bad, min_size=1, max_size=3))
    order = draw(st.permutations(range(len(elements))))
    return Case(cls, elements=tuple(elements[i] for i in order))


@dataclass
class Tally:
    """Cases per class, the good records sent in accepted bodies, and what went wrong."""

    cases: Counter[str] = field(default_factory=Counter)
    good: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def lost(self, store: Store, run: str) -> list[int]:
        """Good records of accepted bodies that are not in the store (lost or blocked)."""
        cols = store.record_columns(run, kinds=("deliver", "stats"))
        stored = {s for t, s in zip(cols["tap"], cols["seq"], strict=True) if t == GOOD_TAP}
        return sorted(set(self.good) - stored)


def check_answer(case: Case, status: int, answer: dict[str, Any], goods: list[int]) -> str | None:
    """Why an HTTP answer to ``case`` is wrong, or None."""
    if status == 200:
        accepted, rejected = answer.get("accepted", -1), answer.get("rejected", -1)
        if case.elements and accepted + rejected != len(case.elements):
            return f"{case.cls}: {accepted} + {rejected} != {len(case.elements)} elements"
        if accepted < len(goods):
            return f"{case.cls}: {accepted} accepted of {len(goods)} good records"
        return None
    if status == 400 and not goods:
        return None
    return f"{case.cls}: HTTP {status} {answer} ({len(goods)} good records in the body)"


class HttpTarget:
    """Sends cases as POSTs on one keep-alive session and checks every answer and the health."""

    def __init__(self, ingest: HttpIngest) -> None:
        self.ingest = ingest
        self.tally = Tally()
        self.session = requests.Session()
        self._seqs = itertools.count(1)
        self._health = ingest.url.replace("/v1/records", "/v1/health")

    def send(self, case: Case) -> None:
        data, goods = case.body(self._seqs)
        resp = self.session.post(self.ingest.url, data=data, timeout=30)
        problem = check_answer(case, resp.status_code, resp.json(), goods)
        if problem:
            self.tally.failures.append(problem)
        elif resp.status_code == 200:
            self.tally.good += goods
        health = self.session.get(self._health, timeout=10).status_code
        if not self.ingest.writer.healthy or health != 200:
            self.tally.failures.append(f"{case.cls}: collector unhealthy after {data[:200]!r}")
        self.tally.cases[case.cls] += 1

    def close(self) -> None:
        self.session.close()


class MqttTarget:
    """Publishes cases (QoS 1) to a collector and waits until each one was handled."""

    def __init__(self, collector: Collector, publisher: Publisher, topic: str) -> None:
        self.collector = collector
        self.publisher = publisher
        self.topic = topic
        self.tally = Tally()
        self._seqs = itertools.count(1)

    def send(self, case: Case) -> None:
        data, goods = case.body(self._seqs)
        before = self.collector.counts().batches
        self.publisher.publish_all(self.topic, [data])
        deadline = time.monotonic() + 30
        while self.collector.counts().batches == before and time.monotonic() < deadline:
            time.sleep(0.002)
        if self.collector.counts().batches == before:
            self.tally.failures.append(f"{case.cls}: not handled within 30 s: {data[:200]!r}")
        if not self.collector.writer.healthy:
            self.tally.failures.append(f"{case.cls}: collector unhealthy after {data[:200]!r}")
        self.tally.cases[case.cls] += 1
        self.tally.good += goods  # a message is stored or redelivered: every good must arrive


def seeded(examples: int) -> settings:
    """Hypothesis settings for the hostile runs: derandomized (the same cases every run, in CI
    too), no example database, no deadline (a 32 MiB case may take a while)."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def run_classes(send: Callable[[Case], None], per_class: int) -> None:
    """Send ``per_class`` cases of each class (seeded: the same cases every run)."""
    for cls in CLASSES:
        seeded(per_class)(given(case=cases(cls))(send))()


# -- framing: Content-Length, chunked, truncated -----------------------------------------------

#: Statuses a hostile framing may get (never a 5xx other than 501 for a transfer coding).
FRAMING_STATUSES = frozenset({200, 400, 411, 413, 415, 501})
FRAMING_CLASSES = ("length", "chunked", "encoding", "truncated")


@st.composite
def framings(draw: st.DrawFn, how: str) -> bytes:
    """A request with hostile framing of class ``how``, as raw bytes."""
    payload = json.dumps([rec(draw(st.integers(1, 10**6)), tap="framing")]).encode()
    head = b"POST /v1/records HTTP/1.1\r\nHost: x\r\n"
    if how == "length":
        value = draw(
            st.sampled_from(["-1", "+5", " 5", "1_0", "0x10", "", "99999999999999999999", "5, 5"])
            | st.integers(-(2**64), 2**64).map(str)
        )
        return head + f"Content-Length: {value}\r\n\r\n".encode() + payload
    if how == "chunked":
        sizes = draw(
            st.lists(
                st.sampled_from([f"{len(payload):x}", "0", "-1", "zz", "f" * 19, ""])
                | st.integers(0, 2**40).map(lambda n: f"{n:x}"),
                min_size=1,
                max_size=3,
            )
        )
        chunks = b"".join(s.encode() + b"\r\n" + payload + b"\r\n" for s in sizes)
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    if how == "encoding":
        value = draw(st.sampled_from(["gzip", "br", "identity", "chunked, gzip", "x" * 100]))
        name = draw(st.sampled_from(["Content-Encoding", "Transfer-Encoding"]))
        length = f"Content-Length: {len(payload)}\r\n"
        return head + f"{name}: {value}\r\n{length}\r\n".encode() + payload
    cut = draw(st.integers(0, len(payload) - 1))
    return head + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload[:cut]


def send_raw(address: tuple[str, int], data: bytes) -> int | None:
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


def run_framings(address: tuple[str, int], per_class: int) -> Tally:
    """Send ``per_class`` hostile framings of each class; a failure is an answer not allowed."""
    tally = Tally()

    def send(case: tuple[str, bytes]) -> None:
        how, data = case
        status = send_raw(address, data)
        if status not in FRAMING_STATUSES:
            tally.failures.append(f"{how}: status {status} for {data[:300]!r}")
        tally.cases[how] += 1

    for how in FRAMING_CLASSES:
        seeded(per_class)(given(case=st.tuples(st.just(how), framings(how)))(send))()
    return tally
