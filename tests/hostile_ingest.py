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
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from tests.collector_records import rec

GOOD_TAP = "good"
_MARK = "\u0000HOSTILE\u0000"
_FIELDS = (
    "v",
    "tap",
    "boot",
    "seq",
    "ts_ns",
    "kind",
    "src",
    "port",
    "dst",
    "trace",
    "parent",
    "bytes",
    "latency_ns",
    "error",
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
    """Cases per class, and what went wrong (each list should stay empty)."""

    cases: Counter[str] = field(default_factory=Counter)
    good_sent: int = 0
    failures: list[str] = field(default_factory=list)

    def table(self, transport: str) -> list[tuple[str, str, int, int]]:
        return [(transport, cls, n, len(self.failures)) for cls, n in sorted(self.cases.items())]


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
